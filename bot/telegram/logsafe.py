"""Keep the bot token out of logs.

The token is part of every Bot API URL (``.../bot<token>/getUpdates``): httpx logs each request URL at INFO and
python-telegram-bot logs the URL at DEBUG and puts the token in some exception messages. We lower httpx's
loggers to WARNING and add a filter to the root handlers that replaces the token in every record, message,
arguments and traceback alike.
"""

from __future__ import annotations

import logging

REDACTED = "<redacted-token>"
_QUIET_LOGGERS = ("httpx", "httpcore")


class TokenRedactingFilter(logging.Filter):
    """Replaces every occurrence of the given secrets in a log record (message, args and exception text)."""

    def __init__(self, secrets: set[str] | None = None) -> None:
        super().__init__()
        self.secrets: set[str] = set(secrets or ())

    def _redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; always keeps the record."""
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string is not ours to fix here; leave the record alone
            return True
        redacted = self._redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when set, so the traceback is rendered (and redacted) once here.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redact(record.stack_info)
        return True


_FILTER = TokenRedactingFilter()


def protect_token(token: str) -> None:
    """Make sure ``token`` never appears in log output from now on.

    Quiets httpx's request logging and attaches one shared redacting filter to the root logger's handlers and to
    the loggers that emit Bot API URLs. Idempotent; call again after adding handlers to cover them too.
    """
    if token:
        _FILTER.secrets.add(token)
    for name in _QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)
    targets: list[logging.Filterer] = list(logging.getLogger().handlers)
    # Logger-level filters cover records emitted by exactly these loggers even if a later handler misses the filter.
    targets += [logging.getLogger(name) for name in ("telegram", "telegram.ext", "httpx", "bot.telegram")]
    for target in targets:
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)
