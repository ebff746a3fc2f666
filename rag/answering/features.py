"""Answer candidates and their features: one vector per sentence of the retrieved chunks, in the fixed order of
:data:`FEATURES`, for the learned answer selector (:mod:`rag.answering.selector`).

The signals are the ones open QA systems combine (DuReader's paragraph selection: recall, overlap and BM25-like
lexical features; DrQA's reader: exact match, term frequency, part of speech): how much of the question the
sentence and its context cover, the retrieval score and rank of its chunk, whether it holds the asked-for type
(:mod:`rag.text.question`), and its form. Their weights are learned (:mod:`rag.answering.train`), none is set
here. Families whose removal did not hurt beyond noise on the training sets (``make ablate``: the time the
question names, the position in the article, printings and other stories carrying the sentence) were deleted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from llama_index.core.schema import NodeWithScore

from rag.text.dateline import strip_lead
from rag.text.normalize import normalize
from rag.text.question import LEANS_BACK, Question, QuestionType, holds_name, holds_type, names_in
from rag.text.sentences import sign_off, split_sentences

FEATURES: tuple[str, ...] = (
    "cov_sentence",  # IDF-weighted share of the question's terms in the sentence
    "bigram_sentence",  # share of the question's character bigrams in the sentence
    "cov_context",  # ... in the sentence with its context: title, lead, two sentences before, one after
    "bigram_context",
    "cov_chunk",  # ... in the chunk with its title
    "cov_title",  # ... in the article's title
    "cov_rest",  # share (IDF-weighted) of the question's terms the title lacks that the sentence holds
    "cov_best_gap",  # cov_sentence minus the best cov_sentence among the question's candidates
    "bm25_sentence",  # BM25 (k1 1.2, b 0.75) of the sentence for the question's terms, over the sum of their IDF
    "anchor",  # longest run of the question (interrogatives left out) found in the sentence, over its length
    "cloze",  # the contexts around the question's interrogative found in the sentence (Question.anchor_score)
    "names_sentence",  # share of the question's names in the sentence or its context (1 when it names none)
    "names_chunk",  # ... in the chunk, title and lead
    "missing_idf",  # highest IDF of a question term the chunk and title lack, over the IDF of an unseen term
    "unseen_missing",  # a question term that no chunk of the corpus holds is missing from the chunk
    "retrieval_score",  # the chunk's retrieval score over the best of the question
    "retrieval_rank",  # 1 / (1 + rank of the chunk)
    "typed",  # the question asks for a type (number, date, person, org, place, list, definition, reason)
    "type_pattern",  # the sentence holds that type by pattern tags (number with unit, date ...)
    "type_pos",  # the sentence or its context holds the asked-for name by jieba's part of speech (nr, nt, ns)
    "length",  # log(characters) / log(150)
    "leans_back",  # opens with a connective or pronoun that leans on the sentence before
)
K1, B, AVG_SENTENCE_CHARS = 1.2, 0.75, 40.0  # BM25 constants (Robertson and Zaragoza's defaults)


@dataclass
class Candidate:
    """A sentence of a retrieved chunk, a possible answer; ``x`` its features, ``score`` the selector's logit."""

    sentence: str  # original characters
    norm: str
    rank: int  # rank of its chunk in retrieval (0 = best)
    order: int  # position of the sentence inside its chunk
    hit: NodeWithScore
    frame: str = ""  # normalised title, lead and the sentences around it
    x: np.ndarray = field(default_factory=lambda: np.zeros(len(FEATURES)))
    score: float = 0.0

    @property
    def verified(self) -> tuple[str, str]:
        """``(sentence, title)``: what the e5 verifier reads of it (:mod:`rag.answering.verifier`), in training and
        serving alike."""
        return self.sentence, str(self.hit.node.metadata.get("title", ""))


