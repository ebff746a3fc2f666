"""Telegram front-end: ask in a chat, get a cited answer (python-telegram-bot, long polling).

``run_bot(settings)`` is what ``newsqa bot`` calls; ``build_bot(settings, service)`` builds the application
(used by tests against a fake Bot API server through ``settings.telegram_base_url``).
"""

from .app import MissingTokenError, build_bot, check_token, run_bot

__all__ = ["MissingTokenError", "build_bot", "check_token", "run_bot"]
