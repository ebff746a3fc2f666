"""Spell out an abbreviation in an extractive answer with the full name its report gave first.

News reports name an organisation or event in full once (``第六届中国国际进口博览会``, ``公安部交通管理局``) and then
by its short form (``进博会``, ``交管局``). An answer sentence lifted from further down reads
``在今年的进博会上…``: out of its report the reader may not know the name, and a question asking ``哪个展会`` wants
the name. :func:`expand_abbreviations` adds the full form in brackets after the first use of each short form:
``在今年的进博会（第六届中国国际进口博览会）上…``.

Two sources of pairs, both from the answer's own report (its title, lead and whole article, or the passage):

- explicit definitions: ``X（以下简称“Y”）``, ``X（简称Y）``, ``X（下称Y）`` (国家发展和改革委员会（以下简称“国家发改委”）);
- implicit ones: ``Y`` is formed the usual Chinese way from a name ``X`` of 2+ words (jieba segmentation): a prefix
  of each word in order, the last word giving a prefix and its last character (交通/管理局 -> 交管局, 进口/博览会 ->
  进博会), or the first character of each word and the last one of the last (人民/代表/大会 -> 人代会). ``Y`` must
  be 3-6 characters, 2+ shorter than ``X``, end with ``X``'s last character, which must end an organisation's,
  meeting's or contest's name (:data:`NAME_ENDINGS`), and not be a substring of ``X`` (博览会 is a word of the
  name, not a short form of it); in the answer it must start a word. Names are runs of noun-like jieba words (n, nt,
  ns, nz, nr, vn, j and ordinals such as 第六届), ``和``/``与`` allowed inside.

An ordinal in the full name (``第六届``) is left out when the answer gives its own before the short form
(``首届进博会`` is not the sixth). Rules are our own, measured on the CRUD-RAG news archive (docs/evaluation.md).
"""

from __future__ import annotations

import re
from functools import lru_cache

from rag.answering.slots import _CJK_ONLY as _CJK
from rag.answering.slots import SLOT_NOUNS, asked_slot_nouns
from rag.text.normalize import jieba_module

#: Characters an explicit definition may wrap the short form in.
_QUOTES = "“”\"'《》「」"
_EXPLICIT = re.compile(
    r"(?P<full>[\u4e00-\u9fff《》A-Za-z0-9·]{4,40})[（(](?:以下|下文)?(?:简称为|简称|下称)[：:]?"
    r"[“\"《「]?(?P<short>[\u4e00-\u9fffA-Za-z0-9·]{2,12})[”\"》」]?[）)]"
)
_NAME_FLAGS = frozenset("n nt ns nz nr nrt nrfg vn j".split())
_ORDINAL = re.compile(r"^(?:第[0-9零一二三四五六七八九十百]+|首)届$|^第[0-9零一二三四五六七八九十百]+$|^届$")
_JOINERS = frozenset("和与")
_DEFINED_BEFORE = re.compile(r"(?:简称为|简称|下称)[：:]?[“\"《「]?$")
_ORDINAL_BEFORE = re.compile(r"(?:第[0-9零一二三四五六七八九十百]+|首|本|上|下|历)届$")
SHORTEST, LONGEST = 3, 6  # characters of a short form (implicit pairs)
NAME_REACH = 20  # characters before a name's last one where the name may start
MAX_SNIPPETS = 24  # places of a report segmented per answer (each costs ~0.5-1 ms of jieba's tagger)
#: Last characters of the names whose short forms are implied (organisations, meetings and fairs, contests): a
#: common noun shortened (无人艇 for 无人舰艇) tells the reader nothing new.
_WHICH = frozenset("哪个 哪些 哪家 哪位 哪种 哪座 哪所 哪款 哪一".split())
NAME_ENDINGS = frozenset("会局委部院办厅署所团队社赛展节组盟司校馆站")


def asks_for_a_name(norm_question: str, names_kind: bool = False) -> bool:
    """Whether a normalised question asks for a name, which a short form answers only for a reader who knows it:
    ``names_kind`` (a 谁/哪个机构/哪里 question), or a noun after the interrogative that is no property noun such
    as 意思 or 特点 (哪个展会, 什么协议)."""
    if names_kind or asked_slot_nouns(norm_question) - SLOT_NOUNS:
        return True
    # 哪个 + a word names the kind asked for whatever jieba tags it (展会: v). Not in asked_slot_nouns: there such
    # a word would weigh less in sentence choice, which measured worse (哪种无人机, 无人机 tagged l: crud_dev -1).
    words = jieba_module().lcut(norm_question)
    return any(w in _WHICH and n not in SLOT_NOUNS and len(n) >= 2 and _CJK.match(n) for w, n in zip(words, words[1:], strict=False))


