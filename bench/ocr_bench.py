"""``make bench-ocr``: OCR quality and cost on rendered newspaper pages, and answers over them.

    .venv/bin/python bench/ocr_bench.py [--workers N] [--cmrc N] [--noisy N] [--fresh] [--no-respace]

1. Renders (tests/newspaper_render.py, Noto CJK from ``make setup``): the five sample pages as image-only PDFs
   (2 or 3 columns, bold or vertical headlines, photo captions; several PDF pages each), the first ``--cmrc``
   CMRC 2018 trial passages as one-page PNG / JPEG / WebP / TIFF images, and for the first ``--noisy`` sample
   pages a noisy one-page copy (JPEG quality 60, Gaussian noise) of their leading articles. The source text is kept as ground truth.
2. OCR with ``--workers`` processes through :func:`ingest.ocr.ocr_files` (cached by file hash under
   ``$NEWSQA_BENCH_CACHE/ocr``, renders too: a second run reuses both and reports the first run's timing).
3. Character error rate of the OCR + reading-order text (:func:`ingest.scans.load_scan`) against the truth:
   Levenshtein distance / truth length after NFKC and dropping whitespace and ``## `` markers.
4. Answers: ``seeds_dev`` over the rendered sample PDFs and CMRC questions about the rendered passages, beside
   the same questions over the text files (same code, same model); per-question rows in ``WORK/answers.json``.
   ``--no-respace`` leaves out the spaces put back from ink gaps (:mod:`ingest.ocr_text`), on the same cached OCR.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import CACHE_DIR, CMRC_ARTICLES, CMRC_QA, SAMPLE_ARTICLES, SEEDS_QA, offline_env, settings_for  # noqa: E402

from tests.newspaper_render import Article, Style, parse_page, render_pages, save  # noqa: E402

WORK = CACHE_DIR / "ocr"
_SPACE = re.compile(r"\s+")


def norm(text: str) -> str:
    """Text compared for CER: NFKC (full/half-width punctuation alike), no whitespace, no ``## `` markers."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text.replace("## ", "")))


def cer(truth: str, text: str) -> tuple[int, int]:
    """``(edit distance, truth length)`` of normalised texts."""
    from rapidfuzz.distance import Levenshtein

    a, b = norm(truth), norm(text)
    return Levenshtein.distance(a, b), len(a)


def cmrc_article(path: Path) -> Article:
    title, _, body = path.read_text("utf-8").partition("\n")
    return Article([title.strip()], [p.strip() for p in body.split("\n") if p.strip()])


def render_all(n_cmrc: int, n_noisy: int) -> dict[str, dict[str, Any]]:
    """Render every page set into WORK/{seeds,cmrc,noisy}; returns ``{relative file: {"truth", "set"}}``."""
    index_path = WORK / "renders.json"
    if index_path.exists():
        index = json.loads(index_path.read_text("utf-8"))
        if (index.get("cmrc"), index.get("noisy"), index.get("format")) == (n_cmrc, n_noisy, 3):
            return index["files"]
    for folder in ("seeds", "noisy", "cmrc"):  # renders are deterministic: the OCR cache stays valid
        shutil.rmtree(WORK / folder, ignore_errors=True)
    files: dict[str, dict[str, Any]] = {}
    for i, src in enumerate(sorted(SAMPLE_ARTICLES.glob("*.txt"))):
        arts = parse_page(src.read_text("utf-8"))
        style = Style(columns=3 if i % 2 == 0 else 2, vertical_headline=i % 2 == 1, photo=i % 2 == 1, seed=i)
        doc = render_pages(arts, style)
        out = WORK / "seeds" / f"{src.stem}.pdf"
        out.parent.mkdir(parents=True, exist_ok=True)
        save(doc, out)
        files[f"seeds/{out.name}"] = {"truth": "\n".join(doc.truth), "set": "seeds", "pages": len(doc.pages)}
        if i >= n_noisy:
            continue
        noisy = render_pages(_one_page(parse_page(src.read_text("utf-8")), style),
                             Style(**{**style.__dict__, "noise": 12.0}))
        out = WORK / "noisy" / f"{src.stem}.jpg"
        out.parent.mkdir(parents=True, exist_ok=True)
        save(noisy, out, quality=60)
        files[f"noisy/{out.name}"] = {"truth": noisy.page_truth(0), "set": "noisy", "pages": 1}
    suffixes = [".png", ".jpg", ".webp", ".tif"]
    for i, src in enumerate(sorted(CMRC_ARTICLES.glob("*.txt"))[:n_cmrc]):
        style = Style(columns=2 + i % 2, vertical_headline=i % 3 == 2, photo=i % 4 == 3, width=1200, height=1700, seed=i)
        doc = render_pages([cmrc_article(src)], style)
        out = WORK / "cmrc" / f"{src.stem}{suffixes[i % len(suffixes)]}"
        out.parent.mkdir(parents=True, exist_ok=True)
        save(doc, out, quality=90)
        files[f"cmrc/{out.name}"] = {"truth": "\n".join(doc.truth), "set": "cmrc", "pages": len(doc.pages),
                                     "src": src.name}
    index_path.write_text(json.dumps({"cmrc": n_cmrc, "noisy": n_noisy, "format": 3, "files": files}, ensure_ascii=False), "utf-8")
    return files


