"""Debian's chromium driven by Playwright for Python, with every request off 127.0.0.1 refused and recorded.

Never ``playwright install`` (it downloads browsers): :func:`launch` starts ``/usr/bin/chromium`` (Debian package
``chromium``, installed by ``make system-deps``). Without it the tests skip, naming the package, except under CI
(``CI=true``), where a missing browser fails them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

#: Where Debian's ``chromium`` package puts the browser.
CHROMIUM = Path("/usr/bin/chromium")
#: Headless chromium without any of its own network traffic (updates, sync, field trials).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-default-apps",
    "--disable-features=Translate,OptimizationHints,MediaRouter", "--metrics-recording-only", "--mute-audio",
]
LOCAL_HOSTS = {"127.0.0.1"}


def chromium_path() -> str:
    """The chromium binary; skips the test without one (fails under CI=true, where it must be installed)."""
    found = str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")
    if found:
        return found
    reason = "Debian package chromium is not installed (/usr/bin/chromium): run `make system-deps`"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run)")
    pytest.skip(reason)


@contextmanager
def launch() -> Iterator[Any]:
    """A headless Playwright ``Browser`` on Debian's chromium (skips or fails as :func:`chromium_path` says)."""
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # the dev extra is not installed
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("the playwright package (dev extra) is missing")
        pytest.skip("the playwright package (dev extra) is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


class GuardedContext:
    """A browser context whose requests may only go to 127.0.0.1; any other is aborted and kept in ``off_host``.
    Page errors (uncaught exceptions) and dialogs (alert, confirm) are recorded too; dialogs are dismissed."""

    def __init__(self, browser: Any, init_script: str | None = None, **options: Any) -> None:
        self.context = browser.new_context(locale="zh-CN", **options)
        self.off_host: list[str] = []
        self.page_errors: list[str] = []
        self.dialogs: list[str] = []
        self.context.route("**/*", self._route)
        if init_script:
            self.context.add_init_script(init_script)

    def _route(self, route: Any) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or parts.hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            self.off_host.append(url)
            route.abort()

    def new_page(self) -> Any:
        """A page of this context, recording page errors and dialogs."""
        page = self.context.new_page()
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))

        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)
        return page

    def close(self) -> None:
        """Close the context and fail when a request left 127.0.0.1, a script of the page raised or a dialog
        opened (the page itself never opens one)."""
        self.context.close()
        assert not self.off_host, f"requests left 127.0.0.1: {self.off_host}"
        assert not self.page_errors, f"uncaught errors in the page: {self.page_errors}"
        assert not self.dialogs, f"dialogs opened: {self.dialogs}"
