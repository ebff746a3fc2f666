"""Fixtures of the browser tests (``pytest_plugins = ["tests.web_support.fixtures"]``): one ``newsqa serve`` for
the whole session over the sample pages plus :data:`tests.web_support.pages.LIBRARY_PAGES` (API key and admin
key required), one shared chromium, and per test a guarded browser context with the API key already saved."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import SAMPLE_ARTICLES, make_settings
from tests.web_support.browser import GuardedContext, launch
from tests.web_support.pages import LIBRARY_PAGES, write_pages
from tests.web_support.server import ADMIN_KEY, API_KEY, Served, newsqa_serve


@pytest.fixture(scope="session")
def web_server(tmp_path_factory: pytest.TempPathFactory, packaged_model_path: str, packaged_embedder: Any
               ) -> Iterator[Served]:
    """``newsqa serve`` over its own copy of the sample pages and the library pages, ingested once."""
    from bot.service import build_service

    data_dir = tmp_path_factory.mktemp("web-data")
    shutil.copytree(SAMPLE_ARTICLES, data_dir / "articles")
    write_pages(data_dir / "articles", LIBRARY_PAGES)
    settings = make_settings(data_dir, packaged_model_path)
    service = build_service(settings, embedder=packaged_embedder)
    summary = service.ingest()
    service.close()
    assert summary.files_failed == 0, summary.failures
    with newsqa_serve(settings, api_key=API_KEY, admin_key=ADMIN_KEY) as served:
        yield served


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless chromium for the session (Debian's, see tests.web_support.browser)."""
    with launch() as chromium:
        yield chromium


def _saved_key(key: str) -> str:
    return f"localStorage.setItem('newsqa.apiKey', {json.dumps(key)});"


@pytest.fixture()
def guarded(browser: Any) -> Iterator[Any]:
    """``guarded(**context_options, api_key=...)`` -> a GuardedContext (API key saved unless ``api_key=None``);
    each is closed after the test, failing it when a request left 127.0.0.1 or the page raised."""
    made: list[GuardedContext] = []

    def make(api_key: str | None = API_KEY, **options: Any) -> GuardedContext:
        context = GuardedContext(browser, _saved_key(api_key) if api_key is not None else None, **options)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()
