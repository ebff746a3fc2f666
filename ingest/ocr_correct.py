"""Post-correction of OCR'd Chinese: look-alike characters (``correct_confusions(text, confs) -> text``) and one
spelling per letter-and-digit code in a file (:func:`unify_code_variants`); lengths never change.

PP-OCRv4 reads some characters as a near twin (晋级 -> 普级, 异己 -> 异已, 干部 -> 千部, 骑士 -> 骑土, 允许 -> 充许).
Each such twin pair is in :data:`CONFUSION_SETS` (visually confusable groups, from the classic OCR confusion
pairs of Chinese; we list only pairs seen on our renders or well known). A character of a group is replaced by
its twin when the recogniser was unsure of it (confidence below :data:`MAX_CONFIDENCE`) and the twin makes the
text around it (:data:`WINDOW` characters each side, line breaks skipped) a likelier word sequence by
:data:`MIN_GAIN` in natural log: jieba's own best-segmentation score (``Tokenizer.calc``, a unigram model over
its ``dict.txt`` frequencies), so 异已阴狠 -> 异己 / 阴狠 wins, while 具有自己的 stays.

Measured on the bench renders (``make bench-ocr``, docs/benchmarks.md section 8): on the 24 CMRC pages the 18
misread characters of these groups were all read below 0.92 and correct ones mostly above 0.99; with the 0.95
gate 13 are put right (99 -> 86 character errors against the truth) and none broken; on the sample-page
renders 5 put right and none broken. 于 is left out of 干千: 务实重干 (not in jieba's dictionary) read at 0.64-0.94
would become 重于 five times. Ungated, on ground-truth text (1.28M characters of the three dev sets), 52
characters change (小夭 -> 小天, 不由己 -> 不由已...): the confidence gate is what makes this safe.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from ingest.layout import Block

#: Groups of characters the recogniser confuses; any member may be read as any other of its group.
CONFUSION_SETS: tuple[str, ...] = (
    "己已巳", "干千", "士土", "未末", "晋普", "允充", "天夭", "田由甲", "狠狼", "跻路", "戊戌戍",
    "侯候", "拨拔", "栗粟", "崇祟", "徽微", "冶治", "免兔", "鸟乌", "汩汨", "析折", "茶荼", "赢嬴",
    "幸辛", "日曰", "淮准",
)
#: Natural-log gain of jieba's best segmentation of the window needed to swap a character for its twin.
MIN_GAIN = 3.0
#: Characters on either side of the candidate that the segmentation sees.
WINDOW = 4
#: With per-character confidences, only characters read with less than this are candidates.
MAX_CONFIDENCE = 0.95


@lru_cache(maxsize=1)
def _twins() -> dict[str, str]:
    out: dict[str, str] = {}
    for group in CONFUSION_SETS:
        for ch in group:
            out[ch] = out.get(ch, "") + group.replace(ch, "")
    return out


def _log_prob(tokenizer: Any, text: str) -> float:
    """Natural log-probability of jieba's best segmentation of ``text`` (its unigram DAG route, ``Tokenizer.calc``)."""
    route: dict[int, tuple[float, int]] = {}
    tokenizer.calc(text, tokenizer.get_DAG(text), route)
    return route[0][0]


def correct_confusions(text: str, confs: Sequence[float] = ()) -> str:
    """``text`` with look-alike misreads put right (see the module docstring); same length as ``text``.

    ``confs`` (per character, as the recogniser gave them) limits the change to characters read with less than
    :data:`MAX_CONFIDENCE`; without, every character of a confusion group is a candidate.
    """
    twins = _twins()
    if not any(ch in twins for ch in text):
        return text
    from rag.text.normalize import jieba_module

    tokenizer = jieba_module().dt
    tokenizer.check_initialized()
    # Line breaks and spaces inside a paragraph are not word boundaries here (自 / 己的思想 across two lines).
    where = [i for i, ch in enumerate(text) if not ch.isspace()]
    chars = [text[i] for i in where]
    for n, i in enumerate(where):
        alternatives = twins.get(chars[n])
        if not alternatives or (len(confs) == len(text) and confs[i] >= MAX_CONFIDENCE):
            continue
        lo, hi = max(0, n - WINDOW), min(len(chars), n + WINDOW + 1)
        window = "".join(chars[lo:hi])
        k = n - lo
        best, best_lp = chars[n], _log_prob(tokenizer, window) + MIN_GAIN
        for alt in alternatives:
            lp = _log_prob(tokenizer, window[:k] + alt + window[k + 1 :])
            if lp > best_lp:
                best, best_lp = alt, lp
        chars[n] = best
    out = list(text)
    for n, i in enumerate(where):
        out[i] = chars[n]
    return "".join(out)