def _one_page(arts: list[Article], style: Style) -> list[Article]:
    """The leading articles that fit on one page (at least the first, which may run on: only page 1 is kept)."""
    kept = arts[:1]
    for n in range(2, len(arts) + 1):
        if len(render_pages([Article(list(a.headlines), list(a.paragraphs)) for a in arts[:n]], style).pages) > 1:
            break
        kept = arts[:n]
    return [Article(list(a.headlines), list(a.paragraphs)) for a in kept]


def run_ocr(files: dict[str, dict[str, Any]], workers: int) -> dict[str, Any]:
    """OCR every render (cached); returns timing of the run that did the work."""
    import hashlib

    from ingest.ocr import OcrCache, ocr_files

    timing_path = WORK / "timing.json"
    cache = OcrCache(WORK / "ocr-cache")
    todo = []
    for rel in files:
        path = WORK / rel
        todo.append((path, hashlib.sha256(path.read_bytes()).hexdigest()))
    missing = [(p, s) for p, s in todo if cache.get(s) is None]
    if missing:
        pages = sum(files[str(p.relative_to(WORK))]["pages"] for p, _ in missing)
        chars = sum(len(norm(files[str(p.relative_to(WORK))]["truth"])) for p, _ in missing)
        started = time.perf_counter()
        last = [0.0]

        def progress(done: int, total: int, name: str) -> None:
            if time.perf_counter() - last[0] > 30 or done == total:
                last[0] = time.perf_counter()
                print(f"  OCR {done}/{total} pages ({name}), {last[0] - started:.0f} s", flush=True)

        failed: dict[str, str] = {}
        # One call per set, smallest pages first: each set is cached as soon as it is done.
        for name in ("cmrc", "noisy", "seeds"):
            part = [(p, s) for p, s in missing if files[str(p.relative_to(WORK))]["set"] == name]
            failed.update(ocr_files(part, cache, workers, progress) if part else {})
        seconds = time.perf_counter() - started
        timing = {"pages": pages, "chars": chars, "seconds": round(seconds, 1), "workers": workers,
                  "failed": failed}
        timing_path.write_text(json.dumps(timing), "utf-8")
    return {**json.loads(timing_path.read_text("utf-8")), "cache": cache, "hashes": dict(todo)}


def measure_cer(files: dict[str, dict[str, Any]], ocr: dict[str, Any]) -> dict[str, dict[str, Any]]:
    from ingest.scans import load_scan

    per_set: dict[str, list[int]] = {}
    low: dict[str, int] = {}
    worst: dict[str, tuple[float, str]] = {}
    for rel, info in files.items():
        path = WORK / rel
        scan = load_scan(path, ocr["hashes"][path], ocr["cache"], rel)
        dist, n = cer(info["truth"], scan.text)
        acc = per_set.setdefault(info["set"], [0, 0])
        acc[0] += dist
        acc[1] += n
        low[info["set"]] = low.get(info["set"], 0) + scan.low_chars
        if dist / max(n, 1) > worst.get(info["set"], (-1.0, ""))[0]:
            worst[info["set"]] = (dist / max(n, 1), rel)
    return {name: {"cer": round(d / max(n, 1), 4), "chars": n, "low_confidence_chars": low[name],
                   "worst": f"{worst[name][1]} ({worst[name][0]:.3f})"} for name, (d, n) in per_set.items()}


