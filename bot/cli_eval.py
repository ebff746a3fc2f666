"""CLI pieces for evaluation: the text of ``newsqa eval`` (every figure with its 95 % interval), the paired
comparison with a baseline run (``--baseline``), and ``newsqa eval-compare`` (registered on the app by
:mod:`bot.cli`). The statistics are :mod:`rag.eval_stats`'s."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from rag.errors import NewsQAError
from rag.eval_stats import RESAMPLES, SEED, Comparison, format_comparison

out = Console()
err = Console(stderr=True)


def with_ci(summary: dict[str, Any], name: str, digits: int = 3) -> str:
    """``0.812 [0.731, 0.887]``: figure ``name`` of ``summary`` and its ``<name>_ci`` (``n/a`` when None)."""
    value = summary.get(name)
    if value is None:
        return "n/a"
    ci = summary.get(f"{name}_ci")
    text = f"{value:.{digits}f}"
    return f"{text} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else text


def format_report(s: dict[str, Any]) -> str:
    """The text of ``newsqa eval``: every figure of an :meth:`rag.evaluation.EvalReport.summary` with its interval."""
    return (
        f"questions {s['questions']} (answerable {s['answerable']}, unanswerable {s['unanswerable']}); "
        f"[95 % interval: percentile bootstrap, {RESAMPLES} resamples of {s.get('ci_method') or 'questions'}, "
        f"seed {SEED}]\n"
        f"source hit@1 {with_ci(s, 'hit_at_1')}  hit@5 {with_ci(s, 'hit_at_5')}  MRR {with_ci(s, 'mrr')}\n"
        f"answer contains gold {with_ci(s, 'answer_contains_gold')}  "
        f"cited passage contains gold {with_ci(s, 'citation_contains_gold')}\n"
        f"first citation is a source {with_ci(s, 'first_citation_source')}  cited wrong {with_ci(s, 'cited_wrong')}\n"
        f"refusal accuracy {with_ci(s, 'refusal_accuracy')}  false refusals {with_ci(s, 'false_refusals')}\n"
        f"latency p50 {with_ci(s, 'latency_p50_ms', 1)} ms  p95 {with_ci(s, 'latency_p95_ms', 1)} ms"
        + (f"\nskipped {len(s['skipped'])} invalid question(s)" if s.get("skipped") else "")
    )


def format_holdout(s: dict[str, Any]) -> str:
    """The text of ``newsqa eval --holdout-refusal``: the figures of
    :meth:`rag.eval_refusal.HoldoutReport.summary` with their intervals."""
    unanswerable = "" if not s["unanswerable"] else (
        f"\nunanswerable questions {s['unanswerable']}: refused {with_ci(s, 'unanswerable_refused')}")
    return (
        f"holdout (seed {s['seed']}, half {'all' if s['half'] is None else s['half']}): {s['held_out']} questions, "
        f"{s['files_removed']} gold files left out, {s['files_ingested']} files ingested\n"
        f"held-out questions refused {with_ci(s, 'held_out_refused')}  (target >= 0.90)\n"
        f"kept questions {s['kept']}: false refusals {with_ci(s, 'kept_false_refusals')} (target <= 0.02)  "
        f"source hit@1 {with_ci(s, 'kept_hit_at_1')}  answer contains gold {with_ci(s, 'kept_answer_contains_gold')}"
        + unanswerable + "\nthresholds: " + ", ".join(f"{k} {v}" for k, v in s["thresholds"].items())
        + f"\n[95 % intervals: percentile bootstrap, {RESAMPLES} resamples, seed {SEED}]"
    )


def comparison_text(rows: list[Comparison], baseline: str) -> str:
    """The paired comparison with ``baseline`` (a file name) as text, with a line on how to read it."""
    if not rows:
        return f"comparison with {baseline}: no question in common"
    return (f"paired comparison with {baseline} (current - baseline; won/lost counted per question; "
            f"95 % paired-bootstrap interval, beyond noise when it excludes 0):\n" + format_comparison(rows))


def compare_command() -> Callable[..., None]:
    """The ``newsqa eval-compare`` command."""

    def eval_compare(
        baseline: Annotated[Path, typer.Argument(help="Per-question rows of the earlier run (eval --details).")],
        current: Annotated[Path, typer.Argument(help="Per-question rows of the run to compare with it.")],
        as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
    ) -> None:
        """Compare two runs' --details files question by question, without re-running: per figure, questions won,
        lost and tied, the difference and its 95 % paired-bootstrap interval."""
        from rag.evaluation import compare_runs, load_rows

        try:
            rows = compare_runs(load_rows(baseline), load_rows(current))
        except NewsQAError as exc:
            err.print(f"error: {exc}", highlight=False, markup=False)
            raise typer.Exit(1) from exc
        if as_json:
            print(json.dumps({"baseline": str(baseline), "current": str(current),
                              "comparison": [c.as_dict() for c in rows]}, ensure_ascii=False))
        else:
            out.print(comparison_text(rows, str(baseline)), highlight=False, markup=False, soft_wrap=True)

    return eval_compare
