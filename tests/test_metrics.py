"""``GET /metrics`` of the REST app on a real uvicorn server: Prometheus text parsed with prometheus-client's own
parser; counters move with asks, refusals, errors, ingest jobs and LLM failures; the route is protected like the
admin routes once keys are set; two apps in one process keep their own registries."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.rest.app import create_app
from bot.service import build_service
from rag.models import Answer
from rag.service import NewsQA
from tests.conftest import make_settings
from tests.llm_fake import FakeLLM, Reply
from tests.llm_fake.fixtures import MakeService
from tests.rest_support.helpers import HTTP_TIMEOUT, assert_error, settings_for
from tests.rest_support.live import running_server

pytest_plugins = ["tests.llm_fake.fixtures"]

ADMIN_KEY = "metrics-admin-key-3b9f"
API_KEY = "metrics-api-key-7d21"
#: A question about the sample pages (the README's example) and one about nothing in them.
ANSWERABLE = "郏县建成了多少座5G基站？"
OFF_TOPIC = "火星基地第一任站长的名字叫什么？"
JOB_DEADLINE_SECONDS = 240.0

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: httpx.Client, **kwargs: Any) -> Samples:
    """Every sample of ``GET /metrics`` as ``{(name, labels): value}``, parsed by prometheus-client."""
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample ``name`` with exactly ``labels`` (0 when absent: a counter not yet incremented)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


@pytest.fixture()
def open_client(sample_settings: Any, sample_service: NewsQA) -> Iterator[httpx.Client]:
    with running_server(create_app(sample_settings, service=sample_service)) as live, \
            httpx.Client(base_url=live.base_url, timeout=HTTP_TIMEOUT) as client:
        yield client


def test_asks_refusals_and_errors_move_the_counters(open_client: httpx.Client) -> None:
    before = scrape(open_client)
    answers: list[Answer] = []
    for question in (ANSWERABLE, OFF_TOPIC, ANSWERABLE):
        response = open_client.post("/v1/ask", json={"question": question})
        assert response.status_code == 200, response.text
        answers.append(Answer.model_validate(response.json()))
    with open_client.stream("POST", "/v1/ask/stream", json={"question": OFF_TOPIC}) as stream:
        assert stream.status_code == 200
        text = stream.read().decode("utf-8")
    assert "event: done" in text
    streamed_found = '"found":true' in text.split("event: done", 1)[1]
    assert_error(open_client.post("/v1/ask", json={"question": "  "}), 422)
    assert_error(open_client.get("/v1/articles/no-such-article"), 404, "article_not_found")
    assert open_client.get("/no/such/path/1234").status_code == 404
    after = scrape(open_client)

    def moved(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    found = sum(a.found for a in answers) + streamed_found
    assert found >= 1 and 4 - found >= 1, [a.answer for a in answers]  # both results occurred
    assert moved("newsqa_answers_total", result="found") == found
    assert moved("newsqa_answers_total", result="refused") == 4 - found
    assert moved("newsqa_answer_confidence_count") == sum(a.confidence is not None for a in answers) + 1
    assert moved("newsqa_http_requests_total", route="/v1/ask", method="POST", status="200") == 3
    assert moved("newsqa_http_requests_total", route="/v1/ask", method="POST", status="422") == 1
    assert moved("newsqa_http_requests_total", route="/v1/ask/stream", method="POST", status="200") == 1
    assert moved("newsqa_http_requests_total", route="/v1/articles/{article_id}", status="404") == 1
    assert moved("newsqa_http_requests_total", route="<unmatched>", status="404") == 1
    assert moved("newsqa_http_request_duration_seconds_count", route="/v1/ask", method="POST") == 4
    assert not any("no-such-article" in dict(labels).get("route", "") for _, labels in after)
    # the scrape itself was counted by the time of the second scrape
    assert value(after, "newsqa_http_requests_total", route="/metrics", method="GET", status="200") >= 1
    # store gauges and model info of the sample corpus
    assert value(after, "newsqa_store_up") == 1
    assert value(after, "newsqa_store_chunks") > 0 and value(after, "newsqa_store_articles") > 0
    assert value(after, "newsqa_keyword_index_chunks") == value(after, "newsqa_store_chunks")
    assert value(after, "newsqa_keyword_index_lag_seconds") == 0
    info = [dict(ls) for (n, ls) in after if n == "newsqa_model_info"]
    assert len(info) == 1 and info[0]["embedding_model"] and info[0]["llm_model"] == ""


class FailingNewsQA(NewsQA):
    """Test double for the error path: the real service, except that ``ask`` raises."""

    def ask(self, question: str, *args: Any, **kwargs: Any) -> Answer:
        raise RuntimeError("answerer exploded")


def test_server_errors_are_counted_by_status(sample_settings: Any) -> None:
    service = FailingNewsQA(sample_settings)
    try:
        with running_server(create_app(sample_settings, service=service)) as live, \
                httpx.Client(base_url=live.base_url, timeout=HTTP_TIMEOUT) as client:
            assert_error(client.post("/v1/ask", json={"question": ANSWERABLE}), 500, "internal_error")
            samples = scrape(client)
    finally:
        service.close()
    assert value(samples, "newsqa_http_requests_total", route="/v1/ask", method="POST", status="500") == 1
    assert total(samples, "newsqa_answers_total") == 0


def test_metrics_need_the_admin_key_once_keys_are_set(sample_settings: Any, sample_service: NewsQA) -> None:
    keyed = settings_for(sample_settings, api_keys=API_KEY, admin_key=ADMIN_KEY)
    api_only = settings_for(sample_settings, api_keys=API_KEY)
    with running_server(create_app(keyed, service=sample_service)) as live, \
            httpx.Client(base_url=live.base_url, timeout=HTTP_TIMEOUT) as client:
        assert_error(client.get("/metrics"), 401, "missing_admin_key")
        assert_error(client.get("/metrics", headers={"Authorization": f"Bearer {API_KEY}"}), 403, "admin_key_required")
        samples = scrape(client, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        assert value(samples, "newsqa_store_up") == 1
        assert ADMIN_KEY not in client.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).text
    with running_server(create_app(api_only, service=sample_service)) as live, \
            httpx.Client(base_url=live.base_url, timeout=HTTP_TIMEOUT) as client:
        error = assert_error(client.get("/metrics", headers={"Authorization": f"Bearer {API_KEY}"}), 403,
                             "metrics_disabled")
        assert "NEWSQA_ADMIN_KEY" in error["message"]


NEW_PAGE = """## 青龙湖天文台正式启用

