"""Fixtures for the ``tests/test_llm*.py`` modules (``pytest_plugins = ["tests.llm_fake.fixtures"]``).

``fake_llm`` is one fake OpenAI-compatible server for the session; ``llm`` hands it to a test with an empty script
and checks afterwards that every request was scripted. ``llm_service`` is the real core over the ingested sample
corpus configured to use that server (short timeout, one retry, 10 ms backoff, no breaker).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from bot.service import build_service
from rag.service import NewsQA
from tests.conftest import make_settings

from .server import MODEL, FakeLLM

#: The API key the tests configure; it must never appear in a log line or a reply.
API_KEY = "sk-test-5f3c9a1e-never-log-me"

MakeService = Callable[..., NewsQA]


def llm_overrides(fake: FakeLLM, **overrides: object) -> dict[str, object]:
    """Settings overrides pointing the core at ``fake``; ``overrides`` win."""
    values: dict[str, object] = {
        "llm_base_url": fake.base_url,
        "llm_model": MODEL,
        "llm_api_key": SecretStr(API_KEY),
        "llm_timeout": 5.0,
        "llm_max_retries": 1,
        "llm_retry_backoff": 0.01,
        "llm_breaker_failures": 0,
        "llm_temperature": 0.1,
        "llm_max_tokens": 300,
    }
    values.update(overrides)
    return values


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLLM]:
    """The fake OpenAI-compatible server, running for the whole session."""
    with FakeLLM() as server:
        yield server


@pytest.fixture()
def llm(fake_llm: FakeLLM) -> Iterator[FakeLLM]:
    """The fake server with an empty script; after the test, every request must have been scripted."""
    fake_llm.reset()
    yield fake_llm
    unscripted = fake_llm.unscripted
    fake_llm.reset()
    assert unscripted == 0, f"{unscripted} unscripted request(s) reached the fake LLM"


@pytest.fixture(scope="session")
def llm_settings(sample_settings: Any, fake_llm: FakeLLM) -> Any:
    """Settings over the ingested sample corpus, answering with the fake LLM."""
    return make_settings(sample_settings.data_dir, sample_settings.embedding_model, **llm_overrides(fake_llm))


@pytest.fixture(scope="session")
def llm_service(llm_settings: Any, packaged_embedder: Any) -> Iterator[NewsQA]:
    """The real core over the sample corpus with the fake LLM (shared: give each test its own conversation ids)."""
    service = build_service(llm_settings, embedder=packaged_embedder)
    service.warm_up()
    yield service
    service.close()


@pytest.fixture()
def make_service(sample_settings: Any, fake_llm: FakeLLM, packaged_embedder: Any) -> Iterator[MakeService]:
    """``make_service(**settings_overrides)``: a fresh core over the sample corpus with the fake LLM."""
    made: list[NewsQA] = []

    def make(**overrides: object) -> NewsQA:
        settings = make_settings(
            sample_settings.data_dir, sample_settings.embedding_model, **llm_overrides(fake_llm, **overrides)
        )
        service = build_service(settings, embedder=packaged_embedder)
        made.append(service)
        return service

    yield make
    for service in made:
        service.close()
