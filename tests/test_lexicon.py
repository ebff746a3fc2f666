"""The word lists of ``rag/lexicon/`` (read by :mod:`rag.text.lexicon`): each says where it came from, each list
the code reads exists, they ship in the package, and a list with a bad name fails naming it."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

from rag.text.lexicon import alternation, words

ROOT = Path(__file__).resolve().parents[1]
LEXICON = ROOT / "rag" / "lexicon"
LISTS = sorted(LEXICON.glob("*.txt"))


def test_every_list_opens_with_its_provenance_and_has_entries() -> None:
    assert LISTS
    for path in LISTS:
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith("# ") and len(lines[0]) > 20, f"{path.name}: first line must say where it came from"
        entries = words(path.stem)
        assert entries and len(entries) == len(set(entries)), f"{path.name}: empty or with repeated entries"


def test_every_list_the_code_reads_exists() -> None:
    used = set()
    for module in (ROOT / "rag").rglob("*.py"):
        for call in re.findall(r"\b(?:words|alternation)\(([^)]*)\)", module.read_text(encoding="utf-8")):
            used.update(re.findall(r"\"([a-z_]+)\"", call))
    assert used
    assert used <= {p.stem for p in LISTS}


def test_lists_are_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["rag"]
    for path in LISTS:
        assert any(fnmatch(str(path.relative_to(ROOT / "rag")), p) for p in patterns), path.name


def test_alternation_keeps_file_order_and_escapes() -> None:
    units = alternation("units", "span_units")
    assert units.split("|")[: len(words("units"))] == list(words("units"))
    assert re.fullmatch(rf"(?:{units})", "%") and re.fullmatch(rf"(?:{units})", "平方公里")


def test_unknown_list_is_named() -> None:
    with pytest.raises(FileNotFoundError, match="no_such_list"):
        words("no_such_list")
