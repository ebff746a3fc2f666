"""Append-only JSONL log of 👍/👎 votes on answers (``$DATA_DIR/feedback.jsonl``), shared by every front-end.

One JSON object per line: ``ts`` (ISO-8601 UTC), ``channel`` (``"telegram"``, ``"web"`` or ``"rest"``),
``conversation_id`` and ``answer_id`` (None where the channel has none: the web page and REST use the answer's
request id, Telegram the chat and message ids), ``chat_id``, ``user_id``, ``message_id`` (Telegram only, else None),
``vote`` (``"up"`` | ``"down"``), ``question``, ``answer``, ``found``, ``mode``, ``confidence`` and ``sources``
(``id``, ``title``, ``source``, ``article_id``, ``chunk_id``). A changed vote adds a new line; the latest line for
an answer (``answer_id``, or Telegram's (chat_id, message_id, user_id)) wins. Lines are never rewritten.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from filelock import FileLock

from rag.models import Answer

Vote = Literal["up", "down"]
Channel = Literal["telegram", "web", "rest"]
#: File name of the log inside the data dir.
FEEDBACK_FILE = "feedback.jsonl"


class FeedbackLog:
    """Appends feedback records to a JSONL file; safe across threads and processes (a file lock per append).

    Args:
        path: the JSONL file; its folder is created on first write.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = FileLock(str(path) + ".lock")

    def record(
        self,
        *,
        answer: Answer,
        vote: Vote,
        channel: Channel,
        conversation_id: str | None = None,
        answer_id: str | None = None,
        chat_id: int | None = None,
        user_id: int | None = None,
        message_id: int | None = None,
    ) -> dict[str, Any]:
        """Append one vote and return the record written. Blocking (file I/O): call it off the event loop.

        Raises:
            OSError: the file cannot be written.
        """
        entry: dict[str, Any] = {
            "ts": datetime.now(UTC).isoformat(timespec="seconds"),
            "channel": channel,
            "conversation_id": conversation_id,
            "answer_id": answer_id,
            "chat_id": chat_id,
            "user_id": user_id,
            "message_id": message_id,
            "vote": vote,
            "question": answer.question,
            "answer": answer.answer,
            "found": answer.found,
            "mode": answer.mode,
            "confidence": answer.confidence,
            "sources": [
                {"id": c.id, "title": c.title, "source": c.source, "article_id": c.article_id, "chunk_id": c.chunk_id}
                for c in answer.citations
            ],
        }
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())  # a vote is small and rare: make it survive a crash
        return entry
