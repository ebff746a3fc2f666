"""Reprints of one story: the readable copy is kept at the best copy's rank (rag.retrieval.stories)."""

from __future__ import annotations

from llama_index.core.schema import NodeWithScore, TextNode

from rag.retrieval.stories import UNPUNCTUATED_RUN, collapse_stories, unpunctuated


def _hit(text: str, source: str, story: str, score: float = 1.0, title: str = "") -> NodeWithScore:
    meta = {"title": title, "source": source, "article_id": source, "story_id": story}
    return NodeWithScore(node=TextNode(text=text, id_=source + str(hash(text)), metadata=meta), score=score)


def test_the_readable_copy_of_a_story_is_kept_at_the_best_copys_rank() -> None:
    run_together = "截至5月3日已有两千多名市民参加了社区免费体检活动但很多人不知道体检报告可以在网上查询" * 3
    assert len(run_together) > UNPUNCTUATED_RUN and unpunctuated(run_together)
    readable = "5月2日，某市卫生健康委员会组织医生走进社区，为居民提供免费体检。"
    assert not unpunctuated(readable)
    nodes = [_hit(run_together, "a.txt", "s1", 2.0), _hit("另一篇报道。", "x.txt", "s2", 1.5),
             _hit(readable, "b.txt", "s1", 1.0)]
    kept = collapse_stories(nodes, 5)
    assert [h.node.metadata["source"] for h in kept] == ["b.txt", "x.txt"]
    assert kept[0].score == 2.0
    # Both copies punctuated: the best-ranked one stays.
    nodes[0] = _hit("社区里，医生为居民做了体检。", "a.txt", "s1", 2.0)
    assert [h.node.metadata["source"] for h in collapse_stories(nodes, 5)] == ["a.txt", "x.txt"]
