"""Chinese sentence splitting, shared by the chunker (:mod:`ingest.chunk`) and the answerers (:mod:`rag.answering`).

``split_sentences(text) -> list[str]``; lengths are ``len()`` of Python strings, i.e. characters (code points).
"""

from __future__ import annotations

import re

# Characters that end a sentence. "…" is included so "……" (the Chinese ellipsis, two characters)
# closes a sentence as one unit; a line end ("\n") also ends one.
SENTENCE_END: str = "。！？!?；;…\n"
# Closing quotes/brackets stay with the sentence they close: 他说：“好。”
_CLOSERS = "”’」』）)】》"
# Brackets inside which a semicolon does not end the sentence (a parenthesis is part of its sentence);
# a full stop inside still does: （括号里的话。）后面 is two sentences.
_SOFT_ENDS = "；;"
_OPENERS = "（(【"
_BRACKET_CLOSERS = "）)】"
# Characters after which an unclosed bracket is presumed an OCR error and ignored.
_MAX_BRACKET_SPAN = 80
# A title in 《》 is one name whatever it holds (《晚安，城市！‧夜曲》, 《你好，明天！》): no sentence ends inside
# it, if it closes within this many characters on the same line (an OCR-lost 》 must not glue sentences).
_MAX_TITLE_SPAN = 40
# Wikipedia's language-variant markup, -{zh-cn:甲;zh-hk:乙}-, is one word: its ; separate the variants.
_MAX_VARIANT_SPAN = 120

def split_sentences(text: str) -> list[str]:
    """Split Chinese (or mixed) text into sentences.

    A sentence ends after a run of 。！？!?；;… characters (so ``！？`` and ``……`` stay whole) plus any
    closing quotes/brackets right after them, or at a line end; never inside a 《title》 (closed within
    ``_MAX_TITLE_SPAN`` characters on its line) nor inside Wikipedia's ``-{zh-cn:…;zh-hk:…}-`` variants (closed
    within ``_MAX_VARIANT_SPAN``). The ``"\\n"`` separators are dropped; every other character is kept, in order,
    so ``"".join(split_sentences(t)) == t.replace("\\n", "")`` whenever ``t`` has a non-blank character.
    Whitespace-only pieces are attached to the sentence before them (or after, at the start), so no sentence is
    empty or blank; blank text gives ``[]``.
    """
    pieces: list[str] = []
    current: list[str] = []
    index = 0
    depth = 0  # open brackets: 牛车水（；）是… must not end at the ；
    opened_at = 0
    while index < len(text):
        char = text[index]
        if char == "\n":
            pieces.append("".join(current))
            current = []
            depth = 0
            index += 1
            continue
        current.append(char)
        index += 1
        if char == "《":
            close = text.find("》", index, index + _MAX_TITLE_SPAN)
            if close != -1 and "\n" not in text[index:close]:
                current.append(text[index:close])  # the 》 itself is read next, as a closer
                index = close
                continue
        if char == "{" and len(current) >= 2 and current[-2] == "-":
            close = text.find("}-", index, index + _MAX_VARIANT_SPAN)
            if close != -1 and "\n" not in text[index:close]:
                current.append(text[index : close + 2])
                index = close + 2
                continue
        if char in _OPENERS:
            depth, opened_at = depth + 1, index
        elif char in _BRACKET_CLOSERS and depth:
            depth -= 1
        if depth and index - opened_at > _MAX_BRACKET_SPAN:
            depth = 0  # an unbalanced OCR bracket must not swallow the page
        if char in SENTENCE_END and not (depth and char in _SOFT_ENDS):
            while index < len(text) and text[index] in SENTENCE_END and text[index] != "\n":
                current.append(text[index])
                index += 1
            while index < len(text) and text[index] in _CLOSERS:
                current.append(text[index])
                index += 1
            pieces.append("".join(current))
            current = []
    pieces.append("".join(current))
    sentences: list[str] = []
    leading = ""
    for piece in pieces:
        if piece.strip():
            sentences.append(leading + piece)
            leading = ""
        elif sentences:
            sentences[-1] += piece
        else:
            leading += piece
    return sentences


#: A web report's sign-off scraped into its last sentence ((完) 【编辑:X】 更多精彩内容请进入…频道): page furniture
#: whose editor's name would pass for the person a 谁 question asks about.
_SIGN_OFF = re.compile(r"^\s*[(（]完[)）]|^\s*【[^】]{0,12}编辑|责任编辑|更多精彩内容|点击进入|扫码关注")


def sign_off(sentence: str) -> bool:
    """Whether ``sentence`` is a report's sign-off (:data:`_SIGN_OFF`): never an answer nor what one leans on."""
    return bool(_SIGN_OFF.search(sentence))