def expand_abbreviations(answer: str, context: str, question: str = "") -> str:
    """``answer`` with ``（full name）`` after the first use of each short form that ``context`` (the answer's
    report: title, lead, passage; original characters) defines or implies. Unchanged when none is found, when the
    answer already holds the full name, for a short form the ``question`` itself uses (its reader knows it) and
    where the answer is the definition itself (``简称：台视``)."""
    pairs = _pairs(context, answer)
    if not pairs:
        return answer
    done: set[str] = set()
    for short, full, ordinal in pairs:
        if short in done or short in question or full in answer or (ordinal + full) in answer:
            continue
        at = _first_use(answer, short, full)
        if at < 0 or at not in _word_starts(answer) or _DEFINED_BEFORE.search(answer[:at]):
            continue  # 技术奖 inside 科学技术奖励办法 is no short form; （简称：台视） is the definition
        own_ordinal = bool(_ORDINAL_BEFORE.search(answer[:at]))
        name = full if own_ordinal or not ordinal else ordinal + full
        end = at + len(short)
        if answer[end : end + 1] in _QUOTES:  # “进博会”（…）: after the closing mark
            end += 1
        answer = answer[:end] + f"（{name}）" + answer[end:]
        done.add(short)
    return answer


@lru_cache(maxsize=256)
def _word_starts(text: str) -> frozenset[int]:
    """Offsets where a jieba word of ``text`` starts."""
    return frozenset(start for _, start, _ in jieba_module().tokenize(text))


def _first_use(answer: str, short: str, full: str) -> int:
    """Where ``short`` first occurs in ``answer`` outside an occurrence of ``full``; -1 when nowhere."""
    start = 0
    while (at := answer.find(short, start)) >= 0:
        inside = any(answer.startswith(full, at - i) for i in range(len(full)) if at - i >= 0)
        if not inside:
            return at
        start = at + 1
    return -1


_SENTENCE_END = re.compile(r"(?<=[。！？!?\n])")


@lru_cache(maxsize=256)
def _pairs(context: str, answer: str) -> tuple[tuple[str, str, str], ...]:
    """(short form, full name without its ordinal, the ordinal or ``""``) pairs of ``context``, explicit ones
    first, then implicit ones whose short form ``answer`` uses, longest full name first. Only the places of
    ``context`` that could end their names are segmented, at most :data:`MAX_SNIPPETS` (jieba's tagger costs ~30 ms
    per 1,000 characters), so the work grows with the answer, not with the article."""
    out: list[tuple[str, str, str]] = []
    for match in _EXPLICIT.finditer(context):
        full, short = match.group("full"), match.group("short")
        name = _trim_explicit(full, short)
        if name and name != short:
            out.append((short, name, ""))
    seen = {short for short, _, _ in out}
    # A short form ends with a name's last character and shares 2+ characters with it: windows are (that
    # character, the five before it) in the answer; only places of the report matching one can name it.
    windows = {(ch, answer[max(0, at - 5) : at]) for at, ch in enumerate(answer) if ch in NAME_ENDINGS}
    endings = {ch for ch, _ in windows}
    names = set()
    ending_chars = re.compile("|".join(map(re.escape, sorted(endings))) or "(?!)")  # (?!): no ending, no match
    places: list[tuple[int, int, str, int]] = []  # (-characters shared, order, sentence, offset)
    for part in _SENTENCE_END.split(context) if endings else ():
        for hit in ending_chars.finditer(part):
            at, ch = hit.start(), hit.group(0)
            before_text = part[max(0, at - NAME_REACH) : at]
            found = max((sum(x in before_text for x in set(before)) for c, before in windows if c == ch), default=0)
            if found >= 2:
                places.append((-found, len(places), part, at))
    # A long report full of 会/部: the places sharing most characters with the short forms are segmented first.
    for _, _, part, at in sorted(places)[:MAX_SNIPPETS]:
        start = max(0, at - NAME_REACH)
        # The name ending here, segmented alone with two characters on (a word going on past it, 部 of 部门, ends
        # no name); the snippet's first word may be cut, and is dropped.
        for words, ordinal, end in _names(part[start : at + 3], start > 0):
            stop = next((k for k in range(len(words), 1, -1) if end - sum(map(len, words[k:])) == at + 1 - start), 0)
            if stop:
                names.add((words[:stop], ordinal))
    for words, ordinal in sorted(names, key=lambda n: (-sum(map(len, n[0])), n)):
        full = "".join(words)
        for short in _short_forms(words, answer):
            if short not in seen:
                seen.add(short)
                out.append((short, full, ordinal))
    return tuple(out)


def _trim_explicit(full: str, short: str) -> str:  # "" when no name is found
    """The name an explicit 简称 follows: the text before it may run on from the sentence (新修订的《X办法》, 持有X公司),
    so keep a 《title》, else the last noun-like run, started earlier at the short form's first character when the
    run alone does not hold the short form (jieba cut 镇江大白鲸海洋世界有限公司 after 大)."""
    if full.endswith("》") and "《" in full:
        return full[full.rindex("《") :]
    import jieba.posseg as pseg

    full = full.strip(_QUOTES)
    runs = _names(full)
    run = "".join(runs[-1][0]) if runs else ""
    if not run or not full.endswith(run):  # the noun-like words it ends with (公报 of …统计公报), if any
        words = list(pseg.cut(full))
        tail = len(words)
        while tail and words[tail - 1].flag in _NAME_FLAGS:
            tail -= 1
        run = "".join(w.word for w in words[tail:])
    if not run:
        return ""
    start = len(full) - len(run)
    if not _subsequence(short, run) and (earlier := full.rfind(short[0], 0, start)) >= 0:
        start = earlier
    return full[start:]


