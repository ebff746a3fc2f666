"""Conversations: bounded per-conversation history with idle expiry, and rewriting follow-up questions.

A follow-up (``那郏县呢？`` after ``青松镇有多少个自然村？``, ``他主持了什么会议？`` after ``该县县长是谁？``) is
rewritten into a standalone question before retrieval, "query rewriting" in the sense of conversational search
(e.g. Vakulenko et al., ECIR 2021; the ``condense_question`` chat mode of llama-index does the same with an LLM):

- with an LLM: :func:`rag.answering.prompt.rewrite_messages` asks for the standalone question (one short call, at most
  ``rag.answering.prompt.REWRITE_MAX_TOKENS`` tokens); an unusable reply or a failed call falls back to the rule;
- without one, :func:`rule_rewrite`: an elliptic question ``(那)X呢`` puts X in place of the previous question's
  entity of the same kind (a place for a place, a title for a title) or of its subject; a pronoun (他, 她, 该镇,
  这位 ...) becomes the previous question's subject, plus the person's name when that question asked 谁 and the
  answer names someone right after the title; any other follow-up (其中…, 还有呢, 为什么, very short questions)
  gets the previous question (its subject and keywords) put in front: ``…名单，其中有多少家是国家级？``.

Only questions that look like follow-ups (:func:`looks_like_follow_up`) are rewritten, in both modes, so a new
standalone question never pays for an LLM call or gets changed by a rule.

:class:`ConversationStore` keeps, per conversation id, the last ``max_turns`` turns; a conversation idle for
``ttl_seconds`` is forgotten, and at most ``max_count`` conversations are kept (least recently used go first).
Memory is per process: with several REST workers, send a conversation's requests to the same worker.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.text.lexicon import alternation, words
from rag.text.normalize import jieba_module, normalize

#: Longest follow-up (in content characters) treated as elliptic even without a cue word.
SHORT_FOLLOW_UP_CHARS = 6
#: Longest standalone question built by the rule, in characters (the core accepts at most 1,000).
MAX_REWRITE_CHARS = 1000
#: Words that follow 那/还有 without naming an entity (``还有呢？``, ``具体呢？``): a generic follow-up.
_NOT_ENTITIES = frozenset(words("follow_up_words"))  # rag/lexicon/follow_up_words.txt


@dataclass(frozen=True)
class Turn:
    """One answered question of a conversation.

    ``question`` as asked, ``standalone`` as answered (after rewriting; the same when no rewrite was needed),
    ``answer`` the answer text (with markers), ``found`` whether the corpus held an answer.
    """

    question: str
    standalone: str
    answer: str
    found: bool = True


@dataclass(slots=True)
class _Conversation:
    turns: deque[Turn]
    last_used: float


class ConversationStore:
    """Bounded, expiring conversation histories, keyed by conversation id. Thread-safe.

    Args:
        max_turns: turns kept per conversation (older ones are dropped).
        ttl_seconds: idle seconds after which a conversation is forgotten.
        max_count: conversations kept at most (the least recently used is dropped first).
        clock: ``time.monotonic`` (tests inject a fake clock).
    """

    def __init__(
        self, max_turns: int, ttl_seconds: float, max_count: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_turns = max_turns
        self.ttl_seconds = ttl_seconds
        self.max_count = max_count
        self._clock = clock
        self._items: OrderedDict[str, _Conversation] = OrderedDict()
        self._lock = threading.Lock()

    def _expire(self) -> float:
        """Forget the expired conversations; returns the clock's time."""
        now = self._clock()
        while self._items:  # ordered by last use, so the expired ones are at the front
            key, item = next(iter(self._items.items()))
            if now - item.last_used < self.ttl_seconds:
                break
            del self._items[key]
        return now

    def history(self, conversation_id: str) -> list[Turn]:
        """The turns of a conversation, oldest first ([] when unknown or expired). Counts as a use."""
        with self._lock:
            now = self._expire()
            item = self._items.get(conversation_id)
            if item is None:
                return []
            item.last_used = now
            self._items.move_to_end(conversation_id)
            return list(item.turns)

    def append(self, conversation_id: str, turn: Turn) -> None:
        """Add a turn (starting the conversation if needed)."""
        with self._lock:
            now = self._expire()
            item = self._items.get(conversation_id)
            if item is None:
                item = self._items[conversation_id] = _Conversation(deque(maxlen=self.max_turns), now)
                while len(self._items) > self.max_count:
                    self._items.popitem(last=False)
            item.turns.append(turn)
            item.last_used = now
            self._items.move_to_end(conversation_id)

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._items)


# --- follow-up detection and rule rewriting ---------------------------------------------------------------------

