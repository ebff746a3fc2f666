"""Helpers of the operations tests (backup/restore, full disks): filler pages and store snapshots.

The filler pages are generated (seeded, so every run writes the same bytes): plain reports about cultural and
sports events in invented places, nothing the sample pages' questions ask about, enough of them that an ingest
writes several 256-chunk batches.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

#: Questions about the sample pages (none of them a dev question) with the figure each answer holds.
SAMPLE_QUESTIONS = {
    "郏县建成了多少座5G基站？": "120座",
    "舞钢市率先承接了多少项权限？": "156项",
}

_PLACES = ["青松镇", "白石乡", "临河街道", "东坡村", "南湖区", "北岭镇", "西山乡", "云溪县"]
_HOSTS = ["文化馆", "图书馆", "体育中心", "农技站", "青少年宫", "老年大学", "博物馆", "科技馆"]
_EVENTS = ["花卉展览", "读书月活动", "少儿游泳培训", "果树嫁接讲座", "书法比赛", "摄影展", "象棋邀请赛", "民乐演出"]
_PEOPLE = ["居民", "学生", "志愿者", "果农", "爱好者", "教师", "老人", "选手"]


def write_filler(folder: Path, files: int, seed: int = 7, sentences: int = 40) -> list[Path]:
    """Write ``files`` generated report pages into ``folder`` (one article each, about ``sentences`` sentences:
    6 chunks at the default chunk size); returns their paths."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(files):
        place, host, event = rng.choice(_PLACES), rng.choice(_HOSTS), rng.choice(_EVENTS)
        lines = [f"{place}{host}举办第{i + 1}届{event}", ""]
        body = []
        for _ in range(sentences):
            body.append(
                f"{rng.choice(_PLACES)}{rng.choice(_HOSTS)}组织{rng.randint(2, 900)}名{rng.choice(_PEOPLE)}参加"
                f"{rng.choice(_EVENTS)}，活动持续{rng.randint(1, 30)}天，共设{rng.randint(3, 60)}个项目。"
            )
        lines.append("本报讯 " + "".join(body))
        path = folder / f"filler_{i:04d}.txt"
        path.write_text("\n".join(lines) + "\n", "utf-8")
        paths.append(path)
    return paths


def chunk_snapshot(settings: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """``{chunk id: (text, metadata)}`` of every chunk in the store of ``settings`` (opened and closed here)."""
    from rag.store.store import Store

    store = Store(settings)
    try:
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for ids, texts, metas in store.iter_chunks():
            for chunk_id, text, meta in zip(ids, texts, metas, strict=True):
                out[chunk_id] = (text, {k: v for k, v in meta.items() if k != "_node_content"})
        return out
    finally:
        store.close()


def answers(service: Any) -> dict[str, tuple[str, list[str]]]:
    """``{question: (answer text, cited sources)}`` for :data:`SAMPLE_QUESTIONS`."""
    out = {}
    for question in SAMPLE_QUESTIONS:
        answer = service.ask(question)
        out[question] = (answer.answer, [c.source for c in answer.citations])
    return out
