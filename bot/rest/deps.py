"""FastAPI dependencies shared by the routers: the process-wide :class:`NewsQA` and the ingest job manager."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from bot.rest.errors import ApiError
from bot.rest.jobs import IngestJobs
from rag.service import NewsQA


def get_service(request: Request) -> NewsQA:
    """The service built at startup. Raises ApiError 503 when it could not be built (the reason is in the body)."""
    service = getattr(request.app.state, "newsqa", None)
    if service is None:
        reason = getattr(request.app.state, "startup_error", None) or "the service is not started"
        raise ApiError(503, "service_unavailable", f"service unavailable: {reason}")
    return service


def get_jobs(request: Request) -> IngestJobs:
    """The ingest job manager of this process."""
    jobs: IngestJobs = request.app.state.ingest_jobs
    return jobs


#: ``service: Service`` in a route signature injects the process-wide NewsQA (503 when unavailable).
Service = Annotated[NewsQA, Depends(get_service)]
#: ``jobs: Jobs`` in a route signature injects the ingest job manager.
Jobs = Annotated[IngestJobs, Depends(get_jobs)]
