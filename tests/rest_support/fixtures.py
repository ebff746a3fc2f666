"""Fixtures shared by the ``tests/test_api*.py`` modules (import them into a test module to use them).

``sample_server`` serves the ingested sample corpus through the session's warmed-up ``sample_service`` on a real
uvicorn server (127.0.0.1, random port); ``api`` is an httpx client pointed at it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bot.rest.app import create_app
from tests.conftest import make_settings
from tests.rest_support.live import LiveServer, running_server

#: Requests in these tests are answered in well under a second; the bound only stops a hung test.
HTTP_TIMEOUT = 60.0


def settings_for(sample_settings: Any, **overrides: object) -> Any:
    """Settings over the same ingested sample data dir and model as ``sample_settings``, with overrides."""
    return make_settings(sample_settings.data_dir, sample_settings.embedding_model, **overrides)


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


def assert_error(response: httpx.Response, status: int, code: str | None = None, field: str | None = None) -> dict:
    """Check a JSON error response: status, error shape, request id matching the header, no stack trace.

    Returns the ``error`` object.
    """
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text and 'File "' not in response.text
    body = response.json()
    assert set(body) == {"error", "request_id"}
    error = body["error"]
    assert {"code", "type", "message", "param"} <= set(error)
    assert body["request_id"] and body["request_id"] == response.headers["x-request-id"]
    if code is not None:
        assert error["code"] == code, error
    if field is not None:
        assert error["param"] == field, error
        assert field in error["message"], error
    return error
