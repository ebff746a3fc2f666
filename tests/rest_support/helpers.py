"""Helpers for the REST API tests: timeouts, settings over the sample corpus, the JSON error check."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import make_settings

#: Requests in these tests are answered in well under a second; the bound only stops a hung test.
HTTP_TIMEOUT = 60.0


def settings_for(sample_settings: Any, **overrides: object) -> Any:
    """Settings over the same ingested sample data dir and model as ``sample_settings``, with overrides."""
    return make_settings(sample_settings.data_dir, sample_settings.embedding_model, **overrides)


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
