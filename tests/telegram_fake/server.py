"""A fake Telegram Bot API server: a real HTTP server (Starlette + uvicorn) on 127.0.0.1 in a background thread.

It implements the methods the bot calls, with Telegram's own checks where they catch real bugs (HTML that would fail
with "can't parse entities", messages over 4,096 characters, callback data over 64 bytes, replies to unknown
messages, answering a callback query twice, editing without a change). Every call is recorded with its decoded
parameters and its response. Tests push incoming updates (messages, button presses) into a queue that
``getUpdates`` long-polls; an unknown token gets 401 like Telegram.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .html_check import TelegramHtmlError, utf16_len, visible_text

T = TypeVar("T")

DEFAULT_TOKEN = "123456789:TEST-token_for-the-fake-server"
BOT_ID = 5550001
BOT_USERNAME = "newsqa_test_bot"
MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
#: Longest getUpdates long-poll the fake honours, in seconds (keeps bot shutdown quick).
MAX_LONG_POLL = 1.0

# Parameters whose values are plain strings; every other form value is JSON (python-telegram-bot encodes them so).
_STRING_PARAMS = {"text", "parse_mode", "callback_query_id", "action", "caption", "url", "inline_message_id"}


class ApiError(Exception):
    """A Bot API error response (``ok: false``)."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


@dataclass
class ApiCall:
    """One recorded Bot API call: ``seq`` (order of arrival), ``method`` (as Telegram names it), ``params``
    (decoded), ``ok`` and ``result`` or ``error``."""

    seq: int
    method: str
    params: dict[str, Any]
    ok: bool = True
    result: Any = None
    error: str | None = None

    @property
    def text(self) -> str:
        """The ``text`` parameter ("" when absent)."""
        return str(self.params.get("text", ""))

    @property
    def chat_id(self) -> Any:
        """The ``chat_id`` parameter (None when absent)."""
        return self.params.get("chat_id")

    @property
    def reply_to(self) -> int | None:
        """The message id this message replies to, if any."""
        reply = self.params.get("reply_parameters") or {}
        return reply.get("message_id") or self.params.get("reply_to_message_id")

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """Inline keyboard buttons of the ``reply_markup`` parameter, row by row flattened."""
        markup = self.params.get("reply_markup") or {}
        return [button for row in markup.get("inline_keyboard", []) for button in row]

    @property
    def visible(self) -> str:
        """The text as a user sees it (HTML parsed when parse_mode is HTML)."""
        if str(self.params.get("parse_mode", "")).upper() == "HTML":
            return visible_text(self.text)
        return self.text


@dataclass
class _State:
    updates: list[dict[str, Any]] = field(default_factory=list)
    messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    chats: dict[int, dict[str, Any]] = field(default_factory=dict)
    open_queries: set[str] = field(default_factory=set)
    commands: list[dict[str, Any]] = field(default_factory=list)


