"""Data shapes shared by the core and every front-end (CLI JSON, REST bodies, Telegram replies)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

NOT_FOUND_ANSWER = "未在已收录的报道中找到相关内容。"

#: The stages of an ingest, in order, and the unit each counts: OCR of page images and scanned PDF pages, reading,
#: cleaning, segmenting and chunking files, embedding and writing chunks, exporting the ONNX query model, and
#: bringing the keyword index up to date.
INGEST_STAGES = {"ocr": "pages", "prepare": "files", "embed": "chunks", "export": "steps", "index": "steps"}
#: An ingest's progress callback, ``progress(stage, done, total, item)``: ``done`` of ``total`` units of ``stage``
#: (a key of :data:`INGEST_STAGES`), ``item`` what is at work (a file, a page; may be empty). Called from the
#: ingest's threads; ``total`` of ``embed`` grows while files are still being chunked.
IngestProgressFn = Callable[[str, int, int, str], None]


def story_of(metadata: Mapping[str, Any], fallback: str = "") -> str:
    """The story (near-duplicate group) of a chunk or article record: its ``story_id``, else its own article id
    (stores ingested before stories), else ``fallback``."""
    return str(metadata.get("story_id") or metadata.get("article_id") or fallback)


def print_label(publication: str | None, published: str | None, page: str | None = None) -> str:
    """Where and when a report was printed, as shown beside a citation: ``《平顶山日报》2021-12-31 第1版``; ``""`` when
    none is known."""
    head = (f"《{publication}》" if publication else "") + (published or "")
    return " ".join(p for p in (head, page or "") if p)


class StoryCopy(BaseModel):
    """Another printing of a cited story (a near-duplicate report carried by another outlet or page)."""

    article_id: str
    title: str
    source: str = Field(..., description="Source file, relative to the articles folder.")
    published: str | None = Field(None, description="Publication date, ISO YYYY-MM-DD, when known.")
    publication: str | None = Field(None, description="Outlet or newspaper, when known.")
    page: str | None = Field(None, description="Page or edition label as printed (第1版), when known.")


class Citation(BaseModel):
    """One numbered source of an answer; ``id`` is the number used by the ``[n]`` markers."""

    id: int = Field(..., ge=1, description="Citation number, as in the [n] markers of the answer.")
    title: str = Field(..., description="Article title.")
    source: str = Field(..., description="Source file, relative to the articles folder.")
    article_id: str
    chunk_id: str
    text: str = Field(..., description="The cited passage (original characters).")
    score: float = Field(..., description="Retrieval score of the chunk (fused, higher is better).")
    published: str | None = Field(None, description="Publication date of the article, ISO YYYY-MM-DD, when known.")
    publication: str | None = Field(None, description="Outlet or newspaper that printed it, when known.")
    page: str | None = Field(None, description="Page or edition label as printed (第1版), when known.")
    story_id: str | None = Field(None, description="Near-duplicate group: reprints of one report share it.")
    also: list[StoryCopy] = Field(default_factory=list, description="Other printings of the same story (另见).")


class Answer(BaseModel):
    """An answer with its citations; ``found`` is False (and citations empty) when the corpus has no answer."""

    question: str
    answer: str
    found: bool
    mode: Literal["extractive", "llm"] = "extractive"
    confidence: float | None = Field(
        None, ge=0.0, le=1.0,
        description="Calibrated probability (0-1) that the answer is right, from the answer selector; on a refusal, "
                    "the best candidate's probability. None where the answerer gives none.",
    )
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
    published: str | None = None
    publication: str | None = None
    page: str | None = None
    story_id: str | None = None


class Article(BaseModel):
    """A whole article as stored: title, source file, position in its page, text and chunk ids."""

    article_id: str
    title: str
    source: str
    position: int = Field(..., ge=0, description="0-based position of the article within its page.")
    text: str
    chunk_ids: list[str]
    published: str | None = Field(None, description="Publication date, ISO YYYY-MM-DD, when known.")
    publication: str | None = Field(None, description="Outlet or newspaper, when known.")
    page: str | None = Field(None, description="Page or edition label as printed (第1版), when known.")
    story_id: str | None = Field(None, description="Near-duplicate group (reprints share it).")


class ArticleInfo(BaseModel):
    """One row of the article listing (``GET /v1/articles``, ``newsqa articles``): an article without its text."""

    article_id: str
    title: str
    source: str
    position: int = Field(0, ge=0)
    published: str | None = None
    publication: str | None = None
    page: str | None = None
    story_id: str | None = None
    chunks: int = Field(0, ge=0, description="Number of chunks of the article.")


class ArticlePage(BaseModel):
    """A page of the article listing, newest first (undated articles last)."""

    total: int = Field(..., ge=0, description="Articles matching the filters.")
    offset: int = Field(..., ge=0)
    limit: int = Field(..., ge=1)
    items: list[ArticleInfo]


class PublicationInfo(BaseModel):
    """One publication of the archive (``GET /v1/publications``): how many articles it has and which dates."""

    publication: str | None = Field(..., description="Outlet or newspaper; None groups articles with none known.")
    articles: int = Field(..., ge=0, description="Articles of this publication in the archive.")
    first: str | None = Field(None, description="Earliest publication date, ISO YYYY-MM-DD (None: all undated).")
    last: str | None = Field(None, description="Latest publication date, ISO YYYY-MM-DD (None: all undated).")
    undated: int = Field(0, ge=0, description="Articles of this publication without a known date.")


class IngestSummary(BaseModel):
    """What one ingest did. ``failures`` maps a file (relative path) to its error message, ``skipped`` a file that
    was not read to the reason (an unsupported type)."""

    files_new: int = 0
    files_changed: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    files_failed: int = 0
    files_skipped: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0
    chunks_embedded: int = 0
    chunks_cached: int = 0  # chunks whose embedding came from the store's embedding cache
    seconds: float = 0.0
    #: Pages read through OCR, and their characters recognised with low confidence (see ingest.scans).
    ocr_pages: int = 0
    ocr_low_confidence_chars: int = 0
    #: Articles written by this ingest, and how many of them have a publication date (``published``).
    articles_total: int = 0
    articles_dated: int = 0
    failures: dict[str, str] = Field(default_factory=dict)
    #: Files in the ingested folders that were not read, file -> reason (``unsupported file type .bin``).
    skipped: dict[str, str] = Field(default_factory=dict)
    #: Files ingested with a caveat (a page with very low OCR confidence), file -> message.
    warnings: dict[str, str] = Field(default_factory=dict)

    def counts(self) -> dict[str, float | int]:
        """The summary's numbers, without the per-file ``failures``, ``skipped`` and ``warnings``."""
        return self.model_dump(exclude={"failures", "skipped", "warnings"})


class StoreStats(BaseModel):
    """State of the store, for /readyz and the bot's /start."""

    articles: int
    chunks: int
    files: int
    embedding_model: str | None
    dimension: int | None
    last_ingest: str | None = Field(None, description="ISO-8601 UTC time of the last completed ingest.")
