"""Data shapes shared by the core and every front-end (CLI JSON, REST bodies, Telegram replies)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

NOT_FOUND_ANSWER = "未在已收录的报道中找到相关内容。"


class Citation(BaseModel):
    """One numbered source of an answer; ``id`` is the number used by the ``[n]`` markers."""

    id: int = Field(..., ge=1, description="Citation number, as in the [n] markers of the answer.")
    title: str = Field(..., description="Article title.")
    source: str = Field(..., description="Source file, relative to the articles folder.")
    article_id: str
    chunk_id: str
    text: str = Field(..., description="The cited passage (original characters).")
    score: float = Field(..., description="Retrieval score of the chunk (fused, higher is better).")


class Answer(BaseModel):
    """An answer with its citations; ``found`` is False (and citations empty) when the corpus has no answer."""

    question: str
    answer: str
    found: bool
    mode: Literal["extractive", "llm"] = "extractive"
    citations: list[Citation] = Field(default_factory=list)


class SearchHit(BaseModel):
    """A ranked chunk returned by retrieval, without an answer."""

    rank: int = Field(..., ge=1)
    score: float
    chunk_id: str
    article_id: str
    title: str
    source: str
    text: str = Field(..., description="Chunk text (original characters, without the title prefix).")


class Article(BaseModel):
    """A whole article as stored: title, source file, position in its page, text and chunk ids."""

    article_id: str
    title: str
    source: str
    position: int = Field(..., ge=0, description="0-based position of the article within its page.")
    text: str
    chunk_ids: list[str]


class IngestSummary(BaseModel):
    """What one ingest did. ``failures`` maps a file (relative path) to its error message."""

    files_new: int = 0
    files_changed: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    files_failed: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0
    chunks_embedded: int = 0
    chunks_cached: int = 0  # chunks whose embedding came from the store's embedding cache
    seconds: float = 0.0
    failures: dict[str, str] = Field(default_factory=dict)

    def counts(self) -> dict[str, float | int]:
        """The summary without ``failures``: the object printed as the last line of ``ingest --json``."""
        return self.model_dump(exclude={"failures"})


class StoreStats(BaseModel):
    """State of the store, for /readyz and the bot's /start."""

    articles: int
    chunks: int
    files: int
    embedding_model: str | None
    dimension: int | None
    last_ingest: str | None = Field(None, description="ISO-8601 UTC time of the last completed ingest.")
