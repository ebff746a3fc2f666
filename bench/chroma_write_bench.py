"""Cost of writing chunk records to an embedded Chroma store: llama-index's ``ChromaVectorStore`` against ours.

``rag.store.chunk_vectors.ChunkVectorStore`` keeps the BM25 ``tokens`` out of llama-index's ``_node_content`` JSON and
the text out of the Chroma document (bench/NOTES.md, section 6). This script prepares the chunk nodes of a corpus exactly as an ingest does
(``ingest.pipeline.build_file_work``), gives them random unit vectors (the write cost does not depend on the
values; no model is loaded), and writes them to new embedded stores in ingest-sized batches, alternating the two
classes. It prints wall seconds per run and the mean ``_node_content`` length (characters) each class stores.

    python bench/chroma_write_bench.py                  # CMRC 2018 trial + sample pages, 2 rounds
    python bench/chroma_write_bench.py --rounds 4 --batch 128
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CMRC_ARTICLES, SAMPLE_ARTICLES, corpus_files, init_jieba, settings_for  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="runs of each class, interleaved")
    parser.add_argument("--batch", type=int, default=256, help="chunks per add() call (the ingest's batch)")
    args = parser.parse_args(argv)

    import chromadb
    import numpy as np
    from chromadb.config import Settings as ChromaSettings
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from ingest.loaders import load_text
    from ingest.pipeline import build_file_work
    from rag.store.chunk_vectors import ChunkVectorStore

    init_jieba()
    files = corpus_files([CMRC_ARTICLES, SAMPLE_ARTICLES])
    with tempfile.TemporaryDirectory(prefix="newsqa-chroma-write-") as tmp:
        settings = settings_for(Path(tmp) / "prep")
        nodes = [n for p in files for n in build_file_work(p.name, "", load_text(p), settings).nodes]
        rng = np.random.default_rng(0)
        for node in nodes:
            vector = rng.normal(size=384).astype(np.float32)
            node.embedding = (vector / np.linalg.norm(vector)).tolist()
        print(f"{len(files)} files, {len(nodes)} chunks, batches of {args.batch}")
        times: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for cls in (ChromaVectorStore, ChunkVectorStore):
                client = chromadb.PersistentClient(path=str(Path(tmp) / uuid.uuid4().hex),
                                                   settings=ChromaSettings(anonymized_telemetry=False))
                collection = client.get_or_create_collection("chunks", embedding_function=None,
                                                             metadata={"hnsw:space": "cosine"})
                store: Any = cls(chroma_collection=collection)  # type: ignore[call-arg]  # pydantic init
                started = time.perf_counter()
                for i in range(0, len(nodes), args.batch):
                    store.add(nodes[i : i + args.batch])
                times.setdefault(cls.__name__, []).append(time.perf_counter() - started)
                sample: Any = collection.get(limit=200, include=["metadatas"])["metadatas"]
                mean_chars = statistics.mean(len(str(m["_node_content"])) for m in sample)
                print(f"{cls.__name__:18} {times[cls.__name__][-1]:6.3f} s   _node_content {mean_chars:6.0f} chars")
        base, ours = min(times["ChromaVectorStore"]), min(times["ChunkVectorStore"])
        print(f"best: ChromaVectorStore {base:.3f} s, ChunkVectorStore {ours:.3f} s, ratio {ours / base:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
