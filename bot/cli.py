"""``newsqa`` command line: ingest, ask, chat, articles, backup, restore, eval, serve, bot, run.

Each command builds one :class:`rag.settings.Settings` (environment and ``.env``) and one core service. Errors the
user can fix (bad configuration, bad paths, an empty or locked store, a model mismatch) print one line on stderr and
exit non-zero, never a traceback. Output is never hard-wrapped (see :mod:`bot.cli_support`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated

import typer

from bot.cli_answer import SERVER_FILE, ask_server, collector_paused, format_answer, local_server
from bot.cli_archive import (
    Publication,
    Since,
    Until,
    archive_filter,
    articles_command,
    dated_eval,
    filter_json,
)
from bot.cli_chat import chat_command
from bot.cli_eval import compare_command, comparison_text, format_holdout, format_report
from bot.cli_ops import backup_command, restore_command
from bot.cli_support import build_settings, err, out
from bot.cli_support import fail as _fail
from rag.errors import NewsQAError
from rag.models import IngestSummary
from rag.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Question answering over Chinese news pages.")

SAMPLE_QUESTION = "郏县建成了多少座5G基站？"

Verbose = Annotated[bool, typer.Option(
    "--verbose", "-v", help="Also print log lines (INFO and up) on stderr, and the answer's confidence.")]


def package_version() -> str:
    """The installed ``newsqa`` distribution's version (``importlib.metadata``), or ``unknown`` when it runs from
    a source tree that was never installed."""
    try:
        return version("newsqa")
    except PackageNotFoundError:
        return "unknown"


def _version(value: bool) -> None:
    if value:
        out.print(f"newsqa {package_version()}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    show_version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """Question answering over Chinese news pages."""


def _settings(quiet: bool = False, **overrides: object) -> Settings:
    """The command's settings and logging (:func:`bot.cli_support.build_settings`); exits 2 on bad configuration."""
    return build_settings(quiet, **overrides)


@app.command()
def ingest(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or folders (default: $NEWSQA_DATA_DIR/articles).")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the summary as JSON on the last line, with every failed and skipped file and why.")] = False,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Wipe the store first (after changing the model).")] = False,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, max=64, help="OCR processes for page images and scanned PDFs (default NEWSQA_OCR_WORKERS)."
    )] = None,
) -> None:
    """Ingest new and changed pages incrementally; removed files lose their chunks. Images and scanned PDF pages
    are OCR'd (once: the result is cached by file hash). Files of other types are skipped and listed."""
    from bot.service import build_service

    settings = _settings(ocr_workers=workers) if workers else _settings()
    service = build_service(settings)
    try:
        summary = _run_ingest(service, paths, rebuild, progress=err.is_terminal and not as_json)
    except NewsQAError as exc:
        raise _fail(exc) from exc
    finally:
        service.close()
    for name, message in summary.failures.items():
        err.print(f"[red]failed[/red]  {message if name in message else f'{name}: {message}'}", highlight=False)
    for name, reason in summary.skipped.items():
        err.print(f"[yellow]skipped[/yellow] {name}: {reason}", highlight=False)
    for message in summary.warnings.values():
        err.print(f"[yellow]warning[/yellow] {message}", highlight=False)
    if as_json:
        print(json.dumps(summary.model_dump(), ensure_ascii=False))
    else:
        out.print(summary_line(summary), highlight=False)
    if summary.files_failed:
        raise typer.Exit(1)


def summary_line(summary: IngestSummary) -> str:
    """The one-line text summary of ``newsqa ingest``."""
    ocr = (f"; OCR: {summary.ocr_pages} pages, {summary.ocr_low_confidence_chars} low-confidence characters"
           if summary.ocr_pages else "")
    dated = f"; dated {summary.articles_dated} of {summary.articles_total} articles" if summary.articles_total else ""
    skipped = f", {summary.files_skipped} skipped" if summary.files_skipped else ""
    return (f"files: {summary.files_new} new, {summary.files_changed} changed, {summary.files_unchanged} unchanged, "
            f"{summary.files_removed} removed, {summary.files_failed} failed{skipped}; chunks: {summary.chunks_added} "
            f"added, {summary.chunks_removed} removed, {summary.chunks_embedded} embedded{ocr}{dated}; "
            f"{summary.seconds:.1f} s")


