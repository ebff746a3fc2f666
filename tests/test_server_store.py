"""The Chroma server store: several processes (CLI, REST workers, bot) sharing one real ``chroma run`` server.

The server is a real ``chroma run`` subprocess on 127.0.0.1: the one ``.ci/run`` started (``NEWSQA_TEST_CHROMA_PORT``)
or, when not given one, one started here for the module. The outage test always runs its own private server, since
it stops and restarts it. Every test uses its own collection. Nothing asserts on durations: "visible within the
refresh bound" is checked by polling with a bounded wait.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from typer.testing import CliRunner

from bot.cli import app as cli_app
from bot.rest.app import create_app
from bot.service import build_service
from bot.telegram import build_bot, texts
from ingest.locks import IngestLease
from rag.errors import IngestLockedError, StoreUnavailableError
from rag.store.store import Store
from tests.conftest import ROOT, SAMPLE_ARTICLES, SERVER_PORT, make_settings
from tests.rest_support.helpers import HTTP_TIMEOUT, assert_error
from tests.rest_support.live import running_server
from tests.telegram_fake import FakeTelegram, RunningBot

PAGE_A, PAGE_B = "000_a17aea0bf2d75ea6.txt", "001_9560272fe25c5dcf.txt"
QUESTION_A, GOLD_A = "郏县建成了多少座5G基站？", "120"
NEW_QUESTION, NEW_GOLD = "郏县智慧图书馆藏书多少册？", "58000册"
NEW_ARTICLE = textwrap.dedent(
    """\
    郏县新建智慧图书馆

    本报讯(记者李明)日前,郏县智慧图书馆正式开馆,馆内藏书达到58000册,设有阅览座位420个。

    该馆由县文化广电和旅游局建设,总投资2600万元。
    """
)
#: Upper bound of every polling loop below (seconds): only stops a hung test, never asserted on.
WAIT_SECONDS = 120.0
#: Index refresh interval (s) given to the servers under test: "visible within the bound" = within this plus one
#: BM25 rebuild; the polls allow far more (WAIT_SECONDS) so that a slow CI machine never fails a correct build.
REFRESH_SECONDS = 1.0

T = TypeVar("T")


# --- a real `chroma run` -------------------------------------------------------------------------------------------


def free_port() -> int:
    """A port of 127.0.0.1 that nobody listened on a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], T | None], what: str, timeout: float = WAIT_SECONDS, every: float = 0.2) -> T:
    """Poll ``predicate`` until it returns a truthy value (returned) or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


class ChromaServer:
    """``chroma run --path <path> --host 127.0.0.1 --port <port>`` as a subprocess; restartable on the same port."""

    def __init__(self, path: Path, port: int | None = None) -> None:
        self.path = path
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = path.parent / f"chroma-{self.port}.log"

    def _alive(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/api/v2/heartbeat", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def start(self) -> ChromaServer:
        """Start the server; returns once it answers its heartbeat."""
        chroma = Path(sys.executable).with_name("chroma")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(chroma), "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        process = self.process
        wait_for(lambda: self._alive() or process.poll() is not None, "chroma run to start", timeout=90)
        assert process.poll() is None, self.log.read_text(errors="replace")[-2000:]
        return self

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 30 s) and wait until its port refuses connections."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
        wait_for(lambda: not self._alive(), "chroma run to stop", timeout=30)


@pytest.fixture(scope="module")
def chroma_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The port of the shared test Chroma server: CI's (NEWSQA_TEST_CHROMA_PORT) or one started for this module."""
    if SERVER_PORT is not None:
        yield SERVER_PORT
        return
    server = ChromaServer(tmp_path_factory.mktemp("chroma") / "db").start()
    try:
        yield server.port
    finally:
        server.stop()


def server_settings(data_dir: Path, model: str, port: int, collection: str, **overrides: object) -> Any:
    """Settings of one "machine": its own data dir, the shared server store ``collection`` on ``port``."""
    return make_settings(
        data_dir, model, chroma_host="127.0.0.1", chroma_port=port, collection=collection, **overrides
    )