class FakeTelegram:
    """The fake Bot API server. Use as a context manager; the bot's base URL is :attr:`base_url`.

    Args:
        token: the only token accepted; anything else gets 401 Unauthorized.
    """

    def __init__(self, token: str = DEFAULT_TOKEN) -> None:
        self.token = token
        self.bot_user = {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "NewsQA",
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.calls: list[ApiCall] = []
        self._state = _State()
        self._lock = threading.RLock()
        self._seq = itertools.count(1)
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1001)
        self._query_ids = itertools.count(1)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- lifecycle ------------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Value for ``settings.telegram_base_url`` (the token is appended by the bot)."""
        return f"http://127.0.0.1:{self.port}/bot"

    def start(self) -> FakeTelegram:
        """Start serving on a random free port of 127.0.0.1; returns once the server accepts connections."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        app = Starlette(routes=[Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"])])
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2)
        server = self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        wait_until(lambda: server.started, timeout=10, message="fake Bot API server did not start")
        return self

    def stop(self) -> None:
        """Stop the server and wait for its thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- incoming updates (what users do) -------------------------------------------------------------------------

    @staticmethod
    def user(user_id: int, first_name: str = "测试用户") -> dict[str, Any]:
        """A Telegram User object for a human user."""
        return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "zh-hans"}

    def _chat(self, chat_id: int, chat_type: str) -> dict[str, Any]:
        chat = {"id": chat_id, "type": chat_type}
        chat.update({"first_name": "测试用户"} if chat_type == "private" else {"title": "测试群"})
        with self._lock:
            self._state.chats[chat_id] = chat
        return chat

    def _push(self, payload: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            update = {"update_id": next(self._update_ids), **payload}
            self._state.updates.append(update)
        return update

    def send_text(
        self,
        text: str,
        *,
        user_id: int = 111,
        chat_id: int | None = None,
        chat_type: str = "private",
        reply_to: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A user sends ``text``; returns the Message object. Entities (commands, @mentions) are computed like
        Telegram does; ``reply_to`` is a message object (e.g. from :meth:`message`) the user replies to."""
        chat = self._chat(chat_id if chat_id is not None else user_id, chat_type)
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": self.user(user_id),
            "text": text,
        }
        entities = _entities(text)
        if entities:
            message["entities"] = entities
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        self._store(message)
        self._push({"message": message})
        return message

    def send_photo(self, *, user_id: int = 111, chat_id: int | None = None, chat_type: str = "private") -> dict[str, Any]:
        """A user sends a photo without caption; returns the Message object."""
        chat = self._chat(chat_id if chat_id is not None else user_id, chat_type)
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": self.user(user_id),
            "photo": [{"file_id": "photo-1", "file_unique_id": "u-photo-1", "width": 90, "height": 60}],
        }
        self._store(message)
        self._push({"message": message})
        return message

    def press_button(self, message_id: int, chat_id: int, data: str, *, user_id: int = 111) -> str:
        """A user presses the inline button with callback ``data`` under a bot message; returns the query id."""
        message = self.message(chat_id, message_id)
        query_id = f"cq{next(self._query_ids)}"
        with self._lock:
            self._state.open_queries.add(query_id)
        self._push(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self.user(user_id),
                    "message": message,
                    "chat_instance": f"ci{chat_id}",
                    "data": data,
                }
            }
        )
        return query_id

    # --- inspection -----------------------------------------------------------------------------------------------

    def message(self, chat_id: int, message_id: int) -> dict[str, Any]:
        """The current state of a stored message (as Telegram would send it in an update)."""
        with self._lock:
            return json.loads(json.dumps(self._state.messages[(chat_id, message_id)]))

    def calls_of(self, method: str, *, ok: bool | None = True) -> list[ApiCall]:
        """Recorded calls of ``method`` (case-insensitive), in arrival order; ``ok=None`` includes failures."""
        with self._lock:
            return [c for c in self.calls if c.method.lower() == method.lower() and (ok is None or c.ok == ok)]

    def sent(self, chat_id: int) -> list[ApiCall]:
        """Successful sendMessage calls to ``chat_id``, in order."""
        return [c for c in self.calls_of("sendMessage") if c.chat_id == chat_id]

    def failed_calls(self) -> list[ApiCall]:
        """Every call that got an error response (a correct bot makes none, apart from bad-token tests)."""
        with self._lock:
            return [c for c in self.calls if not c.ok]

    def wait_for(self, predicate: Callable[[], T | None], timeout: float = 60.0, message: str = "") -> T:
        """Poll ``predicate`` until it returns something truthy (returned); AssertionError after ``timeout`` s."""
        return wait_until(predicate, timeout=timeout, message=message or "condition not met", dump=self._dump)

    def wait_sent(self, chat_id: int, count: int = 1, timeout: float = 60.0) -> list[ApiCall]:
        """Wait until at least ``count`` messages were sent to ``chat_id``; returns all of them."""
        return self.wait_for(
            lambda: (lambda sent: sent if len(sent) >= count else None)(self.sent(chat_id)),
            timeout=timeout,
            message=f"expected {count} message(s) to chat {chat_id}",
        )

    def wait_reply(self, question: dict[str, Any], timeout: float = 60.0) -> ApiCall:
        """Wait for the bot's message replying to the message ``question``."""
        chat_id, message_id = question["chat"]["id"], question["message_id"]
        return self.wait_for(
            lambda: next((c for c in self.sent(chat_id) if c.reply_to == message_id), None),
            timeout=timeout,
            message=f"expected a reply to message {message_id} in chat {chat_id}",
        )

    def wait_call(self, method: str, where: Callable[[ApiCall], bool] = lambda c: True, timeout: float = 60.0) -> ApiCall:
        """Wait for a successful call of ``method`` matching ``where``; returns the first such call."""
        return self.wait_for(
            lambda: next((c for c in self.calls_of(method) if where(c)), None),
            timeout=timeout,
            message=f"expected a {method} call",
        )

    def confirmed_update_id(self) -> int:
        """Highest update id the bot has confirmed (fetched and moved past with the next getUpdates offset)."""
        offsets = [int(c.params.get("offset") or 0) for c in self.calls_of("getUpdates")]
        return max(offsets, default=0) - 1

    def _dump(self) -> str:
        with self._lock:
            recent = [c for c in self.calls if c.method != "getUpdates"][-15:]
        return "\n".join(f"  #{c.seq} {c.method} ok={c.ok} {c.error or ''} {json.dumps(c.params, ensure_ascii=False)[:300]}" for c in recent)

    # --- HTTP side ------------------------------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        if request.path_params["token"] != self.token:
            self._record(method, {}, ok=False, error="401 Unauthorized")
            return JSONResponse({"ok": False, "error_code": 401, "description": "Unauthorized"}, status_code=401)
        handler = getattr(self, f"_api_{method.lower()}", None)
        if handler is None:
            self._record(method, {}, ok=False, error="404 Not Found")
            return JSONResponse({"ok": False, "error_code": 404, "description": "Not Found"}, status_code=404)
        params: dict[str, Any] = {}
        try:
            params = await _read_params(request)
            result = await handler(params) if method.lower() == "getupdates" else handler(params)
        except ApiError as exc:
            self._record(method, params, ok=False, error=exc.description)
            return JSONResponse(
                {"ok": False, "error_code": exc.code, "description": exc.description}, status_code=exc.code
            )
        self._record(method, params, ok=True, result=result)
        return JSONResponse({"ok": True, "result": result})

    def _record(self, method: str, params: dict[str, Any], *, ok: bool, result: Any = None, error: str | None = None) -> None:
        with self._lock:
            self.calls.append(ApiCall(next(self._seq), method, params, ok, result, error))

    def _store(self, message: dict[str, Any]) -> None:
        with self._lock:
            self._state.messages[(message["chat"]["id"], message["message_id"])] = message

    def _known_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._state.chats.get(params.get("chat_id"))  # type: ignore[arg-type]
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    @staticmethod
    def _check_text(params: dict[str, Any]) -> str:
        text = str(params.get("text", ""))
        if str(params.get("parse_mode", "")).upper() == "HTML":
            try:
                shown = visible_text(text)
            except TelegramHtmlError as exc:
                raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from exc
        else:
            shown = text
        if not shown.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(shown.strip()) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        return shown

    @staticmethod
    def _check_markup(params: dict[str, Any]) -> dict[str, Any] | None:
        markup = params.get("reply_markup")
        if markup is None:
            return None
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                if not str(button.get("text", "")).strip():
                    raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
        return markup

    # --- Bot API methods ------------------------------------------------------------------------------------------

    def _api_getme(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.bot_user

    def _api_deletewebhook(self, params: dict[str, Any]) -> bool:
        return True

    def _api_setmycommands(self, params: dict[str, Any]) -> bool:
        with self._lock:
            self._state.commands = list(params.get("commands") or [])
        return True

    def _api_getmycommands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._state.commands)

    def _api_sendchataction(self, params: dict[str, Any]) -> bool:
        with self._lock:
            self._known_chat(params)
        return True

    async def _api_getupdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), MAX_LONG_POLL)
        while True:
            with self._lock:
                # Like Telegram: an offset confirms (and forgets) every update before it.
                self._state.updates = [u for u in self._state.updates if u["update_id"] >= offset]
                pending = self._state.updates[:limit]
            if pending or time.monotonic() >= deadline:
                return pending
            await asyncio.sleep(0.02)

    def _new_bot_message(self, params: dict[str, Any], chat: dict[str, Any], shown: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": self.bot_user,
            "text": shown.strip(),
        }
        markup = self._check_markup(params)
        if markup:
            message["reply_markup"] = markup
        reply = params.get("reply_parameters") or {}
        reply_id = reply.get("message_id") or params.get("reply_to_message_id")
        if reply_id is not None:
            original = self._state.messages.get((chat["id"], int(reply_id)))
            if original is not None:
                message["reply_to_message"] = {k: v for k, v in original.items() if k != "reply_to_message"}
            elif not (reply.get("allow_sending_without_reply") or params.get("allow_sending_without_reply")):
                raise ApiError(400, "Bad Request: message to be replied not found")
        return message

    def _api_sendmessage(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            chat = self._known_chat(params)
            shown = self._check_text(params)
            message = self._new_bot_message(params, chat, shown)
            self._store(message)
            return message

    def _api_editmessagetext(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            message = self._editable(params)
            shown = self._check_text(params)
            markup = self._check_markup(params)
            if message["text"] == shown.strip() and message.get("reply_markup") == markup:
                raise ApiError(400, "Bad Request: message is not modified")
            message["text"] = shown.strip()
            message.pop("reply_markup", None)
            if markup:
                message["reply_markup"] = markup
            return message

    def _api_editmessagereplymarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            message = self._editable(params)
            markup = self._check_markup(params)
            if message.get("reply_markup") == markup:
                raise ApiError(400, "Bad Request: message is not modified")
            message.pop("reply_markup", None)
            if markup:
                message["reply_markup"] = markup
            return message

    def _editable(self, params: dict[str, Any]) -> dict[str, Any]:
        key = (params.get("chat_id"), params.get("message_id"))
        message = self._state.messages.get(key)  # type: ignore[arg-type]
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message["from"]["id"] != BOT_ID:
            raise ApiError(400, "Bad Request: message can't be edited")
        return message

    def _api_answercallbackquery(self, params: dict[str, Any]) -> bool:
        with self._lock:
            query_id = str(params.get("callback_query_id"))
            if query_id not in self._state.open_queries:
                raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
            self._state.open_queries.discard(query_id)
            if len(str(params.get("text", ""))) > 200:
                raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        return True


def _decode(name: str, value: str) -> Any:
    if name in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


async def _read_params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = {k: _decode(k, v) for k, v in request.query_params.items()}
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    if not body:
        return params
    if content_type.startswith("application/json"):
        params.update(json.loads(body))
    elif content_type.startswith("application/x-www-form-urlencoded"):
        params.update({k: _decode(k, v) for k, v in parse_qsl(body.decode("utf-8"), keep_blank_values=True)})
    else:
        raise ApiError(400, f"Bad Request: the fake server does not support {content_type!r} bodies")
    return params


def _entities(text: str) -> list[dict[str, Any]]:
    """Entities Telegram would attach: a bot command at the start, @mentions elsewhere (UTF-16 offsets)."""
    entities = []
    command = re.match(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?", text)
    if command:
        entities.append({"type": "bot_command", "offset": 0, "length": utf16_len(command.group(0))})
    for mention in re.finditer(r"(?<![A-Za-z0-9_/])@[A-Za-z0-9_]{5,32}", text):
        if command and mention.start() < command.end():
            continue
        entities.append(
            {"type": "mention", "offset": utf16_len(text[: mention.start()]), "length": utf16_len(mention.group(0))}
        )
    return entities


def wait_until(
    predicate: Callable[[], T | None], timeout: float, message: str, dump: Callable[[], str] | None = None
) -> T:
    """Poll ``predicate`` every 20 ms until truthy (returned); AssertionError naming ``message`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            detail = f"\nrecent Bot API calls:\n{dump()}" if dump else ""
            raise AssertionError(f"timed out after {timeout:.0f} s: {message}{detail}")
        time.sleep(0.02)
