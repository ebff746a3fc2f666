"""Tests for ingest.layout: reading order of positioned text boxes (synthetic pages, no OCR)."""

from __future__ import annotations

from ingest.layout import Block, TextBox, body_size, order_blocks, page_is_vertical, page_text

S = 20  # body character size (px)


def column(x: float, y: float, lines: list[str], indents: set[int] | None = None, size: int = S) -> list[TextBox]:
    """Horizontal lines of ``size`` px characters, line pitch 1.5 size; ``indents``: line numbers indented 2 chars."""
    out = []
    for n, text in enumerate(lines):
        x0 = x + (2 * size if indents and n in indents else 0)
        y0 = y + n * size * 1.5
        out.append(TextBox(x0, y0, x0 + len(text) * size, y0 + size, text, (0.99,) * len(text)))
    return out


def vertical_line(x: float, y: float, text: str, size: int = S) -> TextBox:
    return TextBox(x, y, x + size, y + len(text) * size * 1.05, text, (0.98,) * len(text))


def texts(blocks: list[Block]) -> list[tuple[str, str]]:
    return [(b.kind[0], b.text) for b in blocks]


def test_two_columns_under_a_spanning_headline() -> None:
    head = TextBox(0, 0, 14 * 32, 32, "县城五G网络实现全覆盖")
    left = column(0, 60, ["一二三四五六七八", "九十甲乙丙丁戊己", "庚辛"], indents={0})
    right = column(12 * S, 60, ["子丑寅卯辰巳午未", "申酉戌亥"], indents={0})
    # Boxes arrive in OCR's row-major order: the columns interleaved.
    boxes = [head] + [b for pair in zip(left, right, strict=False) for b in pair] + left[2:]
    assert texts(order_blocks(boxes)) == [
        ("h", "县城五G网络实现全覆盖"),
        ("p", "一二三四五六七八九十甲乙丙丁戊己庚辛"),
        ("p", "子丑寅卯辰巳午未申酉戌亥"),
    ]


def test_three_columns_paragraph_continues_across_columns() -> None:
    a = column(0, 0, ["甲甲甲甲甲甲", "甲甲甲甲甲甲", "甲甲甲甲甲甲"], indents={0})
    b = column(9 * S, 0, ["乙乙乙乙乙乙乙乙", "乙乙", "丙丙丙丙丙丙"], indents={2})
    c = column(18 * S, 0, ["丙丙丙丙丙丙丙丙", "丙丙丙"])
    blocks = order_blocks(c + b + a)
    assert [blk.text for blk in blocks] == ["甲" * 18 + "乙" * 10, "丙" * 6 + "丙" * 11]
    assert all(blk.kind == "paragraph" for blk in blocks)


def test_short_line_breaks_paragraphs_where_no_line_is_indented() -> None:
    lines = column(0, 0, ["一二三四五六七八九十", "一二三", "四五六七八九十一二三", "四五六七八九十一二三"])
    assert [b.text for b in order_blocks(lines)] == ["一二三四五六七八九十一二三", "四五六七八九十一二三四五六七八九十一二三"]


def test_vertical_headline_beside_its_article_is_read_first() -> None:
    body = column(0, 0, ["正文第一行正文第一行", "正文第二行正文第二行", "正文第三行正文第三行"], indents={0})
    title = vertical_line(14 * S, 0, "竖排标题")
    blocks = order_blocks(body + [title])
    assert texts(blocks)[0] == ("h", "竖排标题")
    assert blocks[1].text.startswith("正文第一行")
    assert not page_is_vertical(body + [title])


def test_vertical_page_reads_lines_right_to_left_with_a_horizontal_banner() -> None:
    banner = TextBox(0, 0, 8 * 32, 32, "直排报纸的大标题", ())
    lines = [vertical_line(x, 60, t) for x, t in ((200, "第一行文字内容"), (170, "第二行文字内容"), (140, "第三行"))]
    boxes = [*lines[::-1], banner]
    assert page_is_vertical(boxes)
    blocks = order_blocks(boxes)
    assert texts(blocks)[0] == ("h", "直排报纸的大标题")
    assert "".join(b.text for b in blocks[1:]) == "第一行文字内容第二行文字内容第三行"


