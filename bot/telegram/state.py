"""Per-chat state: the answers whose buttons can still be pressed, the last answer and the conversation id.

One :class:`ChatState` per chat holds everything the bot remembers about that chat; :meth:`ChatState.reset`
(``/reset``) forgets all of it and starts a new conversation id, so the core's conversation history for the chat
starts fresh as well. :class:`ChatStates` keeps a bounded number of chats in memory (least recently used go).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from rag.filters import ArchiveFilter
from rag.models import Answer, Citation

#: Answers per chat whose buttons still work; older buttons answer "expired".
MAX_ANSWERS_PER_CHAT = 50


@dataclass
class StoredAnswer:
    """An answer sent to a chat, as its buttons need it.

    ``key`` is the short id used in callback data; ``message_id`` is the message carrying the buttons (the last
    part of a split answer); ``votes`` maps a user id to that user's latest vote ("up" / "down").
    """

    key: str
    answer: Answer
    chat_id: int
    message_id: int | None = None
    votes: dict[int, str] = field(default_factory=dict)
    #: The chat's conversation when the answer was given (recorded with feedback on it).
    conversation_id: str | None = None

    def citation(self, number: int) -> Citation | None:
        """The citation numbered ``number`` ([n]), or None."""
        return next((c for c in self.answer.citations if c.id == number), None)

    def vote_counts(self) -> tuple[int, int]:
        """(👍 count, 👎 count) over the users who voted."""
        ups = sum(1 for vote in self.votes.values() if vote == "up")
        return ups, len(self.votes) - ups


class ChatState:
    """Everything the bot remembers about one chat.

    ``lock`` serialises questions within the chat (answers arrive in the order asked, and a conversation history
    sees its turns in order) while other chats proceed concurrently.
    """

    def __init__(self, chat_id: int, boot_id: str, max_answers: int = MAX_ANSWERS_PER_CHAT) -> None:
        self.chat_id = chat_id
        self.lock = asyncio.Lock()
        self.last_used = time.monotonic()
        self._boot_id = boot_id
        self._max_answers = max_answers
        self._generation = 0
        self._counter = 0
        self._answers: OrderedDict[str, StoredAnswer] = OrderedDict()
        self.last_answer: StoredAnswer | None = None
        #: Dates and newspaper this chat's questions are limited to (/since, /until, /publication); kept by /reset.
        self.archive_filter: ArchiveFilter | None = None

    @property
    def conversation_id(self) -> str:
        """Id of this chat's current conversation for the core; a new one after each :meth:`reset`."""
        return f"telegram:{self.chat_id}:{self._boot_id}:{self._generation}"

    def remember(self, answer: Answer) -> StoredAnswer:
        """Store ``answer`` as the chat's last answer and give it a key for its buttons."""
        # Keys combine a per-process boot id with a counter that never restarts, so a button from before a restart
        # or a /reset can never point at a newer answer.
        self._counter += 1
        key = f"{self._boot_id}{self._counter:x}"
        stored = StoredAnswer(key=key, answer=answer, chat_id=self.chat_id,
                              conversation_id=self.conversation_id)
        self._answers[key] = stored
        while len(self._answers) > self._max_answers:
            self._answers.popitem(last=False)
        self.last_answer = stored
        return stored

    def get(self, key: str) -> StoredAnswer | None:
        """The stored answer with this key, or None when unknown or forgotten."""
        return self._answers.get(key)

    def reset(self) -> None:
        """Forget this chat's conversation: answers, their buttons, the last answer; start a new conversation id."""
        self._generation += 1
        self._answers.clear()
        self.last_answer = None


class ChatStates:
    """Bounded map of chat id to :class:`ChatState` (least recently used chats are forgotten first)."""

    def __init__(self, max_chats: int = 10_000) -> None:
        self.max_chats = max_chats
        # Random per process: buttons sent before a restart are recognisably stale.
        self.boot_id = secrets.token_hex(2)
        self._states: OrderedDict[int, ChatState] = OrderedDict()

    def get(self, chat_id: int) -> ChatState:
        """The state of ``chat_id``, created on first use."""
        state = self._states.get(chat_id)
        if state is None:
            state = self._states[chat_id] = ChatState(chat_id, self.boot_id)
            while len(self._states) > self.max_chats:
                self._states.popitem(last=False)
        else:
            self._states.move_to_end(chat_id)
        state.last_used = time.monotonic()
        return state

    def __len__(self) -> int:
        return len(self._states)
