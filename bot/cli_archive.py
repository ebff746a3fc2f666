"""CLI pieces for the news-aware archive: the ``--since/--until/--publication`` options of ``newsqa ask`` and
``newsqa search``, and the ``newsqa articles`` listing (registered on the app by :mod:`bot.cli`)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer

from bot.cli_support import err, out
from rag.errors import NewsQAError
from rag.filters import ArchiveFilter
from rag.models import ArticlePage, print_label
from rag.settings import Settings

_DATE_FORMATS = ["%Y-%m-%d"]
Since = Annotated[datetime | None, typer.Option(
    "--since", formats=_DATE_FORMATS, help="Only reports printed on or after this date (YYYY-MM-DD).")]
Until = Annotated[datetime | None, typer.Option(
    "--until", formats=_DATE_FORMATS, help="Only reports printed on or before this date (YYYY-MM-DD).")]
Publication = Annotated[str | None, typer.Option(
    "--publication", help="Only reports of this newspaper or site (a part of its name is enough).")]


def archive_filter(since: datetime | None, until: datetime | None, publication: str | None) -> ArchiveFilter | None:
    """The filter of the options (None without one); raises InputError for an empty range."""
    flt = ArchiveFilter.parse(_day(since), _day(until), publication)
    return flt if flt else None


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def filter_json(flt: ArchiveFilter | None) -> dict[str, str]:
    """The filter as the fields of a ``/v1/ask`` body (for ``newsqa ask --server``)."""
    if flt is None:
        return {}
    fields = {"since": flt.since.isoformat() if flt.since else None,
              "until": flt.until.isoformat() if flt.until else None, "publication": flt.publication}
    return {k: v for k, v in fields.items() if v}


def format_articles(page: ArticlePage) -> str:
    """Plain-text rendering of a page of the article listing."""
    if not page.items:
        return f"没有符合条件的报道（共 {page.total} 篇）。"
    lines = [f"共 {page.total} 篇，第 {page.offset + 1}–{page.offset + len(page.items)} 篇："]
    for item in page.items:
        printed = print_label(item.publication, item.published, item.page) or "（日期不详）"
        lines.append(f"{printed}  {item.title or '（无标题）'}  {item.source}  [{item.article_id}]")
    return "\n".join(lines)


def articles_command(settings: Callable[[], Settings]) -> Callable[..., None]:
    """The ``newsqa articles`` command, reading its settings with ``settings()`` (the CLI's own factory)."""

    def articles(
        since: Since = None,
        until: Until = None,
        publication: Publication = None,
        offset: Annotated[int, typer.Option("--offset", min=0, help="Articles to skip.")] = 0,
        limit: Annotated[int, typer.Option("--limit", min=1, max=100, help="Articles to list.")] = 20,
        as_json: Annotated[bool, typer.Option("--json", help="Print the page as JSON.")] = False,
    ) -> None:
        """List the ingested articles, newest first, with newspaper, date and page."""
        from bot.service import build_service

        try:
            page = build_service(settings()).articles(archive_filter(since, until, publication), offset, limit)
        except NewsQAError as exc:
            err.print(f"error: {exc}", highlight=False, markup=False)
            raise typer.Exit(1) from exc
        if as_json:
            print(json.dumps(page.model_dump(mode="json"), ensure_ascii=False))
        else:
            out.print(format_articles(page), highlight=False, markup=False)

    return articles


def dated_eval(settings: Callable[..., Settings], qa_jsonl: Path, articles: Path, facts: int, top_k: int,
               as_json: bool, details: Path | None = None) -> None:
    """``newsqa eval QA --articles DIR --dated N``: the time-question benchmark of :mod:`rag.eval_dated`."""
    from bot.service import build_service
    from rag.eval_dated import build_dated_corpus, score_dated
    from rag.evaluation import evaluate, load_qa

    with tempfile.TemporaryDirectory(prefix="newsqa-dated-") as tmp:
        questions = build_dated_corpus(load_qa(qa_jsonl), articles, Path(tmp), facts)
        if not questions:
            raise NewsQAError(f"{qa_jsonl}: no answerable question with a number in its gold answer")
        service = build_service(settings(data_dir=Path(tmp)))
        summary = service.ingest()
        err.print(f"dated corpus: {len(questions) // 4} facts, {summary.files_new} files, "
                  f"{summary.chunks_added} chunks", highlight=False)
        service.warm_up()
        report = evaluate(service, questions, top_k)
        scores = score_dated(report.per_question, questions)
        service.close()
    if details:
        details.write_text("".join(json.dumps({**r, "tag": q.tag}, ensure_ascii=False) + "\n"
                                   for r, q in zip(report.per_question, questions, strict=True)), "utf-8")
    if as_json:
        print(json.dumps(scores, ensure_ascii=False))
        return
    for kind, s in scores.items():
        out.print(f"{kind:9s} questions {s['questions']:4d}  right {s['right']:.3f}  answer {s['answer']:.3f}  "
                  f"first citation {s['first_citation']:.3f}  dated {s['dated']:.3f}", highlight=False)
