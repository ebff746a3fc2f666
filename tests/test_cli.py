"""The ``newsqa`` command line: JSON shapes, exit codes and clear errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock
from typer.testing import CliRunner

from bot.cli import app
from tests.conftest import SAMPLE_ARTICLES

SUMMARY_KEYS = {
    "files_new", "files_changed", "files_unchanged", "files_removed", "files_failed", "files_skipped",
    "chunks_added", "chunks_removed", "chunks_embedded", "chunks_cached", "seconds", "ocr_pages", "ocr_low_confidence_chars",
    "articles_total", "articles_dated", "failures", "skipped", "warnings",
}


@pytest.fixture()
def cli_env(tmp_path: Path, packaged_model_path: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    articles = tmp_path / "articles"
    articles.mkdir()
    shutil.copy(SAMPLE_ARTICLES / "000_a17aea0bf2d75ea6.txt", articles)
    monkeypatch.setenv("NEWSQA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NEWSQA_EMBEDDING_MODEL", packaged_model_path)
    monkeypatch.chdir(tmp_path)  # no developer .env is picked up
    return tmp_path


def test_console_script_ingests_and_prints_json_summary_last(cli_env: Path) -> None:
    exe = Path(sys.executable).parent / "newsqa"
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "bot.cli"]
    proc = subprocess.run([*command, "ingest", "--json"], capture_output=True, text=True, env=os.environ, timeout=600)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(summary) == SUMMARY_KEYS
    assert summary["files_new"] == 1 and summary["chunks_embedded"] == summary["chunks_added"] > 0


def test_ask_json_and_plain_output(cli_env: Path) -> None:
    runner = CliRunner()
    (cli_env / "articles" / "000_a17aea0bf2d75ea6.txt.meta.json").write_text('{"published": "2021-08-01"}')
    ingested = runner.invoke(app, ["ingest"])
    assert ingested.exit_code == 0
    assert re.search(r"dated ([1-9]\d*) of \1 articles", re.sub(r"\s+", " ", ingested.stdout)), ingested.stdout
    result = runner.invoke(app, ["ask", "郏县建成了多少座5G基站？", "--json", "--top-k", "3"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert set(answer) == {"question", "answer", "found", "mode", "confidence", "citations"}
    assert answer["found"] and answer["mode"] == "extractive" and "120座" in answer["answer"]
    citation = answer["citations"][0]
    assert set(citation) == {"id", "title", "source", "article_id", "chunk_id", "text", "score", "published",
                             "publication", "page", "story_id", "also"}
    assert citation["source"] == "000_a17aea0bf2d75ea6.txt"

    plain = runner.invoke(app, ["ask", "郏县建成了多少座5G基站？"])
    assert plain.exit_code == 0 and "来源" in plain.stdout and "[1]" in plain.stdout

    refused = runner.invoke(app, ["ask", "火星上有多少座水电站？", "--json"])
    assert json.loads(refused.stdout)["found"] is False


def test_failed_file_gives_nonzero_exit_and_names_the_file(cli_env: Path) -> None:
    (cli_env / "articles" / "empty.txt").write_text("   \n", encoding="utf-8")
    result = CliRunner().invoke(app, ["ingest", "--json"])
    assert result.exit_code == 1
    assert "empty.txt" in result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["files_failed"] == 1


def test_locked_store_gives_one_clear_line(cli_env: Path) -> None:
    store = cli_env / "store"
    store.mkdir(exist_ok=True)
    with FileLock(str(store / "ingest.lock")):
        result = CliRunner().invoke(app, ["ingest"])
    assert result.exit_code == 1
    assert "already running" in result.stderr and "Traceback" not in result.output


def test_empty_question_is_a_clear_error(cli_env: Path) -> None:
    result = CliRunner().invoke(app, ["ask", "  "])
    assert result.exit_code == 1 and "question" in result.stderr and "Traceback" not in result.output


def test_eval_on_a_tiny_set_with_temporary_store(cli_env: Path) -> None:
    qa = cli_env / "qa.jsonl"
    rows = [
        {"q": "郏县建成了多少座5G基站？", "a": ["120座"], "src": "000_a17aea0bf2d75ea6.txt", "tag": "fact"},
        {"q": "火星上有多少座水电站？", "a": [], "src": None, "tag": "unanswerable"},
    ]
    qa.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", str(qa), "--articles", str(cli_env / "articles"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["hit_at_1"] == 1.0 and report["answer_contains_gold"] == 1.0
    assert report["refusal_accuracy"] == 1.0 and report["latency_p95_ms"] >= report["latency_p50_ms"] > 0
    assert not (cli_env / "store").exists()  # --articles used a temporary store


def test_ingest_workers_option_is_validated_and_feeds_the_setting(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.settings import Settings

    result = CliRunner().invoke(app, ["ingest", "--workers", "0"])
    assert result.exit_code == 2 and "--workers" in result.output
    monkeypatch.setenv("NEWSQA_OCR_WORKERS", "3")
    assert Settings(_env_file=None).ocr_workers == 3  # type: ignore[call-arg]
    seen: list[int] = []
    monkeypatch.setattr("rag.service.NewsQA.ingest", lambda self, *a, **k: seen.append(self.settings.ocr_workers) or _empty())
    assert CliRunner().invoke(app, ["ingest", "--workers", "2"]).exit_code == 0
    assert seen == [2]


def _empty():  # noqa: ANN202
    from rag.models import IngestSummary

    return IngestSummary()
