"""Configuration errors a person can act on: :func:`load_settings` builds :class:`rag.settings.Settings` the way
every entry point does, and turns pydantic's messages, which name the field (``top_k``), into ones that name the
variable (``NEWSQA_TOP_K``), its value and where it came from (the environment, ``.env`` or the command line).

It also finds ``NEWSQA_`` variables that are no setting (a misspelt ``NEWSQA_TOPK`` is otherwise ignored without a
word) and returns a warning for each, with the nearest known name (:func:`difflib.get_close_matches`).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError
from pydantic_settings import SettingsError

from rag.errors import ConfigError
from rag.settings import Settings

PREFIX = "NEWSQA_"
#: ``NEWSQA_`` variables that are not settings but are read by other parts of the project: the REST server's
#: hand-over to its worker processes, the test suite's and the benchmarks' own variables.
OTHER_VARIABLES = ("NEWSQA_REST_SETTINGS_JSON",)
OTHER_PREFIXES = ("NEWSQA_TEST_", "NEWSQA_BENCH_")


def variable(field: str) -> str:
    """The environment variable of a settings field: ``top_k`` -> ``NEWSQA_TOP_K``."""
    return PREFIX + field.upper()


def _dotenv(env_file: str | Path | None) -> dict[str, str]:
    """The ``NEWSQA_`` entries of ``env_file`` (upper-cased names; empty when there is no such file)."""
    if env_file is None or not Path(env_file).is_file():
        return {}
    from dotenv import dotenv_values  # python-dotenv, a dependency of pydantic-settings

    return {k.upper(): v or "" for k, v in dotenv_values(env_file, encoding="utf-8").items()
            if k.upper().startswith(PREFIX)}


def _describe(field: str, overrides: Mapping[str, Any], env: Mapping[str, str],
              dotenv: Mapping[str, str], env_file: str | Path | None) -> str:
    """``NEWSQA_TOP_K='abc' (from .env)``: the variable, its value (hidden for secrets) and its source. The
    environment wins over ``.env`` (pydantic-settings' order), arguments over both."""
    name = variable(field)
    if field in overrides:
        source, raw = "the command line", overrides[field]
    elif name in env:
        source, raw = "the environment", env[name]
    elif name in dotenv:
        source, raw = f"{env_file}", dotenv[name]
    else:
        return name
    info = Settings.model_fields.get(field)
    secret = info is not None and "SecretStr" in str(info.annotation)
    shown = "***" if secret or isinstance(raw, SecretStr) else repr(str(raw) if isinstance(raw, Path) else raw)
    return f"{name}={shown} (from {source})"


def _message(exc: ValidationError | SettingsError, describe: Any) -> str:
    if isinstance(exc, SettingsError):  # a value that is not JSON where JSON is needed (a list setting)
        match = re.search(r'field "(\w+)"', str(exc))
        field = match.group(1) if match else ""
        return f"{describe(field)}: not valid JSON (write a JSON list, e.g. [\"...\"])" if field else str(exc)
    parts = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error.get("loc") else ""
        text = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        parts.append(f"{describe(field)}: {text}" if field in Settings.model_fields else text)
    return "; ".join(parts)


def unknown_variables(env: Mapping[str, str], dotenv: Mapping[str, str], env_file: str | Path | None) -> list[str]:
    """A warning per ``NEWSQA_`` variable that is no setting, naming where it is set and the nearest known one."""
    known = [variable(name) for name in Settings.model_fields]
    warnings = []
    for source, names in (("the environment", env), (str(env_file), dotenv)):
        for name in sorted(names):
            if name in known or name in OTHER_VARIABLES or name.startswith(OTHER_PREFIXES):
                continue
            near = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]}?" if near else "; see .env.example for the settings"
            warnings.append(f"{name} (in {source}) is not a newsqa setting and is ignored{hint}")
    return warnings


def load_settings(env_file: str | Path | None = ".env", **overrides: Any) -> tuple[Settings, list[str]]:
    """:class:`Settings` from the environment, ``env_file`` (default ``.env`` in the working folder, None for
    none) and ``overrides`` (keyword arguments by field name, e.g. from command-line options), and the warnings
    about unknown ``NEWSQA_`` variables.

    Raises :class:`rag.errors.ConfigError` when a value is invalid, its message naming every bad variable, its
    value (``***`` for secrets) and its source, e.g. ``NEWSQA_TOP_K='0' (from the environment): Input should be
    greater than or equal to 1``.
    """
    env = {k.upper(): v for k, v in os.environ.items() if k.upper().startswith(PREFIX)}
    dotenv = _dotenv(env_file)
    try:
        settings = Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    except (ValidationError, SettingsError) as exc:
        describe = partial(_describe, overrides=overrides, env=env, dotenv=dotenv, env_file=env_file)
        raise ConfigError(f"invalid configuration: {_message(exc, describe)}") from None
    return settings, unknown_variables(env, dotenv, env_file)
