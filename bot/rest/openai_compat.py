"""OpenAI-compatible chat API: ``POST /v1/chat/completions`` and ``GET /v1/models``.

The bot answers the last user message; the earlier user/assistant messages are the conversation, so a follow-up
(``那郏县呢？``) is rewritten into a standalone question first. The reply content is the answer, a blank line, then
the numbered sources (``[1] 标题 — source``). With ``stream: true`` the reply is sent as ``chat.completion.chunk`` server-sent events
ending with ``data: [DONE]``. Sampling parameters (temperature, max_tokens ...) are accepted and ignored. Token
counts in ``usage`` are approximations: characters of the messages and of the reply.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from bot.metrics import observe_answer
from bot.rest.deps import Service
from bot.rest.errors import ApiError, stream_error_body
from bot.rest.schemas import EXAMPLE_ANSWER, EXAMPLE_QUESTION, QUESTION_MAX_CHARS, check_text, error_responses
from bot.rest.streaming import (
    SSE_HEADERS,
    CitationsEvent,
    DeltaEvent,
    DoneEvent,
    answer_with_sources,
    sources_block,
    sse_event,
    stream_answer,
)
from rag.conversation import Turn

MODEL_ID = "newsqa"
_CREATED = int(time.time())


class ContentPart(BaseModel):
    """A part of a multi-part message; only ``{"type": "text", "text": ...}`` parts are read."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(..., max_length=64)
    text: str | None = None


class ChatMessage(BaseModel):
    """One message of the conversation; ``content`` is a string or a list of text parts."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = Field(None, max_length=128)

    def text(self) -> str:
        """The message text (text parts joined)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text or "" for p in self.content if p.type == "text")


class StreamOptions(BaseModel):
    """``stream_options``: ``include_usage`` adds a last chunk with usage and no choices."""

    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """Body of ``POST /v1/chat/completions`` (OpenAI shape; unknown fields are ignored)."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {"model": MODEL_ID, "messages": [{"role": "user", "content": EXAMPLE_QUESTION}]},
                {
                    "model": MODEL_ID,
                    "stream": True,
                    "messages": [
                        {"role": "system", "content": "你是新闻问答助手。"},
                        {"role": "user", "content": "黄道镇如何发展文旅产业？"},
                    ],
                },
            ]
        },
    )

    model: str = Field(MODEL_ID, max_length=200, description="模型名（原样返回；任何值都由 newsqa 回答）。")
    messages: list[ChatMessage] = Field(..., min_length=1, max_length=500, description="对话消息，回答最后一条 user 消息。")
    stream: bool | None = Field(False, description="true 时以 SSE 分块（chat.completion.chunk）返回。")
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, description="接受但忽略。")
    top_p: float | None = Field(None, description="接受但忽略。")
    max_tokens: int | None = Field(None, description="接受但忽略。")
    user: str | None = Field(None, max_length=256, description="接受但忽略。")


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class Usage(BaseModel):
    """Approximate token counts (characters)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    """An OpenAI ``chat.completion`` object."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "chatcmpl-9b1deb4d3b7d4bad9bdd2b0d7b3dcb6d",
                    "object": "chat.completion",
                    "created": 1704441600,
                    "model": MODEL_ID,
                    "choices": [
                        {
                            "index": 0,
                            "message": {
                                "role": "assistant",
                                "content": EXAMPLE_ANSWER["answer"]
                                + "\n\n[1] 郟县工信局 党建引领谱华章 砥砺奋进创佳绩 — 000_a17aea0bf2d75ea6.txt",
                            },
                            "finish_reason": "stop",
                            "logprobs": None,
                        }
                    ],
                    "usage": {"prompt_tokens": 12, "completion_tokens": 70, "total_tokens": 82},
                    "system_fingerprint": None,
                }
            ]
        }
    )

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    system_fingerprint: str | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def last_user_question(messages: list[ChatMessage]) -> str:
    """The text of the last ``user`` message. Raises ApiError 422 naming ``messages`` when there is none, or
    when it is blank, too long or holds control characters."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "user":
            text = messages[index].text()
            field = f"messages[{index}].content"
            try:
                check_text(text)
            except ValueError as err:
                raise ApiError(422, "validation_error", f"{field}: {err}", param=field) from None
            if len(text) > QUESTION_MAX_CHARS:
                message = f"{field}: the question is longer than {QUESTION_MAX_CHARS} characters"
                raise ApiError(422, "validation_error", message, param=field)
            return text
    raise ApiError(422, "validation_error", "messages: there is no message with role 'user'", param="messages")


