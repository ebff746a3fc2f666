"""Ingest over HTTP while questions keep being answered; one ingest at a time; new articles found afterwards.

The server builds its own NewsQA in the lifespan (the production path) over a private copy of the sample corpus.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.rest.app import JOBS_DIR_NAME, create_app
from bot.rest.jobs import IngestJobs
from tests.conftest import SAMPLE_ARTICLES, make_settings
from tests.rest_support.helpers import HTTP_TIMEOUT, assert_error
from tests.rest_support.live import LiveServer, running_server

ADMIN_KEY = "admin-key-for-ingest-tests"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
#: Guards the polling loops against a hung job; no test asserts on durations. Generous, because a loaded 2-core
#: CI machine ingesting beside the queries must not read as a hang.
JOB_DEADLINE_SECONDS = 600.0

NEW_ARTICLE = """## 青龙湖天文台正式启用

本报讯(记者王晓明)1月8日上午,位于平顶山市青龙湖畔的青龙湖天文台正式启用。该天文台由市科技局投资建设,\
主镜口径为1.2米,是全省口径最大的公众天文望远镜。天文台台长李星河介绍,天文台每周六晚向市民免费开放,\
全年计划接待中小学生研学活动200场次。
"""

SECOND_ARTICLE = """## 白鹭洲湿地公园新增观鸟长廊

