"""A small server-sent-events reader over an httpx streaming response (the real wire format)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class SseEvent:
    """One event: its ``event`` name (``message`` when none was sent) and its ``data`` text."""

    event: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


def iter_sse(response: httpx.Response) -> Iterator[SseEvent]:
    """Parse events as lines arrive; comment lines (``:``) are skipped."""
    event, data = "message", []
    for line in response.iter_lines():
        if line == "":
            if data:
                yield SseEvent(event, "\n".join(data))
            event, data = "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        yield SseEvent(event, "\n".join(data))