def test_articles_stacked_in_one_column_and_latin_spacing() -> None:
    first = column(0, 0, ["第一篇文章的内容在这", "里结束了"], indents={0})
    second = column(0, 200, ["第二篇文章", "the end of", "words here"], indents={0})
    assert [b.text for b in order_blocks(second + first)] == [
        "第一篇文章的内容在这里结束了", "第二篇文章the end ofwords here"]  # lines join without a space
    pieces = [TextBox(0, 0, 60, S, "Kaji"), TextBox(72, 0, 132, S, "Dha"), *column(0, 40, ["正文正文正文正文"])]
    assert order_blocks(pieces)[0].text == "Kaji Dha"  # pieces of one line split at a gap keep it


def test_headline_needs_both_a_bigger_size_and_a_wider_pitch() -> None:
    tall_quote_line = TextBox(0, 0, 10 * S, 1.4 * S, "“引号让这一行更高”")  # taller, same pitch: body text
    lines = column(0, 40, ["正文正文正文正文正文", "正文正文正文正文正文"]) + [tall_quote_line]
    assert all(b.kind == "paragraph" for b in order_blocks(lines))
    assert body_size(lines) == S


def test_page_text_marks_headlines_and_separates_blocks() -> None:
    blocks = [Block("heading", "标题"), Block("paragraph", "正文。"), Block("paragraph", " ")]
    assert page_text(blocks) == "## 标题\n\n正文。"
    assert order_blocks([]) == [] and order_blocks([TextBox(0, 0, 5, 5, " ")]) == []


def test_a_word_cut_at_a_short_line_end_stays_in_its_paragraph() -> None:
    # 14 characters a line, half-width ones half a body character wide: "…10pp" ends 2 characters short of the
    # column edge although the line is full, and "m的…" goes on with the cut unit; "…标明。" ends a paragraph.
    lines = ["所有本地出售的葡萄酒，若含有", "超过国家规定的一二三10pp", "m的苯甲酸钠都必须标明。", "下一段没有缩进的开头在这里。"]
    boxes = []
    for n, text in enumerate(lines):
        width = sum(S / 2 if ch.isascii() else S for ch in text)
        boxes.append(TextBox(0, n * S * 1.5, width, n * S * 1.5 + S, text, (0.99,) * len(text)))
    assert texts(order_blocks(boxes)) == [
        ("p", "所有本地出售的葡萄酒，若含有超过国家规定的一二三10ppm的苯甲酸钠都必须标明。"),
        ("p", "下一段没有缩进的开头在这里。")]
    # A line as short ending in a CJK character still ends its paragraph.
    boxes[1] = TextBox(0, S * 1.5, 12 * S, S * 2.5, "超过国家规定的一二三十二", (0.99,) * 12)
    boxes[2] = TextBox(0, S * 3, 12 * S, S * 4, "毫克的苯甲酸钠都必须标明。", (0.99,) * 13)
    assert [b.text for b in order_blocks(boxes)][:2] == ["所有本地出售的葡萄酒，若含有超过国家规定的一二三十二",
                                                       "毫克的苯甲酸钠都必须标明。"]


def test_a_column_without_indents_follows_the_pages_indents() -> None:
    # Column 1 opens its paragraph with an indent; column 2 holds only the paragraph's run-on, with a line that
    # ends short of the edge (a typesetting quirk, or a word moved to the next line): on a page that indents,
    # only an indent opens a paragraph.
    a = column(0, 0, ["甲甲甲甲甲甲", "甲甲甲甲甲甲甲甲", "甲甲甲甲甲甲甲甲"], indents={0})
    b = column(10 * S, 0, ["乙乙乙乙乙乙乙乙", "乙乙乙乙", "丙丙丙丙丙丙丙丙"])
    assert [blk.text for blk in order_blocks(a + b)] == ["甲" * 22 + "乙" * 12 + "丙" * 8]
    # Without an indent anywhere on the page, the short line still ends its paragraph.
    a_flat = column(0, 0, ["甲甲甲甲甲甲甲甲", "甲甲甲甲甲甲甲甲"])
    assert [blk.text for blk in order_blocks(a_flat + b)] == ["甲" * 16 + "乙" * 12, "丙" * 8]
