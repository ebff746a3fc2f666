"""A fake OpenAI-compatible chat completions server (real HTTP on 127.0.0.1), scripted per test."""

from .server import MODEL, FakeLLM, RecordedRequest, Reply, fake_llm

__all__ = ["MODEL", "FakeLLM", "RecordedRequest", "Reply", "fake_llm"]
