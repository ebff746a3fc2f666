"""Bootstrap intervals and paired comparisons (rag.eval_stats, rag.evaluation) on synthetic per-question rows:
the interval holds the figure, narrows as questions are added, repeats with the seed; the comparison counts won
and lost questions and tells a clear difference from none. No service, no dev question."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from rag.errors import InputError
from rag.eval_stats import compare, group_key, grouping, paired, percentile_interval
from rag.evaluation import ROW_METRICS, EvalReport, compare_runs, load_qa, load_rows


def rows(n: int, right: float, seed: int = 1, item_size: int = 0, prefix: str = "q") -> list[dict]:
    """``n`` synthetic answerable rows, a share ``right`` of them answered right (random order, seeded)."""
    rng = random.Random(seed)
    ok = [k < round(right * n) for k in range(n)]
    rng.shuffle(ok)
    out = []
    for k, good in enumerate(ok):
        row = {"q": f"{prefix}{k}", "gold": ["x"], "src": [f"r{k}.txt"], "found": True, "contains": good,
               "cited": good, "first_source": good, "wrong": not good, "rank": 1 if good else 3, "ms": 10.0 + k}
        if item_size:
            row["item"] = f"event{k // item_size}"
        out.append(row)
    return out


def test_the_interval_holds_the_figure_and_narrows_with_more_questions() -> None:
    widths = []
    for n in (40, 160, 640):
        values = [float(r["contains"]) for r in rows(n, 0.7)]
        lo, hi = percentile_interval(values)
        point = sum(values) / n
        assert lo <= point <= hi and lo < hi
        widths.append(hi - lo)
    assert widths[0] > widths[1] > widths[2]
    assert widths[2] < widths[0] / 2.5  # ~1/sqrt(n): four times the questions, about half the width


def test_the_interval_repeats_with_the_seed_and_moves_with_another() -> None:
    values = [float(r["contains"]) for r in rows(100, 0.6)]
    assert percentile_interval(values, seed=3) == percentile_interval(values, seed=3)
    assert percentile_interval(values, seed=3) != percentile_interval(values, seed=4)


def test_grouped_questions_widen_the_interval() -> None:
    """Questions of one news event answered alike: resampling events shows more noise than resampling
    questions as if they were independent."""
    base = rows(60, 0.5)
    correlated = []
    for g, row in enumerate(base):  # each event's five questions share its outcome
        for k in range(5):
            correlated.append({**row, "q": f"{row['q']}-{k}", "item": f"e{g}"})
    values = [float(r["contains"]) for r in correlated]
    groups, how = grouping(correlated)
    assert groups is not None and "item" in how
    lo_g, hi_g = percentile_interval(values, groups)
    lo_q, hi_q = percentile_interval(values)
    assert hi_g - lo_g > 1.5 * (hi_q - lo_q)


def test_grouping_falls_back_to_questions() -> None:
    assert grouping(rows(30, 0.5))[0] is None  # one report a question
    few = [{**r, "src": [f"page{k % 3}.txt"]} for k, r in enumerate(rows(30, 0.5))]
    groups, how = grouping(few)
    assert groups is None and "3 report groups" in how
    assert group_key({"q": "a", "src": ["b.txt", "a.txt"]}) == group_key({"q": "c", "src": ["a.txt", "b.txt"]})
    assert group_key({"q": "a", "src": None}) != group_key({"q": "b", "src": None})


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="groups"):
        percentile_interval([1.0, 0.0], ["a"])
    with pytest.raises(ValueError, match="statistic"):
        percentile_interval([1.0], statistic="p99")
    assert all(v != v for v in percentile_interval([]))  # nan without values


def test_report_figures_carry_their_intervals() -> None:
    data = rows(50, 0.8, item_size=2) + [{"q": "u1", "gold": [], "src": [], "found": False, "ms": 5.0},
                                         {"q": "u2", "gold": [], "src": [], "found": True, "ms": 6.0}]
    report = EvalReport(per_question=data).aggregate()
    s = report.summary()
    assert s["answerable"] == 50 and s["unanswerable"] == 2 and s["refusal_accuracy"] == 0.5
    for name in ("hit_at_1", "answer_contains_gold", "cited_wrong", "false_refusals", "refusal_accuracy",
                 "latency_p50_ms"):
        lo, hi = s[f"{name}_ci"]
        assert lo <= s[name] <= hi, name
    assert s["answer_contains_gold"] == pytest.approx(0.8) and s["cited_wrong"] == pytest.approx(0.2)
    assert "item" in s["ci_method"]
    assert list(s).index("mrr_ci") == list(s).index("mrr") + 1


def test_paired_comparison_counts_won_lost_and_tied() -> None:
    a = rows(10, 0.5)
    b = [dict(r) for r in a]
    flips = {"q0": True, "q1": True, "q2": True}  # set these right in b
    for r in b:
        if r["q"] in flips and not r["contains"]:
            r.update(contains=True, wrong=False)
        elif r["q"] in ("q3", "q4", "q5", "q6", "q7", "q8", "q9") and r["contains"]:
            r.update(contains=False, wrong=True)
            break  # exactly one loss
    won = sum(1 for x, y in zip(a, b, strict=True) if y["contains"] and not x["contains"])
    lost = sum(1 for x, y in zip(a, b, strict=True) if x["contains"] and not y["contains"])
    got = {c.metric: c for c in compare_runs(a, b)}
    contains = got["answer_contains_gold"]
    assert (contains.won, contains.lost, contains.tied) == (won, lost, 10 - won - lost)
    assert contains.difference == pytest.approx((won - lost) / 10)
    wrong = got["cited_wrong"]  # lower is better: fewer wrong answers are won
    assert (wrong.won, wrong.lost) == (won, lost) and wrong.difference == pytest.approx(-(won - lost) / 10)


def test_a_clear_difference_holds_beyond_the_noise_and_none_does_not() -> None:
    baseline = rows(200, 0.5, seed=1)
    better = [dict(r, contains=r["contains"] or k % 2 == 0) for k, r in enumerate(baseline)]  # ~+0.25
    reshuffled = rows(200, 0.5, seed=2)  # same figure, other questions right: a null difference
    clear = compare(baseline, better, {"c": ROW_METRICS["answer_contains_gold"]})[0]
    null = compare(baseline, reshuffled, {"c": ROW_METRICS["answer_contains_gold"]})[0]
    assert clear.significant and clear.interval[0] > 0.1 and clear.lost == 0
    assert not null.significant and null.interval[0] < 0 < null.interval[1]
    assert null.difference == pytest.approx(0.0)


def test_pairing_matches_questions_by_text() -> None:
    a = rows(5, 0.4)
    b = list(reversed(rows(5, 0.4)))[1:] + [{"q": "new", "gold": ["x"], "found": False}]
    pairs = paired(a, b)
    assert len(pairs) == 4 and all(x["q"] == y["q"] for x, y in pairs)


def test_eval_compare_cli(tmp_path: Path) -> None:
    baseline = rows(120, 0.4, seed=5)
    current = [dict(r, contains=True, wrong=False, rank=1) for r in baseline]
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for path, data in ((a, baseline), (b, current)):
        path.write_text("".join(json.dumps(r) + "\n" for r in data), "utf-8")
    result = CliRunner().invoke(app, ["eval-compare", str(a), str(b), "--json"])
    assert result.exit_code == 0, result.output
    got = {c["metric"]: c for c in json.loads(result.stdout)["comparison"]}
    assert got["answer_contains_gold"]["won"] == 72 and got["answer_contains_gold"]["lost"] == 0
    assert got["answer_contains_gold"]["significant"] and got["hit_at_1"]["significant"]
    assert not got["false_refusals"]["significant"] and got["false_refusals"]["tied"] == 120
    text = CliRunner().invoke(app, ["eval-compare", str(a), str(b)])
    assert text.exit_code == 0 and "answer_contains_gold" in text.stdout and "yes" in text.stdout
    (tmp_path / "bad.jsonl").write_text("{\"x\": 1}\n", "utf-8")
    bad = CliRunner().invoke(app, ["eval-compare", str(a), str(tmp_path / "bad.jsonl")])
    assert bad.exit_code == 1 and "bad.jsonl:1" in bad.output


def test_load_rows_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="missing.jsonl"):
        load_rows(tmp_path / "missing.jsonl")


@pytest.mark.parametrize("line", ["[1]", "\"q\"", "{\"a\": [\"x\"]}", "{\"q\": \"问\", \"a\": 3}", "{bad"])
def test_load_qa_names_file_and_line_of_a_bad_record(tmp_path: Path, line: str) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"q": "问题？", "a": ["答案"], "src": "a.txt"}\n' + line + "\n", "utf-8")
    with pytest.raises(InputError, match=r"qa\.jsonl:2: not a QA record"):
        load_qa(qa)


def test_eval_with_a_baseline_on_the_sample_pages(sample_data_dir: Path, packaged_model_path: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """``newsqa eval --details`` then ``--baseline`` with those rows: the same answers, every question tied."""
    monkeypatch.setenv("NEWSQA_DATA_DIR", str(sample_data_dir))
    monkeypatch.setenv("NEWSQA_EMBEDDING_MODEL", packaged_model_path)
    monkeypatch.chdir(tmp_path)
    qa, details = tmp_path / "qa.jsonl", tmp_path / "rows.jsonl"
    questions = [{"q": "郏县建成了多少座5G基站？", "a": ["120座"], "src": "000_a17aea0bf2d75ea6.txt"},
                 {"q": "火星上有多少座水电站？", "a": [], "src": None}]
    qa.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in questions), "utf-8")
    first = CliRunner().invoke(app, ["eval", str(qa), "--details", str(details), "--json"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout.strip().splitlines()[-1])
    assert report["answer_contains_gold_ci"][0] <= report["answer_contains_gold"] <= report["answer_contains_gold_ci"][1]
    assert len(load_rows(details)) == 2
    again = CliRunner().invoke(app, ["eval", str(qa), "--baseline", str(details)])
    assert again.exit_code == 0, again.output
    assert "answer contains gold" in again.stdout and "paired comparison" in again.stdout
    lines = [line for line in again.stdout.splitlines() if line.startswith(("answer_contains_gold", "refusal_accuracy"))]
    assert len(lines) == 2 and all(line.split()[4:7] == ["0", "0", line.split()[1]] for line in lines)
