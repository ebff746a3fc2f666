"""Request and response bodies of the REST API (pydantic), with the Chinese examples shown in the OpenAPI docs.

The answer itself is :class:`rag.models.Answer` (the very object ``newsqa ask --json`` prints); search hits and
articles are :class:`rag.models.SearchHit` and :class:`rag.models.Article`.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from rag.models import Article, ArticlePage, IngestSummary, SearchHit

#: Longest accepted question / search query, in characters.
QUESTION_MAX_CHARS = 1000
#: Longest ``publication`` filter accepted (characters).
PUBLICATION_MAX_CHARS = 100
#: Largest ``top_k`` accepted by /v1/ask and /v1/search.
TOP_K_MAX = 20

EXAMPLE_QUESTION = "郏县建成了多少座5G基站？"
EXAMPLE_QUERY = "5G基站 郏县"
EXAMPLE_CITATION: dict[str, Any] = {
    "id": 1,
    "title": "郟县工信局 党建引领谱华章 砥砺奋进创佳绩",
    "source": "000_a17aea0bf2d75ea6.txt",
    "article_id": "97706687f15ec4e2",
    "chunk_id": "97706687f15ec4e2:2",
    "text": "全县建成开通5G基站120座,实现县城以上城区5G网络全覆盖。",
    "score": 0.0328,
}
EXAMPLE_ANSWER: dict[str, Any] = {
    "question": EXAMPLE_QUESTION,
    "answer": "全县建成开通5G基站120座,实现县城以上城区5G网络全覆盖。[1]",
    "found": True,
    "mode": "extractive",
    "citations": [EXAMPLE_CITATION],
}


def check_text(value: str) -> str:
    """Reject text that is blank, holds control characters (other than tab/newline) or is not valid Unicode.

    Raises ValueError with a message meant to follow the field name.
    """
    if not value.strip():
        raise ValueError("must not be empty or whitespace")
    for char in value:
        code = ord(char)
        if 0xD800 <= code <= 0xDFFF:
            raise ValueError("is not valid Unicode text (lone surrogate)")
        if (code < 0x20 and char not in "\t\n\r") or code == 0x7F:
            raise ValueError(f"must not contain control characters (found U+{code:04X})")
    return value


def check_token(value: str) -> str:
    """Like :func:`check_text` for identifiers (conversation ids, model names): no whitespace check."""
    for char in value:
        code = ord(char)
        if 0xD800 <= code <= 0xDFFF or code < 0x20 or code == 0x7F:
            raise ValueError(f"must not contain control characters or lone surrogates (found U+{code:04X})")
    return value


QuestionText = Annotated[str, AfterValidator(check_text)]
TokenText = Annotated[str, AfterValidator(check_token)]


class AskRequest(BaseModel):
    """Body of ``POST /v1/ask`` and ``POST /v1/ask/stream``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"question": EXAMPLE_QUESTION, "top_k": 5},
                {"question": "黄道镇如何发展文旅产业？", "top_k": 3, "conversation_id": "web-8f3a"},
            ]
        },
    )

    question: QuestionText = Field(
        ...,
        min_length=1,
        max_length=QUESTION_MAX_CHARS,
        description=f"问题（中文，1..{QUESTION_MAX_CHARS} 个字符，不能只含空白）。",
        examples=[EXAMPLE_QUESTION],
    )
    top_k: int = Field(
        5,
        ge=1,
        le=TOP_K_MAX,
        description=f"检索的段落数（1..{TOP_K_MAX}，默认 5，与 `newsqa ask --top-k` 相同）。",
        examples=[5],
    )
    conversation_id: TokenText | None = Field(
        None,
        min_length=1,
        max_length=128,
        description="会话 ID（可选，1..128 个字符），用于追问。",
        examples=["web-8f3a"],
    )
    since: date | None = Field(None, description="只用此日期（含）之后刊发的报道，YYYY-MM-DD。", examples=["2021-01-01"])
    until: date | None = Field(None, description="只用此日期（含）之前刊发的报道，YYYY-MM-DD。", examples=["2021-12-31"])
    publication: TokenText | None = Field(
        None, min_length=1, max_length=PUBLICATION_MAX_CHARS,
        description="只用此报刊/网站的报道（名称包含即可，如“平顶山”匹配《平顶山日报》）。", examples=["平顶山日报"],
    )

    @model_validator(mode="after")
    def _range(self) -> AskRequest:
        if self.since and self.until and self.since > self.until:
            raise ValueError(f"since {self.since} is after until {self.until}")
        return self


