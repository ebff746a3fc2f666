"""Prometheus metrics of the REST process: ``GET /metrics`` (text exposition format, official ``prometheus-client``).

Every app built by :func:`bot.rest.app.create_app` owns a :class:`RestMetrics` with its own
:class:`prometheus_client.CollectorRegistry` (no import-time global registry, so a process or a test can hold several
apps). What it exports (all names start with ``newsqa_``; docs/monitoring.md lists them with their labels):

* **HTTP** (:class:`HttpMetricsMiddleware`, outermost ASGI middleware): ``http_requests_total`` by route template,
  method and status, ``http_request_duration_seconds`` (histogram, until the last body byte; a streamed answer counts
  whole) by route and method, ``http_requests_in_progress``.
* **Answers** (:meth:`RestMetrics.observe_answer`, called by ``/v1/ask``, ``/v1/ask/stream`` and
  ``/v1/chat/completions``): ``answers_total`` by result (``found``/``refused``) and mode (``extractive``/``llm``),
  ``answer_confidence`` (histogram of the answer selector's calibrated probability, by result).
* **LLM** (read at scrape time from the core's :class:`rag.answering.generate.Responder`): ``llm_calls_total`` by
  purpose (``answer``/``rewrite``) and outcome (``ok``/``failed``), ``llm_fallbacks_total`` by reason.
* **Ingest** (:meth:`RestMetrics.observe_ingest`, the REST ingest jobs of this process only; an ingest run by
  ``newsqa ingest`` in another process shows in the store gauges and ``store_last_ingest_timestamp_seconds``):
  ``ingest_jobs_total`` by result, ``ingest_files_total`` by result, ``ingest_chunks_total`` by change,
  ``ingest_errors_total`` by kind, ``ingest_duration_seconds``, ``ingest_running``.
* **Store and index** (gauges read at scrape time: three record counts and the state record, a few ms):
  ``store_up``, ``store_chunks``, ``store_articles``, ``store_files``, ``store_last_ingest_timestamp_seconds``,
  ``keyword_index_chunks``, ``keyword_index_lag_seconds`` (0 when the keyword index holds the store's current
  version, else the seconds since the ingest it has not caught up with), ``model_info``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.errors import NewsQAError
from rag.models import Answer, IngestSummary
from rag.settings import Settings

log = logging.getLogger("newsqa.metrics")

#: The media type of ``GET /metrics`` (Prometheus text format 0.0.4).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Request latency buckets in seconds: a cached answer takes ~0.05 s, a cold or LLM answer seconds, an SSE stream more.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: Confidence buckets (a probability; the refusal threshold of the answer selector lies in 0.2..0.6).
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
#: Ingest duration buckets in seconds (a day's pages take seconds to minutes, a rebuild hours).
INGEST_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0)
#: Methods kept as label values; anything else is counted as ``other`` (bounded label sets).
_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"})
#: Route label of a request that matched no route (404s of arbitrary paths must not create series).
UNMATCHED = "<unmatched>"


class RestMetrics:
    """The metrics of one REST app: its own registry, the metric objects, and the scrape-time collector.

    ``app_state`` is the app's ``app.state`` (its ``newsqa`` service and ``ingest_jobs`` are read at scrape time).
    """

    def __init__(self, settings: Settings, app_state: Any) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.http_requests = Counter("newsqa_http_requests", "HTTP requests by route template, method and status.",
                                     ["route", "method", "status"], registry=reg)
        self.http_latency = Histogram("newsqa_http_request_duration_seconds",
                                      "HTTP request duration until the last byte of the response, seconds.",
                                      ["route", "method"], buckets=LATENCY_BUCKETS, registry=reg)
        self.http_in_progress = Gauge("newsqa_http_requests_in_progress", "HTTP requests being served.",
                                      registry=reg)
        self.answers = Counter("newsqa_answers", "Answers given, by result (found, refused) and mode.",
                               ["result", "mode"], registry=reg)
        self.confidence = Histogram("newsqa_answer_confidence",
                                    "Calibrated probability of the answer selector that the answer is right.",
                                    ["result"], buckets=CONFIDENCE_BUCKETS, registry=reg)
        self.ingest_jobs = Counter("newsqa_ingest_jobs", "REST ingest jobs finished, by result.", ["result"],
                                   registry=reg)
        self.ingest_files = Counter("newsqa_ingest_files", "Files seen by REST ingest jobs, by result.", ["result"],
                                    registry=reg)
        self.ingest_chunks = Counter("newsqa_ingest_chunks", "Chunks changed by REST ingest jobs.", ["change"],
                                     registry=reg)
        self.ingest_errors = Counter("newsqa_ingest_errors",
                                     "Ingest errors: failed files (kind=file) and failed jobs (kind=error code).",
                                     ["kind"], registry=reg)
        self.ingest_seconds = Histogram("newsqa_ingest_duration_seconds", "Duration of REST ingest jobs, seconds.",
                                        buckets=INGEST_BUCKETS, registry=reg)
        reg.register(ServiceCollector(settings, app_state))
        for result in ("found", "refused"):  # the series exist from the start: rate() needs no first event
            for mode in ("extractive", "llm"):
                self.answers.labels(result, mode)

    def observe_answer(self, answer: Answer) -> None:
        """Count one answer given to a client (found or refused) and its confidence when it has one."""
        result = "found" if answer.found else "refused"
        self.answers.labels(result, answer.mode).inc()
        if answer.confidence is not None:
            self.confidence.labels(result).observe(answer.confidence)

    def observe_ingest(self, summary: IngestSummary | None, error_code: str | None) -> None:
        """Count one finished ingest job: its ``summary`` when it succeeded, else its ``error_code``."""
        if summary is None:
            self.ingest_jobs.labels("failed").inc()
            self.ingest_errors.labels(error_code or "unknown").inc()
            return
        self.ingest_jobs.labels("succeeded").inc()
        for result in ("new", "changed", "unchanged", "removed", "failed", "skipped"):
            count = getattr(summary, f"files_{result}")
            if count:
                self.ingest_files.labels(result).inc(count)
        for change in ("added", "removed", "embedded", "cached"):
            count = getattr(summary, f"chunks_{change}")
            if count:
                self.ingest_chunks.labels(change).inc(count)
        if summary.files_failed:
            self.ingest_errors.labels("file").inc(summary.files_failed)
        self.ingest_seconds.observe(summary.seconds)

    def render(self) -> bytes:
        """The registry in the Prometheus text format (blocking: reads the store; call it in a worker thread)."""
        return generate_latest(self.registry)


def observe_answer(app_state: Any, answer: Answer) -> None:
    """:meth:`RestMetrics.observe_answer` on ``app_state.metrics`` when the app has metrics (a no-op otherwise)."""
    metrics = getattr(app_state, "metrics", None)
    if isinstance(metrics, RestMetrics):
        metrics.observe_answer(answer)


def _iso_timestamp(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class ServiceCollector(Collector):
    """Scrape-time metrics of the service behind an app: store counts and state, keyword index, model, LLM use.

    A store that cannot be read gives ``newsqa_store_up 0`` and no store gauges (never a failed scrape).
    """

    def __init__(self, settings: Settings, app_state: Any) -> None:
        self.settings = settings
        self.app_state = app_state

    def describe(self) -> Iterable[Metric]:
        return []  # collected on demand: no description at registration (it would read the store)

    def collect(self) -> Iterator[Metric]:
        service = getattr(self.app_state, "newsqa", None)
        jobs = getattr(self.app_state, "ingest_jobs", None)
        yield GaugeMetricFamily("newsqa_ingest_running", "1 while a REST ingest job of this process runs.",
                                value=1.0 if jobs is not None and jobs.running else 0.0)
        up = GaugeMetricFamily("newsqa_store_up", "1 when the store answered this scrape, else 0.")
        state: dict[str, Any] = {}
        if service is None:
            up.add_metric([], 0.0)
            yield up
            yield self._model_info(state)
            return
        try:
            counts, state = service.store.counts(), service.store.state()
        except (NewsQAError, Exception) as err:  # noqa: BLE001 - a scrape reports the store as down, never fails
            log.warning("metrics: cannot read the store: %s", type(err).__name__)
            up.add_metric([], 0.0)
            yield up
            yield self._model_info(state)
            return
        up.add_metric([], 1.0)
        yield up
        for name in ("chunks", "articles", "files"):
            yield GaugeMetricFamily(f"newsqa_store_{name}", f"{name.capitalize()} in the store.",
                                    value=float(counts[name]))
        last = _iso_timestamp(state.get("last_ingest"))
        if last is not None:
            yield GaugeMetricFamily("newsqa_store_last_ingest_timestamp_seconds",
                                    "Unix time of the last completed ingest (any process).", value=last)
        yield from self._keyword_index(service, state, last)
        yield self._model_info(state)
        yield from self._llm(service)

    def _model_info(self, state: dict[str, Any]) -> Metric:
        info = InfoMetricFamily("newsqa_model", "Embedding model of the store and configured LLM model.")
        info.add_metric([], {
            "embedding_model": str(state.get("embedding_model") or self.settings.embedding_model or ""),
            "dimension": str(state.get("dimension") or ""),
            "llm_model": str(self.settings.llm_model or "") if self.settings.llm_enabled else "",
        })
        return info

    @staticmethod
    def _keyword_index(service: Any, state: dict[str, Any], last_ingest: float | None) -> Iterator[Metric]:
        index = service.keyword_index.loaded
        if index is None:
            return  # not opened yet (before warm-up or the first question)
        yield GaugeMetricFamily("newsqa_keyword_index_chunks", "Chunks in this process's keyword index.",
                                value=float(index.n_docs))
        behind = index.version != state.get("version")
        lag = max(0.0, time.time() - last_ingest) if behind and last_ingest is not None else 0.0
        yield GaugeMetricFamily(
            "newsqa_keyword_index_lag_seconds",
            "0 when the keyword index holds the store's current version, else seconds since that ingest finished.",
            value=lag)

    @staticmethod
    def _llm(service: Any) -> Iterator[Metric]:
        counts = service.responder.llm_counts()
        calls = CounterMetricFamily("newsqa_llm_calls", "LLM calls (after retries), by purpose and outcome.",
                                    labels=["purpose", "outcome"])
        fallbacks = CounterMetricFamily("newsqa_llm_fallbacks",
                                        "Answers given extractively although an LLM is configured, by reason.",
                                        labels=["reason"])
        for key, value in sorted(counts.items()):
            kind, _, rest = key.partition(":")
            if kind == "call":
                purpose, _, outcome = rest.partition(":")
                calls.add_metric([purpose, outcome], float(value))
            elif kind == "fallback":
                fallbacks.add_metric([rest], float(value))
        yield calls
        yield fallbacks


def route_template(scope: Scope) -> str:
    """The route a served request matched, as a template (``/v1/articles/{article_id}``), from the scope the router
    filled in: FastAPI (0.165) gives the route of an included router without the router's prefix, so the prefix is
    taken from the request path (prefixes here are literal: ``/v1``). A mounted app (``/static``) gives
    ``<mount>/{path}``; a request that matched nothing :data:`UNMATCHED`."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(template, str) and template.startswith("/"):
        depth = template.rstrip("/").count("/")
        parts = scope.get("path", "").rstrip("/").split("/")
        prefix = "/".join(parts[: max(1, len(parts) - depth)])
        return prefix + template if prefix else template
    mount = scope.get("root_path")
    if scope.get("app_root_path") is not None and isinstance(mount, str) and mount:
        return f"{mount}/{{path}}"
    return UNMATCHED


class HttpMetricsMiddleware:
    """Pure ASGI middleware counting every HTTP request by route template (``/v1/articles/{article_id}``, not the
    path), method and status, with its duration until the response's last byte (or the app's return)."""

    def __init__(self, app: ASGIApp, metrics: RestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = "none"  # the client went away before any response

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            await send(message)

        metrics = self.metrics
        metrics.http_in_progress.inc()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            metrics.http_in_progress.dec()
            method = scope.get("method", "")
            method = method if method in _METHODS else "other"
            route = route_template(scope)
            metrics.http_requests.labels(route, method, status).inc()
            metrics.http_latency.labels(route, method).observe(time.perf_counter() - started)
