"""``newsqa`` command line: ingest, ask, eval, serve, bot, run.

Each command builds one :class:`rag.settings.Settings` (environment and ``.env``) and one core service. Errors the
user can fix (bad paths, a locked store, a model mismatch) print one line on stderr and exit non-zero, never a
traceback.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bot.cli_archive import (
    Publication,
    Since,
    Until,
    archive_filter,
    articles_command,
    dated_eval,
    filter_json,
)
from bot.cli_eval import compare_command, comparison_text, format_holdout, format_report
from rag.errors import NewsQAError
from rag.models import Answer, print_label
from rag.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Question answering over Chinese news pages.")
err = Console(stderr=True)
out = Console()

SAMPLE_QUESTION = "郏县建成了多少座5G基站？"


def _settings(**overrides: object) -> Settings:
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except Exception as exc:  # pydantic ValidationError: names the variable
        err.print(f"[red]invalid configuration:[/red] {exc}")
        raise typer.Exit(2) from exc
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr,
    )
    for noisy in ("httpx", "httpcore", "chromadb", "sentence_transformers", "urllib3", "jieba", "bm25s"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    return settings


def _fail(exc: Exception, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
    return typer.Exit(code)


@app.command()
def ingest(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or folders (default: $NEWSQA_DATA_DIR/articles).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on the last line.")] = False,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Wipe the store first (after changing the model).")] = False,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, max=64, help="OCR processes for page images and scanned PDFs (default NEWSQA_OCR_WORKERS)."
    )] = None,
) -> None:
    """Ingest new and changed pages incrementally; removed files lose their chunks. Images and scanned PDF pages
    are OCR'd (once: the result is cached by file hash)."""
    from bot.service import build_service

    settings = _settings(**({"ocr_workers": workers} if workers else {}))
    service = build_service(settings)
    try:
        summary = _run_ingest(service, paths, rebuild, progress=sys.stderr.isatty() and not as_json)
    except NewsQAError as exc:
        raise _fail(exc) from exc
    for name, message in summary.failures.items():
        err.print(f"[yellow]skipped[/yellow] {name}: {message}" if not message.startswith(name) else f"[yellow]skipped[/yellow] {message}", highlight=False)
    for message in summary.warnings.values():
        err.print(f"[yellow]warning[/yellow] {message}", highlight=False)
    if as_json:
        print(json.dumps(summary.counts(), ensure_ascii=False))
    else:
        ocr = (f"; OCR: {summary.ocr_pages} pages, {summary.ocr_low_confidence_chars} low-confidence characters"
               if summary.ocr_pages else "")
        dated = (f"; dated {summary.articles_dated} of {summary.articles_total} articles"
                 if summary.articles_total else "")
        out.print(
            f"files: {summary.files_new} new, {summary.files_changed} changed, {summary.files_unchanged} unchanged, "
            f"{summary.files_removed} removed, {summary.files_failed} failed; chunks: {summary.chunks_added} added, "
            f"{summary.chunks_removed} removed, {summary.chunks_embedded} embedded{ocr}{dated}; {summary.seconds:.1f} s",
            highlight=False,
        )
    if summary.files_failed:
        raise typer.Exit(1)


def _run_ingest(service, paths, rebuild: bool, progress: bool):  # noqa: ANN001, ANN202
    if not progress:
        return service.ingest(paths, rebuild=rebuild)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("ingest"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  console=err, transient=True) as bar:
        task = bar.add_task("", total=None)

        def update(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done, total=total, description=name)

        return service.ingest(paths, progress=update, rebuild=rebuild)


_CITED = re.compile(r"(.+?)\[(\d+)\]", re.S)


