"""Word lists as data: ``rag/lexicon/<name>.txt``, shipped in the package (``pyproject.toml`` package data).

A list file holds one entry a line; lines starting with ``#`` are comments, and its first comment says where the
list came from (a grammar, a dictionary, a training set). Entries keep the file's order (a regular-expression
alternation built from them is tried in that order).
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=32)
def words(name: str) -> tuple[str, ...]:
    """The entries of list ``name`` in file order. FileNotFoundError naming the file when there is no such list."""
    path = resources.files("rag") / "lexicon" / f"{name}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"word list {name!r}: no file rag/lexicon/{name}.txt")
    return tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines()
                 if line.strip() and not line.startswith("#"))


def alternation(*names: str) -> str:
    """A regular-expression alternation (``a|b|c``, entries escaped) of the lists ``names``, in order."""
    return "|".join(re.escape(w) for name in names for w in words(name))
