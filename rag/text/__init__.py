"""Text utilities shared by the core and the ingest pipeline: search normalisation and jieba tokenisation
(:mod:`rag.text.normalize`), Chinese sentence splitting (:mod:`rag.text.sentences`), time expressions and datelines,
and the one question analysis (:mod:`rag.text.question`: what a question asks for, used by the answerer and by
retrieval's reranker).

May import: nothing else of the project.
"""
