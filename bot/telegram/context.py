"""The bot's shared, per-process objects, stored once in ``application.bot_data``."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from telegram.ext import Application, CallbackContext

from bot.feedback_log import FeedbackLog
from rag.service import NewsQA
from rag.settings import Settings

from .metrics import BotMetrics
from .ratelimit import RateLimiter
from .state import ChatStates

BOT_DATA_KEY = "newsqa"
#: Chats remembered as already refused (they get one refusal each); older entries are forgotten first.
MAX_REFUSED_CHATS = 10_000


@dataclass
class BotContext:
    """Service, settings and per-process state every handler uses.

    ``allowed_ids`` empty means everyone may ask; otherwise a chat id or user id must be in it. ``metrics`` are the
    bot's Prometheus counters (served only when ``NEWSQA_BOT_METRICS_PORT`` is set).
    """

    settings: Settings
    service: NewsQA
    states: ChatStates
    limiter: RateLimiter
    feedback: FeedbackLog
    allowed_ids: frozenset[int]
    example_question: str
    metrics: BotMetrics = field(default_factory=BotMetrics)
    _refused: OrderedDict[int, None] = field(default_factory=OrderedDict)

    def is_allowed(self, chat_id: int | None, user_id: int | None) -> bool:
        """True when no allow-list is set or the chat or the user is on it."""
        if not self.allowed_ids:
            return True
        return chat_id in self.allowed_ids or user_id in self.allowed_ids

    def first_refusal(self, chat_id: int) -> bool:
        """True the first time a not-allowed chat is refused (it gets one refusal, then silence)."""
        if chat_id in self._refused:
            return False
        self._refused[chat_id] = None
        while len(self._refused) > MAX_REFUSED_CHATS:
            self._refused.popitem(last=False)
        return True


def get_context(context: CallbackContext) -> BotContext:  # type: ignore[type-arg]
    """The :class:`BotContext` of the application handling ``context``."""
    return context.application.bot_data[BOT_DATA_KEY]


def attach_context(application: Application, bot_context: BotContext) -> None:  # type: ignore[type-arg]
    """Store ``bot_context`` in ``application.bot_data`` for the handlers."""
    application.bot_data[BOT_DATA_KEY] = bot_context
