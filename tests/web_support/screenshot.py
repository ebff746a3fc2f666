"""``make screenshot``: regenerate docs/screenshot.png, the web page answering a question with its source open.

Runs a real ``newsqa serve`` over a temporary copy of the sample pages (packaged embedding model, offline) and
drives Debian's chromium like the browser tests do. Usage: ``python -m tests.web_support.screenshot [OUT.png]``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from tests.conftest import ROOT, SAMPLE_ARTICLES, make_settings
from tests.web_support.browser import GuardedContext, launch
from tests.web_support.server import newsqa_serve

#: Asked in the screenshot (about the sample page of 郏县's industry bureau).
QUESTION = "郏县工信局半年来累计走访企业多少家次？"
VIEWPORT = {"width": 1280, "height": 760}


def main(out: Path) -> None:
    """Write the screenshot to ``out``. Raises RuntimeError when the answer has no citation to open."""
    from bot.service import build_service
    from rag.retrieval.embedding import packaged_model_path

    with tempfile.TemporaryDirectory(prefix="newsqa-screenshot-") as tmp:
        data_dir = Path(tmp)
        shutil.copytree(SAMPLE_ARTICLES, data_dir / "articles")
        settings = make_settings(data_dir, str(packaged_model_path()))
        service = build_service(settings)
        service.ingest()
        service.close()
        with newsqa_serve(settings) as served, launch() as browser:
            guarded = GuardedContext(browser, viewport=VIEWPORT)
            page = guarded.new_page()
            page.goto(served.base_url + "/")
            page.wait_for_selector("body[data-ready=true]")
            page.fill("#question", QUESTION)
            page.press("#question", "Enter")
            page.locator(".answer[data-answer=done]").wait_for(timeout=120_000)
            if not page.locator("a.marker").count():
                raise RuntimeError(f"no citation in the answer to {QUESTION!r}")
            page.locator("a.marker").first.click()
            page.locator("#panel mark.cited").first.wait_for()
            page.evaluate("document.activeElement.blur()")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
            guarded.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshot.png")
