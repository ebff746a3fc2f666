"""REST routes added for the web page (and any client): the publications of the archive, 👍/👎 feedback, and the
admin upload of page files.

``GET /v1/publications`` and ``POST /v1/feedback`` need an API key when ``NEWSQA_API_KEYS`` is set;
``POST /v1/uploads`` needs ``NEWSQA_ADMIN_KEY`` (like the ingest routes). Feedback goes to the same log as the
Telegram bot's (:class:`bot.feedback_log.FeedbackLog`, ``$DATA_DIR/feedback.jsonl``).
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from bot.feedback_log import FEEDBACK_FILE, FeedbackLog
from bot.rest.deps import Service
from bot.rest.errors import ApiError
from bot.rest.schemas import TokenText, error_responses
from ingest.loaders import SUPPORTED_SUFFIXES
from rag.models import Answer, PublicationInfo

v1 = APIRouter()
admin = APIRouter(tags=["入库"])

#: Bytes read from an uploaded file at a time.
_CHUNK = 1024 * 1024
#: Path parts of an upload: no leading dot (hidden files are skipped by ingest), no separators or control chars.
_PART = re.compile(r"^[^./\\\x00-\x1f\x7f][^/\\\x00-\x1f\x7f]{0,119}$")


class FeedbackRequest(BaseModel):
    """Body of ``POST /v1/feedback``: a vote on an answer the client was shown."""

    model_config = ConfigDict(extra="forbid")

    vote: Literal["up", "down"] = Field(..., description="👍 up 或 👎 down。")
    answer: Answer = Field(..., description="被评价的答案（/v1/ask 的返回或 SSE done 事件，原样发回）。")
    answer_id: TokenText | None = Field(
        None, min_length=1, max_length=128,
        description="答案 ID：提问请求的 X-Request-ID 响应头（网页即如此使用），用于把同一答案的多次投票归并。",
    )
    conversation_id: TokenText | None = Field(None, min_length=1, max_length=128, description="会话 ID（如有）。")
    channel: Literal["web", "rest"] = Field("rest", description="来源：web（网页）或 rest（其他客户端）。")


class FeedbackResponse(BaseModel):
    """Body of a recorded vote."""

    recorded: Literal[True] = True
    ts: str = Field(..., description="记录时间（ISO-8601 UTC）。")


class PublicationsResponse(BaseModel):
    """Body of ``GET /v1/publications``."""

    publications: list[PublicationInfo]


class UploadResponse(BaseModel):
    """Body of a stored upload: where the file now is, relative to the articles folder."""

    path: str = Field(..., description="文件在报道目录中的相对路径（入库后即为引用中的 source）。")
    bytes: int = Field(..., ge=0)


@v1.get(
    "/publications",
    response_model=PublicationsResponse,
    tags=["检索"],
    summary="列出报刊（报道数与日期范围）",
    responses=error_responses(401, 500, 503),
)
async def publications(service: Service) -> Any:
    """Every publication of the archive with its article count, earliest and latest date and undated articles;
    most articles first; articles without a known publication last (``publication`` null)."""
    rows = await run_in_threadpool(service.publications)
    return JSONResponse({"publications": [r.model_dump(mode="json") for r in rows]})


@v1.post(
    "/feedback",
    status_code=201,
    response_model=FeedbackResponse,
    tags=["问答"],
    summary="对答案点赞/点踩",
    responses=error_responses(400, 401, 413, 422, 500),
)
async def feedback(body: FeedbackRequest, request: Request) -> Any:
    """Append a 👍/👎 vote to the feedback log shared with the Telegram bot (``$DATA_DIR/feedback.jsonl``), with
    the channel, conversation and answer ids, the question, answer and sources. A changed vote is a new line."""
    log = FeedbackLog(request.app.state.settings.data_dir / FEEDBACK_FILE)
    entry = await run_in_threadpool(
        lambda: log.record(answer=body.answer, vote=body.vote, channel=body.channel,
                           conversation_id=body.conversation_id, answer_id=body.answer_id))
    return JSONResponse({"recorded": True, "ts": entry["ts"]}, status_code=201)


def _target(articles_dir: Path, folder: str | None, filename: str | None) -> Path:
    """Where an upload goes: ``articles_dir/[folder/]name``; raises ApiError 422 for a bad name or folder and
    415 for a file type the loaders do not read."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name
    if not name or not _PART.match(name):
        raise ApiError(422, "invalid_filename", f"file: bad file name {filename!r} (no leading dot, no control "
                       "characters)", param="file")
    if PurePosixPath(name).suffix.lower() not in SUPPORTED_SUFFIXES:
        raise ApiError(415, "unsupported_file_type", f"file: {name!r} is not a page file the loaders read; use "
                       + ", ".join(sorted(SUPPORTED_SUFFIXES)), param="file")
    parts = [p for p in (folder or "").replace("\\", "/").split("/") if p]
    if len(parts) > 4 or not all(_PART.match(p) for p in parts):
        raise ApiError(422, "invalid_folder", f"folder: {folder!r} must be up to 4 relative folder names "
                       "(no '..', no leading dot), like 平顶山日报/2021-12-31", param="folder")
    return articles_dir.joinpath(*parts, name)