def server_env(data_dir: Path, model: str, port: int, collection: str, **extra: str) -> dict[str, str]:
    """The environment of a ``newsqa`` subprocess on that "machine" (everything through NEWSQA_* variables)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSQA_")}
    env.update(
        NEWSQA_DATA_DIR=str(data_dir), NEWSQA_EMBEDDING_MODEL=model, NEWSQA_CHROMA_HOST="127.0.0.1",
        NEWSQA_CHROMA_PORT=str(port), NEWSQA_COLLECTION=collection, PYTHONPATH=str(ROOT),
        HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", **extra,
    )
    return env


def new_collection() -> str:
    return "srv" + uuid.uuid4().hex[:16]


def machine(tmp_path: Path, name: str, pages: tuple[str, ...] = ()) -> Path:
    """A data dir for one "machine" holding copies of ``pages`` in its articles folder."""
    data_dir = tmp_path / name
    (data_dir / "articles").mkdir(parents=True)
    for page in pages:
        shutil.copy(SAMPLE_ARTICLES / page, data_dir / "articles" / page)
    return data_dir


# --- one process ingests, others answer ----------------------------------------------------------------------------


def test_ingest_in_one_process_query_from_another_that_never_ingested(
    tmp_path: Path, chroma_port: int, packaged_model_path: str, packaged_embedder: Any
) -> None:
    collection = new_collection()
    ingester = machine(tmp_path, "ingester", (PAGE_A, PAGE_B))
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "ingest", "--json"], cwd=tmp_path, capture_output=True, text=True,
        env=server_env(ingester, packaged_model_path, chroma_port, collection), timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["files_new"] == 2 and summary["chunks_added"] > 0
    assert not (ingester / "store").exists()  # nothing local: the server holds everything

    # this test process never ingested; its data dir has no articles and no store
    reader = machine(tmp_path, "reader")
    service = build_service(server_settings(reader, packaged_model_path, chroma_port, collection), embedder=packaged_embedder)
    answer = service.ask(QUESTION_A)
    assert answer.found and GOLD_A in answer.answer, answer
    assert answer.citations[0].source == PAGE_A
    stats = service.stats()
    assert (stats.files, stats.chunks) == (2, summary["chunks_added"])
    article = service.get_article(answer.citations[0].article_id)
    assert article is not None and article.source == PAGE_A
    assert not (reader / "store").exists()

    # the manifest lives with the collection: a third machine with the same files has nothing to embed
    third = machine(tmp_path, "third", (PAGE_A, PAGE_B))
    again = build_service(server_settings(third, packaged_model_path, chroma_port, collection), embedder=packaged_embedder)
    repeat = again.ingest()
    assert (repeat.files_unchanged, repeat.files_new, repeat.chunks_embedded) == (2, 0, 0)
    service.close()
    again.close()


def test_rebuild_from_another_process_is_picked_up_by_a_running_service(
    tmp_path: Path, chroma_port: int, packaged_model_path: str, packaged_embedder: Any
) -> None:
    """``ingest --rebuild`` drops and recreates the collections; a service holding the old ones reopens them."""
    collection = new_collection()
    first = machine(tmp_path, "first", (PAGE_A,))
    writer = build_service(server_settings(first, packaged_model_path, chroma_port, collection, index_refresh_seconds=0),
                    embedder=packaged_embedder)
    writer.ingest()
    reader = build_service(server_settings(machine(tmp_path, "reader"), packaged_model_path, chroma_port, collection,
                                    index_refresh_seconds=0), embedder=packaged_embedder)
    assert reader.ask(QUESTION_A).found
    (first / "articles" / "new.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    rebuilt = writer.ingest(rebuild=True)
    assert rebuilt.files_new == 2
    answer = reader.ask(NEW_QUESTION)
    assert answer.found and NEW_GOLD in answer.answer, answer
    assert reader.stats().files == 2
    writer.close()
    reader.close()


# --- N REST workers see a new ingest within the refresh bound ------------------------------------------------------


def test_serve_workers_answer_consistently_and_see_a_new_ingest(
    tmp_path: Path, chroma_port: int, packaged_model_path: str, packaged_embedder: Any
) -> None:
    """``newsqa serve --workers 2`` (real uvicorn worker processes) over the server store; another process ingests
    a new article; every worker answers from it once the refresh interval has passed, without a restart."""
    collection = new_collection()
    ingester = machine(tmp_path, "ingester", (PAGE_A,))
    writer = build_service(server_settings(ingester, packaged_model_path, chroma_port, collection), embedder=packaged_embedder)
    writer.ingest()

    port = free_port()
    env = server_env(machine(tmp_path, "api"), packaged_model_path, chroma_port, collection,
                     NEWSQA_INDEX_REFRESH_SECONDS=str(REFRESH_SECONDS), NEWSQA_LOG_LEVEL="WARNING")
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--port", str(port), "--workers", "2"],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=HTTP_TIMEOUT) as client:

            def ready() -> bool:
                assert server.poll() is None, log_path.read_text()
                try:
                    return client.get("/readyz").status_code == 200
                except httpx.TransportError:
                    return False

            wait_for(ready, "newsqa serve --workers 2 to be ready", timeout=300)

            def ask(question: str) -> dict[str, Any]:
                response = client.post("/v1/ask", json={"question": question})
                assert response.status_code == 200, response.text
                return dict(response.json())

            before = [ask(QUESTION_A) for _ in range(8)]
            assert all(b["found"] and GOLD_A in b["answer"] for b in before)
            assert len({b["answer"] for b in before}) == 1  # every worker answers the same
            assert not any(NEW_GOLD in ask(NEW_QUESTION)["answer"] for _ in range(4))

            (ingester / "articles" / "new.txt").write_text(NEW_ARTICLE, encoding="utf-8")
            assert writer.ingest().files_new == 1

            # Poll until 12 answers in a row come from the new article: with requests spread over both workers,
            # that needs every worker to have refreshed. The bound is WAIT_SECONDS, far above REFRESH_SECONDS.
            streak = {"n": 0}

            def all_workers_see_it() -> bool:
                answer = ask(NEW_QUESTION)
                new = answer["found"] and NEW_GOLD in answer["answer"]
                streak["n"] = streak["n"] + 1 if new else 0
                return streak["n"] >= 12

            wait_for(all_workers_see_it, "every worker to answer from the new article", every=0.05)
            after = [ask(NEW_QUESTION) for _ in range(8)]
            assert len({(a["answer"], a["citations"][0]["source"]) for a in after}) == 1
            assert after[0]["citations"][0]["source"] == "new.txt"
            assert all(client.get("/readyz").json()["files"] == 2 for _ in range(6))
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        writer.close()


# --- the server goes away and comes back ---------------------------------------------------------------------------


@pytest.fixture()
def private_chroma(tmp_path: Path) -> Iterator[ChromaServer]:
    """A Chroma server only this test uses (it is stopped and restarted)."""
    server = ChromaServer(tmp_path / "private-chroma").start()
    try:
        yield server
    finally:
        server.stop()


def test_server_outage_gives_clear_errors_and_everything_recovers(
    tmp_path: Path, private_chroma: ChromaServer, packaged_model_path: str, packaged_embedder: Any,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    token = "chroma-token-never-logged-7f3a"
    collection = new_collection()
    data_dir = machine(tmp_path, "api", (PAGE_A,))
    settings = server_settings(data_dir, packaged_model_path, private_chroma.port, collection,
                               chroma_token=token, index_refresh_seconds=0)
    build_service(settings, embedder=packaged_embedder).ingest()
    service = build_service(settings, embedder=packaged_embedder)
    where = f"127.0.0.1:{private_chroma.port}"
    monkeypatch.chdir(tmp_path)  # the CLI reads no developer .env
    for key, value in server_env(data_dir, packaged_model_path, private_chroma.port, collection).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("NEWSQA_CHROMA_TOKEN", token)

    with running_server(create_app(settings, service=service)) as live, FakeTelegram() as telegram, httpx.Client(
        base_url=live.base_url, timeout=HTTP_TIMEOUT
    ) as api:
        bot_settings = make_settings(tmp_path, packaged_model_path, telegram_token=telegram.token,
                                     telegram_base_url=telegram.base_url)
        bot = RunningBot(build_bot(bot_settings, service), telegram).start()
        try:
            ok = api.post("/v1/ask", json={"question": QUESTION_A})
            assert ok.status_code == 200 and ok.json()["found"], ok.text

            private_chroma.stop()

            # REST: 503 JSON naming the server and the reason, with Retry-After; /readyz says not ready
            down = api.post("/v1/ask", json={"question": QUESTION_A})
            error = assert_error(down, 503, "store_unavailable")
            assert where in error["message"] and "connection refused" in error["message"], error
            assert down.headers["retry-after"].isdigit()
            assert_error(api.get("/v1/search", params={"q": "5G基站"}), 503, "store_unavailable")
            assert_error(api.get("/readyz"), 503, "store_unavailable")
            # CLI: one clear error, exit 1, no traceback
            result = CliRunner().invoke(cli_app, ["ask", QUESTION_A])
            assert result.exit_code == 1
            message = " ".join(result.stderr.split())
            assert message.startswith("error:") and where in message and "connection refused" in message, message
            assert "Traceback" not in result.output and "make chroma" in message
            # bot: a short apology, no details
            question = telegram.send_text(QUESTION_A, user_id=501)
            assert telegram.wait_reply(question).visible == texts.APOLOGY

            private_chroma.start()  # same path, same port: the data is still there

            def recovered() -> dict[str, Any] | None:
                response = api.post("/v1/ask", json={"question": QUESTION_A})
                return dict(response.json()) if response.status_code == 200 else None

            answer = wait_for(recovered, "the REST API to answer again")
            assert answer["found"] and GOLD_A in answer["answer"]
            assert api.get("/readyz").json()["files"] == 1
            question = telegram.send_text(QUESTION_A, user_id=502)
            assert GOLD_A in telegram.wait_reply(question).visible
            result = CliRunner().invoke(cli_app, ["ask", QUESTION_A, "--json"])
            assert result.exit_code == 0, result.output
            assert json.loads(result.stdout)["found"] is True
        finally:
            bot.stop()
    service.close()
    assert token not in caplog.text
    assert "Cannot send a request" not in caplog.text  # no confusing errors of a closed client


def test_api_started_while_the_server_is_down_becomes_ready_when_it_is_up(
    tmp_path: Path, private_chroma: ChromaServer, packaged_model_path: str, packaged_embedder: Any
) -> None:
    collection = new_collection()
    settings = server_settings(machine(tmp_path, "api"), packaged_model_path, private_chroma.port, collection)
    private_chroma.stop()
    service = build_service(settings, embedder=packaged_embedder)
    with running_server(create_app(settings, service=service)) as live, httpx.Client(
        base_url=live.base_url, timeout=HTTP_TIMEOUT
    ) as api:
        error = assert_error(api.get("/readyz"), 503, "store_unavailable")
        assert "connection refused" in error["message"]
        assert_error(api.post("/v1/ask", json={"question": QUESTION_A}), 503, "store_unavailable")
        private_chroma.start()
        wait_for(lambda: api.get("/readyz").status_code == 200, "/readyz to turn 200")
        error = assert_error(api.post("/v1/ask", json={"question": QUESTION_A}), 503, "store_empty")
        assert "newsqa ingest" in error["message"]  # an empty store: says how to fill it
    service.close()


def test_unreachable_server_error_names_it_and_never_the_token(packaged_model_path: str, tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = "tok-0d4c-secret"
    settings = server_settings(tmp_path, packaged_model_path, free_port(), new_collection(), chroma_token=token)
    with pytest.raises(StoreUnavailableError) as raised:
        Store(settings)
    message = str(raised.value)
    assert f"Chroma server 127.0.0.1:{settings.chroma_port}" in message and "connection refused" in message
    assert token not in message and token not in caplog.text


# --- the ingest lock lives with the collection ---------------------------------------------------------------------

HOLDER = textwrap.dedent(
    """\
    import sys
    from pathlib import Path
    from ingest.locks import IngestLease
    from rag.settings import Settings
    from rag.store.store import Store

    data_dir, port, collection, ttl, renew = sys.argv[1:6]
    settings = Settings(_env_file=None, data_dir=Path(data_dir), chroma_host="127.0.0.1", chroma_port=int(port),
                        collection=collection)
    lease = IngestLease(Store(settings), ttl_seconds=float(ttl), renew_seconds=float(renew))
    lease.acquire()
    print("held", flush=True)
    sys.stdin.read()  # until the test closes our stdin
    lease.release()
    print("released", flush=True)
    """
)


def _holder(data_dir: Path, port: int, collection: str, ttl: float, renew: float) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir), str(port), collection, str(ttl), str(renew)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_ingest_lock_is_shared_between_processes(
    tmp_path: Path, chroma_port: int, packaged_model_path: str, packaged_embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    collection = new_collection()
    data_dir = machine(tmp_path, "m1", (PAGE_A,))
    settings = server_settings(data_dir, packaged_model_path, chroma_port, collection)
    store = Store(settings)

    # another process holds the lease (short TTL, renewed every 0.5 s)
    holder = _holder(machine(tmp_path, "m2"), chroma_port, collection, ttl=3.0, renew=0.5)
    try:
        with pytest.raises(IngestLockedError, match=rf"already running.*pid {holder.pid}"):
            build_service(settings, embedder=packaged_embedder).ingest()
        monkeypatch.chdir(tmp_path)
        for key, value in server_env(data_dir, packaged_model_path, chroma_port, collection).items():
            monkeypatch.setenv(key, value)
        result = CliRunner().invoke(cli_app, ["ingest"])
        assert result.exit_code == 1 and "already running" in result.stderr and "Traceback" not in result.output
        # a live holder renews: past its first expiry it still holds the lease
        lease = store.lease("ingest")
        assert lease is not None
        first_expiry = float(lease["expires_at"])
        wait_for(lambda: store.server_time() > first_expiry + 1.0, "the first expiry to pass")
        still = store.lease("ingest")
        assert still is not None and still["owner"] == lease["owner"] and float(still["expires_at"]) > first_expiry
        with pytest.raises(IngestLockedError, match="already running"):
            build_service(settings, embedder=packaged_embedder).ingest()
    finally:
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.close()
        released = holder.stdout.readline().strip()
        holder.wait(timeout=60)
    assert released == "released" and store.lease("ingest") is None
    assert build_service(settings, embedder=packaged_embedder).ingest().files_new == 1

    # a holder killed on this machine: its lease is taken over at once (its process is provably gone)
    crashed = _holder(machine(tmp_path, "m3"), chroma_port, collection, ttl=600.0, renew=60.0)
    crashed.kill()
    crashed.wait()
    (data_dir / "articles" / "new.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    assert build_service(settings, embedder=packaged_embedder).ingest().files_new == 1

    # a holder on another machine that stopped renewing: refused until its lease expires, then taken over
    foreign = {"host": "other-machine", "pid": 4242, "node": "another-boot/pid:[1]", "pid_start": 1}
    assert store.acquire_lease("ingest", "foreign-owner", 2.0, foreign) is None
    with pytest.raises(IngestLockedError, match="other-machine"):
        build_service(settings, embedder=packaged_embedder).ingest()

    def ingest_after_expiry() -> bool:
        try:
            build_service(settings, embedder=packaged_embedder).ingest()
        except IngestLockedError:
            return False
        return True

    wait_for(ingest_after_expiry, "the foreign lease to expire", every=0.5)
    assert store.lease("ingest") is None
    store.close()


def test_one_winner_among_concurrent_acquirers_and_a_lost_lease_stops_the_holder(
    tmp_path: Path, chroma_port: int, packaged_model_path: str
) -> None:
    collection = new_collection()
    stores = [Store(server_settings(tmp_path, packaged_model_path, chroma_port, collection)) for _ in range(6)]
    results: list[dict[str, Any] | None] = [None] * len(stores)
    barrier = threading.Barrier(len(stores))

    def acquire(i: int) -> None:
        barrier.wait()
        results[i] = stores[i].acquire_lease("race", f"owner-{i}", 60.0, {"host": "h", "pid": i})

    threads = [threading.Thread(target=acquire, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = [i for i, r in enumerate(results) if r is None]
    assert len(winners) == 1, results
    assert {r["owner"] for r in results if r is not None} == {f"owner-{winners[0]}"}

    # a holder whose lease was taken over notices at its next renewal and refuses to go on
    store = stores[0]
    lease = IngestLease(store, ttl_seconds=30.0, renew_seconds=0.2)
    lease.acquire()
    try:
        lease.check()
        store.state_collection.delete(ids=["lease:ingest"])  # as if it had expired and been taken over
        assert store.acquire_lease("ingest", "usurper", 60.0, {"host": "elsewhere", "pid": 1}) is None

        def lost() -> bool:
            try:
                lease.check()
            except IngestLockedError as exc:
                return "lost its lock" in str(exc)
            return False

        wait_for(lost, "the holder to notice it lost the lease")
    finally:
        lease.release()
    current = store.lease("ingest")
    assert current is not None and current["owner"] == "usurper"  # release left the new holder's lease alone
    for s in stores:
        s.close()
