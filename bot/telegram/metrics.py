"""Prometheus counters of the Telegram bot process, served on a port of its own (``NEWSQA_BOT_METRICS_PORT``).

The bot has no web server, so :class:`BotMetrics` serves its own :class:`prometheus_client.CollectorRegistry` with
prometheus-client's ``start_http_server`` (a daemon thread; ``GET /metrics`` and ``GET /`` both answer) on
``NEWSQA_BOT_METRICS_HOST`` (default 127.0.0.1) while the bot runs: started in the application's ``post_init``,
stopped in ``post_shutdown`` (:func:`bot.telegram.app.build_bot`). Off unless the port is set. The endpoint has no
key: bind it to loopback (the default) or a private interface only.

Counters (docs/monitoring.md): ``newsqa_bot_updates_total`` by kind (``question``, ``command``, ``button``,
``other``; updates addressed to the bot), ``newsqa_bot_answers_total`` by result (``found``/``refused``) and mode,
``newsqa_bot_rejected_total`` by reason (``not_allowed``, ``rate_limited``, ``too_long``, ``bad_question``,
``empty_archive``), ``newsqa_bot_errors_total`` (updates that ended in the error handler: the user got the
apology).
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter, start_http_server
from telegram import Update

from rag.models import Answer

log = logging.getLogger(__name__)

REJECT_REASONS = ("not_allowed", "rate_limited", "too_long", "bad_question", "empty_archive")


class BotMetrics:
    """The bot's counters in their own registry (several bots in one process, as in tests, never share one)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.updates = Counter("newsqa_bot_updates", "Updates addressed to the bot, by kind.", ["kind"], registry=reg)
        self.answers = Counter("newsqa_bot_answers", "Answers sent, by result (found, refused) and mode.",
                               ["result", "mode"], registry=reg)
        self.rejected = Counter("newsqa_bot_rejected", "Questions or updates not answered, by reason.", ["reason"],
                                registry=reg)
        self.errors = Counter("newsqa_bot_errors", "Updates that failed (the user got the apology).", registry=reg)
        for kind in ("question", "command", "button", "other"):
            self.updates.labels(kind)
        for result in ("found", "refused"):
            for mode in ("extractive", "llm"):
                self.answers.labels(result, mode)
        for reason in REJECT_REASONS:
            self.rejected.labels(reason)
        self._server: Any = None

    def observe_update(self, update: Update) -> None:
        """Count an update that reached the bot (after the addressed check)."""
        message = update.message
        if update.callback_query is not None:
            kind = "button"
        elif message is not None and message.text and message.text.startswith("/"):
            kind = "command"
        elif message is not None and message.text:
            kind = "question"
        else:
            kind = "other"
        self.updates.labels(kind).inc()

    def observe_answer(self, answer: Answer) -> None:
        """Count an answer sent to a chat."""
        self.answers.labels("found" if answer.found else "refused", answer.mode).inc()

    def reject(self, reason: str) -> None:
        """Count a question or update not answered for ``reason`` (one of :data:`REJECT_REASONS`)."""
        self.rejected.labels(reason).inc()

    def error(self) -> None:
        """Count an update that ended in the error handler."""
        self.errors.inc()

    def serve(self, host: str, port: int) -> None:
        """Serve the registry on ``host``:``port`` in a daemon thread. Raises OSError when the port cannot be bound."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = server
        log.info("bot metrics on http://%s:%d/metrics", host, server.server_port)

    @property
    def port(self) -> int | None:
        """The port served (the bound one when 0 was asked for), or None when not serving."""
        return int(self._server.server_port) if self._server is not None else None

    def close(self) -> None:
        """Stop serving (no-op when not serving)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
