"""Support for the browser tests of the web page (``tests/test_web_*.py``) and ``make screenshot``: Debian's
chromium driven by Playwright, a real ``newsqa serve`` subprocess, and the pages the tests ingest."""
