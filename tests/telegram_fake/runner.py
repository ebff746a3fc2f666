"""Run a real python-telegram-bot ``Application`` with ``run_polling`` in a background thread, for tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from telegram.ext import Application

from .server import FakeTelegram, wait_until

if TYPE_CHECKING:
    from rag.service import NewsQA


class RunningBot:
    """Runs ``application.run_polling`` (initialize, post_init, long polling, graceful shutdown) in a thread.

    Args:
        application: built by ``bot.telegram.build_bot`` with the fake server's base URL.
        server: the fake server, used to know when polling has started.
    """

    def __init__(self, application: Application, server: FakeTelegram) -> None:  # type: ignore[type-arg]
        self.application = application
        self.server = server
        self.loop = asyncio.new_event_loop()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="telegram-bot", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            # Short long-poll timeout so shutdown is quick; no signal handlers outside the main thread.
            self.application.run_polling(poll_interval=0.0, timeout=1, stop_signals=None, close_loop=True)
        except BaseException as exc:  # surfaced by stop()
            self.error = exc

    def start(self, timeout: float = 30.0) -> RunningBot:
        """Start polling; returns once the application runs and has asked for updates."""
        polls_before = len(self.server.calls_of("getUpdates"))
        self._thread.start()
        wait_until(
            lambda: self.error is not None
            or (self.application.running and len(self.server.calls_of("getUpdates")) > polls_before),
            timeout=timeout,
            message="bot did not start polling",
        )
        if self.error is not None:
            raise self.error
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop polling and shut the application down (post_shutdown included); re-raises a crash of the thread."""
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.application.stop_running)
            self._thread.join(timeout=timeout)
        assert not self._thread.is_alive(), "bot thread did not stop"
        if self.error is not None:
            raise self.error


StartBot = Callable[..., RunningBot]


@contextmanager
def bot_starter(telegram: FakeTelegram, default_service: NewsQA, data_dir: Path, model: str) -> Iterator[StartBot]:
    """Yield ``start(service=None, **settings_overrides) -> RunningBot``: the real bot (``bot.telegram.build_bot``)
    polling ``telegram``, answering with ``service`` or ``default_service``, settings under ``data_dir`` with
    embedding ``model``.

    On exit every started bot is stopped, then the fake server must have answered every Bot API call without
    error (no "can't parse entities", no message too long ...): AssertionError otherwise.
    """
    from bot.telegram import build_bot
    from tests.conftest import make_settings

    running: list[RunningBot] = []

    def start(service: NewsQA | None = None, **overrides: object) -> RunningBot:
        settings = make_settings(data_dir, model, telegram_token=telegram.token,
                                 telegram_base_url=telegram.base_url, **overrides)
        bot = RunningBot(build_bot(settings, service or default_service), telegram).start()
        running.append(bot)
        return bot

    yield start
    for bot in running:
        bot.stop()
    assert not telegram.failed_calls(), [f"{c.method}: {c.error}" for c in telegram.failed_calls()]
