"""The configuration reference ``docs/configuration.md``, generated from :class:`rag.settings.Settings`.

One row per ``NEWSQA_`` variable: its name, type, default and meaning (the field's ``description``), grouped by the
``# --- section ---`` comments of ``rag/settings.py``. ``tests/test_config_doc.py`` regenerates the page and fails
when the committed file differs, so the reference cannot drift from the code.

Regenerate with ``make docs`` or ``python -m bot.config_doc`` (``--check`` only compares, exit status 1 when the
file is out of date).
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
import types
import typing
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from rag.settings import Settings

#: The generated page, relative to the repository root.
DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
#: The command that regenerates it (quoted in the page and in the test's failure message).
REGENERATE = "make docs"
#: Defaults longer than this many characters are listed under the table instead of inside it.
MAX_INLINE_DEFAULT = 60

_SECTION = re.compile(r"^\s*#\s*---\s*(.+?)\s*-*\s*$")
_FIELD_LINE = re.compile(r"^\s{4}([a-z_][a-z0-9_]*)\s*:")


@dataclass(frozen=True)
class ConfigRow:
    """One variable of the reference: ``env`` (``NEWSQA_TOP_K``), ``type`` (``integer, 1 to 20``), ``default``
    (as it would be written in ``.env``; ``""`` when unset), ``meaning`` and the ``section`` it belongs to."""

    env: str
    type: str
    default: str
    meaning: str
    section: str


def env_name(field: str, settings_cls: type[BaseModel] = Settings) -> str:
    """The environment variable of a settings field: the class's ``env_prefix`` + the field name upper-cased."""
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    return f"{prefix}{field}".upper()


def _sections(settings_cls: type[BaseModel]) -> dict[str, str]:
    """Field name -> section title, from the ``# --- title ---`` comments in the class's source ("" if none)."""
    try:
        source = inspect.getsource(settings_cls)
    except (OSError, TypeError):
        return {}
    sections: dict[str, str] = {}
    current = ""
    for line in source.splitlines():
        if match := _SECTION.match(line):
            current = match.group(1)
        elif match := _FIELD_LINE.match(line):
            sections.setdefault(match.group(1), current)
    return sections


def _type_name(annotation: object) -> str:
    """A reader's name for a field type: ``integer``, ``text``, ``secret``, ``one of: a, b`` ..."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        name = " or ".join(_type_name(a) for a in inner)
        return f"{name} (optional)" if len(inner) < len(args) else name
    if origin is typing.Literal:
        return "one of: " + ", ".join(str(a) for a in args)
    if origin in (list, tuple, set):
        return f"JSON list of {_type_name(args[0]) if args else 'values'}"
    names = {bool: "true/false", int: "integer", float: "number", str: "text", Path: "path",
             SecretStr: "secret", date: "date (YYYY-MM-DD)"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))  # type: ignore[call-overload]


def _bounds(info: FieldInfo) -> str:
    """The field's numeric limits, ``>= 1, <= 20``, from its ``ge``/``gt``/``le``/``lt`` constraints."""
    parts: list[str] = []
    for item in info.metadata:
        for cls, symbol, attr in ((Ge, ">=", "ge"), (Gt, ">", "gt"), (Le, "<=", "le"), (Lt, "<", "lt")):
            if isinstance(item, cls):
                parts.append(f"{symbol} {getattr(item, attr)}")
    return ", ".join(parts)


def _default(info: FieldInfo) -> str:
    """The default as it would be written in ``.env``: ``true``, ``5``, ``data``, a JSON list; ``""`` = unset."""
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    elif info.default is PydanticUndefined:
        return ""
    else:
        value = info.default
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return json.dumps(list(value), ensure_ascii=False)
    return str(value)


def _meaning(description: str | None, fields: set[str], prefix: str) -> str:
    """The field's description, with other fields' names (``embedding_base_url``) given as variables."""
    text = (description or "").strip()
    return re.sub(r"\b[a-z]+(?:_[a-z0-9]+)+\b",
                  lambda m: f"{prefix}{m.group(0)}".upper() if m.group(0) in fields else m.group(0), text)


