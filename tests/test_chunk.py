"""Tests for ingest.chunk: sentence splitting and sentence packing, plus the sample pages' figures surviving ingest."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ingest.chunk import chunk_text
from ingest.clean import clean_page
from ingest.loaders import load_text
from ingest.segment import segment_articles
from rag.text.sentences import SENTENCE_END, split_sentences

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "articles"

# Text drawn mostly from Chinese characters and the punctuation the splitter cares about.
_ALPHABET = st.sampled_from(list("郏县工信局基站座亿元12.94") + list("。！？!?；;…，、,：:”’」』）)“（ \n\t"))
_TEXT = st.text(alphabet=_ALPHABET, max_size=400)


def test_sentence_end_characters() -> None:
    assert set("。！？!?；;\n") <= set(SENTENCE_END)


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("他说：“好。”然后走了。", ["他说：“好。”", "然后走了。"]),
        ("真的吗？！是的……我知道", ["真的吗？！", "是的……", "我知道"]),
        ("第一行没有句号\n第二行。第三句；第四句", ["第一行没有句号", "第二行。", "第三句；", "第四句"]),
        ("（括号里的话。）后面", ["（括号里的话。）", "后面"]),
        ("Is it ok? Yes! 2385.67亿元。", ["Is it ok?", " Yes!", " 2385.67亿元。"]),
        ("句子。  \n\n  下一段", ["句子。  ", "  下一段"]),
        ("  开头有空格。", ["  开头有空格。"]),
        # A title holds its own ！: one sentence; an unclosed 《 (OCR lost the 》) does not swallow the rest.
        ("《星河OK.LIVE！‧江南‧你》是第三张专辑。好！", ["《星河OK.LIVE！‧江南‧你》是第三张专辑。", "好！"]),
        ("读《你好！》。再读。", ["读《你好！》。", "再读。"]),
        ("《未闭合！的书名。下一句", ["《未闭合！", "的书名。", "下一句"]),
        # Wikipedia's language variants are one word; an unclosed -{ ends no later than a plain ; would.
        ("又称作-{zh-cn:圆叶青苔;zh-hk:石上绒}-，是植物。好；", ["又称作-{zh-cn:圆叶青苔;zh-hk:石上绒}-，是植物。", "好；"]),
        ("-{zh-cn:未闭合;下一句", ["-{zh-cn:未闭合;", "下一句"]),
        ("", []),
        (" \n\t\n", []),
    ],
)
def test_split_sentences_examples(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_split_sentences_loses_no_character(text: str) -> None:
    sentences = split_sentences(text)
    if text.strip():
        assert "".join(sentences) == text.replace("\n", "")
    else:
        assert sentences == []
    assert all(sentence.strip() for sentence in sentences)
    assert not any("\n" in sentence for sentence in sentences)


def test_chunk_text_packs_sentences_with_one_sentence_overlap() -> None:
    text = "第一句话很长很长。第二句话也很长。第三句。第四句话。"
    assert chunk_text(text, max_chars=12, min_chars=0) == [
        "第一句话很长很长。",
        "第二句话也很长。第三句。",
        "第三句。第四句话。",
    ]


def test_chunk_text_overlap_dropped_when_it_would_overflow_and_configurable() -> None:
    text = "甲" * 8 + "。" + "乙" * 8 + "。" + "丙" * 8 + "。"
    assert chunk_text(text, max_chars=18, min_chars=0) == [
        "甲" * 8 + "。" + "乙" * 8 + "。",
        "乙" * 8 + "。" + "丙" * 8 + "。",
    ]
    assert chunk_text(text, max_chars=18, min_chars=0, overlap_sentences=0) == [
        "甲" * 8 + "。" + "乙" * 8 + "。",
        "丙" * 8 + "。",
    ]
    assert chunk_text(text, max_chars=10, min_chars=0) == ["甲" * 8 + "。", "乙" * 8 + "。", "丙" * 8 + "。"]


def test_chunk_text_cuts_an_oversize_sentence_at_commas() -> None:
    text = "甲" * 30 + "，" + "乙" * 30 + "、" + "丙" * 10 + "。"
    assert chunk_text(text, max_chars=40, min_chars=0) == [
        "甲" * 30 + "，",
        "乙" * 30 + "、",
        "丙" * 10 + "。",
    ]


def test_chunk_text_hard_cut_avoids_splitting_a_number() -> None:
    text = "郏" * 18 + "2385.67亿元" + "县" * 30
    chunks = chunk_text(text, max_chars=20, min_chars=0, overlap_sentences=0)
    assert all(len(chunk) <= 20 for chunk in chunks)
    assert any("2385.67亿元" in chunk for chunk in chunks)
    assert "".join(chunks) == text


def test_chunk_text_keeps_paragraph_breaks_as_newlines() -> None:
    assert chunk_text("段一。\n\n段二。段三。\n段四", max_chars=100) == ["段一。\n段二。段三。\n段四"]


def test_chunk_text_merges_a_short_tail_only_when_it_fits() -> None:
    long_sentence = "长" * 29 + "。"
    text = long_sentence * 3 + "短尾。"
    merged = chunk_text(text, max_chars=100, min_chars=20)
    assert merged == [long_sentence * 3 + "短尾。"]
    not_merged = chunk_text(text, max_chars=90, min_chars=20)
    assert not_merged == [long_sentence * 3, long_sentence + "短尾。"]


def test_chunk_text_defaults_and_blank_text() -> None:
    sentence = "郏县建成开通5G基站120座，实现县城以上城区5G网络全覆盖。"
    chunks = chunk_text(sentence * 40)
    assert all(200 <= len(chunk) <= 450 for chunk in chunks)
    assert chunk_text("") == [] and chunk_text(" \n ") == []


@pytest.mark.parametrize(("max_chars", "min_chars", "overlap"), [(0, 0, 1), (10, -1, 1), (10, 0, -1)])
def test_chunk_text_rejects_bad_parameters(max_chars: int, min_chars: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="chunk_text"):
        chunk_text("句子。", max_chars=max_chars, min_chars=min_chars, overlap_sentences=overlap)


def _covered(sentence: str, chunks: list[str]) -> bool:
    """Whether ``sentence`` is the concatenation of consecutive pieces each found in some chunk.

    Blanks that fit in no chunk may be dropped (a run of spaces longer than the budget), nothing else.
    """
    rest = sentence
    while rest.strip():
        size = max(
            (n for n in range(1, len(rest) + 1) if any(rest[:n] in chunk for chunk in chunks)), default=0
        )
        if size == 0 and not rest[0].isspace():
            return False
        rest = rest[max(size, 1) :]
    return True


@settings(max_examples=200, deadline=None)
@given(
    _TEXT,
    st.integers(min_value=1, max_value=120),
    st.integers(min_value=0, max_value=150),
    st.integers(min_value=0, max_value=3),
)
def test_chunk_text_properties(text: str, max_chars: int, min_chars: int, overlap: int) -> None:
    chunks = chunk_text(text, max_chars=max_chars, min_chars=min_chars, overlap_sentences=overlap)
    assert all(len(chunk) <= max_chars for chunk in chunks)
    assert all(chunk.strip() for chunk in chunks)
    allowed = set(text) | {"\n"}
    assert all(set(chunk) <= allowed for chunk in chunks)
    # Sentences of each paragraph: chunk_text splits per line, so blank lines carry nothing over.
    for sentence in (sentence for line in text.split("\n") for sentence in split_sentences(line)):
        if len(sentence) <= max_chars:
            assert any(sentence in chunk for chunk in chunks), sentence
        else:
            assert _covered(sentence, chunks), sentence
    if not text.strip():
        assert chunks == []


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.sampled_from(list("郏县工信局基站")), min_size=1, max_size=60),
        min_size=1,
        max_size=30,
    )
)
def test_chunk_text_without_overlap_reconstructs_the_text(sentences: list[str]) -> None:
    text = "。".join(sentences) + "。"
    assume(all(len(s) + 1 <= 100 for s in sentences))
    chunks = chunk_text(text, max_chars=100, min_chars=0, overlap_sentences=0)
    assert "".join(chunks) == text


# Figures and names printed on the sample pages (none of them a dev question's answer), one cut by the page's own
# OCR line break (11家): each must survive clean + segment + chunk intact, inside one chunk of its source page.
GOLD = [
    ("000_a17aea0bf2d75ea6.txt", "120座"),
    ("000_a17aea0bf2d75ea6.txt", "101.4亿元"),
    ("000_a17aea0bf2d75ea6.txt", "243家"),
    ("001_9560272fe25c5dcf.txt", "11家"),
    ("001_9560272fe25c5dcf.txt", "3640余处"),
    ("001_9560272fe25c5dcf.txt", "1174名"),
    ("001_9560272fe25c5dcf.txt", "孟付生"),
    ("002_2e775c1fab223d6b.txt", "52795万元"),
    ("002_2e775c1fab223d6b.txt", "135户"),
    ("003_128db7e5df983d7c.txt", "3296.7万元"),
    ("003_128db7e5df983d7c.txt", "2500家"),
    ("004_96820dbef81a5cc4.txt", "全国绿色食品原料标准化生产基地"),
    ("004_96820dbef81a5cc4.txt", "4.2亿元"),
    ("004_96820dbef81a5cc4.txt", "255项"),
    ("004_96820dbef81a5cc4.txt", "477个"),
]


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="sample corpus not present")
@pytest.mark.parametrize(("name", "answer"), GOLD)
def test_page_figures_survive_ingest(name: str, answer: str) -> None:
    articles = segment_articles(clean_page(load_text(SAMPLES / name)))
    assert any(answer in chunk for article in articles for chunk in chunk_text(article.text))


def test_answer_cut_by_the_ocr_survives_ingest() -> None:
    raw = (
        "强县富民争出彩\n\n今年前三季度,全区各乡镇生产总值为2385\n\n.67亿元,占全区生产总值的58%。\n\n"
        "清理车站周边、背街小巷乱停乱放车辆46\n\n80余起,清理违规广告1520余处。\n"
    )
    chunks = [
        chunk
        for article in segment_articles(clean_page(raw))
        for chunk in chunk_text(article.text, max_chars=40)
    ]
    assert any("2385.67亿元" in chunk for chunk in chunks)
    assert any("4680余起" in chunk for chunk in chunks)
