"""How ``newsqa ask`` and ``newsqa chat`` get and show an answer: from a running ``newsqa serve`` on the same data dir
when there is one (its ``serve.json``), else from a service built here; rendered as plain text for a terminal.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

from bot.cli_support import fail
from rag.errors import NewsQAError
from rag.models import Answer, print_label
from rag.settings import Settings

_CITED = re.compile(r"(.+?)\[(\d+)\]", re.S)


def cited_excerpt(answer: Answer, citation_id: int, text: str, width: int = 120) -> str:
    """About ``width`` characters of ``text`` around the first answer sentence marked ``[citation_id]``."""
    flat = text.replace("\n", " ")
    for sentence, number in _CITED.findall(answer.answer):
        probe = sentence.strip("…").strip()[:20]
        if int(number) == citation_id and probe and probe in flat:
            start = max(0, flat.index(probe) - 20)
            excerpt = flat[start : start + width]
            return ("…" if start else "") + excerpt + ("…" if start + width < len(flat) else "")
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def format_answer(answer: Answer, verbose: bool = False) -> str:
    """Plain-text rendering of an answer and its numbered sources, for a terminal; ``verbose`` adds the answer's
    confidence (the calibrated probability that it is right) when the answerer gives one."""
    lines = [answer.answer]
    if verbose and answer.confidence is not None:
        lines.append(f"confidence: {answer.confidence:.2f}")
    if answer.citations:
        lines.append("")
        lines.append("来源：")
        for c in answer.citations:
            printed = print_label(c.publication, c.published, c.page)
            lines.append(f"[{c.id}] {c.title} — {printed + ' ' if printed else ''}{c.source}")
            lines.append(f"    {cited_excerpt(answer, c.id, c.text)}")
            if c.also:
                copies = "；".join(f"{print_label(x.publication, x.published, x.page) or x.title} {x.source}" for x in c.also)
                lines.append(f"    另见：{copies}")
    return "\n".join(lines)


#: Written by ``newsqa serve`` in the data dir while it runs: lets ``newsqa ask`` on the same data dir use it.
SERVER_FILE = "serve.json"


def local_server(settings: Settings) -> str | None:
    """The URL of a ``newsqa serve`` running on this data dir (its ``serve.json``, process alive), if any."""
    marker = Path(settings.data_dir) / SERVER_FILE
    try:
        info = json.loads(marker.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    try:
        os.kill(int(info["pid"]), 0)
    except ProcessLookupError:  # uvicorn re-raises SIGTERM after shutting down, so serve cannot always clean up
        marker.unlink(missing_ok=True)
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(info["url"])


def ask_server(url: str, settings: Settings, question: str, top_k: int,
               filters: dict[str, str] | None = None, conversation_id: str | None = None) -> Answer | None:
    """The answer of the REST API at ``url`` (``conversation_id``: the server's memory of earlier questions); None
    when it cannot be reached (the caller answers locally). An error response exits with its message."""
    import urllib.error
    import urllib.request

    headers = {"Content-Type": "application/json"}
    keys = [k.strip() for k in settings.api_keys.split(",") if k.strip()]
    if keys:
        headers["Authorization"] = f"Bearer {keys[0]}"
    fields = {"question": question, "top_k": top_k, **(filters or {})}
    if conversation_id:
        fields["conversation_id"] = conversation_id
    body = json.dumps(fields).encode("utf-8")
    request = urllib.request.Request(url.rstrip("/") + "/v1/ask", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Answer.model_validate_json(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        with contextlib.suppress(ValueError, KeyError, TypeError):
            detail = json.loads(detail)["error"]["message"]
        raise fail(NewsQAError(f"{url}: {detail}")) from exc
    except (urllib.error.URLError, OSError):
        return None


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector kept off what a one-shot answer in a fresh process loads.

    Answering cold means importing llama-index and chromadb and loading jieba's tables: some 190,000 container
    objects that live until the process exits. The collector walks them again and again while they are made, and
    once more at interpreter exit, freeing nothing (about 0.7 s of a 2.9 s cold `newsqa ask` on our 2-core machine,
    see bench/NOTES.md section 9; Mercurial's ``util.nogc`` pauses it for the same reason). So it is paused for the
    block, and the objects are frozen out of the final collections (``gc.freeze`` from ``atexit``, which runs before
    them); a long-lived caller such as a test runner collects as usual until it exits. Only one question's garbage
    waits meanwhile; callers close what holds files or connections themselves.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        atexit.unregister(gc.freeze)  # once, however many questions a test runner asks
        atexit.register(gc.freeze)
