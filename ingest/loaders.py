"""Find source files and turn each one into decoded text.

Shapes: ``discover_files(list[Path]) -> list[Path]`` and ``load_text(Path) -> str``. The text is "raw": no
cleaning beyond what the format itself requires (HTML markup becomes lines, PDF pages are joined); OCR
cleanup is :func:`ingest.clean.clean_page`'s job.

Libraries (maintained, not our craft): encoding detection is charset-normalizer
(https://github.com/jawah/charset_normalizer), HTML is BeautifulSoup 4 with the stdlib ``html.parser``,
PDF text comes from PDFium's text layer (pypdfium2, :mod:`ingest.pdf`) with the lines put into reading order by
:mod:`ingest.layout` (columns, headlines), falling back to pypdf's ``extract_text`` when PDFium finds no text.
Images and PDF pages without a text layer need OCR: the ingest pipeline reads them with
:func:`ingest.scans.load_scan` (RapidOCR, cached); here they raise :class:`NeedsOcrError`.

Every failure is a :class:`LoadError` whose message names the file and says why.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import unicodedata
from pathlib import Path

from rag.errors import InputError

#: Page images, read through OCR (:mod:`ingest.ocr`).
IMAGE_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp"})
SUPPORTED_SUFFIXES: frozenset[str] = frozenset({".txt", ".md", ".html", ".htm", ".pdf"}) | IMAGE_SUFFIXES

# Labels that charset-normalizer may report for simplified-Chinese bytes. GB18030 decodes every byte
# sequence GB2312/GBK do, identically, plus the characters they lack (rare names, 䶮 ...), so it is the
# safer codec whenever the detector names one of its subsets.
_GB_SUBSETS = frozenset({"gb2312", "gbk", "cp936", "ms936", "euc_cn", "euccn", "hz", "gb18030"})

# A text file may hold the odd form feed or escape; past this share of control / replacement characters
# the "text" is really a binary format that happened to decode.
_MAX_CONTROL_SHARE = 0.02
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v")

_UTF16_32_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # checked before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

_HTML_DROP = ("script", "style", "nav", "footer", "noscript", "template", "svg", "iframe", "head")
_HTML_BLOCKS = (
    "p", "div", "li", "tr", "ul", "ol", "table", "section", "article", "main", "aside", "header",
    "blockquote", "pre", "figure", "figcaption", "dl", "dt", "dd", "form", "fieldset", "address",
    "h4", "h5", "h6", "hr",
)  # fmt: skip
_CJK = r"\u3400-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef"
# A source newline between two CJK characters is layout, not a space: browsers render none there.
_CJK_SOURCE_BREAK = re.compile(rf"(?<=[{_CJK}])[ \t\r\f]*\n\s*(?=[{_CJK}])")
_WS_RUN = re.compile(r"\s+")


class LoadError(InputError):
    """A source file could not be turned into text. ``str(err)`` names the file and the reason."""


#: A Python object's default repr (``<_io.BytesIO object at 0x7f...>``): libraries put them in their messages.
_OBJECT_REPR = re.compile(r"\s*<[\w.]+ object at 0x[0-9a-fA-F]+>")


def error_reason(err: BaseException) -> str:
    """A library exception as a reason fit for a person: without object reprs (Pillow's "cannot identify image
    file <_io.BytesIO object at 0x...>" becomes a sentence), never empty (the exception's type then)."""
    if type(err).__name__ == "UnidentifiedImageError":  # Pillow's; not imported here (loaders stay light)
        return "the file is damaged or not in an image format Pillow reads"
    return _OBJECT_REPR.sub("", str(err)).strip(" :") or type(err).__name__


class NeedsOcrError(LoadError):
    """The file is an image, or a PDF without a text layer: its text needs OCR (:func:`ingest.scans.load_scan`)."""


def discover_files(paths: list[Path], skipped: dict[Path, str] | None = None) -> list[Path]:
    """Expand files and folders into the sorted list of supported source files.

    Folders are walked recursively (symlinked folders are not followed, so links cannot loop); hidden
    files and folders (name starting with ``.``) inside them are skipped, as are files whose suffix
    (case-insensitive) is not in :data:`SUPPORTED_SUFFIXES`: those go into ``skipped`` (file -> reason) when it
    is given, except metadata sidecars (``*.meta.json``, read with the file they describe). A file named
    explicitly is returned even if hidden. The result is sorted by path string and free of duplicates (same
    resolved path).

    Raises:
        LoadError: a path does not exist, a folder cannot be listed, or a file named explicitly has an
            unsupported suffix (silently skipping it would make "ingest my.docx" a confusing no-op).
    """
    found: dict[Path, Path] = {}
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise LoadError(f"{path}: no such file or directory")
        if path.is_file():
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
                raise LoadError(f"{path}: unsupported file type {path.suffix or '(none)'!r}; use {supported}")
            found.setdefault(path.resolve(), path)
            continue
        for file in _walk(path, skipped):
            found.setdefault(file.resolve(), file)
    return sorted(found.values(), key=str)


#: Files beside the pages that are read with them, never on their own: metadata sidecars (:mod:`ingest.metadata`).
_COMPANION_ENDINGS = (".meta.json",)


def _walk(root: Path, skipped: dict[Path, str] | None = None) -> list[Path]:
    def fail(err: OSError) -> None:
        raise LoadError(f"{err.filename or root}: cannot list folder ({err.strerror or err})")

    files: list[Path] = []
    for folder, dirs, names in os.walk(root, onerror=fail):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if name.startswith("."):
                continue
            suffix = Path(name).suffix.lower()
            if suffix in SUPPORTED_SUFFIXES:
                files.append(Path(folder) / name)
            elif skipped is not None and not name.lower().endswith(_COMPANION_ENDINGS):
                skipped[Path(folder) / name] = f"unsupported file type {suffix or '(none)'!r}"
    return files


def load_text(path: Path) -> str:
    """Return the decoded text of one source file.

    * ``.txt`` / ``.md``: bytes decoded as UTF-8 (BOM optional, strict) first, else with the encoding
      charset-normalizer detects; GB2312/GBK verdicts are decoded as GB18030 (a strict superset).
      UTF-16/32 files with a BOM are decoded by that BOM.
    * ``.html`` / ``.htm``: the declared charset (``<meta charset>``) when it decodes cleanly, else as
      above; then BeautifulSoup text with block elements on their own lines, ``<h1>``-``<h3>`` as
      ``## `` heading lines, ``<title>`` as a first ``## `` line when there is no ``<h1>``, and
      script/style/nav/footer dropped.
    * ``.pdf``: the text layer in reading order (:mod:`ingest.layout`), pages joined by a blank line.
    * images: :class:`NeedsOcrError` (see :func:`ingest.scans.load_scan`).

    Line ends are returned as found (``clean_page`` normalises them).

    Raises:
        LoadError: unreadable file (permissions, a folder ...), unsupported suffix, empty or
            whitespace-only content, binary content (NUL bytes, >2% control characters, undecodable),
            a PDF that cannot be parsed. :class:`NeedsOcrError` (a LoadError): an image, or a PDF
            without a text layer (e.g. a scan).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(f"{path}: unsupported file type {suffix or '(none)'!r}")
    if suffix in IMAGE_SUFFIXES:
        raise NeedsOcrError(f"{path}: page image, needs OCR")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise LoadError(f"{path}: cannot read file ({err.strerror or err})") from err
    if not data.strip():
        raise LoadError(f"{path}: file is empty")
    if suffix == ".pdf":
        text = _pdf_text(path, data)
    elif suffix in (".html", ".htm"):
        text = _html_text(path, data)
    else:
        text = _decode(path, data)
    if not text.strip():
        raise LoadError(f"{path}: file has no text")
    return text


def _decode(path: Path, data: bytes, declared: str | None = None) -> str:
    """Bytes -> str as described in :func:`load_text`; raises LoadError for binary data."""
    text = _decode_by_bom(data)
    if text is None:
        if b"\x00" in data:
            raise LoadError(f"{path}: binary file (contains NUL bytes), not text")
        text = _try_decode(data, "utf-8-sig")
        if text is None and declared:
            text = _try_decode(data, _prefer_gb18030(declared))
        if text is None:
            text = _detect_and_decode(path, data)
    _reject_binary(path, text)
    return text


def _decode_by_bom(data: bytes) -> str | None:
    for bom, codec in _UTF16_32_BOMS:
        if data.startswith(bom):
            return _try_decode(data, codec)
    return None


def _try_decode(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _prefer_gb18030(codec: str) -> str:
    normal = codec.lower().replace("-", "").replace("_", "")
    return "gb18030" if normal in {c.replace("_", "") for c in _GB_SUBSETS} else codec


def _detect_and_decode(path: Path, data: bytes) -> str:
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise LoadError(f"{path}: cannot detect a text encoding (binary file?)")
    codec = _prefer_gb18030(best.encoding)
    text = _try_decode(data, codec)
    return text if text is not None else str(best)


def _reject_binary(path: Path, text: str) -> None:
    if not text:
        return
    bad = sum(
        1
        for ch in text
        if ch == "\ufffd" or (ch not in _ALLOWED_CONTROLS and unicodedata.category(ch) == "Cc")
    )
    if bad / len(text) > _MAX_CONTROL_SHARE or "\x00" in text:
        raise LoadError(f"{path}: binary file (too many control characters), not text")


def _html_text(path: Path, data: bytes) -> str:
    from bs4 import BeautifulSoup, Comment, Declaration, Doctype, ProcessingInstruction
    from bs4.dammit import EncodingDetector

    declared = EncodingDetector.find_declared_encoding(data, is_html=True)
    soup = BeautifulSoup(_decode(path, data, declared), "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    has_h1 = soup.find("h1") is not None
    for tag in soup.find_all(_HTML_DROP):
        tag.decompose()
    # Comments and doctypes are strings too: rewritten as plain text below they would leak into the output.
    for node in soup.find_all(
        string=lambda s: isinstance(s, (Comment, Declaration, Doctype, ProcessingInstruction))
    ):
        node.extract()
    for node in soup.find_all(string=True):
        if node.find_parent("pre") is None:
            squeezed = _WS_RUN.sub(" ", _CJK_SOURCE_BREAK.sub("", str(node)))
            node.replace_with(squeezed)
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for heading in soup.find_all(["h1", "h2", "h3"]):
        text = heading.get_text(" ", strip=True)
        heading.replace_with(f"\n## {text}\n" if text else "\n")
    for block in soup.find_all(_HTML_BLOCKS):
        block.insert_before("\n")
        block.insert_after("\n")
    for cell in soup.find_all(["td", "th"]):
        cell.insert_after(" ")
    lines = [line.strip() for line in soup.get_text().split("\n")]
    if title and not has_h1:
        lines.insert(0, f"## {title}")
    return "\n".join(line for line in lines if line)


def _pdf_text(path: Path, data: bytes) -> str:
    from ingest.layout import order_blocks, page_text
    from ingest.pdf import PdfError, text_layer

    try:
        pages = text_layer(data)
    except PdfError:
        return _pypdf_text(path, data)  # let pypdf give its (more specific) verdict
    text = "\n\n".join(t for t in (page_text(order_blocks(p)) for p in pages if p) if t.strip())
    return text or _pypdf_text(path, data)


def _pypdf_text(path: Path, data: bytes) -> str:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError(f"{path}: PDF is password-protected")
        pages = [page.extract_text() or "" for page in reader.pages]
    except LoadError:
        raise
    except Exception as err:  # pypdf raises many types (PdfReadError, ValueError, KeyError ...) on bad files
        raise LoadError(f"{path}: cannot parse PDF ({type(err).__name__}: {err})") from err
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    if not text:
        raise NeedsOcrError(f"{path}: PDF has no text layer (scanned pages need OCR)")
    return text
