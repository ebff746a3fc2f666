"""Text utilities shared by the core and the ingest pipeline: search normalisation and jieba tokenisation
(:mod:`rag.text.normalize`) and Chinese sentence splitting (:mod:`rag.text.sentences`).

May import: nothing else of the project.
"""
