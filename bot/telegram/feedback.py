"""Append-only JSONL log of 👍/👎 votes on answers (``$DATA_DIR/feedback.jsonl``).

One JSON object per line: ``ts`` (ISO-8601 UTC), ``channel`` ("telegram"), ``chat_id``, ``user_id``,
``message_id`` (of the answer), ``vote`` ("up" | "down"), ``question``, ``answer``, ``found``, ``mode`` and
``sources`` (``id``, ``title``, ``source``, ``article_id``, ``chunk_id``). A user who changes a vote adds a new
line; the latest line for (chat_id, message_id, user_id) wins. Lines are never rewritten.
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
        chat_id: int,
        user_id: int | None,
        message_id: int | None,
    ) -> dict[str, Any]:
        """Append one vote and return the record written. Blocking (file I/O): call it off the event loop.

        Raises:
            OSError: the file cannot be written.
        """
        entry: dict[str, Any] = {
            "ts": datetime.now(UTC).isoformat(timespec="seconds"),
            "channel": "telegram",
            "chat_id": chat_id,
            "user_id": user_id,
            "message_id": message_id,
            "vote": vote,
            "question": answer.question,
            "answer": answer.answer,
            "found": answer.found,
            "mode": answer.mode,
            "sources": [
                {
                    "id": c.id,
                    "title": c.title,
                    "source": c.source,
                    "article_id": c.article_id,
                    "chunk_id": c.chunk_id,
                }
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
