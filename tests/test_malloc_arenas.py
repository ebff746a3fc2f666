"""The serving process caps glibc's malloc arenas (bot.rest.server.limit_malloc_arenas), unless the operator set
MALLOC_ARENA_MAX. Run in a child interpreter so the test process's own allocator and environment stay untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, os
from bot.rest.server import limit_malloc_arenas
first = limit_malloc_arenas()
second = limit_malloc_arenas()
print(json.dumps([first, second, os.environ.get("MALLOC_ARENA_MAX")]))
"""


def _probe(env_value: str | None) -> list[object]:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    if env_value is not None:
        env["MALLOC_ARENA_MAX"] = env_value
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt(M_ARENA_MAX) is glibc's")
def test_cap_applied_once_and_inherited_by_children() -> None:
    first, second, env_value = _probe(None)
    assert first is True
    assert second is False  # already set: a second call (a uvicorn worker) changes nothing
    assert env_value == "2"


def test_operator_setting_wins() -> None:
    first, second, env_value = _probe("4")
    assert (first, second, env_value) == (False, False, "4")
