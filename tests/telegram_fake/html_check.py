"""A strict checker for Telegram's HTML parse mode, used by the fake Bot API server and the format tests.

It rejects what Telegram rejects with "can't parse entities" (unsupported or unbalanced tags, bare ``<``/``>``,
``&`` that does not start a supported entity) and returns the visible text, whose length Telegram limits.
"""

from __future__ import annotations

import re

ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "tg-emoji", "code",
    "pre", "blockquote",
}
NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}

_TOKEN_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:=\"[^\"]*\"|='[^']*'|=[^\s>]+)?)*)\s*>|&([^;\s<>&]{1,16});|[<>&]")


class TelegramHtmlError(ValueError):
    """The text would fail with "Bad Request: can't parse entities: ..."."""


def visible_text(text: str) -> str:
    """Parse Telegram HTML and return the text a user sees. Raises TelegramHtmlError like the Bot API would."""
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    for match in _TOKEN_RE.finditer(text):
        out.append(text[pos : match.start()])
        pos = match.end()
        token = match.group(0)
        closing, name, _attrs, entity = match.group(1), match.group(2), match.group(3), match.group(4)
        if name is not None:
            name = name.lower()
            if name not in ALLOWED_TAGS:
                raise TelegramHtmlError(f"Unsupported start tag \"{name}\" at byte offset {match.start()}")
            if closing:
                if not stack or stack[-1] != name:
                    raise TelegramHtmlError(f"Can't find end tag corresponding to start tag \"{name}\"")
                stack.pop()
            else:
                stack.append(name)
        elif entity is not None:
            if entity.startswith("#"):
                try:
                    code = int(entity[2:], 16) if entity[1:2] in ("x", "X") else int(entity[1:])
                    out.append(chr(code))
                except ValueError as exc:
                    raise TelegramHtmlError(f"Unsupported entity &{entity};") from exc
            elif entity in NAMED_ENTITIES:
                out.append(NAMED_ENTITIES[entity])
            else:
                raise TelegramHtmlError(f"Unsupported entity &{entity};")
        else:
            raise TelegramHtmlError(f"Unescaped {token!r} at byte offset {match.start()}")
    out.append(text[pos:])
    if stack:
        raise TelegramHtmlError(f"Can't find end tag corresponding to start tag \"{stack[-1]}\"")
    return "".join(out)


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units (how Telegram counts message length)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2
