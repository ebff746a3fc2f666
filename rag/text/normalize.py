"""Search normalisation and tokenisation of Chinese text.

Text is normalised for *search only* (embedding input, BM25 tokens, answer matching); users always see the
original characters. Normalisation = Unicode NFKC (full-width digits/letters to ASCII) + traditional to
simplified Chinese (OpenCC ``t2s`` table via opencc-python-reimplemented) + lower case, so ``郟县`` matches
``郏县`` and ``１２３`` matches ``123``. Tokenisation is jieba's search mode (``cut_for_search``), which emits
both long words and their in-vocabulary sub-words, so a query word and a longer corpus compound still meet.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache

from rag.text.lexicon import words

#: Function words and question words that carry no topic (``rag/lexicon/stopwords.txt``).
STOPWORDS: frozenset[str] = frozenset(words("stopwords"))

_TOKEN_OK = re.compile(r"[\w\u4e00-\u9fff]")
_CJK = re.compile("[\u3400-\u9fff\uf900-\ufaff]")


@cache
def _opencc():
    from opencc import OpenCC

    return OpenCC("t2s")


@cache
def jieba_module():  # noqa: ANN201 - the jieba module
    """The jieba module, initialised once with its chatty logger silenced (``jieba.initialize`` holds its lock)."""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def warm_text_tools() -> None:
    """Load jieba's dictionary and its part-of-speech table and OpenCC's t2s tables now (together about 1.6 s
    here), so that a serving process's first question does not pay for them."""
    jieba_module()
    import jieba.posseg  # noqa: F401 - importing it loads the word-tag table

    _opencc()


@cache
def _traditional_chars() -> frozenset[str]:
    """Characters that OpenCC's t2s character table changes (from its TSCharacters dictionary)."""
    from pathlib import Path

    import opencc

    table = Path(opencc.__file__).parent / "dictionary" / "TSCharacters.txt"
    rows = (row.partition("\t") for row in table.read_text(encoding="utf-8").splitlines())
    return frozenset(key for key, _, values in rows if key and values.split(" ")[0] != key)


@lru_cache(maxsize=4096)
def _convert_line(line: str) -> str:
    # OpenCC's pure-Python converter costs ~2 ms per 1,000 characters; text with no traditional character
    # (nearly all mainland news) is returned as is.
    if _traditional_chars().isdisjoint(line):
        return line
    return _opencc().convert(line)


def normalize(text: str) -> str:
    """Search form of ``text``: NFKC, traditional->simplified (OpenCC t2s), lower case.

    The result has the same number of lines as the input; its length in characters can differ slightly
    (NFKC may expand ligatures), so never use it to index into the original.
    """
    text = unicodedata.normalize("NFKC", text)
    # OpenCC's reimplementation is pure Python; line by line with a cache keeps repeated page furniture and
    # repeated queries cheap.
    converted = "\n".join(_convert_line(line) if _CJK.search(line) else line for line in text.split("\n"))
    return converted.lower()


@lru_cache(maxsize=8192)
def normalize_cached(text: str) -> str:
    """:func:`normalize` with a bounded cache, for chunk texts that one question's reranker, answerer and
    citation check each match again. 8,192 entries (about 20 MB of chunk texts and their normal forms) hold the
    ~40-60 candidates of many recent questions; the earlier 65,536 could hold ~150 MB (estimated at ~2.3 KB per
    cached chunk text and its normal form, not measured)."""
    return normalize(text)


def tokenize(text: str, *, normalized: bool = False, keep_stopwords: bool = False) -> list[str]:
    """jieba search-mode tokens of ``text`` after :func:`normalize` (skipped when ``normalized``).

    Punctuation and whitespace tokens are dropped, and so are :data:`STOPWORDS` unless ``keep_stopwords``.
    Returns tokens in text order (duplicates kept, as BM25 needs term frequencies).
    """
    if not normalized:
        text = normalize(text)
    tokens = (token.strip() for token in jieba_module().cut_for_search(text))
    return [t for t in tokens if t and _TOKEN_OK.search(t) and (keep_stopwords or t not in STOPWORDS)]


def keywords(text: str) -> list[str]:
    """Distinct content tokens of a question, in order of first appearance (see :func:`tokenize`)."""
    return list(dict.fromkeys(tokenize(text)))
