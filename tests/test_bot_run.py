"""``run_bot`` (what ``newsqa bot`` calls): startup failures give one clear line and an exit code, never the token;
a normal run serves until SIGINT and exits 0 without the token in its (DEBUG) logs."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.telegram import MissingTokenError, build_bot, run_bot
from tests.conftest import make_settings
from tests.telegram_fake import FakeTelegram

WRONG_TOKEN = "999999:WRONG-secret-token-never-printed"


def _one_clean_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_missing_token_exits_2(tmp_path: Path, packaged_model_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(tmp_path, packaged_model_path)
    assert run_bot(settings) == 2
    assert "NEWSQA_TELEGRAM_TOKEN" in _one_clean_line(capsys.readouterr().err)
    with pytest.raises(MissingTokenError):
        build_bot(settings)


def test_rejected_token_exits_2_without_printing_it(
    tmp_path: Path, packaged_model_path: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with FakeTelegram() as telegram:
        settings = make_settings(
            tmp_path, packaged_model_path, telegram_token=WRONG_TOKEN, telegram_base_url=telegram.base_url
        )
        assert run_bot(settings) == 2
        assert [c.error for c in telegram.failed_calls()] == ["401 Unauthorized"]
        assert telegram.failed_calls()[0].method == "getMe"
    captured = capsys.readouterr()
    line = _one_clean_line(captured.err)
    assert "rejected" in line and "127.0.0.1" in line
    assert WRONG_TOKEN not in captured.err + captured.out + caplog.text
    assert "WRONG-secret" not in captured.err + captured.out + caplog.text


def test_unreachable_server_exits_1(tmp_path: Path, packaged_model_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = make_settings(
        tmp_path, packaged_model_path, telegram_token=WRONG_TOKEN, telegram_base_url=f"http://127.0.0.1:{port}/bot"
    )
    assert run_bot(settings) == 1
    captured = capsys.readouterr()
    assert "cannot reach" in _one_clean_line(captured.err)
    assert WRONG_TOKEN not in captured.err


def test_bad_allow_list_exits_2(tmp_path: Path, packaged_model_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(tmp_path, packaged_model_path, telegram_token=WRONG_TOKEN, telegram_allowed_chats="12,abc")
    assert run_bot(settings) == 2
    assert "abc" in _one_clean_line(capsys.readouterr().err)


def test_newsqa_bot_serves_until_sigint(sample_data_dir: Path, packaged_model_path: str, tmp_path: Path) -> None:
    """The real entry point in a subprocess, logging at DEBUG (where URLs with the token are logged)."""
    data_dir = tmp_path / "data"
    shutil.copytree(sample_data_dir, data_dir)  # its own copy: two processes never share one embedded store
    with FakeTelegram() as telegram:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSQA_")}
        env.update(
            NEWSQA_DATA_DIR=str(data_dir),
            NEWSQA_EMBEDDING_MODEL=packaged_model_path,
            NEWSQA_TELEGRAM_TOKEN=telegram.token,
            NEWSQA_TELEGRAM_BASE_URL=telegram.base_url,
            NEWSQA_LOG_LEVEL="DEBUG",
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
        )
        log_path = tmp_path / "bot.log"
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "bot"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
            )
            try:
                telegram.wait_for(lambda: telegram.calls_of("getUpdates") or process.poll() is not None, timeout=120)
                assert process.poll() is None, log_path.read_text()
                question = telegram.send_text("/start", user_id=1201)
                assert "篇报道" in telegram.wait_reply(question).visible
                process.send_signal(signal.SIGINT)
                assert process.wait(timeout=60) == 0
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        output = log_path.read_text()
        assert telegram.token not in output
        assert "getUpdates" in output  # DEBUG logging did run, with the token redacted
