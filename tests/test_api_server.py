"""The worker entry point: uvicorn loading ``bot.rest.app:app_from_env`` as a factory (what ``serve`` does with
several workers), with the settings handed over through the environment."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from bot.rest.app import SETTINGS_ENV, settings_from_env, settings_to_json
from tests.rest_support.helpers import HTTP_TIMEOUT, assert_error, settings_for
from tests.rest_support.live import running_server


def test_settings_reach_workers_through_the_environment(sample_settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_for(sample_settings, api_keys="a,b", admin_key="adm-secret", cors_origins="https://x.cn", top_k=7)
    monkeypatch.setenv(SETTINGS_ENV, settings_to_json(settings))
    monkeypatch.setenv("NEWSQA_TOP_K", "3")  # the hand-over wins over the environment
    rebuilt = settings_from_env()
    assert rebuilt.model_dump() == settings.model_dump()
    assert rebuilt.admin_key is not None and rebuilt.admin_key.get_secret_value() == "adm-secret"
    assert "adm-secret" not in repr(rebuilt)


def test_factory_app_served_by_uvicorn(
    sample_settings: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """uvicorn imports the factory by name, the lifespan builds and warms up its own NewsQA from the handed-over
    settings (the API key only exists there), and the service answers."""
    caplog.set_level(logging.INFO)
    settings = settings_for(sample_settings, api_keys="worker-key-9d2f", log_level="INFO")
    monkeypatch.setenv(SETTINGS_ENV, settings_to_json(settings))
    with running_server("bot.rest.app:app_from_env", factory=True) as live, httpx.Client(
        base_url=live.base_url, timeout=HTTP_TIMEOUT
    ) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["files"] == 5
        assert_error(client.get("/v1/models"), 401, "missing_api_key")
        response = client.post(
            "/v1/ask",
            json={"question": "示范区有几家企业入选专精特新名单？"},
            headers={"Authorization": "Bearer worker-key-9d2f"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["found"] is True
    assert "newsqa REST API ready" in caplog.text
    assert "worker-key-9d2f" not in caplog.text