本报讯(记者王晓明)1月8日上午,位于平顶山市青龙湖畔的青龙湖天文台正式启用。该天文台由市科技局投资建设,\
主镜口径为1.2米,是全省口径最大的公众天文望远镜。天文台每周六晚向市民免费开放。
"""


def test_ingest_jobs_move_the_ingest_counters_and_store_gauges(
    tmp_path: Path, sample_data_dir: Path, packaged_model_path: str, packaged_embedder: Any
) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(sample_data_dir, data_dir)
    settings = make_settings(data_dir, packaged_model_path, admin_key=ADMIN_KEY, index_refresh_seconds=0)
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    service = build_service(settings, embedder=packaged_embedder)
    try:
        with running_server(create_app(settings, service=service)) as live, \
                httpx.Client(base_url=live.base_url, timeout=HTTP_TIMEOUT, headers=admin) as client:
            assert client.post("/v1/ask", json={"question": ANSWERABLE}).status_code == 200  # opens the index
            before = scrape(client)
            (data_dir / "articles" / "new_page.txt").write_text(NEW_PAGE, encoding="utf-8")
            (data_dir / "articles" / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
            summary = _run_job(client)
            after = scrape(client)
    finally:
        service.close()
    assert summary["files_new"] >= 1 and summary["chunks_added"] >= 1 and summary["files_failed"] >= 1
    assert value(after, "newsqa_ingest_jobs_total", result="succeeded") == 1
    for result in ("new", "failed"):
        assert value(after, "newsqa_ingest_files_total", result=result) == summary[f"files_{result}"]
    assert value(after, "newsqa_ingest_chunks_total", change="added") == summary["chunks_added"]
    assert value(after, "newsqa_ingest_errors_total", kind="file") == summary["files_failed"]
    assert value(after, "newsqa_ingest_duration_seconds_count") == 1
    grown = value(after, "newsqa_store_chunks") - value(before, "newsqa_store_chunks")
    assert grown == summary["chunks_added"] - summary["chunks_removed"]
    assert value(after, "newsqa_keyword_index_chunks") == value(after, "newsqa_store_chunks")
    assert value(after, "newsqa_keyword_index_lag_seconds") == 0  # NewsQA.ingest catches the index up at once
    assert value(after, "newsqa_store_last_ingest_timestamp_seconds") >= time.time() - JOB_DEADLINE_SECONDS
    assert value(after, "newsqa_ingest_running") == 0


def _run_job(client: httpx.Client) -> dict[str, Any]:
    started = client.post("/v1/ingest")
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + JOB_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        job = client.get(started.headers["location"]).json()
        if job["done"]:
            assert job["state"] == "succeeded", job
            return job["summary"]
        time.sleep(0.2)
    raise AssertionError("the ingest job did not finish")


def test_llm_failures_count_calls_and_fallbacks(llm: FakeLLM, make_service: MakeService) -> None:
    service = make_service()
    llm.default("answer", Reply.error(500))
    try:
        with running_server(create_app(service.settings, service=service)) as live, \
                httpx.Client(base_url=live.base_url, timeout=HTTP_TIMEOUT) as client:
            response = client.post("/v1/ask", json={"question": ANSWERABLE})
            assert response.status_code == 200
            samples = scrape(client)
    finally:
        llm.default("answer", None)
    answer = response.json()
    assert answer["mode"] == "extractive" and answer["found"], answer  # the extractive answer after the failure
    assert value(samples, "newsqa_llm_calls_total", purpose="answer", outcome="failed") == 1
    assert value(samples, "newsqa_llm_fallbacks_total", reason="error") == 1
    assert value(samples, "newsqa_answers_total", result="found", mode="extractive") == 1
    info = [dict(ls) for (n, ls) in samples if n == "newsqa_model_info"]
    assert info[0]["llm_model"] == service.settings.llm_model
