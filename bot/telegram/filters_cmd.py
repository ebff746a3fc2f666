"""/since, /until and /publication: limit a chat's questions to reports printed in a date range or by a newspaper.

``/since 2021-01-01`` keeps the chat's questions to reports printed on or after that day, ``/until 2021-12-31``
before it, ``/publication 平顶山日报`` to one newspaper (a part of its name is enough); the same command with ``off``
clears that part, without an argument it shows the chat's current limits. A year in the question itself
(``2021年…``, ``去年…``) needs no command: the core reads it (:mod:`rag.text.time_expr`).
"""

from __future__ import annotations

from dataclasses import replace

from telegram import Update
from telegram.ext import ContextTypes

from rag.errors import InputError
from rag.filters import ArchiveFilter, parse_day

from . import texts
from .context import get_context
from .format import escape
from .replies import reply_html

FILTER_COMMANDS = ("since", "until", "publication")
Context = ContextTypes.DEFAULT_TYPE
_OFF = {"off", "none", "clear", "关闭", "取消", "清除"}


def describe(flt: ArchiveFilter | None) -> str:
    """The chat's limits in words (HTML-escaped), or the no-limit text."""
    if flt is None or not flt.strict:
        return texts.FILTER_NONE
    parts = []
    if flt.since:
        parts.append(texts.FILTER_SINCE.format(day=flt.since.isoformat()))
    if flt.until:
        parts.append(texts.FILTER_UNTIL.format(day=flt.until.isoformat()))
    if flt.publication:
        parts.append(texts.FILTER_PUBLICATION.format(name=escape(flt.publication)))
    return texts.FILTER_CURRENT.format(limits="，".join(parts))


def updated(flt: ArchiveFilter | None, command: str, argument: str) -> ArchiveFilter | None:
    """``flt`` with ``command``'s part set from ``argument`` (``off`` clears it); raises InputError for a bad date
    or an empty range."""
    current = flt or ArchiveFilter()
    value = None if argument.lower() in _OFF else argument
    if command == "publication":
        new = replace(current, publication=value, publications=None)
    else:
        day = parse_day(value, command)
        new = replace(current, since=day) if command == "since" else replace(current, until=day)
    checked = ArchiveFilter.parse(new.since, new.until, new.publication)
    return checked if checked else None


async def filter_command(update: Update, context: Context) -> None:
    """/since, /until, /publication (see the module docstring)."""
    message = update.effective_message
    if message is None or not message.text:
        return
    command = message.text.split()[0].lstrip("/").split("@")[0].lower()
    state = get_context(context).states.get(message.chat.id)
    argument = " ".join(context.args or []).strip()
    if argument:
        try:
            state.archive_filter = updated(state.archive_filter, command, argument)
        except InputError as exc:
            await reply_html(message, texts.FILTER_BAD.format(reason=escape(str(exc)), command=command))
            return
    await reply_html(message, describe(state.archive_filter))
