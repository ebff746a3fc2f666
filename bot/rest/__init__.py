"""REST front-end of newsqa (FastAPI): ask, search, read articles, trigger ingest, OpenAI-compatible chat.

Entry points: :func:`bot.rest.app.create_app` builds the ASGI app; :func:`bot.rest.server.serve` runs it with
uvicorn (``newsqa serve``).
"""

from bot.rest.app import app_from_env, create_app

__all__ = ["app_from_env", "create_app"]
