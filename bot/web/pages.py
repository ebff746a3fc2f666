"""Routes of the web page and the offline API docs, with their security headers.

``GET /`` serves ``static/index.html``; ``/static/...`` the page's scripts, styles, labels and vendored libraries;
``GET /docs`` (Swagger UI) and ``GET /redoc`` (ReDoc) are small HTML pages loading the vendored releases and a
start-up script from ``/static`` (no inline script at all). None of these routes needs a key: they hold no data;
the page asks the ``/v1`` API with the key the user enters.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Folder of everything the browser loads (package data, see pyproject.toml).
STATIC_DIR = Path(__file__).resolve().parent / "static"
SWAGGER_DIR = "/static/vendor/swagger-ui-dist-5.36.0"
REDOC_DIR = "/static/vendor/redoc-2.5.4"

#: The chat page: scripts and everything else from this origin only, no inline script, no framing.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
#: The docs pages: Swagger UI and ReDoc set inline styles and ReDoc starts a worker from a blob; scripts still only
#: from this origin.
DOCS_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'")

SWAGGER_HTML = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>newsqa REST API · Swagger UI</title>
<link rel="stylesheet" href="{SWAGGER_DIR}/swagger-ui.css"><link rel="icon" href="{SWAGGER_DIR}/favicon-32x32.png">
</head><body><div id="swagger-ui"></div>
<script src="{SWAGGER_DIR}/swagger-ui-bundle.js"></script><script src="/static/docs-init.js"></script>
</body></html>
"""

REDOC_HTML = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>newsqa REST API · ReDoc</title><link rel="icon" href="{SWAGGER_DIR}/favicon-32x32.png">
</head><body><redoc spec-url="/openapi.json"></redoc><script src="{REDOC_DIR}/redoc.standalone.js"></script>
</body></html>
"""


def _security_headers(csp: str) -> dict[str, str]:
    return {"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY"}


class _NoSniffStatic:
    """Static files with ``X-Content-Type-Options: nosniff`` (a script is only run when served as one) and
    ``Cache-Control: no-cache`` (the browser revalidates with the ETag, so an upgraded package's scripts are used
    at once)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-content-type-options", b"nosniff"),
                                      (b"cache-control", b"no-cache")]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_web(app: FastAPI) -> None:
    """Add the page (``/``), its static files (``/static``) and the offline docs (``/docs``, ``/redoc``) to
    ``app``, which must be built with ``docs_url=None, redoc_url=None``. Raises RuntimeError when the package's
    static folder is missing (a broken install)."""
    index = STATIC_DIR / "index.html"
    if not index.is_file():
        raise RuntimeError(f"the web page is missing from the installed package: {index}")

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(index, media_type="text/html; charset=utf-8", headers={
            **_security_headers(PAGE_CSP), "Cache-Control": "no-cache"})

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return HTMLResponse(SWAGGER_HTML, headers=_security_headers(DOCS_CSP))

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return HTMLResponse(REDOC_HTML, headers=_security_headers(DOCS_CSP))

    app.mount("/static", _NoSniffStatic(StaticFiles(directory=STATIC_DIR)), name="static")
