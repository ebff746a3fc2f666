"""The web chat page served by ``newsqa serve`` at ``/``, and the offline API docs (``/docs``, ``/redoc``).

Everything the browser loads ships in this package (``bot/web/static``: the page, its plain ES-module scripts, the
Chinese labels and the vendored Swagger UI / ReDoc releases); nothing comes from another origin, and a strict
Content-Security-Policy says so. See :func:`bot.web.pages.install_web`.
"""
