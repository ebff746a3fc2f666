"""Spaces between Latin words from the recogniser's character positions (ingest/ocr_text.py).

Synthetic lines are drawn with Noto Sans CJK (``fonts-noto-cjk``, as tests/newspaper_render.py) at known glyph
positions and handed to :func:`ingest.ocr_text.ink_gaps` with a recogniser result built the way
``rapidocr-onnxruntime`` 1.4.4 returns it (``(text, mean, [columns, words, word columns, states, confs])``); one
test runs the real engine on a rendered page.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from ingest.layout import TextBox
from ingest.ocr import CACHE_VERSION, OcrCache
from ingest.ocr_text import SPACE_GAP, ink_gaps, line_scale, respace, respace_page
from ingest.scans import load_scan
from tests.newspaper_render import FONT_PACKAGE, Article, Style, find_font, render_pages, save

needs_font = pytest.mark.skipif(find_font() is None, reason=f"no CJK font: apt-get install {FONT_PACKAGE}")


def draw_line(text: str, px: int = 22) -> tuple[np.ndarray, str, list[float]]:
    """``text`` drawn on a white line crop ``(h, w, 3)``; returns the crop, the text without spaces (what the
    recogniser reads) and each of its characters' centre x in pixels."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(find_font()), px)
    height = px + 4  # detected line boxes are about this tall on the bench renders
    width = round(font.getlength(text)) + 2 * px
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    x, centres = float(px), []
    for ch in text:
        advance = font.getlength(ch)
        draw.text((x, height / 2), ch, font=font, fill="black", anchor="lm")
        if ch != " ":
            centres.append(x + advance / 2)
        x += advance
    return np.asarray(img), text.replace(" ", ""), centres


def rec_result(text: str, centres: list[float], width: int, columns_per_px: float = 0.25) -> tuple:
    """A recogniser result for ``text`` whose characters fired at the CTC columns over ``centres``."""
    total = width * columns_per_px
    cols = [int(c * columns_per_px) for c in centres]
    return (text, 0.99, [total, [list(text)], [cols], ["en&num"], [0.99] * len(text)])


@needs_font
def test_word_spaces_are_wider_than_letter_gaps_and_come_back() -> None:
    crop, text, centres = draw_line("据Kaji Dha介绍，Mellon Foundation资助")
    res = rec_result(text, centres, crop.shape[1])
    gaps = ink_gaps(crop, res, text)
    assert len(gaps) == len(text) - 1
    box = TextBox(0, 0, crop.shape[1], crop.shape[0], text, (0.99,) * len(text), gaps)
    spaced = respace(box, SPACE_GAP * 22)  # body size = the font's pixel size
    assert spaced.text == "据Kaji Dha介绍，Mellon Foundation资助"
    assert len(spaced.confs) == len(spaced.text) and spaced.gaps == ()
    words = {text.index("iD"), text.index("nF")}
    for i, gap in enumerate(gaps):
        if text[i].isascii() and text[i + 1].isascii() and text[i].isalnum() and text[i + 1].isalnum():
            assert (gap >= SPACE_GAP * 22) == (i in words), (text[i:i + 2], gap)


@needs_font
def test_no_space_between_cjk_or_in_numbers() -> None:
    crop, text, centres = draw_line("营收达6,476万 美元")  # the space before 美 is wide ink gap, but CJK
    res = rec_result(text, centres, crop.shape[1])
    box = TextBox(0, 0, crop.shape[1], crop.shape[0], text, (), ink_gaps(crop, res, text))
    assert box.gaps[text.index("万")] >= SPACE_GAP * 22
    assert respace(box, SPACE_GAP * 22).text == "营收达6,476万美元"


def test_gaps_are_skipped_when_positions_are_unknown_or_the_box_is_vertical() -> None:
    crop = np.full((30, 200, 3), 255, dtype=np.uint8)
    assert ink_gaps(crop, ("ab", 0.9, [50.0, [["a"]], [[3]], ["en&num"], [0.9]]), "ab") == ()  # misaligned
    assert ink_gaps(crop, ("ab", 0.9), "ab") == ()  # no word info
    wide = (30.0,)
    assert respace(TextBox(0, 0, 20, 200, "ab", (), wide), 5.0).text == "ab"  # vertical
    assert respace(TextBox(0, 0, 200, 20, "ab", (), wide), 5.0).text == "a b"
    assert respace(TextBox(0, 0, 200, 20, "ab", (), (2.0,)), 5.0).text == "ab"
    assert respace(TextBox(0, 0, 200, 20, "abc", (), wide), 5.0).text == "abc"  # gaps do not line up


def test_gaps_are_measured_against_the_body_size_or_a_headlines_own() -> None:
    body = [TextBox(0, y, 400, y + h, "正文一行字ABCD", (), (0,) * 7 + (5.0,)) for y, h in
            ((0, 20), (30, 25), (60, 20), (90, 19))]  # a taller body line (brackets): still body-sized
    headline = TextBox(0, 200, 600, 240, "标题XY", (), (0, 0, 8.0))  # a space at body size, not at its own
    assert [line_scale(b, 20) for b in body] == [20, 20, 20, 20] and line_scale(headline, 20) == 40
    out = respace_page([*body, headline])
    assert {b.text for b in out[:4]} == {"正文一行字ABC D"} and out[4].text == "标题XY"


def test_cache_keeps_gaps_and_ignores_version_1(tmp_path: Path) -> None:
    cache = OcrCache(tmp_path)
    box = TextBox(0, 0, 200, 20, "KajiDha", (0.9,) * 7, (1.0, 2.0, 1.0, 8.0, 1.0, 1.0))
    cache.put("b" * 64, [[box]])
    assert cache.get("b" * 64) == [[box]]
    data = json.loads(cache.path("b" * 64).read_text("utf-8"))
    assert data["version"] == CACHE_VERSION >= 2
    old = {**data, "version": 1, "pages": [[b[:6] for b in page] for page in data["pages"]]}
    cache.path("b" * 64).write_text(json.dumps(old), "utf-8")
    assert cache.get("b" * 64) is None
    box = TextBox(0, 0, 200, 20, "KajiDha", (0.9,) * 7, (1.0, 2.0, 1.0, 8.0, 1.0, 1.0))
    cache.put("b" * 64, [[box]])
    path = tmp_path / "scan.png"
    path.write_bytes(b"x")
    assert load_scan(path, "b" * 64, cache).text == "Kaji Dha"


@needs_font
def test_real_ocr_keeps_spaces_between_latin_words(tmp_path: Path) -> None:
    art = Article(["测试标题"], ["据Kaji Dha介绍，Mellon Foundation资助了该项目，New York Times也有报道。"])
    path = save(render_pages([art], Style(columns=1, width=900, height=400, seed=1)), tmp_path / "line.png")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    text = load_scan(path, sha, OcrCache(tmp_path / "cache")).text
    assert "Kaji Dha" in text and "Mellon Foundation" in text, text
    assert "介绍" in text and "介 绍" not in text
