"""A fake OpenAI-compatible chat completions server (real HTTP on 127.0.0.1), scripted per test."""

import pytest

pytest.register_assert_rewrite("tests.llm_fake.fixtures")

from .server import MODEL, FakeLLM, RecordedRequest, Reply, fake_llm  # noqa: E402

__all__ = ["MODEL", "FakeLLM", "RecordedRequest", "Reply", "fake_llm"]
