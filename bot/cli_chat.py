"""``newsqa chat``: questions read line by line, answered in one conversation, so follow-ups (``那郏县呢？``,
``他主持了什么会议？``) are understood from the earlier turns (:mod:`rag.conversation`).

Reads standard input: typed lines at a ``问>`` prompt on a terminal, or piped lines (``newsqa chat < questions.txt``)
without one. Ends at end of input, ``exit``/``quit``/``退出``; ``/new`` starts a new conversation. Answers come
from the ``newsqa serve`` running on the same data dir when there is one (its conversation memory, through the
REST ``conversation_id``), else from a service built here, loaded once for the session.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Annotated

import typer

from bot.cli_answer import ask_server, format_answer, local_server
from bot.cli_archive import Publication, Since, Until, archive_filter, filter_json
from bot.cli_support import err, fail, out
from rag.errors import InputError, NewsQAError
from rag.models import Answer
from rag.settings import Settings

#: Lines that end the session, and the one that starts a new conversation.
EXIT_WORDS = frozenset({"exit", "quit", "退出", ":q"})
NEW_CONVERSATION = "/new"
PROMPT = "问> "


def _lines(interactive: bool) -> Iterator[str]:
    """The stripped input lines: with a prompt and line editing on a terminal, plainly from a pipe."""
    if not interactive:
        for line in sys.stdin:
            yield line.strip()
        return
    while True:
        try:
            yield input(PROMPT).strip()
        except EOFError:
            out.print()
            return
        except KeyboardInterrupt:
            out.print()
            return


def chat_command(settings_factory: Callable[..., Settings]) -> Callable[..., None]:
    """The ``chat`` command, using ``settings_factory(quiet=...)`` for its settings (registered by :mod:`bot.cli`)."""

    def chat(
        as_json: Annotated[bool, typer.Option("--json", help="One answer object as JSON per line.")] = False,
        top_k: Annotated[int, typer.Option("--top-k", min=1, max=20, help="Chunks to answer from.")] = 5,
        server: Annotated[str | None, typer.Option(
            "--server", help="Ask this running `newsqa serve` (URL). Default: the one serving this data dir, if "
            "any; --server local never uses a server.")] = None,
        since: Since = None,
        until: Until = None,
        publication: Publication = None,
        verbose: Annotated[bool, typer.Option(
            "--verbose", "-v", help="Also print log lines on stderr, and each answer's confidence.")] = False,
    ) -> None:
        """Ask questions one per line in one conversation: follow-up questions use the earlier ones. Ends at end of
        input or `exit`; `/new` starts a new conversation."""
        settings = settings_factory(quiet=not verbose)
        try:
            flt = archive_filter(since, until, publication)
        except NewsQAError as exc:
            raise fail(exc) from exc
        url = local_server(settings) if server is None else (None if server == "local" else server)
        interactive = sys.stdin.isatty()
        if interactive:
            err.print("newsqa chat: one question per line; follow-ups use the earlier questions. "
                      f"`{NEW_CONVERSATION}` starts over, `exit` or Ctrl-D ends.", highlight=False)
        service = None
        conversation = uuid.uuid4().hex
        try:
            for line in _lines(interactive):
                if not line:
                    continue
                if line.lower() in EXIT_WORDS:
                    break
                if line == NEW_CONVERSATION:
                    conversation = uuid.uuid4().hex
                    err.print("(new conversation)", highlight=False)
                    continue
                answer: Answer | None = None
                if url:
                    answer = ask_server(url, settings, line, top_k, filter_json(flt), conversation)
                    if answer is None and server not in (None, "local"):
                        raise fail(NewsQAError(f"--server {server}: no answer (is `newsqa serve` running there?)"))
                    url = url if answer is not None else None  # unreachable: answer here from now on
                if answer is None:
                    if service is None:
                        from bot.service import build_service

                        service = build_service(settings)
                    try:
                        answer = service.ask(line, top_k=top_k, conversation_id=conversation, archive_filter=flt)
                    except InputError as exc:  # a bad question ends nothing: say why and read the next
                        err.print(f"[red]error:[/red] {exc}", highlight=False)
                        continue
                    except NewsQAError as exc:
                        raise fail(exc) from exc
                if as_json:
                    print(json.dumps(answer.model_dump(), ensure_ascii=False), flush=True)
                else:
                    out.print(format_answer(answer, verbose) + "\n", highlight=False, markup=False)
        finally:
            if service is not None:
                service.close()

    return chat
