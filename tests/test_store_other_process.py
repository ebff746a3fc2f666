"""A serving process sees what a ``newsqa ingest`` in another process wrote to the same embedded store.

chromadb keeps one in-memory ``System`` per store folder; before the fix its segments did not see another
process's writes, and filtered questions (``since``, ``publication``) failed with "Error finding id" until the
server was restarted. The store now reopens with a new ``System`` when a call fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag.filters import ArchiveFilter
from tests.conftest import SAMPLE_ARTICLES, make_settings, server_store_overrides, store_env

PAGE = "新建风电场开工\n\n本报讯 3月5日，叶县风电场项目开工建设，总投资12亿元，规划装机容量100兆瓦。\n"


@pytest.mark.skipif(bool(server_store_overrides(Path("."))), reason="embedded store only (a server shares state)")
def test_filtered_question_after_ingest_by_another_process(tmp_path: Path, packaged_model_path: str,
                                                           packaged_embedder) -> None:  # noqa: ANN001
    from bot.service import build_service

    shutil.copytree(SAMPLE_ARTICLES, tmp_path / "articles")
    settings = make_settings(tmp_path, packaged_model_path)
    service = build_service(settings, embedder=packaged_embedder)
    service.ingest()
    service.warm_up()
    since = ArchiveFilter.parse(since="2024-01-01")
    before = service.ask("叶县风电场总投资多少？", archive_filter=since)
    assert not before.found

    page = tmp_path / "articles" / "测试日报" / "2024-03-05" / "1.txt"
    page.parent.mkdir(parents=True)
    page.write_text(PAGE, "utf-8")
    env = {**os.environ, **store_env(settings), "NEWSQA_QUERY_ONNX": "false"}
    proc = subprocess.run([sys.executable, "-m", "bot.cli", "ingest", "--json"], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr

    after = service.ask("叶县风电场总投资多少？", archive_filter=since)
    service.close()
    assert after.found, after
    assert after.citations[0].source == "测试日报/2024-03-05/1.txt"
    assert "12亿元" in after.answer
