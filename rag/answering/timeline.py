"""Answers over time: which report answers when several printed different figures at different dates.

A newspaper archive repeats a fact as it changes (``郏县建成5G基站300座`` in 2020, ``1200座`` in 2023). Three rules,
our own:

- a question that names a time (``2021年``, ``去年``; :mod:`rag.text.time_expr`) retrieves with that range as a
  lenient scope (:class:`rag.filters.ArchiveFilter`) and is answered from a report printed in the range when one
  answers about as well (:func:`in_scope_answer`);
- a question that asks for the newest (``最新``, ``最近``, ``目前``) is answered from the newest report among those
  that answer it by the selector's own refusal threshold (``floor``: its calibrated probability) and name the subject;
- without either, when another report that answers (``floor``), about the same subject, gives *another value* and
  was printed at least :data:`DISAGREE_DAYS` later, the sources disagree
  over time: the newest is given, with its date (:func:`dated_prefix`).
"""

from __future__ import annotations

import re
from datetime import date
from itertools import takewhile

from rag.answering.features import Candidate
from rag.answering.question import Question, answer_value, names_in
from rag.models import print_label, story_of

#: Days between two printings that disagree on a value before the newer one is preferred unasked (a figure
#: reported again months later is an update; within weeks it is more often another event of the same kind).
DISAGREE_DAYS = 180


_DIGITS = re.compile(r"\d+(?:\.\d+)?")


def other_value(analysis: Question, a: Candidate, b: Candidate) -> bool:
    """Whether sentence ``b`` answers with another value than ``a``: another number in the asked unit or another
    date (:func:`rag.answering.question.answer_value`), or, for any question, the same sentence with other figures
    (``于1998年建成`` / ``于2004年建成``)."""
    mine = answer_value(analysis.qtype, analysis.unit, a.norm)
    other = answer_value(analysis.qtype, analysis.unit, b.norm)
    if mine is not None and other is not None:
        return mine != other
    return a.norm != b.norm and _DIGITS.sub("#", a.norm) == _DIGITS.sub("#", b.norm)


def _published(cand: Candidate) -> str:
    return str(cand.hit.node.metadata.get("published") or "")[:10]


def _days_between(a: str, b: str) -> int:
    try:
        return (date.fromisoformat(b) - date.fromisoformat(a)).days
    except ValueError:
        return 0


def newest_answer(analysis: Question, best: Candidate, candidates: list[Candidate],
                  prefer_latest: bool, floor: float) -> tuple[Candidate, bool]:
    """The candidate to answer from, and whether the answer should say when it was printed: the sources disagree
    over time (another dated report answers, its probability ``score`` >= ``floor``, with another value,
    :data:`DISAGREE_DAYS` apart), or the newest was asked for. ``candidates`` are best first."""
    chosen, chosen_date = best, _published(best)
    disagree = False
    for cand in takewhile(lambda c: c.score >= floor, candidates):
        printed = _published(cand)
        if (not printed or story_of(cand.hit.node.metadata) == story_of(best.hit.node.metadata)
                or not about_subject(analysis, cand)):
            continue
        changed = (other_value(analysis, best, cand)
                   and abs(_days_between(_published(best) or printed, printed)) >= DISAGREE_DAYS)
        disagree = disagree or changed
        if printed > chosen_date and (prefer_latest or changed):
            chosen, chosen_date = cand, printed
    return chosen, disagree or (prefer_latest and bool(chosen_date))


def in_scope_answer(analysis: Question, best: Candidate, candidates: list[Candidate], since: str,
                    until: str, floor: float) -> Candidate:
    """For a question naming its time (ISO ``since``..``until``): ``best`` when it was printed in that range, else
    the best candidate printed in it that answers too (probability ``score`` >= ``floor``: the words of the year
    itself favour later reports that mention it) about the subject: a later report that merely mentions the year
    loses to the report of that year."""
    if since <= _published(best) <= until:
        return best
    for cand in takewhile(lambda c: c.score >= floor, candidates):
        if since <= _published(cand) <= until and about_subject(analysis, cand):
            return cand
    return best


def about_subject(question: Question, cand: Candidate) -> bool:
    """Whether ``cand`` names every name of the question, in its sentence or its context (title, lead, the
    sentences around it)."""
    return all(names_in(n, cand.norm) or names_in(n, cand.frame) for n in question.names)


def dated_prefix(cand: Candidate) -> str:
    """``据《平顶山日报》2021-12-31第1版报道，`` for the chunk of ``cand``; ``""`` when its date is unknown."""
    meta = cand.hit.node.metadata
    if not meta.get("published"):
        return ""
    label = print_label(meta.get("publication") or None, str(meta.get("published"))[:10], meta.get("page") or None)
    return f"据{label}报道，"
