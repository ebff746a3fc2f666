"""Where and when a page was printed: ``publication``, ``published`` and ``page`` of a source file, with provenance.

Sources, highest precedence first; each field is taken from the first source that gives it, independently of the
others, and records where it came from in ``<field>_from``:

1. ``sidecar``: ``<file>.meta.json`` next to the file (``001.txt.meta.json``), else ``<stem>.meta.json``
   (``001.meta.json``): a JSON object with any of ``publication`` (string), ``published`` (ISO date or datetime
   string, ``2021-12-31`` / ``2021-12-31T08:00:00+08:00``) and ``page`` (``3``, ``A03``, ``第3版``); other keys
   are ignored, ``null`` means unknown. In a ``.md`` file, YAML front matter (``---`` lines at the very top) with
   the same keys counts as a sidecar too (a ``.meta.json`` wins over it) and is taken off the text.
2. ``html``: ``<meta property="article:published_time">``, ``<meta name="pubdate|publishdate">`` (any case), then
   the first ``<time datetime=…>``; ``<meta property="og:site_name">`` as the publication.
3. ``path``: the file's path relative to the articles folder against ``Settings.path_patterns`` (regexes with
   named groups ``publication``, ``date`` or ``year``/``month``/``day``, ``page``; defaults in
   :data:`rag.settings.DEFAULT_PATH_PATTERNS`); a match with an impossible date (``2021-13-45``) gives nothing.
4. ``pdf``: the document information of a PDF (pypdf): custom keys ``/Publication`` (or ``/Newspaper``),
   ``/Published`` (or ``/PublicationDate``, ``/PubDate``), ``/Page`` (or ``/Edition``); then ``/CreationDate`` as
   ``published``. An e-paper's PDF is made for the issue it prints, so its creation day is taken as the
   publication day; it is the weakest file-level source because a re-saved or scanned PDF carries the day of that
   work instead (a sidecar, HTML or path date wins over it).
5. page text, read by :mod:`ingest.work`: masthead lines (:mod:`ingest.masthead`: ``masthead``), a report's
   dateline header (``dateline``) and the outlet its lead names (``lead``).
6. ``archive``: for a dateline with a day but no year (``7-24 19:15``), the year the folder's dated reports around
   that day agree on (:mod:`ingest.dating`).

Unknown stays unknown: a field no source gives is left out (``published_day`` is then 0), never taken from a date
mentioned in the text. Sidecar files are not sources of their own: their suffix is not ingested
(:data:`ingest.loaders.SUPPORTED_SUFFIXES`), and their bytes are folded into the file's manifest fingerprint
(:func:`file_fingerprint`) so that a changed, added or removed sidecar re-ingests the file.

Errors: a sidecar that cannot be read, is not valid JSON or not an object, or gives a ``published`` that is no
date, and front matter that is not valid YAML, raise :class:`ingest.loaders.LoadError` naming the sidecar (or
file): that file fails, the ingest goes on with the others. Broken HTML or PDF metadata is ignored (the text
loader reports a file it cannot read).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.loaders import LoadError
from rag.settings import Settings
from rag.text.event_dates import day_number, iso_date, make_date

FIELDS = ("published", "publication", "page")
SIDECAR_SUFFIX = ".meta.json"
#: Longest page label or publication name kept (characters); longer values are not labels.
MAX_LABEL_CHARS = 30

_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S | re.M)
_CN_DIGITS = {c: n for n, c in enumerate("零一二三四五六七八九", 0)}


@dataclass
class PageMeta:
    """Metadata values and where each came from (``values[f]`` is set only together with ``sources[f]``)."""

    values: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def add(self, source: str, found: Mapping[str, Any]) -> None:
        """Take each field of ``found`` that is still unknown here, normalised, as coming from ``source``."""
        for name in FIELDS:
            if name in self.values or found.get(name) in (None, ""):
                continue
            value = _normalise(name, found[name])
            if value:
                self.values[name], self.sources[name] = value, source

    def copy(self) -> PageMeta:
        return PageMeta(dict(self.values), dict(self.sources))

    def record(self) -> dict[str, str | int]:
        """Article/chunk metadata: the known fields, their ``<field>_from``, and ``published_day`` (0 = unknown)."""
        out: dict[str, str | int] = {}
        for name in FIELDS:
            if name in self.values:
                out[name], out[f"{name}_from"] = self.values[name], self.sources[name]
        out["published_day"] = day_number(self.values.get("published"))
        return out


def normalise_page(label: object) -> str | None:
    """A page label as printed, normalised: ``1``/``01``/``第01版`` -> ``第1版``, ``第四版`` -> ``第4版``,
    ``A3``/``a3版`` -> ``A3版``, ``A03`` -> ``A03版``; another short label (``要闻``) as given; None when empty."""
    text = re.sub(r"\s+", "", str(label))
    match = re.fullmatch(r"第?0*(\d{1,3})版?", text)
    if match and int(match.group(1)) > 0:
        return f"第{int(match.group(1))}版"
    match = re.fullmatch(r"第([一二三四五六七八九十]{1,3})版", text)
    if match and (number := _cn_number(match.group(1))):
        return f"第{number}版"
    match = re.fullmatch(r"([A-Za-z])(\d{1,3})版?", text)
    if match:
        return f"{match.group(1).upper()}{match.group(2)}版"
    return text if 0 < len(text) <= MAX_LABEL_CHARS else None


def _cn_number(numeral: str) -> int | None:
    """一..九十九 -> 1..99 (``十二`` = 12, ``二十`` = 20)."""
    if "十" not in numeral:
        return _CN_DIGITS.get(numeral) if len(numeral) == 1 else None
    tens, _, units = numeral.partition("十")
    if (tens and tens not in _CN_DIGITS) or (units and units not in _CN_DIGITS) or "十" in units:
        return None
    return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[units] if units else 0)


def _normalise(name: str, value: object) -> str | None:
    if name == "published":
        return iso_date(value)
    if name == "page":
        return normalise_page(value)
    text = re.sub(r"\s+", " ", str(value)).strip().strip("《》")
    return text if 0 < len(text) <= MAX_LABEL_CHARS else None


def sidecar_path(path: Path) -> Path | None:
    """The sidecar of ``path`` (``<file>.meta.json``, else ``<stem>.meta.json``), or None. A symbolic link's
    sidecar may also sit beside the file it points to (a folder of links to a corpus)."""
    places = [path] + ([path.resolve()] if path.is_symlink() else [])
    for place in places:
        for candidate in (place.with_name(place.name + SIDECAR_SUFFIX), place.with_name(place.stem + SIDECAR_SUFFIX)):
            if candidate.is_file():
                return candidate
    return None


def file_fingerprint(path: Path, data: bytes) -> str:
    """What the manifest stores for a file: the sha256 of its bytes, and when it has a sidecar, ``+`` and 16 hex
    digits of the sha256 over the sidecar's name and bytes (so a sidecar change re-ingests the file while the OCR
    cache, keyed by :func:`content_sha`, stays valid). Raises OSError when the sidecar cannot be read."""
    sha = hashlib.sha256(data).hexdigest()
    sidecar = sidecar_path(path)
    if sidecar is None:
        return sha
    folded = hashlib.sha256(sidecar.name.encode() + b"\0" + sidecar.read_bytes()).hexdigest()
    return f"{sha}+{folded[:16]}"


def content_sha(fingerprint: str) -> str:
    """The sha256 of a file's own bytes out of its :func:`file_fingerprint`."""
    return fingerprint.split("+", 1)[0]


