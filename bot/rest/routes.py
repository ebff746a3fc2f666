"""The newsqa routes: ask (JSON and SSE), search, articles, ingest jobs, health and readiness.

Every call into the core runs in the thread pool (the core is blocking and thread-safe), so the event loop keeps
serving other requests, including while an ingest runs in its own thread.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import AfterValidator
from starlette.concurrency import run_in_threadpool

from bot.metrics import observe_answer
from bot.rest.deps import Jobs, Service
from bot.rest.errors import ApiError, error_response, service_error_status, stream_error_body
from bot.rest.jobs import JOB_ID_PATTERN, IngestConflict, IngestJobs
from bot.rest.schemas import (
    EXAMPLE_ANSWER,
    EXAMPLE_ARTICLE,
    EXAMPLE_QUERY,
    EXAMPLE_QUESTION,
    PUBLICATION_MAX_CHARS,
    QUESTION_MAX_CHARS,
    TOP_K_MAX,
    Article,
    ArticleListResponse,
    AskRequest,
    ErrorResponse,
    HealthResponse,
    IngestJob,
    ReadyResponse,
    SearchResponse,
    check_text,
    check_token,
    error_responses,
)
from bot.rest.streaming import SSE_HEADERS, CitationsEvent, DeltaEvent, DoneEvent, sse_event, stream_answer
from rag.archive import MAX_LIMIT
from rag.errors import NewsQAError
from rag.filters import ArchiveFilter
from rag.models import Answer

logger = logging.getLogger("newsqa.rest")

ASK_EXAMPLES = {
    "simple": {"summary": "简单提问", "value": {"question": EXAMPLE_QUESTION}},
    "top_k": {"summary": "指定检索段落数", "value": {"question": "黄道镇如何发展文旅产业？", "top_k": 3}},
    "conversation": {
        "summary": "带会话 ID（用于追问）",
        "value": {"question": "那黄道镇呢？", "conversation_id": "web-8f3a"},
    },
}

v1 = APIRouter()
admin = APIRouter(tags=["入库"])
health = APIRouter(tags=["状态"])


@v1.post(
    "/ask",
    response_model=Answer,
    tags=["问答"],
    summary="提问（返回带引用的答案）",
    responses={
        200: {"description": "答案与引用，与 `newsqa ask --json` 的输出相同。",
              "content": {"application/json": {"example": EXAMPLE_ANSWER}}},
        **error_responses(400, 401, 413, 422, 500, 503),
    },
)
async def ask(
    request: Request,
    body: Annotated[AskRequest, Body(openapi_examples=ASK_EXAMPLES)],
    service: Service,
) -> Any:
    """Answer a question from the ingested reports: ``question``, ``answer``, ``found``, ``mode``, ``citations[]``.

    When the reports hold no answer, ``found`` is false and ``citations`` is empty. Errors: 422 naming the field
    for an empty or over-long question or ``top_k`` outside 1..20; 400 for bad JSON; 413 for a body over the limit.
    """
    answer = await run_in_threadpool(service.ask, body.question, body.top_k, body.conversation_id, None,
                                     _filter(body.since, body.until, body.publication))
    observe_answer(request.app.state, answer)
    return JSONResponse(answer.model_dump(mode="json"))


@v1.post(
    "/ask/stream",
    tags=["问答"],
    summary="提问（SSE 流式返回）",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "server-sent events：先一个 `citations` 事件（`{question, citations}`），再若干 `answer` "
            "事件（`{delta}`，拼接即答案全文），最后一个 `done` 事件（完整答案，与 /v1/ask 相同）。配置了大模型时，"
            "答案逐句生成、核验引用后发送；引用到新的来源之前会再发一个 `citations` 事件（累计列表，编号与答案中的 "
            "[n] 一致）。出错时发送 `error` 事件（错误对象）后结束。",
            "content": {
                "text/event-stream": {
                    "schema": {"type": "string"},
                    "example": 'event: citations\ndata: {"question":"郏县建成了多少座5G基站？","citations":[...]}\n\n'
                    'event: answer\ndata: {"delta":"全县建成开通5G基站"}\n\n'
                    'event: done\ndata: {"question":"郏县建成了多少座5G基站？","answer":"…","found":true,...}\n\n',
                }
            },
        },
        **error_responses(400, 401, 413, 422, 500, 503),
    },
)
async def ask_stream(
    request: Request,
    body: Annotated[AskRequest, Body(openapi_examples=ASK_EXAMPLES)],
    service: Service,
) -> StreamingResponse:
    """The same answer as ``POST /v1/ask`` as server-sent events: ``citations``, ``answer`` deltas, ``done``.

    With an LLM the answer streams as it is generated (verified clause by clause); a further ``citations`` event
    (cumulative) precedes text citing a new source. Errors before the first event get the usual JSON error status;
    later ones arrive as an ``error`` event.
    """
    events = stream_answer(service, body.question, body.top_k, body.conversation_id,
                           archive_filter=_filter(body.since, body.until, body.publication))
    first = await events.__anext__()

    async def sse() -> AsyncIterator[bytes]:
        event: CitationsEvent | DeltaEvent | DoneEvent = first
        try:
            while True:
                if isinstance(event, CitationsEvent):
                    citations = [c.model_dump(mode="json") for c in event.citations]
                    yield sse_event({"question": event.question, "citations": citations}, "citations")
                elif isinstance(event, DeltaEvent):
                    yield sse_event({"delta": event.text}, "answer")
                else:
                    observe_answer(request.app.state, event.answer)
                    yield sse_event(event.answer.model_dump(mode="json"), "done")
                    return
                event = await events.__anext__()
        except StopAsyncIteration:
            return
        except Exception as err:  # headers are sent: report in-band
            yield sse_event(stream_error_body(request, err), "error")

    return StreamingResponse(sse(), media_type="text/event-stream", headers=SSE_HEADERS)


def _check_query(value: str) -> str:
    return check_text(value)


Since = Annotated[date | None, Query(description="只返回此日期（含）之后刊发的报道，YYYY-MM-DD。")]
Until = Annotated[date | None, Query(description="只返回此日期（含）之前刊发的报道，YYYY-MM-DD。")]
Publication = Annotated[
    str | None, AfterValidator(lambda v: check_token(v) if v is not None else v),
    Query(min_length=1, max_length=PUBLICATION_MAX_CHARS, description="报刊/网站名称（包含即匹配）。"),
]


def _filter(since: date | None, until: date | None, publication: str | None) -> ArchiveFilter | None:
    """The archive filter of a request (None without one); raises InputError (422) for an empty range."""
    archive_filter = ArchiveFilter.parse(since, until, publication)
    return archive_filter if archive_filter else None


@v1.get(
    "/articles",
    response_model=ArticleListResponse,
    tags=["检索"],
    summary="列出报道（按刊发日期，最新在前）",
    responses=error_responses(401, 422, 500, 503),
)
async def list_articles(
    service: Service,
    since: Since = None,
    until: Until = None,
    publication: Publication = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="跳过的条数。")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"每页条数（1..{MAX_LIMIT}）。")] = 20,
) -> Any:
    """Articles of the archive, newest first (undated last), with publication, date and page, paged by
    ``offset``/``limit`` and filtered like ``/v1/search``; ``total`` counts every match."""
    page = await run_in_threadpool(service.articles, _filter(since, until, publication), offset, limit)
    return JSONResponse(page.model_dump(mode="json"))


@v1.get(
    "/search",
    response_model=SearchResponse,
    tags=["检索"],
    summary="检索段落（不生成答案）",
    responses=error_responses(401, 422, 500, 503),
)
async def search(
    service: Service,
    q: Annotated[
        str,
        AfterValidator(_check_query),
        Query(min_length=1, max_length=QUESTION_MAX_CHARS, description="检索词（1..1000 个字符）。",
              examples=[EXAMPLE_QUERY]),
    ],
    top_k: Annotated[int, Query(ge=1, le=TOP_K_MAX, description="返回的段落数（1..20）。")] = 10,
    since: Since = None,
    until: Until = None,
    publication: Publication = None,
) -> Any:
    """Hybrid retrieval only: the ``top_k`` best chunks with scores, title, source and article id, best first;
    ``since``/``until``/``publication`` filter inside both retrieval legs."""
    hits = await run_in_threadpool(service.search, q, top_k, _filter(since, until, publication))
    body = SearchResponse(query=q, top_k=top_k, hits=hits)
    return JSONResponse(body.model_dump(mode="json"))


@v1.get(
    "/articles/{article_id}",
    response_model=Article,
    tags=["检索"],
    summary="读取整篇报道",
    responses={
        200: {"content": {"application/json": {"example": EXAMPLE_ARTICLE}}},
        **error_responses(401, 404, 422, 500, 503),
    },
)
async def get_article(
    article_id: Annotated[
        str,
        AfterValidator(check_token),
        Path(min_length=1, max_length=256, description="报道 ID（见引用或检索结果的 article_id）。",
             examples=[EXAMPLE_ARTICLE["article_id"]]),
    ],
    service: Service,
) -> Any:
    """The whole article: title, source file, position in its page, text and chunk ids. 404 for an unknown id."""
    article = await run_in_threadpool(service.get_article, article_id)
    if article is None:
        raise ApiError(404, "article_not_found", f"article_id: no article with id {article_id!r}", param="article_id")
    return JSONResponse(article.model_dump(mode="json"))


@admin.post(
    "/ingest",
    status_code=202,
    response_model=IngestJob,
    summary="后台增量入库（需要管理员密钥）",
    responses={
        202: {"description": "任务已创建；用 `GET /v1/ingest/{job_id}`（见 Location 头）查询进度和结果。"},
        **error_responses(401, 403, 409, 413, 500, 503),
    },
)
async def start_ingest(
    request: Request,
    response: Response,
    service: Service,
    jobs: Jobs,
) -> Any:
    """Start an incremental ingest of the articles folder in the background and return its job (state queued).

    Only one ingest runs at a time: 409 while another is queued or running. Questions keep being answered
    meanwhile and see the new articles once the job has succeeded. Needs ``Authorization: Bearer <admin key>``.
    """
    try:
        job = jobs.start(service)
    except IngestConflict as err:
        headers = {"Location": f"/v1/ingest/{err.job_id}"} if err.job_id else None
        return error_response(request, 409, "ingest_running", str(err), headers=headers)
    response.headers["Location"] = f"/v1/ingest/{job.job_id}"
    return job


@admin.get(
    "/ingest/{job_id}",
    response_model=IngestJob,
    summary="查询入库任务（需要管理员密钥）",
    responses=error_responses(401, 403, 404, 422),
)
async def ingest_status(
    job_id: Annotated[str, Path(pattern=JOB_ID_PATTERN, description="POST /v1/ingest 返回的任务 ID。")],
    jobs: Jobs,
) -> Any:
    """State of an ingest job (queued, running, succeeded, failed), its progress and, once done, its summary."""
    job = await run_in_threadpool(jobs.get, job_id)
    if job is None:
        raise ApiError(404, "job_not_found", f"job_id: no ingest job with id {job_id!r}", param="job_id")
    return job


@health.get("/healthz", response_model=HealthResponse, summary="存活检查")
async def healthz() -> HealthResponse:
    """Always 200 while the process serves requests (no store access, no key needed)."""
    return HealthResponse()


@health.get(
    "/readyz",
    response_model=ReadyResponse,
    summary="就绪检查",
    responses={503: {"model": ErrorResponse, "description": "存储未打开或服务未就绪。"}},
)
async def readyz(request: Request) -> Any:
    """200 with article, chunk and file counts and the embedding model when the store is open; 503 otherwise."""
    service = getattr(request.app.state, "newsqa", None)
    if service is None:
        reason = getattr(request.app.state, "startup_error", None) or "the service is not started"
        return error_response(request, 503, "service_unavailable", f"service unavailable: {reason}")
    try:
        stats = await run_in_threadpool(service.stats)
    except NewsQAError as err:
        _, code = service_error_status(err)
        return error_response(request, 503, code, str(err))
    jobs: IngestJobs = request.app.state.ingest_jobs
    return ReadyResponse(**stats.model_dump(), ingest_running=jobs.running)