def _run_ingest(service, paths, rebuild: bool, progress: bool):  # noqa: ANN001, ANN202
    if not progress:
        return service.ingest(paths, rebuild=rebuild)
    from bot.cli_progress import IngestProgressBar

    with IngestProgressBar(err) as bar:
        return service.ingest(paths, progress=bar, rebuild=rebuild)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="A question in Chinese.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer object as JSON.")] = False,
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=20, help="Chunks to answer from.")] = 5,
    server: Annotated[str | None, typer.Option(
        "--server", help="Ask this running `newsqa serve` (URL) instead of loading the model here. Default: the "
        "one serving this data dir, if any; --server local never uses a server.")] = None,
    since: Since = None,
    until: Until = None,
    publication: Publication = None,
    verbose: Verbose = False,
) -> None:
    """Answer a question from the ingested articles, with numbered sources (and where and when each was printed).
    Prints the answer and its sources only; log lines with -v."""
    settings = _settings(quiet=not verbose)
    try:
        flt = archive_filter(since, until, publication)
    except NewsQAError as exc:
        raise _fail(exc) from exc
    url = local_server(settings) if server is None else (None if server == "local" else server)
    answer = ask_server(url, settings, question, top_k, filter_json(flt)) if url else None
    if answer is None and server not in (None, "local"):
        raise _fail(NewsQAError(f"--server {server}: no answer (is `newsqa serve` running there?)"))
    if answer is None:
        with collector_paused():
            from bot.service import build_service

            service = build_service(settings)
            try:
                answer = service.ask(question, top_k=top_k, archive_filter=flt)
            except NewsQAError as exc:
                raise _fail(exc) from exc
            finally:
                service.close()  # the store's client, not left to a collector that may never run
    if as_json:
        print(json.dumps(answer.model_dump(), ensure_ascii=False))
    else:
        out.print(format_answer(answer, verbose), highlight=False, markup=False)


app.command("chat")(chat_command(_settings))
app.command("articles")(articles_command(_settings))
app.command("backup")(backup_command(_settings))
app.command("restore")(restore_command(_settings))