def _checked(values: object, name: str) -> dict[str, Any]:
    """The metadata keys of a sidecar or front matter object; LoadError naming ``name`` when they are unusable."""
    if not isinstance(values, dict):
        raise LoadError(f"{name}: metadata must be an object with publication / published / page keys")
    found = {k: values.get(k) for k in FIELDS if values.get(k) is not None}
    if "published" in found and iso_date(found["published"]) is None:
        raise LoadError(f"{name}: published {found['published']!r} is not a date (use YYYY-MM-DD)")
    for key in ("publication", "page"):
        if key in found and not isinstance(found[key], (str, int)):
            raise LoadError(f"{name}: {key} must be a string")
    return found


def read_sidecar(path: Path, name: str) -> dict[str, Any]:
    """The metadata of ``path``'s sidecar (``{}`` when it has none); ``name``: how to name the file in errors
    (its source key). Raises LoadError naming the sidecar (see the module docstring)."""
    sidecar = sidecar_path(path)
    if sidecar is None:
        return {}
    label = (Path(name).parent / sidecar.name).as_posix()
    try:
        values = json.loads(sidecar.read_bytes().decode("utf-8-sig"))
    except OSError as err:
        raise LoadError(f"{label}: cannot read sidecar ({err.strerror or err})") from err
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise LoadError(f"{label}: sidecar is not valid JSON ({err})") from err
    return _checked(values, label)