def config_rows(settings_cls: type[BaseModel] = Settings) -> list[ConfigRow]:
    """Every setting of ``settings_cls`` in declaration order, as :class:`ConfigRow`."""
    sections = _sections(settings_cls)
    fields = set(settings_cls.model_fields)
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    rows = []
    for name, info in settings_cls.model_fields.items():
        kind = _type_name(info.annotation)
        bounds = _bounds(info)
        rows.append(ConfigRow(
            env=env_name(name, settings_cls),
            type=f"{kind}, {bounds}" if bounds else kind,
            default=_default(info),
            meaning=_meaning(info.description, fields, prefix),
            section=sections.get(name, ""),
        ))
    return rows


def _cell(text: str) -> str:
    """Text made safe for one cell of a Markdown table (no pipes, no line breaks)."""
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    """A code span that holds ``text`` whatever backticks it contains."""
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def render_markdown(settings_cls: type[BaseModel] = Settings) -> str:
    """The whole ``docs/configuration.md`` page for ``settings_cls`` (deterministic: same class, same text)."""
    rows = config_rows(settings_cls)
    lines = [
        "# Configuration reference",
        "",
        f"<!-- Generated from rag/settings.py by bot/config_doc.py: do not edit; run `{REGENERATE}`. -->",
        "",
        "newsqa reads its settings from the environment and from a `.env` file in the directory it runs in (the",
        "environment wins); every variable is optional. [`.env.example`](../.env.example) is a commented `.env` to",
        "copy. Secrets belong in `.env` (git-ignored) or the environment, never in files you commit. A list is",
        "written as JSON (`NEWSQA_PATH_PATTERNS=[\"...\"]`); *unset* means the variable has no value by default.",
        "",
        f"{len(rows)} variables.",
    ]
    long_defaults: list[ConfigRow] = []
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            title = section[:1].upper() + section[1:] if section else "Other settings"
            lines += ["", f"## {title}", "", "| variable | type | default | meaning |", "|---|---|---|---|"]
        if not row.default:
            default = "*unset*"
        elif len(row.default) > MAX_INLINE_DEFAULT:
            default = f"see [below](#{row.env.lower()})"
            long_defaults.append(row)
        else:
            default = _code(row.default)
        lines.append(f"| `{row.env}` | {_cell(row.type)} | {_cell(default)} | {_cell(row.meaning)} |")
    if long_defaults:
        lines += ["", "## Long defaults"]
        for row in long_defaults:
            value = json.loads(row.default) if row.default.startswith("[") else row.default
            shown = json.dumps(value, ensure_ascii=False, indent=2) if isinstance(value, list) else row.default
            lines += ["", f"### {row.env}", "", "```json", shown, "```"]
    lines += [
        "",
        "## Read by libraries (no `NEWSQA_` prefix)",
        "",
        "| variable | meaning |",
        "|---|---|",
        "| `HF_ENDPOINT` | A Hugging Face hub mirror, where huggingface.co is blocked (read by huggingface_hub). |",
        "| `HF_HUB_OFFLINE` | `1`: never contact the hub; models load from the local cache or a folder only. |",
        "| `HF_HOME` | Where downloaded models are cached (default `~/.cache/huggingface`). |",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` compare) the reference. Exit status 1 when ``--check`` finds it out of date."""
    parser = argparse.ArgumentParser(prog="python -m bot.config_doc", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare with the file; exit 1 if it differs")
    parser.add_argument("--output", type=Path, default=DOC_PATH, help=f"the page to write (default {DOC_PATH})")
    args = parser.parse_args(argv)
    text = render_markdown()
    current = args.output.read_text("utf-8") if args.output.exists() else None
    if args.check:
        if current != text:
            print(f"{args.output} is out of date: run `{REGENERATE}`", file=sys.stderr)
            return 1
        return 0
    if current != text:
        args.output.write_text(text, "utf-8")
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