def cited_excerpt(answer: Answer, citation_id: int, text: str, width: int = 120) -> str:
    """About ``width`` characters of ``text`` around the first answer sentence marked ``[citation_id]``."""
    flat = text.replace("\n", " ")
    for sentence, number in _CITED.findall(answer.answer):
        probe = sentence.strip("…").strip()[:20]
        if int(number) == citation_id and probe and probe in flat:
            start = max(0, flat.index(probe) - 20)
            excerpt = flat[start : start + width]
            return ("…" if start else "") + excerpt + ("…" if start + width < len(flat) else "")
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def format_answer(answer: Answer) -> str:
    """Plain-text rendering of an answer and its numbered sources, for a terminal."""
    lines = [answer.answer]
    if answer.citations:
        lines.append("")
        lines.append("来源：")
        for c in answer.citations:
            printed = print_label(c.publication, c.published, c.page)
            lines.append(f"[{c.id}] {c.title} — {printed + ' ' if printed else ''}{c.source}")
            lines.append(f"    {cited_excerpt(answer, c.id, c.text)}")
            if c.also:
                copies = "；".join(f"{print_label(x.publication, x.published, x.page) or x.title} {x.source}" for x in c.also)
                lines.append(f"    另见：{copies}")
    if answer.alternatives:
        lines.append("")
        lines.append("其他报道的说法：")
        for alt in answer.alternatives:
            printed = print_label(alt.publication, alt.published, alt.page)
            lines.append(f"- {alt.value}：{alt.title}（{printed + ' ' if printed else ''}{alt.source}）")
    return "\n".join(lines)


#: Written by ``newsqa serve`` in the data dir while it runs: lets ``newsqa ask`` on the same data dir use it.
SERVER_FILE = "serve.json"


def _local_server(settings: Settings) -> str | None:
    """The URL of a ``newsqa serve`` running on this data dir (its ``serve.json``, process alive), if any."""
    marker = Path(settings.data_dir) / SERVER_FILE
    try:
        info = json.loads(marker.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    try:
        os.kill(int(info["pid"]), 0)
    except ProcessLookupError:  # uvicorn re-raises SIGTERM after shutting down, so serve cannot always clean up
        marker.unlink(missing_ok=True)
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(info["url"])


def _ask_server(url: str, settings: Settings, question: str, top_k: int,
                filters: dict[str, str] | None = None) -> Answer | None:
    """The answer of the REST API at ``url``; None when it cannot be reached (the caller answers locally)."""
    import urllib.error
    import urllib.request

    headers = {"Content-Type": "application/json"}
    keys = [k.strip() for k in settings.api_keys.split(",") if k.strip()]
    if keys:
        headers["Authorization"] = f"Bearer {keys[0]}"
    body = json.dumps({"question": question, "top_k": top_k, **(filters or {})}).encode("utf-8")
    request = urllib.request.Request(url.rstrip("/") + "/v1/ask", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Answer.model_validate_json(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        with contextlib.suppress(ValueError, KeyError, TypeError):
            detail = json.loads(detail)["error"]["message"]
        raise _fail(NewsQAError(f"{url}: {detail}")) from exc
    except (urllib.error.URLError, OSError):
        return None


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector kept off what a one-shot answer in a fresh process loads.

    Answering cold means importing llama-index and chromadb and loading jieba's tables: some 190,000 container
    objects that live until the process exits. The collector walks them again and again while they are made, and
    once more at interpreter exit, freeing nothing (about 0.7 s of a 2.9 s cold `newsqa ask` on our 2-core machine,
    see bench/NOTES.md section 9; Mercurial's ``util.nogc`` pauses it for the same reason). So it is paused for the
    block, and the objects are frozen out of the final collections (``gc.freeze`` from ``atexit``, which runs before
    them); a long-lived caller such as a test runner collects as usual until it exits. Only one question's garbage
    waits meanwhile; callers close what holds files or connections themselves.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        atexit.unregister(gc.freeze)  # once, however many questions a test runner asks
        atexit.register(gc.freeze)


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
) -> None:
    """Answer a question from the ingested articles, with numbered sources (and where and when each was printed)."""
    settings = _settings()
    try:
        flt = archive_filter(since, until, publication)
    except NewsQAError as exc:
        raise _fail(exc) from exc
    url = _local_server(settings) if server is None else (None if server == "local" else server)
    answer = _ask_server(url, settings, question, top_k, filter_json(flt)) if url else None
    if answer is None and server not in (None, "local"):
        raise _fail(NewsQAError(f"--server {server}: no answer (is `newsqa serve` running there?)"))
    if answer is None:
        with _collector_paused():
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
        out.print(format_answer(answer), highlight=False, markup=False)


app.command("articles")(articles_command(_settings))


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
