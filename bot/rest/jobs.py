"""Background ingest jobs for ``POST /v1/ingest`` and ``GET /v1/ingest/{job_id}``.

One ingest at a time: :meth:`IngestJobs.start` raises :class:`IngestConflict` while a job of this process, or a
live job of another worker sharing the data dir, is queued or running. The ingest itself runs in a daemon thread;
queries keep being answered meanwhile (the core is thread-safe). Job states are written as small JSON files under
``<data_dir>/.rest-jobs`` (a self-ignoring folder for git) so that every uvicorn worker can report any job; an ingest lock held by another process
(``newsqa ingest`` on the command line) makes the job fail with code ``ingest_locked``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.rest.schemas import IngestJob, IngestProgress, JobError
from rag.errors import IngestLockedError, NewsQAError
from rag.models import IngestSummary
from rag.service import NewsQA

logger = logging.getLogger("newsqa.rest.jobs")

JOB_ID_PATTERN = r"^[0-9a-f]{32}$"
_JOB_ID = re.compile(JOB_ID_PATTERN)
_ACTIVE = ("queued", "running")


class IngestConflict(Exception):
    """An ingest job is already queued or running; ``job_id`` is that job (None when only the lock is known)."""

    def __init__(self, job_id: str | None) -> None:
        super().__init__(f"an ingest is already running (job {job_id})" if job_id else "an ingest is already running")
        self.job_id = job_id


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


class IngestJobs:
    """The ingest jobs of one process; ``jobs_dir`` is shared by the workers serving the same data dir.

    ``keep`` bounds the number of finished job files kept on disk (oldest removed first). ``on_finish(summary,
    error_code)`` is called once per finished job of this process (the metrics), with the summary of a job that
    succeeded, else None and the job's error code; its own errors are logged, never raised.
    """

    def __init__(self, jobs_dir: Path, keep: int = 50, progress_write_seconds: float = 1.0,
                 on_finish: Callable[[IngestSummary | None, str | None], None] | None = None) -> None:
        self.jobs_dir = jobs_dir
        self.on_finish = on_finish
        self.keep = keep
        self.progress_write_seconds = progress_write_seconds
        self._lock = threading.Lock()
        self._jobs: dict[str, IngestJob] = {}
        self._active: str | None = None
        self._thread: threading.Thread | None = None

    # --- public API ---------------------------------------------------------------------------------

    def start(self, service: NewsQA) -> IngestJob:
        """Queue an incremental ingest of the articles folder and start it in a thread; returns the new job.

        Raises IngestConflict when a job is already active here or in another live worker.
        """
        with self._lock:
            if self._active is not None:
                raise IngestConflict(self._active)
            other = self._active_elsewhere()
            if other is not None:
                raise IngestConflict(other)
            job = IngestJob(
                job_id=uuid.uuid4().hex, state="queued", done=False, created_at=_now(), summary=None, error=None
            )
            self._jobs[job.job_id] = job
            self._active = job.job_id
            self._persist(job)
            thread = threading.Thread(
                target=self._run, args=(service, job.job_id), name=f"ingest-{job.job_id[:8]}", daemon=True
            )
            self._thread = thread
        thread.start()
        return job

    def get(self, job_id: str) -> IngestJob | None:
        """The job with this id (from this process, or from the shared jobs folder), or None when unknown."""
        if not _JOB_ID.match(job_id):
            return None
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                return job.model_copy(deep=True)
        record = self._load(job_id)
        if record is None:
            return None
        job, pid = record
        if job.state in _ACTIVE and not _pid_alive(pid):
            job = self._interrupted(job)
        return job

    @property
    def running(self) -> bool:
        """True while a job of this process is queued or running."""
        with self._lock:
            return self._active is not None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running job of this process (if any) to finish; True when none is left running."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    # --- the job thread -----------------------------------------------------------------------------

    def _run(self, service: NewsQA, job_id: str) -> None:
        self._update(job_id, state="running", started_at=_now())
        last_write = 0.0

        def progress(stage: str, done: int, total: int, current: str) -> None:
            nonlocal last_write
            now = time.monotonic()
            write = now - last_write >= self.progress_write_seconds or done >= total
            if write:
                last_write = now
            self._update(job_id, persist=write, progress=IngestProgress(
                stage=stage, done=done, total=total, current=current or None))

        try:
            summary = service.ingest(progress=progress)
        except IngestLockedError as err:
            logger.warning("ingest job %s: the store is locked by another ingest: %s", job_id, err)
            self._finish(job_id, error=JobError(code="ingest_locked", message=str(err) or "another ingest is running"))
        except NewsQAError as err:
            logger.warning("ingest job %s failed: %s", job_id, err)
            self._finish(job_id, error=JobError(code="ingest_error", message=str(err)))
        except Exception:
            logger.exception("ingest job %s failed with an unexpected error", job_id)
            message = f"unexpected error; the server log has the details under job {job_id}"
            self._finish(job_id, error=JobError(code="internal_error", message=message))
        else:
            logger.info("ingest job %s done: %s", job_id, summary.counts())
            self._finish(job_id, summary=summary)

    def _finish(self, job_id: str, **fields: Any) -> None:
        state = "failed" if fields.get("error") is not None else "succeeded"
        if self.on_finish is not None:
            try:
                self.on_finish(fields.get("summary"), fields["error"].code if fields.get("error") else None)
            except Exception:  # noqa: BLE001 - counting a job must never fail it
                logger.exception("ingest job %s: the finish callback failed", job_id)
        self._update(job_id, state=state, done=True, finished_at=_now(), **fields)
        with self._lock:
            if self._active == job_id:
                self._active = None
        self._prune()

    def _update(self, job_id: str, persist: bool = True, **fields: Any) -> None:
        with self._lock:
            job = self._jobs[job_id].model_copy(update=fields)
            self._jobs[job_id] = job
            if persist:
                self._persist(job)

    # --- files shared between workers ---------------------------------------------------------------

    def _path(self, job_id: str) -> Path:
        return self.jobs_dir / f"{job_id}.json"

    def _persist(self, job: IngestJob) -> None:
        """Write the job atomically; a failure to write is logged, never raised (the in-memory state rules)."""
        try:
            if not self.jobs_dir.is_dir():
                self.jobs_dir.mkdir(parents=True, exist_ok=True)
                (self.jobs_dir / ".gitignore").write_text("*\n", encoding="utf-8")
            tmp = self.jobs_dir / f".{job.job_id}.{os.getpid()}.tmp"
            tmp.write_text(json.dumps({"pid": os.getpid(), "job": job.model_dump(mode="json")}), encoding="utf-8")
            os.replace(tmp, self._path(job.job_id))
        except OSError as err:
            logger.warning("cannot write ingest job file for %s: %s", job.job_id, err)

    def _load(self, job_id: str) -> tuple[IngestJob, int] | None:
        try:
            raw = json.loads(self._path(job_id).read_text(encoding="utf-8"))
            return IngestJob.model_validate(raw["job"]), int(raw["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _active_elsewhere(self) -> str | None:
        """A queued/running job of another live process, if any (stale ones are marked interrupted)."""
        if not self.jobs_dir.is_dir():
            return None
        for path in self.jobs_dir.glob("*.json"):
            record = self._load(path.stem)
            if record is None:
                continue
            job, pid = record
            if job.state not in _ACTIVE or pid == os.getpid():
                continue
            if _pid_alive(pid):
                return job.job_id
            self._interrupted(job)
        return None

    def _interrupted(self, job: IngestJob) -> IngestJob:
        message = "the server process running this ingest stopped before it finished"
        job = job.model_copy(
            update={"state": "failed", "done": True, "finished_at": job.finished_at or _now(),
                    "error": JobError(code="interrupted", message=message)}
        )
        self._persist(job)
        return job

    def _prune(self) -> None:
        try:
            files = sorted(self.jobs_dir.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        except OSError:
            return
        for path in files[self.keep :]:
            record = self._load(path.stem)
            if record is not None and record[0].state in _ACTIVE:
                continue
            with contextlib.suppress(OSError):
                path.unlink()
            with self._lock:
                self._jobs.pop(path.stem, None)
