"""The front-ends: the CLI (:mod:`bot.cli`), the REST API (:mod:`bot.rest`) and the Telegram bot
(:mod:`bot.telegram`), each building the core service with :func:`bot.service.build_service`.

May import: :mod:`rag` and :mod:`ingest` (only :mod:`bot.service` wires the pipeline in).
"""
