"""``NewsQA.warm_up``: the embedding model and the text tools (jieba, OpenCC) load in other threads while the store,
the keyword index and the dense index open, and what either raises reaches the caller."""

from __future__ import annotations

import threading
import time

import pytest

import rag.service
from bot.service import build_service
from rag.errors import EmbeddingModelError
from rag.text.normalize import warm_text_tools


def test_the_model_loads_while_the_store_opens(sample_settings, packaged_embedder, monkeypatch) -> None:  # noqa: ANN001
    service = build_service(sample_settings)
    seen: dict[str, object] = {}

    def load(settings):  # noqa: ANN001, ANN202 - stands in for rag.retrieval.embedding.load_embedder
        seen["thread"] = threading.current_thread().name
        deadline = time.monotonic() + 30
        while service._store is None and time.monotonic() < deadline:  # a sequential warm-up never gets here
            time.sleep(0.01)
        seen["store_open_meanwhile"] = service._store is not None
        return packaged_embedder

    def text_tools() -> None:
        seen["text_thread"] = threading.current_thread().name
        warm_text_tools()

    monkeypatch.setattr(rag.service, "load_embedder", load)
    monkeypatch.setattr(rag.service, "warm_text_tools", text_tools)
    try:
        service.warm_up()
        assert seen == {"thread": seen["thread"], "store_open_meanwhile": True, "text_thread": seen["text_thread"]}
        assert str(seen["thread"]).startswith("newsqa-warm-up")
        assert str(seen["text_thread"]).startswith("newsqa-warm-up")
        assert service.embedder is packaged_embedder
        assert service.ask("郏县建成了多少座5G基站？").found
    finally:
        service.close()


def test_a_model_that_cannot_load_fails_the_warm_up(sample_settings, monkeypatch) -> None:  # noqa: ANN001
    def broken(settings):  # noqa: ANN001, ANN202
        raise EmbeddingModelError("embedding model 'nowhere/model': not found")

    monkeypatch.setattr(rag.service, "load_embedder", broken)
    service = build_service(sample_settings)
    try:
        with pytest.raises(EmbeddingModelError, match="nowhere/model"):
            service.warm_up()
    finally:
        service.close()
