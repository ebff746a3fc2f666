"""Run the REST API with uvicorn: :func:`serve` (what ``newsqa serve`` calls), or ``python -m bot.rest.server``."""

from __future__ import annotations

import argparse
import ctypes
import os
import sys

import uvicorn

from bot.rest.app import SETTINGS_ENV, configure_logging, create_app, settings_from_env, settings_to_json
from rag.errors import ConfigError
from rag.settings import Settings

#: glibc ``mallopt`` parameter number of ``M_ARENA_MAX`` (``<malloc.h>``).
M_ARENA_MAX = -8
#: malloc arenas a serving process may use. glibc's default is 8 per core: the thread pools of uvicorn,
#: onnxruntime and chromadb then each keep half-empty arenas and RSS creeps over hours (the soak benchmark,
#: docs/benchmarks.md); 2 is the usual server setting (e.g. Heroku's and Ruby servers' ``MALLOC_ARENA_MAX=2``).
SERVING_MALLOC_ARENAS = 2


def limit_malloc_arenas(arenas: int = SERVING_MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas for this process (``mallopt(M_ARENA_MAX)``) and for the processes it starts
    (``MALLOC_ARENA_MAX`` in the environment, read by glibc at start: uvicorn workers, the ingest worker).

    An operator's own ``MALLOC_ARENA_MAX`` wins: nothing is changed then. Returns True when the cap was applied,
    False where there is no glibc (musl, macOS) or the variable was already set; never raises.
    """
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        applied = bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False
    if applied:
        os.environ["MALLOC_ARENA_MAX"] = str(arenas)
    return applied


def serve(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    """Serve the API on ``host``:``port`` until interrupted (blocks).

    With ``workers`` > 1, uvicorn starts that many processes, each building its app with the factory
    ``bot.rest.app:app_from_env``; ``settings`` reach them through the environment variable
    ``NEWSQA_REST_SETTINGS_JSON`` (removed again when the server stops). Each process loads the models once.
    Raises ValueError for ``workers`` < 1; uvicorn exits the process when the port cannot be bound.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    configure_logging(settings.log_level)
    limit_malloc_arenas()
    common = {
        "host": host,
        "port": port,
        "log_level": settings.log_level.lower(),
        "server_header": False,
        "proxy_headers": False,
        "timeout_graceful_shutdown": 30,
    }
    if workers == 1:
        uvicorn.run(create_app(settings), **common)  # type: ignore[arg-type]
        return
    previous = os.environ.get(SETTINGS_ENV)
    os.environ[SETTINGS_ENV] = settings_to_json(settings)
    try:
        uvicorn.run("bot.rest.app:app_from_env", factory=True, workers=workers, **common)  # type: ignore[arg-type]
    finally:
        if previous is None:
            os.environ.pop(SETTINGS_ENV, None)
        else:
            os.environ[SETTINGS_ENV] = previous


def main(argv: list[str] | None = None) -> None:
    """``python -m bot.rest.server [--host H] [--port P] [--workers N]``; everything else from NEWSQA_* / .env.
    A configuration error prints one line naming the variable and exits with status 2."""
    try:
        settings = settings_from_env()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    parser = argparse.ArgumentParser(prog="python -m bot.rest.server", description="Serve the newsqa REST API.")
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.port)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    serve(settings, args.host, args.port, args.workers)


if __name__ == "__main__":
    main()
