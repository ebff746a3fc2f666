"""Fixtures shared by the ``tests/test_api*.py`` modules (``pytest_plugins = ["tests.rest_support.fixtures"]``).

``sample_server`` serves the ingested sample corpus through the session's warmed-up ``sample_service`` on a real
uvicorn server (127.0.0.1, random port); ``api`` is an httpx client pointed at it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bot.rest.app import create_app
from tests.rest_support.helpers import HTTP_TIMEOUT
from tests.rest_support.live import LiveServer, running_server


@pytest.fixture(scope="session")
def sample_server(sample_settings: Any, sample_service: Any) -> Iterator[LiveServer]:
    """The sample corpus served with default settings: no keys, no CORS, ingest over HTTP disabled."""
    with running_server(create_app(sample_settings, service=sample_service)) as live:
        yield live


@pytest.fixture()
def api(sample_server: LiveServer) -> Iterator[httpx.Client]:
    """An httpx client for ``sample_server``."""
    with httpx.Client(base_url=sample_server.base_url, timeout=HTTP_TIMEOUT) as client:
        yield client