def _store(upload: UploadFile, target: Path, limit: int) -> int:
    """Copy ``upload`` to ``target`` without ever replacing a file: written to a hidden temporary file beside it,
    then hard-linked into place (atomic, fails when the name exists). Returns the size in bytes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".upload-{uuid.uuid4().hex}.part"
    size = 0
    try:
        with tmp.open("xb") as out:
            while chunk := upload.file.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, "file_too_large", f"file: larger than the upload limit of {limit} bytes "
                                   "(NEWSQA_UPLOAD_MAX_BYTES)", param="file")
                out.write(chunk)
        if size == 0:
            raise ApiError(422, "empty_file", "file: the file is empty", param="file")
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise ApiError(409, "file_exists", f"file: {target.name!r} already exists in that folder; rename the file "
                           "(an upload never replaces a page)", param="file") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return size


@admin.post(
    "/uploads",
    status_code=201,
    response_model=UploadResponse,
    summary="上传版面文件（需要管理员密钥）",
    responses={
        201: {"description": "已保存到报道目录；再调用 `POST /v1/ingest` 入库。"},
        409: {"description": "同一目录下已有同名文件（`file_exists`）：上传从不覆盖已有文件，请改名后再传。"},
        413: {"description": "文件超过 NEWSQA_UPLOAD_MAX_BYTES（`file_too_large`）。"},
        415: {"description": "不是可读取的版面文件类型（`unsupported_file_type`）。"},
        **error_responses(401, 403, 422, 500),
    },
)
async def upload_page(
    request: Request,
    file: Annotated[UploadFile, File(description="版面文件：.txt .md .html .htm .pdf 或图片 .png .jpg .jpeg .tif .tiff .webp。")],
    folder: Annotated[str | None, Form(max_length=300, description="报道目录下的子目录（可选），如 平顶山日报/2021-12-31"
                                       "（路径中的报刊和日期会成为报道的元数据）。")] = None,
) -> Any:
    """Save one page file under the articles folder (``folder`` optional, relative), for a later
    ``POST /v1/ingest``. Never overwrites: a file of the same name in that folder is a **409** ``file_exists``
    (rename it and upload again). 413 over ``NEWSQA_UPLOAD_MAX_BYTES``, 415 for a type the loaders do not read,
    422 for a bad name or folder. Needs ``Authorization: Bearer <admin key>``."""
    settings = request.app.state.settings
    target = _target(settings.articles_dir, folder, file.filename)
    size = await run_in_threadpool(_store, file, target, settings.upload_max_bytes)
    relative = target.relative_to(settings.articles_dir).as_posix()
    return JSONResponse({"path": relative, "bytes": size}, status_code=201)
