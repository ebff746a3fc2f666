"""The stock llama-index pipeline a user would otherwise build: the baseline of every comparison.

``SimpleDirectoryReader`` + ``VectorStoreIndex.from_documents`` over ``ChromaVectorStore``, all defaults
(``SentenceSplitter`` of 1024 tokens with 200 overlap, ``embed_batch_size`` 10, the collection's default distance),
and ``index.as_retriever(similarity_top_k=5)`` for queries. The embedding model is the same loaded
sentence-transformers model as ours, behind a small ``BaseEmbedding`` adapter that behaves like
``llama-index-embeddings-huggingface``'s ``HuggingFaceEmbedding`` (L2-normalised vectors, no query instruction
for this model); that package is not installed, so no new dependency is needed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

STOCK_COLLECTION = "stock"


class SentenceTransformerEmbedding(BaseEmbedding):
    """llama-index embedding over an already loaded ``sentence_transformers.SentenceTransformer``."""

    _model: Any = PrivateAttr()
    _seen: list[str] | None = PrivateAttr(default=None)

    def __init__(self, model: Any, model_name: str, **kwargs: Any) -> None:
        super().__init__(model_name=model_name, **kwargs)
        self._model = model

    def record_texts(self) -> list[str]:
        """From now on keep every text embedded as a document (to count encoder tokens afterwards)."""
        self._seen = []
        return self._seen

    @classmethod
    def class_name(cls) -> str:
        return "SentenceTransformerEmbedding"

    def _encode(self, texts: list[str]) -> list[list[float]]:
        vectors = self._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True,
                                     show_progress_bar=False)
        return [v.tolist() for v in vectors]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._encode([query])[0]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        if self._seen is not None:
            self._seen.extend(texts)
        return self._encode(texts)


def adapter_for(embedder: Any, stock_defaults: bool = False) -> SentenceTransformerEmbedding:
    """The stock adapter around the model inside one of the core's ``SentenceTransformerEmbedder`` objects.

    ``stock_defaults`` restores the model's own ``max_seq_length`` (from its ``sentence_bert_config.json``) in case
    the core changed it on the shared model object: the stock side runs the model as shipped.
    """
    model = embedder._model
    if stock_defaults:
        from rag.retrieval.embedding import packaged_model_path

        config = (packaged_model_path() or Path("/nonexistent")) / "sentence_bert_config.json"
        if config.exists():
            model.max_seq_length = int(json.loads(config.read_text())["max_seq_length"])
    return SentenceTransformerEmbedding(model, embedder.name)


def stock_collection(store_dir: Path) -> Any:
    """The stock pipeline's Chroma collection in the embedded store at ``store_dir`` (created if absent)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(path=str(store_dir), settings=ChromaSettings(anonymized_telemetry=False))
    return client.get_or_create_collection(STOCK_COLLECTION)


def stock_ingest(files: list[Path], store_dir: Path, embed_model: BaseEmbedding) -> tuple[Any, dict[str, Any]]:
    """Build the stock index of ``files`` in a new Chroma store; returns the index and counts.

    Everything a user's script does is inside: reading the files, splitting, embedding, writing to Chroma.
    """
    from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.vector_stores.chroma import ChromaVectorStore

    started = time.perf_counter()
    documents = SimpleDirectoryReader(input_files=[str(p) for p in files]).load_data()
    read_s = time.perf_counter() - started
    vector_store = ChromaVectorStore(chroma_collection=stock_collection(store_dir))
    storage = StorageContext.from_defaults(vector_store=vector_store)
    index = VectorStoreIndex.from_documents(documents, storage_context=storage, embed_model=embed_model)
    chunks = vector_store.client.count()
    return index, {"documents": len(documents), "chunks": chunks, "read_s": read_s}


def stock_retriever(vector_store: Any, embed_model: BaseEmbedding, top_k: int = 5) -> Any:
    """``VectorStoreIndex.from_vector_store(...).as_retriever()`` over an existing ``ChromaVectorStore``."""
    from llama_index.core import VectorStoreIndex

    index = VectorStoreIndex.from_vector_store(vector_store, embed_model=embed_model)
    return index.as_retriever(similarity_top_k=top_k)


def encoder_tokens(model: Any, texts: list[str]) -> int:
    """Word pieces the model actually encodes for ``texts`` (each truncated to its ``max_seq_length``)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # "sequence length is longer than the maximum": we count, not encode
    limit = int(model.max_seq_length)
    total = 0
    for i in range(0, len(texts), 256):
        ids = model.tokenizer(texts[i : i + 256], truncation=False, add_special_tokens=True)["input_ids"]
        total += sum(min(len(x), limit) for x in ids)
    return total


def chunk_lengths(collection: Any) -> list[int]:
    """Character lengths of every chunk text stored in a Chroma collection."""
    lengths: list[int] = []
    offset = 0
    while True:
        got = collection.get(include=["documents"], limit=5000, offset=offset)
        if not got["ids"]:
            return lengths
        lengths.extend(len(d or "") for d in got["documents"])
        offset += len(got["ids"])
