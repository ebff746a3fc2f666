"""The FastAPI application: :func:`create_app` (used by tests and ``newsqa serve``) and :func:`app_from_env`
(the uvicorn factory used with several workers).

Layout: ``/healthz``, ``/readyz``, the web page ``/`` with ``/static`` and the docs ``/docs``, ``/redoc`` are open
(:mod:`bot.web`); every ``/v1`` route needs an API key when ``NEWSQA_API_KEYS`` is set; ``/v1/ingest`` and
``/v1/uploads`` need ``NEWSQA_ADMIN_KEY`` (403 when it is unset). Middleware, outermost first: CORS
(only when ``NEWSQA_CORS_ORIGINS`` is set), request id + catch-all 500, body size limit (413); outside them all the
HTTP metrics. ``/metrics`` (Prometheus, :mod:`bot.metrics`) is open while no key is set, else needs the admin key.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware

from bot.metrics import CONTENT_TYPE, HttpMetricsMiddleware, RestMetrics
from bot.rest import openai_compat, routes, web_api
from bot.rest.auth import KeyRing, require_admin_key, require_api_key, require_metrics_key
from bot.rest.errors import install_error_handlers
from bot.rest.jobs import IngestJobs
from bot.rest.middleware import REQUEST_ID_HEADER, BodySizeLimitMiddleware, RequestContextMiddleware
from bot.service import build_service
from bot.web.pages import install_web
from rag.errors import NewsQAError
from rag.service import NewsQA
from rag.settings import Settings
from rag.settings_check import load_settings

logger = logging.getLogger("newsqa.rest")

#: Environment variable through which :func:`bot.rest.server.serve` hands its Settings to worker processes.
SETTINGS_ENV = "NEWSQA_REST_SETTINGS_JSON"
#: Folder (under the data dir, outside the Chroma store) holding the ingest job files shared by workers.
JOBS_DIR_NAME = ".rest-jobs"
#: Seconds the shutdown waits for a running ingest before closing the store.
SHUTDOWN_INGEST_WAIT_SECONDS = 300.0
#: Room for the multipart framing around an uploaded file (boundaries, part headers, the folder field).
UPLOAD_OVERHEAD_BYTES = 64_000

DESCRIPTION = """
基于报纸版面的中文新闻问答。答案只来自已收录的报道，并附带编号引用。

* **问答**：`POST /v1/ask`（JSON）与 `POST /v1/ask/stream`（SSE：citations → answer → done）。
* **检索**：`GET /v1/search`、`GET /v1/articles/{article_id}`。
* **入库**：`POST /v1/uploads` 上传版面文件（同名文件返回 409，从不覆盖），`POST /v1/ingest` 后台增量入库，
  `GET /v1/ingest/{job_id}` 查询进度（均需要管理员密钥）。
* **网页**：`/` 是中文问答网页（流式答案、引用原文高亮、报道库、管理）；`/docs`、`/redoc` 离线可用。
* **反馈**：`POST /v1/feedback` 记录 👍/👎（与 Telegram 机器人写入同一反馈日志）；`GET /v1/publications` 列出报刊。
* **OpenAI 兼容**：`POST /v1/chat/completions`、`GET /v1/models`，可直接接入支持 OpenAI API 的聊天前端。