def answers(folder: Path, qa: list[dict[str, Any]], ocr_cache: Path | None) -> dict[str, Any]:
    """Ingest ``folder`` into a temporary store (packaged model, OCR cache pre-filled) and evaluate ``qa``."""
    from bot.service import build_service
    from rag.evaluation import QAItem, evaluate

    with tempfile.TemporaryDirectory(prefix="newsqa-ocr-bench-") as tmp:
        settings = settings_for(Path(tmp))
        (Path(tmp) / "articles").symlink_to(folder.resolve(), target_is_directory=True)
        if ocr_cache is not None:
            shutil.copytree(ocr_cache, settings.ocr_cache_dir)
        service = build_service(settings)
        summary = service.ingest()
        service.warm_up()
        items = [QAItem(q=r["q"], a=list(r["a"]), src=r["src"] if isinstance(r["src"], list) else [r["src"]] if r["src"] else [],
                        tag=r.get("tag", "")) for r in qa]
        report = evaluate(service, items, 5)
        s = report.summary()
        return {"hit_at_1": s["hit_at_1"], "answer_contains_gold": s["answer_contains_gold"],
                "refusal_accuracy": s["refusal_accuracy"], "questions": s["questions"],
                "ocr_pages": summary.ocr_pages, "failed": summary.files_failed, "per_question": report.per_question}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="OCR processes")
    parser.add_argument("--cmrc", type=int, default=24, help="CMRC passages rendered")
    parser.add_argument("--noisy", type=int, default=2, help="sample pages also rendered noisy (first page, JPEG)")
    parser.add_argument("--fresh", action="store_true", help="drop cached renders and OCR results first")
    parser.add_argument("--no-respace", action="store_true",
                        help="no spaces from ink gaps (ingest.ocr_text.respace_page): the figures before them")
    args = parser.parse_args()
    if args.no_respace:
        import ingest.ocr_text

        ingest.ocr_text.SPACE_GAP = float("inf")
    offline_env()
    if args.fresh:
        shutil.rmtree(WORK, ignore_errors=True)
    started = time.perf_counter()
    files = render_all(args.cmrc, args.noisy)
    print(f"rendered {len(files)} files, {sum(f['pages'] for f in files.values())} pages "
          f"in {time.perf_counter() - started:.0f} s", flush=True)
    ocr = run_ocr(files, args.workers)
    per_min = ocr["pages"] / ocr["seconds"] * 60 if ocr["seconds"] else 0.0
    print(f"OCR: {ocr['pages']} pages ({ocr['chars']} characters) in {ocr['seconds']} s with {ocr['workers']} "
          f"worker(s): {per_min:.1f} pages/min, {ocr['chars'] / ocr['seconds'] * 60:.0f} characters/min"
          + (f"; failed {ocr['failed']}" if ocr["failed"] else ""), flush=True)
    for name, row in measure_cer(files, ocr).items():
        print(f"CER {name}: {row['cer']:.4f} over {row['chars']} characters, {row['low_confidence_chars']} "
              f"low-confidence characters; worst {row['worst']}", flush=True)

    seeds_qa = [json.loads(line) for line in SEEDS_QA.read_text("utf-8").splitlines() if line.strip()]
    seeds_pdf = [{**r, "src": r["src"] and r["src"].replace(".txt", ".pdf")} for r in seeds_qa]
    rendered = {info["src"]: Path(rel).name for rel, info in files.items() if info["set"] == "cmrc"}
    cmrc_qa = [json.loads(line) for line in CMRC_QA.read_text("utf-8").splitlines() if line.strip()]
    cmrc_qa = [r for r in cmrc_qa if r.get("src") in rendered and r.get("q")]
    with tempfile.TemporaryDirectory(prefix="newsqa-cmrc-text-") as tmp:
        for src in rendered:
            shutil.copy(CMRC_ARTICLES / src, Path(tmp) / src)
        rows = {
            "seeds text": answers(SAMPLE_ARTICLES, seeds_qa, None),
            "seeds rendered": answers(WORK / "seeds", seeds_pdf, WORK / "ocr-cache"),
            "cmrc text": answers(Path(tmp), cmrc_qa, None),
            "cmrc rendered": answers(WORK / "cmrc", [{**r, "src": rendered[r["src"]]} for r in cmrc_qa],
                                     WORK / "ocr-cache"),
        }
    (WORK / "answers.json").write_text(json.dumps({k: v.pop("per_question") for k, v in rows.items()},
                                                  ensure_ascii=False, default=str), "utf-8")
    for name, row in rows.items():
        print(f"answers {name}: {row['questions']} questions, hit@1 {row['hit_at_1']:.3f}, answer contains gold "
              f"{row['answer_contains_gold']:.3f}, refusal accuracy {row['refusal_accuracy']}"
              f" (OCR pages {row['ocr_pages']}, failed files {row['failed']})", flush=True)
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