#: Opening corner brackets the recogniser reads as a stroke-like Latin character or digit (「 -> 1, 『 -> l).
_OPENERS = {"」": "「", "』": "『"}
_OPENER_LOOKALIKES = frozenset("1lI|[")
_CJK = re.compile(r"[\u3400-\u9fff]")


def restore_openers(text: str) -> str:
    """``text`` with a corner bracket put back where a closing 」 / 』 has no opener and a stroke-like character
    (1, l, I, |, [) stands between two non-digits before it (分别是1旅游…课程」 -> 分别是「旅游…课程」): the one
    nearest the closer, after the previous closer or sentence end. Same length. Balanced text is untouched."""
    chars = list(text)
    for closer, opener in _OPENERS.items():
        depth, start = 0, 0
        for i, ch in enumerate(chars):
            if ch in "。！？；\n":  # an opener the OCR left unclosed (「学年班级制的中学。) must not match later
                depth = 0
            elif ch == opener:
                depth += 1
            elif ch == closer and depth:
                depth -= 1
                start = i + 1
            elif ch == closer:
                for j in range(i - 1, start - 1, -1):
                    if chars[j] in "。！？；\n":
                        break
                    if (chars[j] in _OPENER_LOOKALIKES and j + 1 < i and _CJK.match(chars[j + 1])
                            and (j == 0 or not chars[j - 1].isascii() or not chars[j - 1].isalnum())):
                        chars[j] = opener
                        break
                start = i + 1
    return "".join(chars)


#: Latin-and-digit codes (AGG01, G20, 5G, CO2) in which the recogniser swaps O / 0 and l / I / 1.
_CODE = re.compile(r"(?<![A-Za-z0-9])(?=[A-Za-z0-9]*[0-9])(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{2,}(?![A-Za-z0-9])")
_CODE_KEY = str.maketrans("OoIl", "0011")


def unify_code_variants(blocks: list[Block]) -> None:
    """One spelling per code within a file: ``AGG01`` and ``AGGO1`` (O read for 0) become the better-read one.

    Codes mixing letters and digits are grouped by their form with O/o -> 0 and I/l -> 1; where a group holds
    several spellings, every occurrence takes the spelling whose occurrences have the highest summed mean
    confidence (a document names one thing one way; the misread copy is the rare, unsure one). In place;
    lengths stay, so confidences stay aligned. ``blocks`` are OCR'd blocks (``confs`` per character).
    """
    seen: dict[str, dict[str, float]] = {}
    for b in blocks:
        confs = b.confs if len(b.confs) == len(b.text) else [1.0] * len(b.text)
        for m in _CODE.finditer(b.text):
            weight = sum(confs[m.start() : m.end()]) / len(m.group())
            spellings = seen.setdefault(m.group().translate(_CODE_KEY), {})
            spellings[m.group()] = spellings.get(m.group(), 0.0) + weight
    best = {key: max(sp, key=lambda k: sp[k]) for key, sp in seen.items() if len(sp) > 1}
    if not best:
        return
    for b in blocks:
        b.text = _CODE.sub(lambda m: best.get(m.group().translate(_CODE_KEY), m.group()), b.text)


__all__ = ["CONFUSION_SETS", "MAX_CONFIDENCE", "MIN_GAIN", "correct_confusions", "restore_openers",
           "unify_code_variants"]