def candidates(question: Question, nodes: list[NodeWithScore]) -> list[Candidate]:
    """Every sentence (4+ characters, no sign-off) of ``nodes`` (retrieval order) with its features."""
    top = max((float(h.score or 0.0) for h in nodes), default=0.0) or 1.0
    unseen = question.unseen_idf or 1.0
    out: list[Candidate] = []
    for rank, hit in enumerate(nodes):
        meta = hit.node.metadata
        title, lead = normalize(str(meta.get("title", ""))), normalize(str(meta.get("lead", "")))
        chunk = title + "\n" + lead + "\n" + normalize(hit.node.get_content())
        sentences = [s.strip() for s in split_sentences(hit.node.get_content())]
        norms = [normalize(strip_lead(s)) for s in sentences]
        missing = [w for t, w in question.weights.items() if t not in chunk]
        chunk_row = {"cov_chunk": question.coverage(chunk), "names_chunk": _names_share(question, chunk),
                     "missing_idf": max(missing, default=0.0) / unseen,
                     "unseen_missing": float(any(w >= unseen * 0.999 for w in missing)),
                     "cov_title": question.coverage(title), "retrieval_score": float(hit.score or 0.0) / top,
                     "retrieval_rank": 1.0 / (1 + rank)}
        rest = {t: w for t, w in question.weights.items() if t not in title}
        rest_total = sum(rest.values())
        for order, (sentence, norm) in enumerate(zip(sentences, norms, strict=True)):
            if len(sentence) < 4 or sign_off(sentence):
                continue
            frame = "\n".join([title, lead, *norms[max(0, order - 2) : order], *norms[order + 1 : order + 2]])
            cand = Candidate(sentence, norm, rank, order, hit, frame)
            cov_rest = sum(w for t, w in rest.items() if t in norm) / rest_total if rest_total > 0 else 1.0
            cand.x = _sentence_features(question, cand, {**chunk_row, "cov_rest": cov_rest})
            out.append(cand)
    cov, gap = FEATURES.index("cov_sentence"), FEATURES.index("cov_best_gap")
    best = max((c.x[cov] for c in out), default=0.0)
    for c in out:
        c.x[gap] = c.x[cov] - best
    return out


def _sentence_features(question: Question, cand: Candidate, row: dict[str, float]) -> np.ndarray:
    """The feature vector of ``cand``: ``row`` (its chunk's features, updated in place) and its own."""
    norm, context = cand.norm, cand.norm + "\n" + cand.frame
    qtype = question.qtype
    row.update(
        cov_sentence=question.coverage(norm), bigram_sentence=question.bigram_coverage(norm),
        cov_context=question.coverage(context), bigram_context=question.bigram_coverage(context),
        bm25_sentence=_bm25(question, norm), anchor=_longest_run(question.bare, norm) / max(1, len(question.bare)),
        cloze=question.anchor_score(norm),
        names_sentence=_names_share(question, context), typed=float(qtype is not QuestionType.OTHER),
        type_pattern=holds_type(qtype, norm, question.unit, question.subject),
        type_pos=holds_name(qtype, norm) or 0.5 * holds_name(qtype, cand.frame[-200:]),
        length=math.log(max(2, len(norm))) / math.log(150), leans_back=float(bool(LEANS_BACK.match(norm))),
    )
    return np.array([row.get(name, 0.0) for name in FEATURES], dtype=np.float64)


def _names_share(question: Question, text: str) -> float:
    if not question.names:
        return 1.0
    return sum(names_in(n, text) for n in question.names) / len(question.names)


def _bm25(question: Question, norm: str) -> float:
    if question.total <= 0:
        return 0.0
    norm_len = K1 * (1 - B + B * len(norm) / AVG_SENTENCE_CHARS)
    score = 0.0
    for term, weight in question.weights.items():
        tf = norm.count(term)
        score += weight * tf * (K1 + 1) / (tf + norm_len) if tf else 0.0
    return score / question.total


def _longest_run(a: str, b: str) -> int:
    """Length of the longest substring of ``a`` found in ``b`` (grown one character at a time)."""
    best = 0
    for i in range(len(a)):
        size = best + 1
        while i + size <= len(a) and a[i : i + size] in b:
            best = size
            size += 1
    return best