class ArticleListResponse(ArticlePage):
    """Body of ``GET /v1/articles``: a page of the article listing, newest first (undated articles last)."""


class SearchResponse(BaseModel):
    """Body of ``GET /v1/search``: the ranked chunks, best first, without an answer."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "query": EXAMPLE_QUERY,
                    "top_k": 10,
                    "hits": [
                        {
                            "rank": 1,
                            "score": 0.0328,
                            "chunk_id": EXAMPLE_CITATION["chunk_id"],
                            "article_id": EXAMPLE_CITATION["article_id"],
                            "title": EXAMPLE_CITATION["title"],
                            "source": EXAMPLE_CITATION["source"],
                            "text": EXAMPLE_CITATION["text"],
                        }
                    ],
                }
            ]
        }
    )

    query: str = Field(..., description="检索词（原样返回）。")
    top_k: int = Field(..., description="请求的结果数上限。")
    hits: list[SearchHit] = Field(..., description="按相关度排序的段落（最相关在前）。")


EXAMPLE_ARTICLE: dict[str, Any] = {
    "article_id": EXAMPLE_CITATION["article_id"],
    "title": EXAMPLE_CITATION["title"],
    "source": EXAMPLE_CITATION["source"],
    "position": 0,
    "text": "该局以实施创新驱动发展战略为主线……全县建成开通5G基站120座,实现县城以上城区5G网络全覆盖。",
    "chunk_ids": [EXAMPLE_CITATION["chunk_id"]],
}

JobState = Literal["queued", "running", "succeeded", "failed"]


class IngestProgress(BaseModel):
    """How far a running ingest is: the stage at work (:data:`rag.models.INGEST_STAGES`: ``ocr`` pages,
    ``prepare`` files, ``embed`` chunks, ``export`` and ``index`` steps), ``done`` of ``total`` of its units, and
    what it is working on."""

    stage: str | None = Field(
        None, description="当前阶段：ocr（识别页面图像，单位：页）、prepare（读取与切分文件，单位：文件）、"
                          "embed（向量化并写入，单位：段落）、export（导出查询模型）、index（更新关键词索引）。")
    done: int = Field(..., ge=0, description="当前阶段已完成的数量。")
    total: int = Field(..., ge=0, description="当前阶段的总数（embed 阶段在文件切分完成前会增长）。")
    current: str | None = Field(None, description="正在处理的文件或页面（相对路径）。")


class JobError(BaseModel):
    """Why a job failed: a machine ``code`` (``ingest_locked``, ``ingest_error``, ``internal_error``,
    ``interrupted``) and a message safe to show."""

    code: str
    message: str


class IngestJob(BaseModel):
    """State of one background ingest (``POST /v1/ingest``, ``GET /v1/ingest/{job_id}``); times are ISO-8601 UTC."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "job_id": "4f9c2d1e0b7a4c55a0e3d2b1c9f8e7d6",
                    "state": "succeeded",
                    "done": True,
                    "created_at": "2024-01-05T08:00:00.120Z",
                    "started_at": "2024-01-05T08:00:00.125Z",
                    "finished_at": "2024-01-05T08:00:04.870Z",
                    "progress": {"stage": "index", "done": 1, "total": 1, "current": None},
                    "summary": {
                        "files_new": 1,
                        "files_changed": 0,
                        "files_unchanged": 5,
                        "files_removed": 0,
                        "files_failed": 0,
                        "files_skipped": 1,
                        "chunks_added": 12,
                        "chunks_removed": 0,
                        "chunks_embedded": 12,
                        "seconds": 4.74,
                        "failures": {},
                        "skipped": {"说明.docx": "unsupported file type '.docx'"},
                    },
                    "error": None,
                }
            ]
        }
    )

    job_id: str = Field(..., description="任务 ID（32 位十六进制）。")
    state: JobState = Field(..., description="queued（排队）、running（进行中）、succeeded（完成）、failed（失败）。")
    done: bool = Field(..., description="任务已结束（succeeded 或 failed）。")
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    progress: IngestProgress | None = None
    summary: IngestSummary | None = Field(None, description="入库结果（任务成功后才有）。")
    error: JobError | None = Field(None, description="失败原因（任务失败时）。")