def split_front_matter(text: str, name: str) -> tuple[dict[str, Any], str]:
    """``(metadata, text without it)`` for YAML front matter at the very top of ``text``, else ``({}, text)``.
    Raises LoadError naming ``name`` when the front matter is not valid YAML or not a mapping."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    import yaml

    try:
        values = yaml.safe_load(match.group(1))
    except yaml.YAMLError as err:
        raise LoadError(f"{name}: front matter is not valid YAML ({err})") from err
    return _checked(values or {}, f"{name} (front matter)"), text[match.end():]


def html_metadata(data: bytes) -> dict[str, str]:
    """``published`` / ``publication`` from an HTML page's ``<meta>`` and ``<time>`` tags (module docstring)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "html.parser")
    metas = [(str(tag.get("property") or tag.get("name") or "").strip().lower(), str(tag.get("content") or ""))
             for tag in soup.find_all("meta")]

    def meta(names: Iterable[str]) -> list[str]:
        wanted = set(names)
        return [content for key, content in metas if key in wanted and content.strip()]

    found: dict[str, str] = {}
    dates = [*meta(["article:published_time"]), *meta(["pubdate", "publishdate"]),
             *(str(t.get("datetime") or "") for t in soup.find_all("time"))]
    published = next((iso for value in dates if (iso := iso_date(value.strip()))), None)
    if published:
        found["published"] = published
    site = meta(["og:site_name"])
    if site:
        found["publication"] = site[0]
    return found


def path_metadata(relative: str, patterns: Iterable[str]) -> dict[str, str]:
    """Fields the path patterns give for ``relative`` (the path relative to the articles folder, ``/``-separated);
    the first pattern that gives a field wins it."""
    found: dict[str, str] = {}
    for pattern in patterns:
        match = re.search(pattern, relative)
        if not match:
            continue
        groups = {k: v for k, v in match.groupdict().items() if v}
        published = iso_date(groups["date"]) if "date" in groups else None
        if published is None and {"year", "month", "day"} <= groups.keys():
            day = make_date(int(groups["year"]), int(groups["month"]), int(groups["day"]))
            published = day.isoformat() if day else None
        if published is None and groups.keys() & {"date", "year", "month", "day"}:
            continue  # an impossible date (2021-13-45): the match is no metadata at all
        for key, value in (("published", published), ("publication", groups.get("publication")),
                           ("page", groups.get("page"))):
            if value:
                found.setdefault(key, value)
    return found


def pdf_metadata(data: bytes) -> dict[str, str]:
    """Fields a PDF's document information gives (module docstring); ``{}`` when it has none or cannot be read."""
    from pypdf import PdfReader

    try:
        info: Mapping[Any, Any] = PdfReader(io.BytesIO(data)).metadata or {}
        entries = {str(key).lstrip("/").lower(): str(value) for key, value in info.items() if value is not None}
    except Exception:  # pypdf raises many types on broken files; the text loader names the problem
        return {}

    def first(*keys: str) -> str | None:
        return next((entries[k] for k in keys if entries.get(k, "").strip()), None)

    found = {"publication": first("publication", "newspaper"), "page": first("page", "edition"),
             "published": iso_date(first("published", "publicationdate", "pubdate"))
             or iso_date(first("creationdate"))}
    return {k: v for k, v in found.items() if v}


def source_metadata(path: Path, name: str, text: str, settings: Settings) -> tuple[PageMeta, str]:
    """File-level metadata of one source (sources 1-4 of the module docstring) and its text (front matter taken
    off). ``name``: the file's source key (path relative to the articles folder). Raises LoadError as described."""
    meta = PageMeta()
    meta.add("sidecar", read_sidecar(path, name))
    suffix = path.suffix.lower()
    if suffix == ".md":
        front, text = split_front_matter(text, name)
        meta.add("sidecar", front)
    data = b""
    if suffix in (".html", ".htm", ".pdf"):
        try:
            data = path.read_bytes()
        except OSError as err:
            raise LoadError(f"{name}: cannot read file ({err.strerror or err})") from err
    if suffix in (".html", ".htm"):
        meta.add("html", html_metadata(data))
    meta.add("path", path_metadata(name, settings.path_patterns))
    if suffix == ".pdf":
        meta.add("pdf", pdf_metadata(data))
    return meta, text