_PLACE_SUFFIX = alternation("place_suffixes")  # rag/lexicon/place_suffixes.txt
_TITLE_SUFFIX = alternation("title_suffixes")  # rag/lexicon/title_suffixes.txt
_ELLIPTIC = re.compile(
    r"^(?:那么?|那个|还有|另外|而)?\s*(?P<x>[^，,。？?！!呢]{1,12}?)\s*(?:的情况|的话|的)?"
    r"(?:呢|怎么样|怎样|又如何|如何|又是多少|又是谁)\s*[？?！!。]*$"
)
_PRONOUN = re.compile(
    r"(?<![其])(?:他们|她们|它们|他|她|它)"
    rf"|该(?:{_PLACE_SUFFIX}|公司|企业|项目|会议|活动|工程|单位|部门|局|委|院|校|[\u4e00-\u9fff]{{1,3}}?(?:{_PLACE_SUFFIX}|公司|项目))"
    r"|(?:这|那)(?:位|个|家|些|项|次|里|件|种|所|座)|此(?:人|事|次|项|地)|上述|前者|后者|其中|^其(?!他|它|实|余)"
)
_LEADING = re.compile(r"^(?:那么?|还有|另外|此外|然后|而且|以及|那)(?!些年)")
_SUBJECT_END = re.compile(
    r"是|有|为|在|建成|共有|一共|总共|主持|召开|举办|举行|开展|实施|启动|获得|入选|发布|提出|完成|达到|实现|新建|投资"
    r"|多少|几|什么|哪|谁|如何|怎么|怎样|何|的"
)
_PLACE = re.compile(rf"[\u4e00-\u9fff]{{1,6}}?(?:{_PLACE_SUFFIX})")
_TITLE = re.compile(rf"(?:党委|党工委|区委|市委|县委|镇党委|管委会|常务)?副?(?:{_TITLE_SUFFIX})")
_CONTENT = re.compile(r"[\W_]+")
_PUNCT_END = re.compile(r"[？?！!。\s]+$")


def looks_like_follow_up(question: str) -> bool:
    """True when ``question`` may depend on the conversation: elliptic ``…呢``, a pronoun or demonstrative
    (他, 该镇, 这位, 其中 ...), a leading 那/还有/另外, or at most :data:`SHORT_FOLLOW_UP_CHARS` content characters."""
    q = normalize(question).strip()
    short = len(_CONTENT.sub("", q)) <= SHORT_FOLLOW_UP_CHARS
    return bool(_ELLIPTIC.match(q) or _PRONOUN.search(q) or _LEADING.match(q) or short)


def subject_of(question: str) -> str:
    """The subject phrase of a question: the text before its first predicate or interrogative word (at least two
    characters in), e.g. ``青松镇`` of ``青松镇有多少个自然村？``, ``该县县长`` of ``该县县长是谁？``;
    "" when there is none."""
    text = _PUNCT_END.sub("", question.strip())
    match = _SUBJECT_END.search(text, 2)
    return text[: match.start()].strip() if match else ""


def _name_after_title(answer: str, subject: str) -> str:
    """The person named right after the subject's title in ``answer`` (``主任李萍`` -> ``李萍``), or ""."""
    title = _TITLE.search(subject)
    if not title:
        return ""
    core = re.search(rf"(?:{_TITLE_SUFFIX})$", title.group(0))
    word = core.group(0) if core else title.group(0)
    import jieba.posseg as pseg

    jieba_module()
    for match in re.finditer(re.escape(word), answer):
        following = answer[match.end() : match.end() + 6]
        pairs = list(pseg.cut(following))
        if pairs and pairs[0].flag.startswith("nr") and 2 <= len(pairs[0].word) <= 4:
            return pairs[0].word
    return ""


def _referent(turn: Turn) -> str:
    """What a pronoun in a follow-up of ``turn`` refers to: the previous subject, with the person's name when the
    previous question asked 谁 and its answer names one (``市人大常委会主任李萍``)."""
    subject = subject_of(turn.standalone)
    if not subject:
        return ""
    if turn.found and re.search(r"谁|哪位|何人", turn.standalone):
        name = _name_after_title(turn.answer, subject)
        if name and name not in subject:
            return subject + name
    return subject


def _replace_entity(previous: str, entity: str) -> str:
    """``previous`` with ``entity`` in place of its entity of the same kind, or of its subject."""
    base = _PUNCT_END.sub("", previous.strip())
    ending = previous.strip()[len(base):] or "？"
    subject = subject_of(base)
    if subject:  # the subject's title for a title, its place for a place
        pattern = (_TITLE if re.search(rf"(?:{_TITLE_SUFFIX})$", entity)
                   else _PLACE if re.search(rf"(?:{_PLACE_SUFFIX})$", entity) else None)
        found = pattern.search(subject) if pattern else None
        new_subject = subject[: found.start()] + entity + subject[found.end() :] if found else entity
        return new_subject + base[len(subject) :] + ending
    return entity + base + ending


def rule_rewrite(question: str, history: Sequence[Turn]) -> str:
    """The standalone form of ``question`` by rule (see the module docstring); ``question`` itself when there is
    no history or it does not look like a follow-up."""
    if not history or not looks_like_follow_up(question):
        return question
    last = history[-1]
    previous = last.standalone or last.question
    q = question.strip()
    elliptic = _ELLIPTIC.match(q)
    if elliptic:
        entity = elliptic.group("x").strip()
        if entity and entity not in _NOT_ENTITIES and not _PRONOUN.search(entity):
            return _replace_entity(previous, entity)
    referent = _referent(last)
    pronoun = _PRONOUN.search(q)
    if pronoun and referent:
        word = pronoun.group(0)
        if word.startswith("该") and len(word) > 1:
            places = [p for p in _PLACE.findall(previous) if p.endswith(word[-1])]
            replacement = places[0] if places else referent
        else:
            replacement = referent
        if word not in ("其中", "上述", "前者", "后者"):
            return q[: pronoun.start()] + replacement + q[pronoun.end() :]
    # Generic follow-up: the previous question (its subject and keywords) in front of this one.
    context = _PUNCT_END.sub("", previous.strip())
    rewritten = f"{context}，{q}"
    if len(rewritten) > MAX_REWRITE_CHARS:
        rewritten = f"{referent or subject_of(previous)}，{q}"[:MAX_REWRITE_CHARS]
    return rewritten
