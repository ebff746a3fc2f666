"""The news-aware archive end to end: a dated corpus built from the sample pages (:mod:`rag.eval_dated`: each fact
printed in 2019 and, with other figures, in 2022), ingested for real (packaged model, real Chroma), then asked
by year, for the latest and plainly; filters through the core, the REST API (real uvicorn), the CLI and the
article listing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from bot.cli import app as cli_app
from bot.rest.app import create_app
from rag.eval_dated import NEW_YEAR, OLD_YEAR, PUBLICATION, build_dated_corpus, score_dated
from rag.evaluation import evaluate, load_qa
from rag.filters import ArchiveFilter
from tests.conftest import SAMPLE_ARTICLES, make_settings, store_env
from tests.rest_support.helpers import HTTP_TIMEOUT, assert_error
from tests.rest_support.live import running_server

SEEDS_QA = Path(__file__).resolve().parents[2] / "shared" / "eval" / "seeds_dev.jsonl"
QUESTION = "郏县建成了多少座5G基站？"


@pytest.fixture(scope="module")
def dated(tmp_path_factory: pytest.TempPathFactory, packaged_model_path: str, packaged_embedder: Any) -> Iterator[Any]:
    """``(service, questions)`` over the dated corpus of the sample pages (ingested once for the module)."""
    from bot.service import build_service

    if not SEEDS_QA.is_file():
        pytest.skip(f"{SEEDS_QA} is not here")
    data_dir = tmp_path_factory.mktemp("dated")
    questions = build_dated_corpus(load_qa(SEEDS_QA), SAMPLE_ARTICLES, data_dir, facts=20)
    service = build_service(make_settings(data_dir, packaged_model_path), embedder=packaged_embedder)
    summary = service.ingest()
    assert summary.files_failed == 0, summary.failures
    assert summary.articles_dated >= len(questions) // 4 * 2  # both copies of every fact are dated
    service.warm_up()
    yield service, questions
    service.close()


def test_the_corpus_prints_each_fact_twice_with_other_figures(dated: Any) -> None:
    _service, questions = dated
    kinds = [q.tag.split("|")[0] for q in questions]
    assert len(questions) >= 8 and kinds.count("plain") == len(questions) // 4
    old, new = questions[0], questions[1]
    assert old.q.startswith(f"{OLD_YEAR}年") and new.q.startswith(f"{NEW_YEAR}年")
    assert old.a != new.a and old.src != new.src


def test_time_questions_get_the_figure_of_their_year(dated: Any) -> None:
    service, questions = dated
    report = evaluate(service, questions, 5)
    scores = score_dated(report.per_question, questions)
    assert scores["year_old"]["right"] >= 0.8 and scores["year_new"]["right"] >= 0.8
    assert scores["plain"]["right"] >= 0.8 and scores["plain"]["dated"] >= 0.8
    assert scores["all"]["right"] >= 0.8


def test_the_5g_question_over_time(dated: Any) -> None:
    service, _ = dated
    plain = service.ask(QUESTION)
    assert plain.found and plain.answer.startswith("据")
    first = plain.citations[0]
    assert first.publication == PUBLICATION and first.published and first.published.startswith(str(NEW_YEAR))
    assert first.published in plain.answer

    old = service.ask(f"{OLD_YEAR}年{QUESTION}")
    assert old.citations[0].published.startswith(str(OLD_YEAR))
    assert old.citations[0].page == "第3版"  # from the old copy's sidecar
    latest = service.ask(f"最新报道中，{QUESTION}")
    assert latest.citations[0].published.startswith(str(NEW_YEAR))


def test_filters_run_inside_retrieval(dated: Any) -> None:
    service, _ = dated
    only_old = ArchiveFilter.parse(until=f"{OLD_YEAR}-12-31")
    hits = service.search("5G基站", top_k=10, archive_filter=only_old)
    assert hits and all(h.published and h.published <= f"{OLD_YEAR}-12-31" for h in hits)
    answer = service.ask(QUESTION, archive_filter=only_old)
    assert answer.found and all(c.published.startswith(str(OLD_YEAR)) for c in answer.citations)
    nothing = service.ask(QUESTION, archive_filter=ArchiveFilter.parse(publication="人民日报"))
    assert not nothing.found and not nothing.citations
    by_paper = service.search("5G基站", top_k=10, archive_filter=ArchiveFilter.parse(publication="滨江"))
    assert hits and all(h.publication == PUBLICATION for h in by_paper)


def test_article_listing_newest_first_with_paging(dated: Any) -> None:
    service, _ = dated
    page = service.articles(None, 0, 5)
    assert page.total >= 10 and len(page.items) == 5
    dates = [i.published for i in page.items]
    assert dates == sorted(dates, reverse=True) and dates[0].startswith(str(NEW_YEAR))
    second = service.articles(None, 5, 5)
    assert not {i.article_id for i in page.items} & {i.article_id for i in second.items}
    old = service.articles(ArchiveFilter.parse(since=f"{OLD_YEAR}-01-01", until=f"{OLD_YEAR}-12-31"), 0, 100)
    assert old.total == len(old.items) > 0 and all(i.published.startswith(str(OLD_YEAR)) for i in old.items)
    last = service.articles(None, page.total - 1, 5)
    assert len(last.items) == 1
    everything = service.articles(None, 0, 100).items
    assert len(everything) == page.total and everything[-1].article_id == last.items[0].article_id
    order = [(i.published is None, "" if i.published is None else i.published) for i in everything]
    assert [k[0] for k in order] == sorted(k[0] for k in order)  # undated articles (if any) come last
    dated = [k[1] for k in order if not k[0]]
    assert dated == sorted(dated, reverse=True)


def test_rest_filters_and_article_listing(dated: Any) -> None:
    service, _ = dated
    with running_server(create_app(service.settings, service=service)) as live, \
            httpx.Client(base_url=live.base_url, timeout=HTTP_TIMEOUT) as api:
        body = api.post("/v1/ask", json={"question": QUESTION, "until": f"{OLD_YEAR}-12-31"}).json()
        assert body["found"] and body["citations"][0]["published"].startswith(str(OLD_YEAR))
        assert body["citations"][0]["publication"] == PUBLICATION and "page" in body["citations"][0]
        hits = api.get("/v1/search", params={"q": "5G基站", "since": f"{NEW_YEAR}-01-01"}).json()["hits"]
        assert hits and all(h["published"] >= f"{NEW_YEAR}-01-01" for h in hits)
        listing = api.get("/v1/articles", params={"publication": "滨江", "limit": 3}).json()
        assert listing["total"] >= 2 and len(listing["items"]) == 3 and listing["limit"] == 3
        assert all(i["publication"] == PUBLICATION for i in listing["items"])
        assert_error(api.get("/v1/articles", params={"since": "2021-02-30"}), 422, field="since")
        assert_error(api.post("/v1/ask", json={"question": QUESTION, "since": "2022-01-01", "until": "2021-01-01"}),
                     422)
        assert_error(api.get("/v1/articles", params={"limit": 0}), 422, field="limit")


def test_cli_articles_and_filtered_ask(dated: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    service, _ = dated
    for key, value in store_env(service.settings).items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    listed = runner.invoke(cli_app, ["articles", "--until", f"{OLD_YEAR}-12-31", "--json"])
    assert listed.exit_code == 0, listed.output
    page = json.loads(listed.stdout)
    assert page["total"] > 0 and all(i["published"] <= f"{OLD_YEAR}-12-31" for i in page["items"])
    plain = runner.invoke(cli_app, ["articles", "--limit", "2"])
    assert plain.exit_code == 0 and f"《{PUBLICATION}》{NEW_YEAR}" in plain.stdout
    asked = runner.invoke(cli_app, ["ask", QUESTION, "--server", "local", "--since", f"{NEW_YEAR}-01-01"])
    assert asked.exit_code == 0, asked.output
    assert f"《{PUBLICATION}》{NEW_YEAR}" in asked.stdout
    bad = runner.invoke(cli_app, ["ask", QUESTION, "--server", "local", "--since", "2022-01-01", "--until",
                                  "2021-01-01"])
    assert bad.exit_code == 1 and "after until" in bad.output


def test_relative_times_use_the_newest_article_or_the_today_setting(dated: Any) -> None:
    service, _ = dated
    scope = service.time_scope("去年郏县建成了多少座5G基站？")
    newest = max(i.published for i in service.articles(None, 0, 1).items)
    assert scope.since == date(int(newest[:4]) - 1, 1, 1)
    pinned = make_settings(service.settings.data_dir, service.settings.embedding_model, today="2030-06-01")
    from bot.service import build_service

    other = build_service(pinned, embedder=service.embedder)
    try:
        assert other.time_scope("去年的报道").since == date(2029, 1, 1)
    finally:
        other.close()