认证：设置 `NEWSQA_API_KEYS` 后，所有 `/v1` 路由需要 `Authorization: Bearer <key>`。
错误统一返回 `{"error": {"code", "type", "message", "param"}, "request_id"}`，不含堆栈信息。
"""


def _build_service(settings: Settings) -> NewsQA:
    return build_service(settings, serving=True)  # ingest jobs embed in a worker process: questions stay fast


def create_app(settings: Settings, service: NewsQA | None = None) -> FastAPI:
    """Build the ASGI app for ``settings``.

    When ``service`` is None the app builds its own :class:`NewsQA` at startup (in a worker thread), warms it up
    (embedding model and indexes load once per process, not per request) and closes it at shutdown. A given
    ``service`` is warmed up too but left open (its owner closes it). A core error at startup (store or model
    unavailable) does not stop the server: ``/readyz`` and the ``/v1`` routes answer 503 with the reason.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = service is None
        app.state.newsqa = service
        app.state.startup_error = None
        if owned:
            try:
                app.state.newsqa = await run_in_threadpool(_build_service, settings)
            except NewsQAError as err:
                logger.error("cannot open the newsqa service: %s", err)
                app.state.startup_error = str(err)
        if app.state.newsqa is not None:
            try:
                await run_in_threadpool(app.state.newsqa.warm_up)
            except NewsQAError as err:
                logger.error("warm-up failed (queries may fail until fixed): %s", err)
        logger.info("newsqa REST API ready (api keys: %s, admin key: %s, cors origins: %s)",
                    len(app.state.keyring.api_keys), app.state.keyring.admin_key is not None,
                    settings.cors_origin_list or "none")
        try:
            yield
        finally:
            jobs: IngestJobs = app.state.ingest_jobs
            if jobs.running:
                logger.info("waiting for the running ingest to finish before shutdown")
                await run_in_threadpool(jobs.wait, SHUTDOWN_INGEST_WAIT_SECONDS)
            current = app.state.newsqa
            app.state.newsqa = None
            if owned and current is not None:
                await run_in_threadpool(current.close)

    app = FastAPI(
        title="newsqa REST API",
        version="0.1.0",
        summary="中文报纸新闻问答：提问、检索、阅读原文、入库，以及 OpenAI 兼容接口。",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served from the package by install_web (offline, no CDN)
        redoc_url=None,
        openapi_tags=[
            {"name": "问答", "description": "带引用的问答（JSON 或 SSE）。"},
            {"name": "检索", "description": "只检索段落或读取整篇报道。"},
            {"name": "入库", "description": "后台增量入库任务（需要管理员密钥）。"},
            {"name": "OpenAI 兼容", "description": "OpenAI chat completions 形状的接口。"},
            {"name": "状态", "description": "存活与就绪检查（无需密钥）。"},
        ],
    )
    app.state.settings = settings
    app.state.keyring = KeyRing.from_settings(settings)
    metrics = RestMetrics(settings, app.state)
    app.state.metrics = metrics
    app.state.ingest_jobs = IngestJobs(settings.data_dir / JOBS_DIR_NAME, on_finish=metrics.observe_ingest)
    app.state.newsqa = service
    app.state.startup_error = None

    install_error_handlers(app)
    api_key = [Depends(require_api_key)]
    app.include_router(routes.v1, prefix="/v1", dependencies=api_key)
    app.include_router(openai_compat.router, prefix="/v1", dependencies=api_key)
    app.include_router(web_api.v1, prefix="/v1", dependencies=api_key)
    admin_key = [Depends(require_admin_key)]
    app.include_router(routes.admin, prefix="/v1", dependencies=admin_key)
    app.include_router(web_api.admin, prefix="/v1", dependencies=admin_key)
    app.include_router(routes.health)
    install_web(app)

    @app.get("/metrics", include_in_schema=False, dependencies=[Depends(require_metrics_key)])
    async def prometheus_metrics(request: Request) -> Response:
        """Prometheus text format (bot/metrics.py); needs the admin key once any key is configured."""
        body = await run_in_threadpool(request.app.state.metrics.render)
        return Response(body, media_type=CONTENT_TYPE)

    # add_middleware wraps: the last added runs first.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes,
                       path_limits={"/v1/uploads": settings.upload_max_bytes + UPLOAD_OVERHEAD_BYTES})
    app.add_middleware(RequestContextMiddleware)
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", REQUEST_ID_HEADER],
            expose_headers=[REQUEST_ID_HEADER],
            allow_credentials=False,
            max_age=600,
        )
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)  # outermost: sees 413s and 500s too
    return app


def settings_to_json(settings: Settings) -> str:
    """All settings as JSON, secrets in clear text: only for handing them to worker processes via the
    environment (:data:`SETTINGS_ENV`); never log the result."""
    data: dict[str, Any] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, Path):
            value = str(value)
        data[name] = value
    return json.dumps(data)


def settings_from_env() -> Settings:
    """Settings handed over by :func:`bot.rest.server.serve` (:data:`SETTINGS_ENV`), else from the environment
    and ``.env`` as usual (:func:`rag.settings_check.load_settings`: raises :class:`rag.errors.ConfigError`)."""
    raw = os.environ.get(SETTINGS_ENV)
    if raw:
        return Settings(_env_file=None, **json.loads(raw))  # type: ignore[call-arg]
    settings, warnings = load_settings()  # ConfigError names the bad variable, its value and its source
    for warning in warnings:
        logging.getLogger("newsqa.rest").warning("%s", warning)
    return settings


def configure_logging(level: str) -> None:
    """Give the ``newsqa`` loggers a stderr handler at ``level`` unless logging is already configured."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("newsqa").setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "chromadb", "sentence_transformers", "urllib3", "jieba"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def app_from_env() -> FastAPI:
    """uvicorn factory (``bot.rest.app:app_from_env`` with ``factory=True``): Settings from the environment."""
    settings = settings_from_env()
    configure_logging(settings.log_level)
    return create_app(settings)