本报讯(记者王晓明)1月9日,白鹭洲湿地公园新建的观鸟长廊建成开放,长廊全长860米,沿线设置观鸟屋6座、\
科普展板40块。据介绍,今冬已有灰鹤、东方白鹳等37种候鸟在白鹭洲湿地越冬。
"""


@pytest.fixture(scope="module")
def ingest_server(tmp_path_factory: pytest.TempPathFactory, packaged_model_path: str) -> Iterator[tuple[LiveServer, Path]]:
    data_dir = tmp_path_factory.mktemp("ingest") / "data"
    shutil.copytree(SAMPLE_ARTICLES, data_dir / "articles")
    settings = make_settings(data_dir, packaged_model_path, admin_key=ADMIN_KEY, index_refresh_seconds=0)
    with running_server(create_app(settings)) as live:
        yield live, data_dir / "articles"


def wait_for_job(client: httpx.Client, job_id: str, while_waiting: Any = None) -> tuple[dict[str, Any], int]:
    """Poll the job until it is done, calling ``while_waiting()`` between polls; returns (job, polls)."""
    deadline = time.monotonic() + JOB_DEADLINE_SECONDS
    polls = 0
    while True:
        response = client.get(f"/v1/ingest/{job_id}", headers=ADMIN)
        assert response.status_code == 200, response.text
        job = response.json()
        if job["done"]:
            return job, polls
        assert job["state"] in ("queued", "running")
        assert time.monotonic() < deadline, f"ingest job did not finish: {job}"
        polls += 1
        if while_waiting is not None:
            while_waiting()


def test_ingest_while_querying(ingest_server: tuple[LiveServer, Path]) -> None:
    live, articles = ingest_server
    with httpx.Client(base_url=live.base_url, timeout=HTTP_TIMEOUT) as client:
        assert client.get("/readyz").json()["files"] == 0  # nothing ingested yet
        (articles / "005_qinglonghu.txt").write_text(NEW_ARTICLE, encoding="utf-8")

        started = client.post("/v1/ingest", headers=ADMIN)
        assert started.status_code == 202, started.text
        job = started.json()
        assert job["state"] in ("queued", "running") and job["done"] is False
        assert started.headers["location"] == f"/v1/ingest/{job['job_id']}"

        # one ingest at a time (the first one embeds the whole corpus, so it is certainly still running)
        conflict = client.post("/v1/ingest", headers=ADMIN)
        error = assert_error(conflict, 409, "ingest_running")
        assert job["job_id"] in error["message"]
        assert conflict.headers["location"] == f"/v1/ingest/{job['job_id']}"
        assert client.get("/readyz").json()["ingest_running"] is True

        answered: list[int] = []

        def query() -> None:
            # Until the first batch is written the archive is empty: a 503 saying to ingest, never another error.
            ask = client.post("/v1/ask", json={"question": "青龙湖天文台的台长是谁？"})
            assert ask.status_code == 200 or assert_error(ask, 503, "store_empty"), ask.text
            search = client.get("/v1/search", params={"q": "专精特新"})
            assert search.status_code == 200 or assert_error(search, 503, "store_empty"), search.text
            assert client.get("/readyz").status_code == 200
            answered.append(1)

        query()
        done, _ = wait_for_job(client, job["job_id"], query)
        assert answered

        assert done["state"] == "succeeded", done
        assert done["error"] is None and done["finished_at"] and done["started_at"]
        summary = done["summary"]
        assert summary["files_new"] == 6 and summary["files_failed"] == 0 and summary["failures"] == {}
        assert summary["chunks_added"] > 0
        assert done["progress"] == {"stage": "index", "done": 1, "total": 1, "current": None}  # the last stage

        hits = client.get("/v1/search", params={"q": "青龙湖天文台", "top_k": 3}).json()["hits"]
        assert hits[0]["source"] == "005_qinglonghu.txt"
        answer = client.post("/v1/ask", json={"question": "青龙湖天文台的台长是谁？"}).json()
        assert answer["found"] is True, answer
        assert "005_qinglonghu.txt" in {c["source"] for c in answer["citations"]}
        ready = client.get("/readyz").json()
        assert ready["files"] == 6 and ready["ingest_running"] is False

        # incremental: one more article, only it is new
        (articles / "006_bailuzhou.txt").write_text(SECOND_ARTICLE, encoding="utf-8")
        second = client.post("/v1/ingest", headers=ADMIN)
        assert second.status_code == 202, second.text
        done, _ = wait_for_job(client, second.json()["job_id"])
        assert done["state"] == "succeeded", done
        assert done["summary"]["files_new"] == 1 and done["summary"]["files_unchanged"] == 6
        hits = client.get("/v1/search", params={"q": "白鹭洲湿地观鸟长廊", "top_k": 3}).json()["hits"]
        assert hits[0]["source"] == "006_bailuzhou.txt"

        # the first job is still reported
        again = client.get(f"/v1/ingest/{job['job_id']}", headers=ADMIN).json()
        assert again["state"] == "succeeded" and again["summary"]["files_new"] == 6


def test_unknown_and_malformed_job_ids(ingest_server: tuple[LiveServer, Path]) -> None:
    live, _ = ingest_server
    with httpx.Client(base_url=live.base_url, timeout=HTTP_TIMEOUT) as client:
        assert_error(client.get("/v1/ingest/" + "f" * 32, headers=ADMIN), 404, "job_not_found", "job_id")
        assert_error(client.get("/v1/ingest/../../etc", headers=ADMIN), 404)
        assert_error(client.get("/v1/ingest/not-a-job", headers=ADMIN), 422, "validation_error", "job_id")


def test_jobs_are_shared_with_other_workers(ingest_server: tuple[LiveServer, Path]) -> None:
    """Job files under the data dir let every worker report a job and refuse a second ingest; a job left
    'running' by a process that died is reported as interrupted."""
    live, articles = ingest_server
    jobs_dir = articles.parent / JOBS_DIR_NAME
    with httpx.Client(base_url=live.base_url, timeout=HTTP_TIMEOUT) as client:
        started = client.post("/v1/ingest", headers=ADMIN)
        assert started.status_code == 202, started.text
        job_id = started.json()["job_id"]
        done, _ = wait_for_job(client, job_id)
        assert done["state"] == "succeeded"
        # another worker (another IngestJobs over the same folder) sees the same job
        assert IngestJobs(jobs_dir).get(job_id).model_dump(mode="json") == done  # type: ignore[union-attr]

        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        stale = {"job_id": "a" * 32, "state": "running", "done": False, "created_at": "2024-01-05T08:00:00.000Z"}
        (jobs_dir / f"{'a' * 32}.json").write_text(json.dumps({"pid": dead.pid, "job": stale}), encoding="utf-8")
        reported = client.get(f"/v1/ingest/{'a' * 32}", headers=ADMIN).json()
        assert reported["state"] == "failed" and reported["done"] is True
        assert reported["error"]["code"] == "interrupted"

        alive = {**stale, "job_id": "b" * 32}
        other_worker = jobs_dir / f"{'b' * 32}.json"
        other_worker.write_text(json.dumps({"pid": os.getppid(), "job": alive}), encoding="utf-8")
        try:
            conflict = client.post("/v1/ingest", headers=ADMIN)
            error = assert_error(conflict, 409, "ingest_running")
            assert "b" * 32 in error["message"]
        finally:
            other_worker.unlink()
        assert (jobs_dir / ".gitignore").read_text() == "*\n"
