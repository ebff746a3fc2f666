"""OCR ingest end to end on rendered newspaper pages (real RapidOCR, real packaged embedding model).

Pages are rendered once per session (tests/newspaper_render.py, Noto CJK from ``make setup``) and OCR'd once into
a session OCR cache; tests that ingest copy that cache into their data dir, so each page is OCR'd exactly once
(about a minute in all on 2 cores). Ground truth is the rendered text; CER as in bench/ocr_bench.py.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from ingest.layout import TextBox
from ingest.loaders import LoadError
from ingest.ocr import OcrCache, OcrError, ocr_files
from ingest.scans import LOW_CHAR_CONFIDENCE, article_confidence, load_scan
from tests.conftest import make_settings
from tests.newspaper_render import FONT_PACKAGE, Article, Style, find_font, render_pages, save

needs_font = pytest.mark.skipif(find_font() is None or find_font(bold=True) is None,
                                reason=f"no CJK font for rendering test pages: apt-get install {FONT_PACKAGE}")

FIVE_G = Article(
    ["郏县工信局", "全县建成开通5G基站120座"],
    ["紧盯“三大改造”，跟进重点项目。郏县工信局积极开展工业项目排查、汇总、统计、培育工作。目前，全县“三大改造”共70个项目，总投资167.3亿元。",
     "重点谋划建设5G产业项目16个，其中，建成启动2个，在建洽谈14个。全县建成开通5G基站120座，实现县城以上城区5G网络全覆盖。",
     "今年，该县将实施农村5G网络覆盖工程，在乡镇及农村热点区域新建5G基站82个，为企业数字化转型奠定坚实基础。"],
)
FARM = Article(
    ["乡村振兴", "麦收进度过半"],
    ["本报讯（记者张亚丹）连日来，宝丰县抢抓晴好天气组织机械化收割，全县小麦收获进度已过半。",
     "县农业农村局组织农机手三百余名，调度联合收割机四百八十台，实行跨区作业，确保颗粒归仓。",
     "目前，全县已收获小麦二十六万亩，预计本周末基本结束。"],
)


def cer(truth: str, text: str) -> float:
    import re
    import unicodedata

    from rapidfuzz.distance import Levenshtein

    def norm(t: str) -> str:
        return re.sub(r"\s+", "", unicodedata.normalize("NFKC", t.replace("## ", "")))

    return Levenshtein.distance(norm(truth), norm(text)) / len(norm(truth))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Rendered pages and their OCR cache: a clean two-column PNG (bold headline, photo caption) and a noisy
    three-column image-only PDF with a vertical headline."""
    if find_font() is None or find_font(bold=True) is None:
        pytest.skip(f"no CJK font for rendering test pages: apt-get install {FONT_PACKAGE}")
    root = tmp_path_factory.mktemp("ocr-pages")
    clean = render_pages([FIVE_G], Style(columns=2, photo=True, width=760, height=900, body_px=20))
    noisy = render_pages([FARM], Style(columns=3, vertical_headline=True, width=900, height=700, body_px=20,
                                       noise=10.0, seed=3))
    assert len(clean.pages) == len(noisy.pages) == 1
    files = {"clean": save(clean, root / "five-g.png"), "noisy": save(noisy, root / "farm.pdf")}
    cache = OcrCache(root / "ocr-cache")
    assert ocr_files([(p, sha(p)) for p in files.values()], cache) == {}
    return {"files": files, "cache": cache, "truth": {"clean": clean.truth, "noisy": noisy.truth}}


@needs_font
def test_clean_render_reads_in_order_with_low_cer(pages: dict) -> None:
    path = pages["files"]["clean"]
    scan = load_scan(path, sha(path), pages["cache"])
    assert cer("\n".join(pages["truth"]["clean"]), scan.text) <= 0.03, scan.text
    assert scan.text.startswith("## 郏县工信局\n\n## 全县建成开通5G基站120座")
    assert scan.ocr_pages == 1 and scan.page_confidence[1] > 0.9 and not scan.warnings


@needs_font
def test_noisy_scanned_pdf_with_vertical_headline(pages: dict) -> None:
    path = pages["files"]["noisy"]
    scan = load_scan(path, sha(path), pages["cache"])
    assert cer("\n".join(pages["truth"]["noisy"]), scan.text) <= 0.06, scan.text
    assert scan.text.startswith("## 乡村振兴"), scan.text  # the vertical title, read before its columns
    assert "全县已收获小麦二十六万亩" in scan.text.replace("\n", "")


