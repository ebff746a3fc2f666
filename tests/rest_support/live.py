"""Run an ASGI app on a real uvicorn server in a background thread, on 127.0.0.1 and a random free port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

#: Seconds to wait for startup (the lifespan may load an embedding model).
STARTUP_TIMEOUT = 180.0


@dataclass
class LiveServer:
    """A running server: ``base_url`` like ``http://127.0.0.1:41234``, and the app it serves."""

    base_url: str
    app: FastAPI | str
    server: uvicorn.Server


@contextmanager
def running_server(app: FastAPI | str, factory: bool = False) -> Iterator[LiveServer]:
    """Serve ``app`` until the block ends; the socket is bound before uvicorn starts, so there is no port race.

    ``app`` may also be an import string (``"bot.rest.app:app_from_env"`` with ``factory=True``), loaded by uvicorn.

    Raises RuntimeError when the server does not start (for example when the app's lifespan fails).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, factory=factory, log_config=None, loop="asyncio", lifespan="on", timeout_graceful_shutdown=10)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(10)
            sock.close()
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(base_url=f"http://127.0.0.1:{port}", app=app, server=server)
    finally:
        server.should_exit = True
        thread.join(60)
        sock.close()