def conversation_turns(messages: list[ChatMessage], max_turns: int) -> list[Turn]:
    """The earlier exchanges of a chat, oldest first: each ``user`` message before the last one, with the text of
    the ``assistant`` message that follows it ("" when none); at most the last ``max_turns``."""
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    turns: list[Turn] = []
    for index in range(last_user):
        message = messages[index]
        if message.role != "user" or not message.text().strip():
            continue
        reply = next((m for m in messages[index + 1 : last_user] if m.role in ("user", "assistant")), None)
        answer = reply.text() if reply is not None and reply.role == "assistant" else ""
        question = message.text().strip()
        turns.append(Turn(question=question, standalone=question, answer=answer, found=bool(answer.strip())))
    return turns[-max_turns:]


def _usage(messages: list[ChatMessage], reply: str) -> Usage:
    prompt = sum(len(m.text()) for m in messages)
    return Usage(prompt_tokens=prompt, completion_tokens=len(reply), total_tokens=prompt + len(reply))


def _chunk(completion_id: str, created: int, model: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }


router = APIRouter(tags=["OpenAI 兼容"])


@router.get("/models", response_model=ModelList, summary="模型列表（OpenAI 兼容）", responses=error_responses(401))
async def list_models() -> ModelList:
    """The one model this server offers, ``newsqa`` (any model name is accepted by chat completions)."""
    return ModelList(data=[ModelCard(id=MODEL_ID, created=_CREATED, owned_by="newsqa")])


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    summary="对话补全（OpenAI 兼容）",
    responses={
        200: {
            "description": "`stream` 为 false 时返回 chat.completion；为 true 时返回 text/event-stream，"
            "每个 `data:` 是一个 chat.completion.chunk，最后是 `data: [DONE]`。",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **error_responses(400, 401, 413, 422, 500, 503),
    },
)
async def chat_completions(
    request: Request,
    body: Annotated[ChatCompletionRequest, Body()],
    service: Service,
) -> Any:
    """Answer the last user message, with the numbered sources written under the answer.

    Errors: 422 when there is no user message or it is invalid (the message names ``messages[i].content``).
    """
    question = last_user_question(body.messages)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    history = conversation_turns(body.messages, service.settings.conversation_max_turns)
    events = stream_answer(service, question, history=history)
    first = await events.__anext__()  # errors before any output become normal JSON error responses
    if not body.stream:
        answer = None
        async for event in events:
            if isinstance(event, DoneEvent):
                answer = event.answer
        assert answer is not None
        observe_answer(request.app.state, answer)
        reply = answer_with_sources(answer)
        completion = ChatCompletion(
            id=completion_id,
            created=created,
            model=body.model,
            choices=[Choice(message=AssistantMessage(content=reply))],
            usage=_usage(body.messages, reply),
        )
        return JSONResponse(completion.model_dump(mode="json"))

    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    async def chunks() -> AsyncIterator[bytes]:
        sent: list[str] = []

        def emit(delta: dict[str, Any], finish: str | None = None) -> bytes:
            return sse_event(_chunk(completion_id, created, body.model, delta, finish))

        yield emit({"role": "assistant", "content": ""})
        try:
            pending: list[CitationsEvent | DeltaEvent | DoneEvent] = [first]
            async for event in _chain(pending, events):
                if isinstance(event, DeltaEvent) and event.text:
                    sent.append(event.text)
                    yield emit({"content": event.text})
                elif isinstance(event, DoneEvent):
                    observe_answer(request.app.state, event.answer)
                    if event.answer.citations:
                        tail = "\n\n" + sources_block(event.answer.citations)
                        sent.append(tail)
                        yield emit({"content": tail})
        except Exception as err:  # the status line is sent: report in-band, then end the stream
            yield sse_event(stream_error_body(request, err))
            yield sse_event("[DONE]")
            return
        yield emit({}, "stop")
        if include_usage:
            usage = _usage(body.messages, "".join(sent)).model_dump()
            yield sse_event({**_chunk(completion_id, created, body.model, {}, None), "choices": [], "usage": usage})
        yield sse_event("[DONE]")

    return StreamingResponse(chunks(), media_type="text/event-stream", headers=SSE_HEADERS)


async def _chain(first: list[Any], rest: AsyncIterator[Any]) -> AsyncIterator[Any]:
    for item in first:
        yield item
    async for item in rest:
        yield item