@needs_font
def test_ingest_images_and_scans_through_the_cache(pages: dict, tmp_path: Path, packaged_model_path: str,
                                                   packaged_embedder, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from bot.service import build_service

    articles = tmp_path / "articles"
    articles.mkdir()
    for path in pages["files"].values():
        shutil.copy(path, articles / path.name)
    (articles / "torn.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    settings = make_settings(tmp_path, packaged_model_path)
    shutil.copytree(pages["cache"].folder, settings.ocr_cache_dir)

    def no_ocr(*args: object, **kwargs: object) -> None:
        raise AssertionError("OCR ran although the page is cached")

    monkeypatch.setattr("ingest.ocr.run_job", no_ocr)
    service = build_service(settings, embedder=packaged_embedder)
    summary = service.ingest()
    assert (summary.files_new, summary.files_failed, summary.ocr_pages) == (2, 1, 2)
    assert "torn.jpg" in summary.failures["torn.jpg"] and "cannot read image" in summary.failures["torn.jpg"]
    answer = service.ask("郏县建成了多少座5G基站？")
    assert answer.found and "120座" in answer.answer
    assert answer.citations[0].source == "five-g.png"
    # A changed chunk size re-chunks everything and still never re-runs OCR.
    smaller = build_service(make_settings(tmp_path, packaged_model_path, chunk_size=120), embedder=packaged_embedder)
    again = smaller.ingest(rebuild=True)
    assert again.files_new == 2 and again.ocr_pages == 2


@needs_font
def test_workers_ocr_pages_in_processes_and_cache_them(tmp_path: Path) -> None:
    doc = render_pages([Article(["标题"], ["多进程识别的第一页。"])], Style(columns=1, width=420, height=300))
    first = save(doc, tmp_path / "one.webp")
    second = save(render_pages([Article([], ["第二页的文字。"])], Style(columns=1, width=420, height=300)),
                  tmp_path / "two.tif")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    cache = OcrCache(tmp_path / "cache")
    seen: list[tuple[int, int]] = []
    failed = ocr_files([(first, sha(first)), (second, sha(second)), (broken, sha(broken))], cache, workers=2,
                       progress=lambda done, total, name: seen.append((done, total)))
    assert list(failed) == [str(broken)] and "cannot read image" in failed[str(broken)]
    assert seen == [(1, 2), (2, 2)]
    one, two = cache.get(sha(first)), cache.get(sha(second))
    assert one is not None and two is not None
    assert "多进程识别的第一页" in "".join(b.text for b in one[0])
    assert "第二页的文字" in "".join(b.text for b in two[0])


def test_low_confidence_is_counted_and_a_poor_page_is_named(tmp_path: Path) -> None:
    cache = OcrCache(tmp_path)
    good = [TextBox(0, 0, 200, 20, "清晰的正文一行字", (0.99,) * 8)]
    poor = [TextBox(0, 0, 200, 20, "模糊的正文一行字", (0.6, 0.7, 0.99, 0.5, 0.6, 0.7, 0.6, 0.9))]
    cache.put("f" * 64, [good, poor])
    path = tmp_path / "scan.pdf"
    path.write_bytes(b"%PDF")
    scan = load_scan(path, "f" * 64, cache, "scan.pdf")
    assert scan.ocr_pages == 2 and scan.low_chars == sum(c < LOW_CHAR_CONFIDENCE for c in poor[0].confs) == 6
    assert scan.warnings == ["scan.pdf: page 2: low OCR confidence (mean 0.70); check the scan"]
    from ingest.layout import order_blocks

    blocks = order_blocks(good) + order_blocks(poor)
    assert article_confidence(["清晰的正文一行字", "模糊的正文一行字", "别的文章"], blocks) == [
        (0.99, 0), (pytest.approx(0.699, abs=1e-3), 6), (1.0, 0)]


def test_cache_ignores_other_versions_and_a_page_without_text_is_a_load_error(tmp_path: Path) -> None:
    cache = OcrCache(tmp_path)
    cache.put("a" * 64, [[]])
    path = tmp_path / "blank.png"
    path.write_bytes(b"x")
    with pytest.raises(LoadError, match=r"blank\.png: no text found"):
        load_scan(path, "a" * 64, cache)
    data = json.loads(cache.path("a" * 64).read_text("utf-8"))
    cache.path("a" * 64).write_text(json.dumps({**data, "version": -1}), "utf-8")
    assert cache.get("a" * 64) is None
    assert issubclass(OcrError, Exception)


def test_an_engine_error_on_one_page_is_that_file_failing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    path = tmp_path / "odd.png"
    Image.new("RGB", (40, 40), "white").save(path)

    def boom(job: object, threads: object = None) -> None:
        raise RuntimeError("onnxruntime fell over")

    monkeypatch.setattr("ingest.ocr.run_job", boom)
    cache = OcrCache(tmp_path / "cache")
    failed = ocr_files([(path, sha(path))], cache)
    assert failed == {str(path): "OCR failed on page 1 (RuntimeError: onnxruntime fell over)"}
    assert cache.get(sha(path)) is None
