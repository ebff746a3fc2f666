"""The chunk collection's llama-index vector store: ``ChromaVectorStore`` writing lean chunk records.

llama-index's ``ChromaVectorStore.add`` stores each node three ways: the text as the Chroma document, the flat
metadata keys (for ``where`` filters), and the whole node as JSON in ``_node_content`` (to rebuild it on query).
Two of those cost us without serving us (bench/NOTES.md, section 6; 519 chunks of the benchmark corpus written
to a new embedded store in 256-chunk batches):

- ``tokens``, the pre-segmented BM25 tokens, are read only from their flat key when a process rebuilds its BM25
  index (:class:`rag.retrieval.keyword.BM25Index`); repeating them inside ``_node_content`` made it twice as long
  (1,303 -> 648 characters on average): 1.55-1.68 s -> 1.29-1.32 s;
- the embedded Chroma store indexes every document for full-text search (SQLite FTS5, trigram tokenizer), which
  this product never queries (its sparse leg is BM25 over jieba tokens, in memory). The text therefore travels
  only inside ``_node_content``, where llama-index's query path reads it anyway: chunks 1.04-1.14 s -> 0.77-0.85 s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from llama_index.core.schema import BaseNode, TextNode
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict
from llama_index.vector_stores.chroma import ChromaVectorStore
from llama_index.vector_stores.chroma.base import MAX_CHUNK_SIZE


class ChunkVectorStore(ChromaVectorStore):
    """``ChromaVectorStore`` whose :meth:`add` keeps :attr:`search_only_keys` out of ``_node_content`` and the text
    out of the Chroma document (see the module docstring).

    Records stay readable by the stock class (``query``, ``get_nodes``, :func:`metadata_dict_to_node`: a record
    without a document keeps the text of its ``_node_content``); nodes read back simply lack the search-only keys in
    their metadata. Records written by the stock class (text as document, keys inside ``_node_content``) are read
    the same way.
    """

    search_only_keys: ClassVar[tuple[str, ...]] = ("tokens",)

    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Add ``nodes`` (each with its embedding set) and return their ids.

        Raises ValueError when the collection is not initialised or a node has no embedding (llama-index).
        """
        collection: Any = self._collection
        if not collection:
            raise ValueError("Collection not initialized")
        ids: list[str] = []
        embeddings: list[list[float]] = []
        metadatas: list[dict[str, Any]] = []
        for node in nodes:
            search = {k: node.metadata[k] for k in self.search_only_keys if k in node.metadata}
            kept = node.model_copy(update={"metadata": {k: v for k, v in node.metadata.items() if k not in search}})
            metadata = node_to_metadata_dict(kept, remove_text=False, flat_metadata=self.flat_metadata)
            metadata.update(search)
            metadatas.append({k: "" if v is None else v for k, v in metadata.items()})
            embeddings.append(node.get_embedding())
            ids.append(node.node_id)
        for start in range(0, len(ids), MAX_CHUNK_SIZE):
            end = start + MAX_CHUNK_SIZE
            collection.add(ids=ids[start:end], embeddings=embeddings[start:end], metadatas=metadatas[start:end])
        return ids


def record_to_node(chunk_id: str, document: str | None, metadata: dict[str, Any]) -> TextNode:
    """Rebuild the ``TextNode`` of a Chroma chunk record the way ``ChromaVectorStore.query`` does: the text is the
    record's document, or (records written by :class:`ChunkVectorStore`, which have none) the
    text kept in ``_node_content``."""
    node = metadata_dict_to_node(metadata)
    if document is not None:
        node.set_content(document)
    node.id_ = chunk_id
    return node  # type: ignore[return-value]
