"""Training examples for the answer selector (:mod:`rag.answering.train`), built through the production path.

For each question of a training set (``../shared/train``: ``qa.jsonl`` with ``q``, ``a``, ``src``, ``item``) over a
store holding its archive: retrieve as the service does (the question's time scope, ``top_k`` as served, one chunk
per story), build the candidates and features of :mod:`rag.answering.features`, and label each candidate 1 when
its normalised text holds a gold answer and its chunk comes from a gold ``src`` file or a printing of the same
story. The same question is asked a second time with its sources removed (the holdout method of
:mod:`rag.eval_refusal`, simulated: retrieval goes :data:`POOL` deep and the gold files' chunks and their stories'
printings are dropped before the ``top_k`` are kept): every candidate is then a negative, and the question should
be refused. Questions without a gold answer (``no_answer_in_sources``) are weak negatives.

Rows are cached per set as ``features.npz`` (``x``: candidates x features, ``y``, ``question``: row -> question
index, ``features``: the column names, ``sentence`` and ``title`` of each candidate) and ``questions.jsonl`` (set,
group, kind, the question and the query retrieval asked), so a refit takes a
minute; a cache holding more features than :data:`~rag.answering.features.FEATURES` (an older feature set) is
read by name.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from llama_index.core.schema import NodeWithScore

from rag.answering.features import FEATURES, candidates
from rag.eval_fabrication import src_files
from rag.eval_refusal import link_corpus
from rag.models import story_of
from rag.service import NewsQA
from rag.text.normalize import normalize
from rag.text.question import Question

log = logging.getLogger(__name__)

#: Stories retrieved when simulating the removal of a question's sources (the top_k kept after dropping them).
POOL = 20


@dataclass(frozen=True)
class TrainingSet:
    """A training set: ``name``, its ``qa.jsonl``, its articles folders, how its folds are grouped (``item`` or
    the gold file), and the most questions used (a deterministic sample by question text; None = all)."""

    name: str
    qa: Path
    articles: tuple[Path, ...]
    group_by: str
    limit: int | None = None


def default_sets(train_dir: Path, drcd_limit: int | None = 1500) -> list[TrainingSet]:
    """The two training sets of ``train_dir`` (``../shared/train``): the news archive (crud_train's questions over
    its reports and crud_more_reports') and DRCD (a sample of ``drcd_limit`` questions, grouped by paragraph)."""
    return [
        TrainingSet("crud", train_dir / "crud_train" / "qa.jsonl",
                    (train_dir / "crud_train" / "articles", train_dir / "crud_more_reports" / "articles"), "item"),
        TrainingSet("drcd", train_dir / "drcd_train" / "qa.jsonl", (train_dir / "drcd_train" / "articles",),
                    "src", drcd_limit),
    ]


def link_articles(train_set: TrainingSet, data_dir: Path) -> Path:
    """``data_dir/articles`` holding a link to every article file of ``train_set``'s folders
    (:func:`rag.eval_refusal.link_corpus`: existing links kept, so the ingest that follows is incremental).
    Returns the articles folder."""
    folder = data_dir / "articles"
    for source in train_set.articles:
        link_corpus(source, set(), folder)
    return folder


def load_questions(train_set: TrainingSet) -> list[dict[str, object]]:
    """The set's questions (each with ``group``), sampled to ``limit`` whole groups, deterministic."""
    rows = [json.loads(line) for line in train_set.qa.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        row["group"] = str(row.get("item") if train_set.group_by == "item" else src_files(row.get("src"))[:1])
    if train_set.limit is not None and len(rows) > train_set.limit:
        sizes = Counter(str(r["group"]) for r in rows)
        keep: set[str] = set()
        count = 0
        for group in sorted(sizes, key=lambda g: hashlib.sha1(g.encode("utf-8")).hexdigest()):  # stable order
            if count >= train_set.limit:
                break
            keep.add(group)
            count += sizes[group]
        rows = [r for r in rows if r["group"] in keep]
    return rows


def build_features(service: NewsQA, train_set: TrainingSet, out_dir: Path, top_k: int | None = None,
                   progress: Callable[[int, int], None] | None = None) -> Path:
    """Compute and cache the rows of ``train_set`` over ``service``'s store in ``out_dir/<name>``; returns it."""
    top_k = top_k or service.settings.top_k
    rows = load_questions(train_set)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    yas: list[np.ndarray] = []
    qidx: list[np.ndarray] = []
    meta: list[dict[str, object]] = []
    texts: list[tuple[str, str]] = []  # each candidate's (sentence, title): the calibration's e5 similarities
    idf = service.term_idf()
    stories = _gold_stories(service, [f for r in rows for f in src_files(r.get("src"))])
    for n, row in enumerate(rows):
        if progress:
            progress(n, len(rows))
        answers = row.get("a") or []
        gold = [normalize(str(a)).strip() for a in answers if str(a).strip()]  # type: ignore[attr-defined]
        files = set(src_files(row.get("src")))
        gold_stories = {stories[f] for f in files if f in stories}
        flt, scope = service.scoped(str(row["q"]), None)
        query = scope.query or str(row["q"])
        pool = service.retrieve(query, max(POOL, top_k), flt)
        question = Question(query, idf)
        kinds = [("answerable" if gold else "weak", pool[:top_k])]
        if gold and files:
            kinds.append(("removed", [h for h in pool if not _is_source(h, files, gold_stories)][:top_k]))
        for kind, nodes in kinds:
            cands = candidates(question, nodes) if question.total > 0 else []
            # holds: the metric's label (newsqa eval counts a gold answer from any report); labels: the fitted
            # one, which also needs a gold report (bench/label_definition.py compares the two)
            holds = [kind == "answerable" and any(g in c.norm for g in gold) for c in cands]
            labels = [float(h and _is_source(c.hit, files, gold_stories)) for h, c in zip(holds, cands, strict=True)]
            index = len(meta)
            meta.append({"set": train_set.name, "group": row["group"], "kind": kind, "q": row["q"], "query": query,
                         "candidates": len(cands), "positive": int(sum(labels))})
            texts += [c.verified for c in cands]
            if cands:
                xs.append(np.vstack([c.x for c in cands]))
                ys.append(np.array(labels))
                yas.append(np.array(holds, dtype=float))
                qidx.append(np.full(len(cands), index))
    folder = out_dir / train_set.name
    folder.mkdir(parents=True, exist_ok=True)
    empty = np.zeros((0, len(FEATURES)))
    np.savez_compressed(folder / "features.npz", x=np.vstack(xs) if xs else empty,
                        y=np.concatenate(ys) if ys else np.zeros(0), y_any=np.concatenate(yas) if yas else np.zeros(0),
                        question=np.concatenate(qidx) if qidx else np.zeros(0, dtype=int),
                        features=np.array(FEATURES), sentence=np.array([t[0] for t in texts], dtype=str),
                        title=np.array([t[1] for t in texts], dtype=str))
    (folder / "questions.jsonl").write_text("".join(json.dumps(m, ensure_ascii=False) + "\n" for m in meta),
                                            encoding="utf-8")
    return folder


def _is_source(hit: NodeWithScore, files: set[str], stories: set[str]) -> bool:
    """Whether ``hit`` comes from one of the gold ``files`` or a printing of one of their ``stories``."""
    meta = hit.node.metadata
    return Path(str(meta.get("source", ""))).name in files or story_of(meta, "") in stories


def _gold_stories(service: NewsQA, files: list[str]) -> dict[str, str]:
    """Gold file name -> its story id, read from the store's article records."""
    out: dict[str, str] = {}
    names = sorted(set(files))
    for start in range(0, len(names), 200):
        got = service.store.articles.get(where={"source": {"$in": names[start : start + 200]}},
                                         include=["metadatas"])
        for meta in got["metadatas"]:
            if meta.get("story_id"):
                out[Path(str(meta["source"])).name] = str(meta["story_id"])
    return out
