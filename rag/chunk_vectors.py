"""The chunk collection's llama-index vector store: ``ChromaVectorStore`` with search-only metadata kept flat.

llama-index's ``ChromaVectorStore.add`` stores each node twice in the metadata: its flat metadata keys (for
``where`` filters) and its whole JSON in ``_node_content`` (to rebuild the node on query). Our chunks carry
``tokens``, the pre-segmented BM25 tokens, which are read only from the flat key when a process rebuilds its BM25
index (:class:`rag.retrieval.BM25Index`); repeating them in ``_node_content`` made every chunk record about a
third larger (``_node_content`` 1,303 -> 648 characters on average). Writing the 519 chunks of the benchmark corpus
(CMRC 2018 trial + sample pages) to a new embedded store in 256-chunk batches: 1.55-1.68 s -> 1.29-1.32 s
(bench/NOTES.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from llama_index.core.schema import BaseNode, MetadataMode
from llama_index.core.vector_stores.utils import node_to_metadata_dict
from llama_index.vector_stores.chroma import ChromaVectorStore
from llama_index.vector_stores.chroma.base import MAX_CHUNK_SIZE


class ChunkVectorStore(ChromaVectorStore):
    """``ChromaVectorStore`` whose :meth:`add` keeps :attr:`search_only_keys` out of ``_node_content``.

    Records stay readable by the stock class (``query``, ``get_nodes``, :func:`metadata_dict_to_node`); nodes read
    back simply lack the search-only keys in their metadata. Records written by the stock class (with the keys
    inside ``_node_content``) are read the same way.
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
        documents: list[str] = []
        for node in nodes:
            search = {k: node.metadata[k] for k in self.search_only_keys if k in node.metadata}
            kept = node
            if search:
                kept = node.model_copy(
                    update={"metadata": {k: v for k, v in node.metadata.items() if k not in search}}
                )
            metadata = node_to_metadata_dict(kept, remove_text=True, flat_metadata=self.flat_metadata)
            metadata.update(search)
            metadatas.append({k: "" if v is None else v for k, v in metadata.items()})
            embeddings.append(node.get_embedding())
            ids.append(node.node_id)
            documents.append(node.get_content(metadata_mode=MetadataMode.NONE))
        for start in range(0, len(ids), MAX_CHUNK_SIZE):
            end = start + MAX_CHUNK_SIZE
            collection.add(ids=ids[start:end], embeddings=embeddings[start:end],
                                 metadatas=metadatas[start:end], documents=documents[start:end])
        return ids
