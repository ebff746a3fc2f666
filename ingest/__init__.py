"""The ingest pipeline: load files (:mod:`ingest.loaders`), clean OCR text (:mod:`ingest.clean`), segment pages into
articles (:mod:`ingest.segment`), chunk them (:mod:`ingest.chunk`), embed and write them to the store
(:mod:`ingest.pipeline`, under the lock of :mod:`ingest.locks`). :func:`ingest.pipeline.run_ingest` is the core's
:class:`rag.service.IngestRunner`.

May import: :mod:`rag` (the store, embedding, text utilities, models, settings, errors); never :mod:`bot`.
"""