@app.command("eval")
def evaluate_cmd(
    qa_jsonl: Annotated[Path, typer.Argument(help="QA set: one {q, a, src, tag} object per line.")],
    articles: Annotated[Path | None, typer.Option("--articles", help="Ingest this folder into a temporary store.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=20)] = 5,
    details: Annotated[Path | None, typer.Option("--details", help="Write per-question rows as JSONL here.")] = None,
    holdout_refusal: Annotated[int | None, typer.Option(
        "--holdout-refusal", min=1, help="Refusal benchmark: leave out the gold files of N sampled questions "
        "(needs --articles); they should be refused, the others answered.")] = None,
    half: Annotated[int | None, typer.Option("--half", min=0, max=1, help="Only half 0 or 1: of the questions (split by their gold sources), "
                                             "or with --holdout-refusal of the articles (stable hash of the file).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="With --holdout-refusal: the sampling seed.")] = 0,
    dated: Annotated[int | None, typer.Option(
        "--dated", min=1, help="Time-question benchmark: print N facts of the set twice, in two years with other "
        "figures (needs --articles), and ask by year, for the latest and plainly.")] = None,
    baseline: Annotated[Path | None, typer.Option(
        "--baseline", help="A previous run's --details rows: compare with it question by question (won, lost, "
        "difference and its 95 % paired-bootstrap interval).")] = None,
) -> None:
    """Measure retrieval (hit@1, hit@5, MRR by file), answers, citations, refusals and latency on a QA set, each
    with its 95 % bootstrap interval."""
    from bot.service import build_service
    from rag.evaluation import compare_runs, evaluate, load_qa, load_rows
    from rag.evaluation import half as half_of

    if dated is not None:
        if articles is None or not articles.is_dir():
            raise _fail(NewsQAError("--dated needs --articles DIR (the corpus to print twice)"))
        try:
            return dated_eval(_settings, qa_jsonl, articles, dated, top_k, as_json, details)
        except NewsQAError as exc:
            raise _fail(exc) from exc
    if holdout_refusal is not None:
        return _holdout_cmd(qa_jsonl, articles, holdout_refusal, half, seed, top_k, as_json, details)
    try:
        baseline_rows = load_rows(baseline) if baseline is not None else None
        items = load_qa(qa_jsonl)
        if half is not None:
            items = half_of(items, half)
        with tempfile.TemporaryDirectory(prefix="newsqa-eval-") as tmp:
            if articles is not None:
                if not articles.is_dir():
                    raise _fail(NewsQAError(f"--articles {articles}: not a folder"))
                settings = _settings(data_dir=Path(tmp))
                (Path(tmp) / "articles").symlink_to(articles.resolve(), target_is_directory=True)
                service = build_service(settings)
                summary = service.ingest()
                err.print(f"ingested {summary.files_new} files, {summary.chunks_added} chunks "
                          f"({summary.files_failed} failed) in {summary.seconds:.1f} s", highlight=False)
            else:
                service = build_service(_settings())
            service.warm_up()
            report = evaluate(service, items, top_k)
    except NewsQAError as exc:
        raise _fail(exc) from exc
    if details:
        details.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in report.per_question), "utf-8")
    comparison = compare_runs(baseline_rows, report.per_question) if baseline_rows is not None else None
    if as_json:
        extra = {"comparison": [c.as_dict() for c in comparison]} if comparison is not None else {}
        print(json.dumps({**report.summary(), **extra}, ensure_ascii=False))
        return
    out.print(format_report(report.summary()), highlight=False, markup=False, soft_wrap=True)
    if comparison is not None:
        out.print("\n" + comparison_text(comparison, str(baseline)), highlight=False, markup=False, soft_wrap=True)


app.command("eval-compare")(compare_command())


def _holdout_cmd(qa_jsonl: Path, articles: Path | None, n: int, half: int | None, seed: int, top_k: int,
                 as_json: bool, details: Path | None) -> None:
    """``newsqa eval --holdout-refusal N``: see :mod:`rag.eval_refusal`."""
    from bot.service import build_service
    from rag.eval_refusal import run_holdout
    from rag.evaluation import load_qa

    if articles is None or not articles.is_dir():
        raise _fail(NewsQAError("--holdout-refusal needs --articles DIR (the corpus to leave the gold files out of)"))
    try:
        items = load_qa(qa_jsonl)
        with tempfile.TemporaryDirectory(prefix="newsqa-holdout-") as tmp:
            report = run_holdout(lambda data_dir: build_service(_settings(data_dir=data_dir)), items, articles,
                                 Path(tmp), n, seed, half, top_k)
    except NewsQAError as exc:
        raise _fail(exc) from exc
    if details:
        details.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in report.answered_held_out), "utf-8")
    s = report.summary()
    if as_json:
        print(json.dumps(s, ensure_ascii=False))
        return
    out.print(format_holdout(s), highlight=False, markup=False, soft_wrap=True)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default NEWSQA_HOST or 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default NEWSQA_PORT or 8000).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes.")] = 1,
) -> None:
    """Serve the REST API (FastAPI on uvicorn)."""
    from bot.rest.server import serve as serve_rest

    settings = _settings()
    host, port = host or settings.host, port or settings.port
    marker = Path(settings.data_dir) / SERVER_FILE
    connect = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"url": f"http://{connect}:{port}", "pid": os.getpid()}), "utf-8")
    except OSError:
        marker = None  # type: ignore[assignment]  # a read-only data dir: `newsqa ask` just answers locally
    try:
        serve_rest(settings, host, port, workers)
    finally:
        if marker is not None:
            marker.unlink(missing_ok=True)


@app.command("bot")
def bot_cmd() -> None:
    """Run the Telegram bot (long polling); needs NEWSQA_TELEGRAM_TOKEN."""
    from bot.telegram import run_bot

    raise typer.Exit(run_bot(_settings()))


@app.command()
def run() -> None:
    """Serve the REST API, and the Telegram bot too when NEWSQA_TELEGRAM_TOKEN is set."""
    settings = _settings()
    bot_process = None
    if settings.telegram_token is not None:
        bot_process = subprocess.Popen([sys.executable, "-m", "bot.cli", "bot"])
    try:
        from bot.rest.server import serve as serve_rest

        serve_rest(settings, settings.host, settings.port, 1)
    finally:
        if bot_process is not None:
            bot_process.terminate()


def main() -> None:
    """Console entry point ``newsqa``."""
    app()


if __name__ == "__main__":
    main()
