"""docs/configuration.md is generated from ``rag.settings.Settings`` (bot/config_doc.py) and must stay in step with
it, and ``.env.example`` must name the same ``NEWSQA_`` variables."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.config_doc import DOC_PATH, REGENERATE, config_rows, render_markdown
from rag.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_configuration_reference_is_up_to_date() -> None:
    committed = DOC_PATH.read_text("utf-8") if DOC_PATH.exists() else ""
    assert committed == render_markdown(), (
        f"docs/configuration.md is out of date with rag/settings.py: run `{REGENERATE}` "
        "(python -m bot.config_doc) and commit the result"
    )


def test_every_setting_has_a_row_with_its_description() -> None:
    rows = {row.env: row for row in config_rows()}
    assert len(rows) == len(Settings.model_fields)
    for name, info in Settings.model_fields.items():
        row = rows[f"NEWSQA_{name.upper()}"]
        assert row.meaning, f"{row.env}: the Field has no description, so the reference cannot explain it"
        assert info.description and row.meaning.split()[0] == info.description.split()[0]
    page = render_markdown()
    assert all(f"| `{env}` |" in page for env in rows)


def test_env_example_names_every_variable() -> None:
    example = (ROOT / ".env.example").read_text("utf-8")
    named = set(re.findall(r"^#?\s*(NEWSQA_[A-Z0-9_]+)=", example, re.M))
    known = {row.env for row in config_rows()}
    assert not known - named, f".env.example lacks {sorted(known - named)}: add a commented line for each"
    assert not named - known, f".env.example names variables Settings does not have: {sorted(named - known)}"


class _Sample(BaseSettings):
    """A settings class exercising every kind of row the generator renders."""

    model_config = SettingsConfigDict(env_prefix="DEMO_")

    # --- first part ---
    count: int = Field(3, ge=1, le=9, description="How many; see other_name.")
    token: SecretStr | None = Field(None, description="A secret | with a pipe.")
    # --- second part ---
    other_name: list[str] = Field(default_factory=lambda: ["a" * 40, "b" * 40], description="Long list.")
    flag: bool = Field(False, description="A switch.")


def test_rows_render_types_defaults_sections_and_cross_references() -> None:
    rows = {row.env: row for row in config_rows(_Sample)}
    assert rows["DEMO_COUNT"].type == "integer, >= 1, <= 9"
    assert rows["DEMO_COUNT"].default == "3"
    assert rows["DEMO_COUNT"].meaning == "How many; see DEMO_OTHER_NAME."
    assert rows["DEMO_COUNT"].section == "first part"
    assert rows["DEMO_TOKEN"].type == "secret (optional)" and rows["DEMO_TOKEN"].default == ""
    assert rows["DEMO_OTHER_NAME"].section == "second part"
    assert rows["DEMO_FLAG"].default == "false"
    page = render_markdown(_Sample)
    assert "## First part" in page and "## Second part" in page
    assert "A secret \\| with a pipe." in page  # a pipe would split the table cell
    assert "see [below](#demo_other_name)" in page and "### DEMO_OTHER_NAME" in page


def test_check_command_reports_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "configuration.md"
    stale.write_text("old\n", "utf-8")
    run = [sys.executable, "-m", "bot.config_doc", "--output", str(stale)]
    checked = subprocess.run([*run, "--check"], cwd=ROOT, capture_output=True, text=True)
    assert checked.returncode == 1 and REGENERATE in checked.stderr
    subprocess.run(run, cwd=ROOT, check=True, capture_output=True)
    assert stale.read_text("utf-8") == render_markdown()
    assert subprocess.run([*run, "--check"], cwd=ROOT).returncode == 0
