"""Tests for ingest.loaders: file discovery, encoding detection, HTML and PDF text, load errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ingest.loaders import (
    IMAGE_SUFFIXES,
    SUPPORTED_SUFFIXES,
    LoadError,
    NeedsOcrError,
    discover_files,
    load_text,
)
from rag.errors import InputError

SIMPLIFIED = (
    "郏县建成开通5G基站120座，实现县城以上城区5G网络全覆盖。\n"
    "今年，该县将实施农村5G网络覆盖工程，为企业数字化转型奠定坚实基础。\n"
)
TRADITIONAL = (
    "郟縣建成開通5G基站120座，實現縣城以上城區5G網絡全覆蓋。\n"
    "今年，該縣將實施農村5G網絡覆蓋工程，為企業數字化轉型奠定堅實基礎。\n"
)


def _pdf(page_streams: list[bytes], cjk: bool = False) -> bytes:
    """A minimal hand-written PDF: one standard font, one content stream per page, a correct xref.

    ``cjk`` uses the Adobe-GB1 CID font STSong-Light with the predefined UniGB-UTF16-H CMap (no font
    embedding needed; text strings are UTF-16BE), which pypdf maps back to Unicode.
    """
    font = (
        b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UTF16-H "
        b"/DescendantFonts [<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light "
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 4 >> >>] >>"
        if cjk
        else b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    )
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(page_streams))).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % len(page_streams),
        font,
    ]
    for i, stream in enumerate(page_streams):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 300] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (5 + 2 * i)
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_supported_suffixes_and_error_type() -> None:
    images = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp"}
    assert frozenset({".txt", ".md", ".html", ".htm", ".pdf"} | images) == SUPPORTED_SUFFIXES
    assert images == IMAGE_SUFFIXES
    assert issubclass(LoadError, InputError)
    assert issubclass(NeedsOcrError, LoadError)


# --- discover_files -----------------------------------------------------------------------------


def test_discover_files_walks_folders_sorted_without_hidden_or_unsupported(tmp_path: Path) -> None:
    for name in [
        "b.md",
        "a.txt",
        "c.html",
        "d.htm",
        "e.pdf",
        "f.docx",
        ".hidden.txt",
        "sub/g.TXT",
        "sub/deeper/h.txt",
        ".git/x.txt",
        "sub/.cache/y.md",
    ]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x", encoding="utf-8")

    found = discover_files([tmp_path])

    names = [p.relative_to(tmp_path).as_posix() for p in found]
    assert names == ["a.txt", "b.md", "c.html", "d.htm", "e.pdf", "sub/deeper/h.txt", "sub/g.TXT"]
    assert found == sorted(found, key=str)


def test_discover_files_mixes_files_and_folders_without_duplicates(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    inside = tmp_path / "docs" / "one.txt"
    inside.write_text("x", encoding="utf-8")
    single = tmp_path / "two.md"
    single.write_text("x", encoding="utf-8")

    assert discover_files([single, tmp_path / "docs", inside]) == sorted([inside, single], key=str)


def test_discover_files_missing_path_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "gone.txt"
    with pytest.raises(LoadError, match="gone.txt"):
        discover_files([tmp_path, missing])


def test_discover_files_rejects_an_explicit_unsupported_file(tmp_path: Path) -> None:
    doc = tmp_path / "report.docx"
    doc.write_bytes(b"PK\x03\x04")
    with pytest.raises(LoadError, match=r"report\.docx.*unsupported"):
        discover_files([doc])


def test_discover_files_empty_folder(tmp_path: Path) -> None:
    assert discover_files([tmp_path]) == []


# --- load_text: encodings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codec", "text"),
    [
        ("utf-8", SIMPLIFIED),
        ("utf-8-sig", SIMPLIFIED),
        ("gb18030", SIMPLIFIED),
        ("gbk", SIMPLIFIED),
        ("big5", TRADITIONAL),
        ("utf-8", TRADITIONAL),
        ("utf-16", SIMPLIFIED),
    ],
)
@pytest.mark.parametrize("suffix", [".txt", ".md"])
def test_load_text_round_trips_encodings(tmp_path: Path, codec: str, text: str, suffix: str) -> None:
    path = tmp_path / f"page{suffix}"
    path.write_bytes(text.encode(codec))
    assert load_text(path) == text


def test_load_text_gb18030_only_characters_survive(tmp_path: Path) -> None:
    # 䶮 and 𠀀 are not in GBK: a GBK/GB2312 verdict decoded as GBK would fail or garble them.
    text = "刘䶮是南汉的开国皇帝，𠀀是扩展B区的字。郏县位于河南省中部。"
    path = tmp_path / "rare.txt"
    path.write_bytes(text.encode("gb18030"))
    assert load_text(path) == text


def test_load_text_keeps_line_ends_and_traditional_characters(tmp_path: Path) -> None:
    path = tmp_path / "crlf.txt"
    path.write_bytes("## 郟县工信局\r\n\r\n正文。\r\n".encode())
    assert load_text(path) == "## 郟县工信局\r\n\r\n正文。\r\n"


# --- load_text: errors --------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"   \n\t\n", "\u3000\u3000\n".encode()])
def test_load_text_empty_file_raises_naming_it(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "blank.txt"
    path.write_bytes(content)
    with pytest.raises(LoadError, match=r"blank\.txt: (file is empty|file has no text)"):
        load_text(path)


def test_load_text_nul_bytes_are_binary(tmp_path: Path) -> None:
    path = tmp_path / "image.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(LoadError, match=r"image\.txt: binary"):
        load_text(path)


def test_load_text_control_characters_are_binary(tmp_path: Path) -> None:
    path = tmp_path / "blob.md"
    path.write_bytes(bytes([1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 16, 17]) * 40 + b"some text")
    with pytest.raises(LoadError, match=r"blob\.md: (binary|cannot detect)"):
        load_text(path)


def test_load_text_unreadable_path_raises(tmp_path: Path) -> None:
    folder = tmp_path / "folder.txt"
    folder.mkdir()
    with pytest.raises(LoadError, match=r"folder\.txt: cannot read file"):
        load_text(folder)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_load_text_permission_denied_raises(tmp_path: Path) -> None:
    path = tmp_path / "secret.txt"
    path.write_text("正文。", encoding="utf-8")
    path.chmod(0)
    try:
        with pytest.raises(LoadError, match=r"secret\.txt: cannot read file"):
            load_text(path)
    finally:
        path.chmod(0o600)


def test_load_text_unsupported_suffix_raises(tmp_path: Path) -> None:
    path = tmp_path / "sheet.csv"
    path.write_text("a,b", encoding="utf-8")
    with pytest.raises(LoadError, match=r"sheet\.csv: unsupported"):
        load_text(path)


# --- load_text: PDF -----------------------------------------------------------------------------


def test_load_text_pdf_pages_joined_by_blank_line(tmp_path: Path) -> None:
    path = tmp_path / "two-pages.pdf"
    path.write_bytes(
        _pdf(
            [
                b"BT /F1 12 Tf 20 200 Td (Hello PDF page one) Tj ET",
                b"BT /F1 12 Tf 20 200 Td (Second page) Tj ET",
            ]
        )
    )
    assert load_text(path) == "Hello PDF page one\n\nSecond page"


def test_load_text_pdf_with_chinese_text_layer(tmp_path: Path) -> None:
    hex_text = "郏县建成5G基站120座".encode("utf-16-be").hex().upper().encode()
    path = tmp_path / "cjk.pdf"
    path.write_bytes(_pdf([b"BT /F1 12 Tf 20 200 Td <" + hex_text + b"> Tj ET"], cjk=True))
    assert "郏县建成5G基站120座" in load_text(path)


def test_load_text_pdf_without_text_layer_raises(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(_pdf([b"0 0 1 rg 10 10 100 100 re f"]))  # a filled rectangle, no text
    with pytest.raises(NeedsOcrError, match=r"scan\.pdf: PDF has no text layer"):
        load_text(path)


def test_load_text_image_needs_ocr(tmp_path: Path) -> None:
    path = tmp_path / "page.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n not decoded here")
    with pytest.raises(NeedsOcrError, match=r"page\.png: page image, needs OCR"):
        load_text(path)


def test_load_text_pdf_columns_in_reading_order(tmp_path: Path) -> None:
    """A two-column text-layer PDF whose content stream interleaves the columns line by line (as layout
    programs often write them) comes out column by column."""
    left = ["郏县建成开通五", "基站一百二十座", "实现城区全覆盖"]
    right = ["今年该县将实施", "农村网络覆盖工", "程奠定坚实基础"]
    ops = []
    for row, (a, b) in enumerate(zip(left, right, strict=True)):
        for x, text in ((20, a), (160, b)):
            hex_text = text.encode("utf-16-be").hex().upper().encode()
            ops.append(b"BT /F1 12 Tf %d %d Td <" % (x, 250 - 16 * row) + hex_text + b"> Tj ET")
    path = tmp_path / "columns.pdf"
    path.write_bytes(_pdf([b"\n".join(ops)], cjk=True))
    assert load_text(path).replace("\n", "") == "".join(left + right)


@pytest.mark.parametrize("content", [b"%PDF-1.4\nthis is not really a pdf", b"not a pdf at all"])
def test_load_text_broken_pdf_raises_naming_it(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(content)
    with pytest.raises(LoadError, match=r"broken\.pdf: (cannot parse PDF|PDF has no text layer)"):
        load_text(path)


# --- load_text: HTML ----------------------------------------------------------------------------


def test_load_text_html_headings_blocks_and_dropped_parts(tmp_path: Path) -> None:
    html = """<!DOCTYPE html><html><head><title>站点标题</title><style>p{color:red}</style></head>
    <body><nav>首页 | 新闻</nav><!-- 注释不应出现 -->
    <h1>郏县建成5G基站</h1><h2>副标题</h2>
    <p>第一段第一句。<br>第一段
    第二行。</p>
    <div>第二段。</div><ul><li>条目一</li><li>条目二</li></ul>
    <h4>小标题</h4><table><tr><td>甲</td><td>乙</td></tr></table>
    <script>var x = "脚本";</script><footer>版权所有</footer></body></html>"""
    path = tmp_path / "page.html"
    path.write_text(html, encoding="utf-8")

    assert load_text(path).split("\n") == [
        "## 郏县建成5G基站",
        "## 副标题",
        "第一段第一句。",
        "第一段第二行。",
        "第二段。",
        "条目一",
        "条目二",
        "小标题",
        "甲 乙",
    ]


def test_load_text_html_title_used_without_h1(tmp_path: Path) -> None:
    path = tmp_path / "page.htm"
    path.write_text(
        "<html><head><title>示范区新闻</title></head><body><h3>小节</h3><p>正文。</p></body></html>",
        encoding="utf-8",
    )
    assert load_text(path).split("\n") == ["## 示范区新闻", "## 小节", "正文。"]


def test_load_text_html_declared_charset(tmp_path: Path) -> None:
    html = '<html><head><meta charset="gbk"></head><body><p>郏县工信局党组书记说。</p></body></html>'
    path = tmp_path / "gbk.html"
    path.write_bytes(html.encode("gb18030"))
    assert load_text(path) == "郏县工信局党组书记说。"


def test_load_text_html_without_text_raises(tmp_path: Path) -> None:
    path = tmp_path / "empty.html"
    path.write_text("<html><body><script>x()</script><img src='a.png'></body></html>", encoding="utf-8")
    with pytest.raises(LoadError, match=r"empty\.html: file has no text"):
        load_text(path)
