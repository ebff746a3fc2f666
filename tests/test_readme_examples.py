"""Every ``curl`` example of README.md, run as written (only the host and port changed) against a real
``newsqa`` REST server over the sample pages, so the README cannot drift from the API.

Examples that send ``Authorization: Bearer`` go to a server that requires keys (the README's ``key1`` and an admin
key passed as ``$NEWSQA_ADMIN_KEY``, as the README writes it); the others to an open server. Needs ``curl`` (the
Makefile's ``system-deps`` installs it); without it the test skips, except under CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.rest.app import create_app
from tests.conftest import make_settings
from tests.rest_support.helpers import HTTP_TIMEOUT
from tests.rest_support.live import LiveServer, running_server

pytest_plugins = ["tests.rest_support.fixtures"]

README = Path(__file__).resolve().parents[1] / "README.md"
README_BASE = "http://127.0.0.1:8000"
API_KEYS = "key1,key2"  # the README's example keys
ADMIN_KEY = "readme-admin-key-3f9c"
JOB_DEADLINE_SECONDS = 240.0


def readme_curls(text: str) -> list[str]:
    """The ``curl`` commands of the README's ``bash`` blocks, continuation lines joined, trailing comments cut."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line.startswith("curl "):
                commands.append(re.sub(r"\s+#[^'\"]*$", "", line))
    return commands


CURLS = readme_curls(README.read_text("utf-8"))


@pytest.fixture(scope="module")
def curl() -> str:
    path = shutil.which("curl")
    if path is None:
        message = "curl is not installed (Debian package curl; `make test` installs it)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def keyed_server(sample_settings: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server over a private copy of the ingested sample pages that requires API keys and has an admin key; it
    builds its own service, as ``newsqa serve`` does (the README's ingest example runs there, not on the shared
    session store)."""
    data_dir = tmp_path_factory.mktemp("readme") / "data"
    shutil.copytree(sample_settings.data_dir, data_dir, ignore=shutil.ignore_patterns("serve.json"))
    settings = make_settings(data_dir, sample_settings.embedding_model, api_keys=API_KEYS, admin_key=ADMIN_KEY)
    with running_server(create_app(settings)) as live:
        yield live


def _run(command: str, base_url: str) -> str:
    """Run one README command in bash against ``base_url``; returns stdout. Fails on a non-zero exit."""
    env = dict(os.environ, NEWSQA_ADMIN_KEY=ADMIN_KEY)
    done = subprocess.run(["bash", "-c", command.replace(README_BASE, base_url)], env=env, capture_output=True,
                          text=True, timeout=HTTP_TIMEOUT)
    assert done.returncode == 0, f"{command}\nexit {done.returncode}: {done.stderr}"
    return done.stdout


def _path(command: str) -> str:
    match = re.search(re.escape(README_BASE) + r"(/[^\s'\"]*)", command)
    assert match, f"README curl example without {README_BASE}: {command}"
    return match.group(1)


def test_the_readme_has_the_examples_it_promises() -> None:
    paths = {_path(c) for c in CURLS}
    assert {"/v1/ask", "/v1/ask/stream", "/v1/search", "/v1/ingest"} <= paths, paths
    assert any("--data-urlencode" in c and re.search(r"[\u4e00-\u9fff]", c) for c in CURLS), \
        "the README should show a GET with a URL-encoded Chinese query"
    assert any("Authorization: Bearer" in c for c in CURLS)


@pytest.mark.parametrize("command", [c for c in CURLS if "Bearer" not in c], ids=_path)
def test_open_examples(command: str, curl: str, sample_server: LiveServer) -> None:
    out = _run(command, sample_server.base_url)
    path = _path(command)
    if path == "/v1/ask/stream":
        events = re.findall(r"^event: (\w+)$", out, re.M)
        assert events[0] == "citations" and "answer" in events and events[-1] == "done", events
        done = json.loads(out.rstrip().rsplit("data: ", 1)[1])
        assert done["found"] and done["citations"]
        return
    body = json.loads(out)
    if path == "/v1/ask":
        assert body["found"] and body["citations"] and "[1]" in body["answer"], body
    elif path == "/v1/search":
        assert body["hits"], body
        # the query arrives decoded, as typed in the README
        assert re.search(r"q=([^']+)'", command).group(1) == body["query"]  # type: ignore[union-attr]
    elif path == "/v1/articles":
        wanted = re.search(r"publication=([^']+)'", command).group(1)  # type: ignore[union-attr]
        assert body["items"] and all(wanted in item["publication"] for item in body["items"]), body
    else:
        pytest.fail(f"no check for the README example {command}")


@pytest.mark.parametrize("command", [c for c in CURLS if "Bearer" in c], ids=_path)
def test_keyed_examples(command: str, curl: str, keyed_server: LiveServer) -> None:
    without_key = re.sub(r"-H [\"']Authorization: Bearer [^\"']*[\"']", "", command)
    denied = _run(without_key, keyed_server.base_url)
    if denied.startswith("HTTP/"):  # curl -i
        assert " 401" in denied.splitlines()[0], denied
    else:
        assert json.loads(denied)["error"]["code"] == "missing_api_key", denied
    out = _run(command, keyed_server.base_url)
    if _path(command) == "/v1/ingest":
        status, _, rest = out.partition("\n")
        assert " 202" in status, out
        job = re.search(r"^location: (/v1/ingest/\w+)", rest, re.M | re.I)
        assert job, out
        _wait_for_job(keyed_server.base_url, job.group(1))
    else:
        body = json.loads(out)
        assert body["found"] and body["citations"], body


def _wait_for_job(base_url: str, location: str) -> None:
    """Poll the ingest job until it is done (so it never overlaps other tests), and check it succeeded."""
    deadline = time.monotonic() + JOB_DEADLINE_SECONDS
    with httpx.Client(base_url=base_url, timeout=HTTP_TIMEOUT,
                      headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
        while time.monotonic() < deadline:
            job = client.get(location).json()
            if job["done"]:
                assert job["state"] == "succeeded", job
                return
            time.sleep(0.2)
    pytest.fail(f"ingest job {location} not done within {JOB_DEADLINE_SECONDS} s")