class HealthResponse(BaseModel):
    """``GET /healthz``: the process is alive."""

    status: Literal["ok"] = "ok"


class ReadyResponse(BaseModel):
    """``GET /readyz`` when ready: the store is open; counts of articles, chunks and files; the embedding model."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ready",
                    "articles": 42,
                    "chunks": 318,
                    "files": 5,
                    "embedding_model": "BAAI/bge-small-zh-v1.5",
                    "dimension": 512,
                    "last_ingest": "2024-01-05T08:00:04Z",
                    "ingest_running": False,
                }
            ]
        }
    )

    status: Literal["ready"] = "ready"
    articles: int
    chunks: int
    files: int
    embedding_model: str | None
    dimension: int | None
    last_ingest: str | None
    ingest_running: bool = Field(..., description="此进程中是否有入库任务在运行。")


class ErrorField(BaseModel):
    """One invalid field and what is wrong with it."""

    field: str = Field(..., description="字段名，如 question、top_k、messages[0].content、body。")
    message: str


class ErrorDetail(BaseModel):
    """The error object (OpenAI-compatible: ``message``, ``type``, ``param``, ``code``)."""

    code: str = Field(..., description="机器可读的错误码，如 validation_error、missing_api_key、ingest_running。")
    type: str = Field(..., description="错误类别（与 OpenAI 的 error.type 相同的用法）。")
    message: str = Field(..., description="可读的错误说明，会写出出错的字段。")
    param: str | None = Field(None, description="出错的字段（如有）。")
    fields: list[ErrorField] | None = Field(None, description="校验错误时，每个出错字段一项。")


class ErrorResponse(BaseModel):
    """Body of every error response; ``request_id`` also appears in the server log and the X-Request-ID header."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "code": "validation_error",
                        "type": "invalid_request_error",
                        "message": "question: must not be empty or whitespace",
                        "param": "question",
                        "fields": [{"field": "question", "message": "must not be empty or whitespace"}],
                    },
                    "request_id": "0b6f1c2e9d8a4f3b8e7d6c5b4a392817",
                }
            ]
        }
    )

    error: ErrorDetail
    request_id: str | None


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error statuses, all with :class:`ErrorResponse`."""
    text = {
        400: "请求体不是合法的 JSON。",
        401: "缺少或无效的 API 密钥。",
        403: "没有权限（需要管理员密钥，或 HTTP 入库未启用）。",
        404: "未找到。",
        409: "已有入库任务在运行。",
        413: "请求体过大。",
        422: "参数校验失败（错误信息会写出字段名）。",
        500: "服务器内部错误（带 request_id，可在日志中查到）。",
        503: "服务暂不可用：存储或模型未就绪（store_unavailable 等），或尚未导入任何报道（store_empty：请先运行 newsqa ingest）。",
    }
    return {s: {"model": ErrorResponse, "description": text.get(s, "错误")} for s in statuses}


__all__ = [
    "Article",
    "AskRequest",
    "ErrorResponse",
    "HealthResponse",
    "IngestJob",
    "IngestProgress",
    "JobError",
    "ReadyResponse",
    "SearchHit",
    "SearchResponse",
    "error_responses",
]
