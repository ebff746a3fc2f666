"""Vertical headlines the detector splits, look-alike misreads and code spellings (ingest/ocr.py, ingest/ocr_correct.py).

The geometry tests use rectangles and ink profiles shaped like what PP-OCRv4 returned for a rendered letter-spaced
vertical headline (one box per character, the last one overlapping the box above); one test runs the real
engine on a rendered page (Noto CJK from ``make setup``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from ingest.layout import Block
from ingest.ocr import OcrCache
from ingest.ocr_correct import MAX_CONFIDENCE, correct_confusions, restore_openers, unify_code_variants
from ingest.ocr_geometry import merge_vertical_stacks, vertical_cells
from ingest.scans import fix_confusions, load_scan
from tests.newspaper_render import FONT_PACKAGE, Article, Style, find_font, render_pages, save


def test_stacked_character_boxes_become_one_vertical_line() -> None:
    # 冰 / 雪 / 皇后 as detected on a bench render, plus a body line beside them and one below the column.
    rects = [(43, 53, 80, 89), (44, 89, 78, 130), (41, 120, 81, 207), (147, 81, 377, 104), (43, 400, 300, 424)]
    merged = merge_vertical_stacks(rects)
    assert (41, 53, 81, 207) in merged
    assert (147, 81, 377, 104) in merged and (43, 400, 300, 424) in merged
    assert len(merged) == 3


def test_horizontal_lines_and_far_apart_boxes_are_not_stacked() -> None:
    lines = [(40, 100, 400, 124), (40, 130, 400, 154), (40, 160, 120, 184)]  # body lines, the last one short
    assert sorted(merge_vertical_stacks(lines)) == sorted(lines)
    apart = [(40, 100, 76, 136), (40, 200, 76, 236)]  # two single characters a paragraph apart
    assert sorted(merge_vertical_stacks(apart)) == sorted(apart)
    one_pair = [(40, 100, 76, 136), (40, 138, 76, 150)]  # stacked, but not 1.5x taller than wide together
    assert sorted(merge_vertical_stacks(one_pair)) == sorted(one_pair)


def test_cells_follow_the_pitch_not_every_blank_row() -> None:
    width = 40
    ink = np.zeros(160, dtype=int)
    for top, bottom in [(2, 36), (42, 56), (60, 78), (82, 118), (122, 158)]:  # char, 白 over 王 (one char), char, char
        ink[top:bottom] = 5
    cells = vertical_cells(ink, width)
    assert len(cells) == 4
    assert cells[1][0] <= 42 and cells[1][1] >= 78  # 白 and 王 in one cell
    assert vertical_cells(np.zeros(80, dtype=int), width) == []
    # Six characters at a 39 px pitch in a 44 px wide box: round(232 / 44) = 5 would put two in one cell.
    ink = np.zeros(232, dtype=int)
    for k in range(6):
        ink[4 + 39 * k : 37 + 39 * k] = 5
    assert len(vertical_cells(ink, 44)) == 6


def test_look_alikes_are_put_right_only_where_a_word_wins_and_the_read_was_unsure() -> None:
    assert correct_confusions("她战胜对手普级决赛") == "她战胜对手晋级决赛"
    assert correct_confusions("排挤异已阴狠毒辣") == "排挤异己阴狠毒辣"
    assert correct_confusions("天津市委青工部千部") == "天津市委青工部干部"
    assert correct_confusions("已经完成，具有自己的思想") == "已经完成，具有自己的思想"  # right as read: kept
    sure = [1.0] * 8
    assert correct_confusions("她战胜对手普级决赛"[:8], sure) == "她战胜对手普级决"  # read with confidence: kept
    unsure = sure[:]
    unsure[5] = MAX_CONFIDENCE - 0.3
    assert correct_confusions("她战胜对手普级决赛"[:8], unsure) == "她战胜对手晋级决"
    assert len(correct_confusions("千部 \n 枝千百世")) == len("千部 \n 枝千百世")


def test_a_word_cut_between_blocks_is_corrected_as_one() -> None:
    blocks = [Block("paragraph", "他具有自", [1.0, 1.0, 1.0, 1.0]), Block("paragraph", "已的思想", [0.5, 1.0, 1.0, 1.0])]
    fix_confusions(blocks)
    assert [b.text for b in blocks] == ["他具有自", "己的思想"]
    assert [len(b.confs) for b in blocks] == [4, 4]


def test_a_corner_bracket_read_as_a_stroke_is_put_back_only_where_a_closer_lacks_it() -> None:
    read = "分别是1园艺设计（庭院及屋顶）证书课程」及「茶艺与插花证书课程」。"
    assert restore_openers(read) == read.replace("是1园", "是「园")
    balanced = "共1人「受伤」，第1名。"
    assert restore_openers(balanced) == balanced
    assert restore_openers("第1名。课程」") == "第1名。课程」"  # no candidate after the sentence end: left as read
    assert restore_openers("G1型号」") == "G1型号」"  # a code's digit is not a bracket


def test_one_spelling_per_code_the_better_read_one() -> None:
    first, second = "称为AGG01，有可能", "AGGO1是一种蛋白质，CO2排放，G20峰会"
    blocks = [Block("paragraph", first, [0.99] * len(first)),
              Block("paragraph", second, [0.99, 0.99, 0.99, 0.55] + [0.99] * (len(second) - 4))]
    unify_code_variants(blocks)
    assert blocks[0].text == "称为AGG01，有可能"
    assert blocks[1].text.startswith("AGG01是一种")
    assert "CO2排放" in blocks[1].text and "G20峰会" in blocks[1].text  # one spelling each: left alone
    assert [len(b.confs) for b in blocks] == [len(b.text) for b in blocks]


@pytest.mark.skipif(find_font() is None or find_font(bold=True) is None,
                    reason=f"no CJK font for rendering test pages: apt-get install {FONT_PACKAGE}")
def test_real_ocr_reads_a_letter_spaced_vertical_headline_whole(tmp_path: Path) -> None:
    art = Article(["山水茶楼"], ["山水茶楼是一间连锁茶点和快餐餐厅，第一间餐厅位于河南平顶山市，供应包子等各种传统点心。" * 3])
    doc = render_pages([art], Style(columns=2, vertical_headline=True, width=1200, height=900, seed=17))
    path = save(doc, tmp_path / "page.jpg", quality=90)
    text = load_scan(path, hashlib.sha256(path.read_bytes()).hexdigest(), OcrCache(tmp_path / "cache")).text
    assert text.startswith("## 山水茶楼\n"), text[:80]
