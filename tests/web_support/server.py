"""A real ``newsqa serve`` (uvicorn, its own process) on 127.0.0.1 and a free port, over a prepared data dir."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import ROOT, store_env

#: Keys of the browser tests' server (NEWSQA_API_KEYS, NEWSQA_ADMIN_KEY).
API_KEY = "web-test-key-3b71"
ADMIN_KEY = "web-admin-key-9c02"
#: Seconds for the server to load its model and open the store (a loaded CI machine is slow).
STARTUP_SECONDS = 300.0


@dataclass(frozen=True)
class Served:
    """A running server: its URL, data dir and keys (empty = not required), and its log file."""

    base_url: str
    data_dir: Path
    api_key: str
    admin_key: str
    log: Path


def free_port() -> int:
    """A port of 127.0.0.1 that nobody listened on a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def newsqa_serve(settings, api_key: str = "", admin_key: str = "", **env: str) -> Iterator[Served]:  # noqa: ANN001
    """Run ``python -m bot.cli serve`` on ``settings``' data dir and store (embedded or the test Chroma server)
    until the block ends; ``env`` adds ``NEWSQA_*`` variables. Raises RuntimeError (with the log's tail) when it
    does not become ready."""
    port = free_port()
    log_path = Path(settings.data_dir) / "serve.log"
    variables = {k: v for k, v in os.environ.items() if not k.startswith("NEWSQA_") or k.startswith("NEWSQA_TEST_")}
    variables.update(store_env(settings), NEWSQA_QUERY_ONNX="false", NEWSQA_LOG_LEVEL="WARNING",
                     NEWSQA_API_KEYS=api_key, NEWSQA_ADMIN_KEY=admin_key, HF_HUB_OFFLINE="1", **env)
    variables["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), variables.get("PYTHONPATH", "")) if p)
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=settings.data_dir, env=variables, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"newsqa serve did not start:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        yield Served(base, Path(settings.data_dir), api_key, admin_key, log_path)
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