def _subsequence(short: str, text: str) -> bool:
    """Whether the characters of ``short`` occur in ``text`` in order."""
    rest = iter(text)
    return all(ch in rest for ch in short)


@lru_cache(maxsize=4096)
def _names(text: str, cut: bool = False) -> list[tuple[tuple[str, ...], str, int]]:
    """Runs of 2+ noun-like jieba words in ``text``: (words, leading ordinal or ``""``, offset where the run
    ends); ``cut``: the text starts inside a word, whose rest is skipped."""
    import jieba.posseg as pseg

    runs: list[tuple[tuple[str, ...], str, int]] = []
    words: list[str] = []
    ordinal = ""
    offset = 0

    def close() -> None:
        end = offset
        while words and words[-1] in _JOINERS:
            end -= len(words.pop())
        if len(words) == 1 and len(words[0]) >= 5:  # one dictionary name: 全国人民代表大会 -> 全国/人民/代表/大会
            words[:] = _sub_words(words[0])
        if len(words) >= 2:
            runs.append((tuple(words), ordinal, end))

    for pair in pseg.cut(text):
        word, flag = pair.word, pair.flag
        offset += len(word)
        if cut:
            cut = False
            continue
        if flag == "m" and _ORDINAL.match(word) and not words:
            ordinal = ordinal + word if ordinal else word
            continue
        if _CJK.match(word) and (flag in _NAME_FLAGS or (word in _JOINERS and words)):
            words.append(word)
            continue
        offset -= len(word)
        close()
        offset += len(word)
        words, ordinal = [], ""
        if flag == "m" and _ORDINAL.match(word):
            ordinal = word
    close()
    return runs


def _sub_words(word: str) -> list[str]:
    """``word`` tiled left to right by the shortest of jieba's search-mode words (2+ characters) starting at each
    place, else one character."""
    starts: dict[int, int] = {}
    for _, start, end in jieba_module().tokenize(word, mode="search"):
        if end - start >= 2 and end - start < len(word):
            starts[start] = min(starts.get(start, len(word)), end - start)
    out, at = [], 0
    while at < len(word):
        size = starts.get(at, 1)
        out.append(word[at : at + size])
        at += size
    return out


def _short_forms(words: tuple[str, ...], context: str) -> list[str]:
    """Short forms of the name ``words`` that occur in ``context`` (the answer; see the module docstring), longest
    first."""
    full = "".join(words)
    if full[-1] not in NAME_ENDINGS:
        return []
    # 交管局 abbreviates the 交通管理局 of 公安部交通管理局: the short form may start at any word but the last.
    patterns = [p for j in range(len(words) - 1) if words[j] not in _JOINERS
                for p in (_pattern(words[j:]), _initials(words[j:]))]
    found: list[str] = []
    for at in (m.start() for m in re.finditer(re.escape(full[-1]), context)):
        for size in range(min(LONGEST, len(full) - 2), SHORTEST - 1, -1):
            start = at - size + 1
            if start < 0:
                continue
            short = context[start : at + 1]
            if short in full or short in found or not _CJK.match(short):
                continue
            if any(p.fullmatch(short) for p in patterns):
                found.append(short)
                break
    return found


@lru_cache(maxsize=1024)
def _pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    """A non-empty prefix of each word in order (a joiner may be skipped), the last word's non-empty prefix followed
    by its last character (or the whole last word). Skipping a whole word would read 群众办事 as short for 群众企业办事."""
    parts = []
    for i, word in enumerate(words):
        if word in _JOINERS:
            parts.append(f"(?:{re.escape(word)})?")
        elif i == len(words) - 1:  # 博览会 gives 博…会, never 会 alone (技术 + 发明奖 is not 技术奖)
            heads = "|".join(re.escape(word[:k]) for k in range(len(word) - 1, 0, -1))
            parts.append(f"(?:{heads}){re.escape(word[-1])}" if heads else re.escape(word))
        else:
            parts.append("(?:" + "|".join(re.escape(word[:k]) for k in range(len(word), 0, -1)) + ")")
    return re.compile("".join(parts))


@lru_cache(maxsize=1024)
def _initials(words: tuple[str, ...]) -> re.Pattern[str]:
    """The first character of each word but the last, then the last word's last character (人民/代表/大会 ->
    人代会); joiners may be skipped. With a word given whole instead, 技术 + 发明奖 would give 技术奖."""
    parts = [f"(?:{re.escape(w[0])})?" if w in _JOINERS else re.escape(w[0]) for w in words[:-1]]
    return re.compile("".join(parts) + re.escape(words[-1][-1]))
