"""Inline keyboards and their callback data.

Callback data is ``<kind>:<answer key>:<arg>`` with kind ``s`` (show a source's passage, arg = citation number),
``a`` (send a source's whole article, arg = citation number) or ``f`` (feedback, arg ``u`` / ``d``). An answer key
is a few hex characters (see :class:`bot.telegram.state.ChatState`), so data stays far below Telegram's 64-byte
limit; :func:`callback_data` checks it anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.feedback_log import Vote

from . import texts
from .format import source_button_label
from .state import StoredAnswer

#: Telegram's limit for callback data, in bytes (UTF-8).
MAX_CALLBACK_BYTES = 64

SOURCE, ARTICLE, FEEDBACK = "s", "a", "f"
VOTES: dict[str, Vote] = {"u": "up", "d": "down"}

_CALLBACK_RE = re.compile(r"^([saf]):([0-9a-f]{1,24}):([0-9]{1,3}|[ud])$")


@dataclass(frozen=True)
class Callback:
    """Parsed callback data: ``kind`` (SOURCE, ARTICLE, FEEDBACK), answer ``key`` and ``arg``."""

    kind: str
    key: str
    arg: str

    @property
    def number(self) -> int:
        """``arg`` as a citation number (SOURCE and ARTICLE). Raises ValueError for feedback data."""
        return int(self.arg)


def callback_data(kind: str, key: str, arg: str | int) -> str:
    """Build callback data. Raises ValueError if it would exceed Telegram's 64-byte limit or not parse back."""
    data = f"{kind}:{key}:{arg}"
    if len(data.encode("utf-8")) > MAX_CALLBACK_BYTES or not _CALLBACK_RE.match(data):
        raise ValueError(f"invalid callback data {data!r}")
    return data


def parse_callback(data: str | None) -> Callback | None:
    """Parse callback data built by :func:`callback_data`; None for anything else (old or foreign buttons)."""
    match = _CALLBACK_RE.match(data or "")
    return Callback(*match.groups()) if match else None


def feedback_buttons(stored: StoredAnswer) -> list[InlineKeyboardButton]:
    """The 👍 / 👎 row, showing vote counts once there are votes."""
    ups, downs = stored.vote_counts()
    return [
        InlineKeyboardButton(f"👍 {ups}" if ups else "👍", callback_data=callback_data(FEEDBACK, stored.key, "u")),
        InlineKeyboardButton(f"👎 {downs}" if downs else "👎", callback_data=callback_data(FEEDBACK, stored.key, "d")),
    ]


def answer_keyboard(stored: StoredAnswer) -> InlineKeyboardMarkup:
    """One button per source (one row each, titles are long), then the feedback row."""
    rows = [
        [InlineKeyboardButton(source_button_label(c), callback_data=callback_data(SOURCE, stored.key, c.id))]
        for c in stored.answer.citations
    ]
    rows.append(feedback_buttons(stored))
    return InlineKeyboardMarkup(rows)


def passage_keyboard(stored: StoredAnswer, number: int) -> InlineKeyboardMarkup:
    """Under a shown passage: the button that sends the whole article."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(texts.ARTICLE_BUTTON, callback_data=callback_data(ARTICLE, stored.key, number))]]
    )
