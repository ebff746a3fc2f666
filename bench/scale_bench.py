"""Query latency and serving memory at 1k / 10k / 100k chunks, ours beside the stock llama-index retriever.

Corpus: synthetic but made only of real material. The chunks of the real ingested corpus (CMRC 2018 trial + sample
pages) are the base. A synthetic article takes the headline of a real article; each of its chunks joins the first
half of the sentences of one real chunk of that article with the second half of the sentences of another real
chunk; its BM25 tokens are the real jieba tokens of those title and sentences (tokenised once per base sentence)
and its vector is the normalised sum of the two real chunk embeddings plus small Gaussian noise. Records are
written through the core's ``Store`` (chunks via ``ChromaVectorStore.add``, the same metadata keys including
``tokens``, plus ``-articles``, ``-files`` and ``-state`` records naming the packaged model), i.e. in the format an
ingest writes, so the measured path (``NewsQA.retrieve`` / ``NewsQA.ask``) is the real one.

Built stores are cached under ``CACHE_DIR`` (``/tmp/newsqa-bench-cache``), keyed by size, base corpus and generator
version; a store is only used when its ``complete.json`` marker exists.
"""

from __future__ import annotations

import hashlib
import pickle
import random
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import (
    CACHE_DIR,
    CMRC_QA,
    SEEDS_QA,
    current_rss_mib,
    init_jieba,
    load_model,
    log,
    peak_rss_mib,
    percentiles,
    read_json,
    rss_parts_mib,
    settings_for,
    timed,
    write_json,
)

#: 2: no tokens inside _node_content; 3: no Chroma documents (rag.store.chunk_vectors); 4: the date fields an
#: ingest writes for an undated chunk (without them a question naming a year matched no chunk in the dense leg)
GENERATOR_VERSION = 4
#: What an ingest writes for a chunk with no publication or event date (rag.filters reads these in the dense leg).
UNDATED = {"published_day": 0, "event_min": 0, "event_max": 0}
CHUNKS_PER_PAGE = 24
WRITE_BATCH = 2000
NOISE = 0.02  # standard deviation per dimension of the noise added to summed unit vectors (384-d: norm ~0.4)


# --- base material ---------------------------------------------------------------------------------------------
def base_key(source_store: Path) -> str:
    """Content key of the chunk records of an ingested store (ids are content hashes already)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(path=str(source_store), settings=ChromaSettings(anonymized_telemetry=False))
    ids = sorted(client.get_collection("newsqa").get(include=[])["ids"])
    return hashlib.sha1("\n".join(ids).encode()).hexdigest()[:12]


def build_base(source_store: Path | None, dest: Path) -> dict[str, Any]:
    """Read the real chunks (text, metadata, vector) of ``source_store`` and tokenise their sentences once."""
    import chromadb
    import numpy as np
    from chromadb.config import Settings as ChromaSettings

    from rag.store.chunk_vectors import record_to_node
    from rag.text.normalize import normalize, tokenize
    from rag.text.sentences import split_sentences

    if dest.exists():
        with dest.open("rb") as fh:
            return pickle.load(fh)
    if source_store is None:
        raise SystemExit(f"{dest} is missing and no ingested store was given: run the ingest phase")
    init_jieba()
    client = chromadb.PersistentClient(path=str(source_store), settings=ChromaSettings(anonymized_telemetry=False))
    got: Any = client.get_collection("newsqa").get(include=["documents", "metadatas", "embeddings"])
    order = sorted(range(len(got["ids"])), key=lambda i: got["ids"][i])
    articles: dict[str, dict[str, Any]] = {}
    chunks: list[dict[str, Any]] = []
    for i in order:
        meta = got["metadatas"][i]
        text = record_to_node(got["ids"][i], got["documents"][i], meta).get_content()
        sentences = [s for s in split_sentences(text) if s.strip()]
        chunk = {
            "article_id": meta["article_id"],
            "sentences": sentences,
            "tokens": [tokenize(normalize(s), normalized=True) for s in sentences],
            "vector": np.asarray(got["embeddings"][i], dtype=np.float32),
        }
        art = articles.setdefault(meta["article_id"], {
            "title": meta["title"], "title_tokens": tokenize(normalize(meta["title"]), normalized=True),
            "chunks": [],
        })
        art["chunks"].append(len(chunks))
        chunks.append(chunk)
    base = {"articles": list(articles.values()), "chunks": chunks}
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_suffix(f".{uuid.uuid4().hex}.tmp")
    with partial.open("wb") as fh:
        pickle.dump(base, fh)
    partial.replace(dest)  # atomic: a concurrent build never reads half a file
    return base


def store_dir_for(size: int, key: str) -> Path:
    return CACHE_DIR / f"scale-v{GENERATOR_VERSION}-{key}-{size}"


# --- synthetic store -------------------------------------------------------------------------------------------
def synthetic_articles(base: dict[str, Any], size: int) -> Iterator[tuple[dict[str, Any], list[tuple[Any, Any, Any]]]]:
    """The synthetic articles of a store of ``size`` chunks (see the module docstring), in write order: ``(base
    article, [(first base chunk, second base chunk, unit vector), ...])``. Deterministic for a base and size (seeded
    by ``size``), so ``bench/hnsw_recall.py`` rebuilds exactly the vectors a cached store holds."""
    import numpy as np

    arts, chunks = base["articles"], base["chunks"]
    rng = random.Random(size)
    nrng = np.random.default_rng(size)
    dim = int(chunks[0]["vector"].shape[0])
    made = 0
    while made < size:
        art = rng.choice(arts)
        n_chunks = min(len(art["chunks"]) + rng.randint(0, 2), size - made)
        parts = []
        for n in range(n_chunks):
            first = chunks[art["chunks"][n % len(art["chunks"])]]
            second = chunks[rng.randrange(len(chunks))]
            vector = first["vector"] + second["vector"] + nrng.normal(0.0, NOISE, dim).astype(np.float32)
            vector /= np.linalg.norm(vector)
            parts.append((first, second, vector))
        made += n_chunks
        yield art, parts


def build_store(spec: dict[str, Any]) -> dict[str, Any]:
    """Child: write a synthetic store of ``spec["size"]`` chunks (see module docstring) unless cached."""
    from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

    from rag.retrieval.embedding import PACKAGED_MODEL_NAME
    from rag.store.store import Store

    size, key = int(spec["size"]), spec["key"]
    data_dir = store_dir_for(size, key)
    marker = data_dir / "complete.json"
    if marker.exists():
        return {**read_json(marker), "cached": True}
    shutil.rmtree(data_dir, ignore_errors=True)
    source = spec.get("source_store")
    base = build_base(Path(source) if source else None, CACHE_DIR / f"base-v{GENERATOR_VERSION}-{key}.pkl")
    chunks = base["chunks"]
    started = time.perf_counter()
    store = Store(settings_for(data_dir))
    dim = int(chunks[0]["vector"].shape[0])

    nodes: list[Any] = []
    articles: list[dict[str, Any]] = []
    files: dict[str, dict[str, int]] = {}
    made = page = position = page_chunks = 0

    def flush() -> None:
        nonlocal nodes, articles
        if nodes:
            store.vector_store.add(nodes)
        store.add_articles(articles)
        nodes, articles = [], []

    for art, parts in synthetic_articles(base, size):
        n_chunks = len(parts)
        source = f"scale/p{page:05d}.txt"
        article_id = hashlib.sha1(f"{size}:{made}:{art['title']}".encode()).hexdigest()[:16]
        chunk_ids = [f"{article_id}:{n}" for n in range(n_chunks)]
        texts = []
        for n, (first, second, vector) in enumerate(parts):
            h1 = (len(first["sentences"]) + 1) // 2
            h2 = len(second["sentences"]) // 2
            start2 = len(second["sentences"]) - h2
            sentences = first["sentences"][:h1] + second["sentences"][start2:]
            tokens = list(art["title_tokens"])
            for toks in first["tokens"][:h1] + second["tokens"][start2:]:
                tokens.extend(toks)
            text = "".join(sentences)
            texts.append(text)
            nodes.append(TextNode(
                id_=chunk_ids[n], text=text, embedding=vector.tolist(),
                metadata={"article_id": article_id, "title": art["title"], "source": source,
                          "position": position, "chunk_index": n, "tokens": " ".join(tokens), **UNDATED},
                relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=f"file:{source}")},
            ))
        articles.append({"article_id": article_id, "title": art["title"], "source": source, "position": position,
                         "text": "\n".join(texts), "chunk_ids": chunk_ids})
        entry = files.setdefault(source, {"articles": 0, "chunks": 0})
        entry["articles"] += 1
        entry["chunks"] += n_chunks
        made += n_chunks
        position += 1
        page_chunks += n_chunks
        if page_chunks >= CHUNKS_PER_PAGE:
            page, position, page_chunks = page + 1, 0, 0
        if len(nodes) >= WRITE_BATCH:
            flush()
            if made % 20000 < WRITE_BATCH + 10:
                log(f"scale {size}: {made} chunks written")
    flush()
    sources = sorted(files)
    for i in range(0, len(sources), WRITE_BATCH):
        part = sources[i : i + WRITE_BATCH]
        store.files.upsert(  # the manifest format of Store.set_manifest, in batches
            ids=part, embeddings=[[0.0]] * len(part),
            metadatas=[{"sha256": hashlib.sha256(s.encode()).hexdigest(), **files[s]} for s in part],
        )
    now = datetime.now(UTC).isoformat(timespec="seconds")
    store.set_state(embedding_model=PACKAGED_MODEL_NAME, dimension=dim, version=uuid.uuid4().hex, last_ingest=now)
    # As `newsqa ingest` does: the keyword index is built and persisted with the store, so a serving process opens
    # it from disk (its own build from Chroma is timed by the serving figures only when this was skipped).
    from rag.retrieval.keyword_live import LiveKeywordIndex

    with timed() as keyword:
        LiveKeywordIndex(lambda: store, 3.0).refresh_now()
    counts = store.counts()
    info = {"size": size, "chunks": counts["chunks"], "articles": counts["articles"], "files": counts["files"],
            "keyword_index_s": keyword.wall, "build_s": time.perf_counter() - started, "generator_version": GENERATOR_VERSION, "base_key": key,
            "base_chunks": len(chunks), "built_at": now}
    write_json(marker, info)
    for older in CACHE_DIR.glob(f"scale-v*-*-{size}"):  # one cached store per size (100k chunks: ~2.5 GB)
        if older != data_dir:
            shutil.rmtree(older, ignore_errors=True)
    return {**info, "cached": False}


# --- serving process -------------------------------------------------------------------------------------------
def questions(n: int, seed: int = 7) -> list[str]:
    """``n`` real questions (CMRC 2018 trial and seeds_dev), a fixed sample."""
    from rag.evaluation import load_qa

    pool = [i.q for i in load_qa(CMRC_QA) + load_qa(SEEDS_QA) if i.q.strip()]
    rng = random.Random(seed)
    return rng.sample(pool, min(n, len(pool)))


def first_answer(spec: dict[str, Any]) -> dict[str, Any]:
    """Child: start as a serving process does (``build_service(settings)``, ``NewsQA.warm_up``: the model loads in a
    thread while the store, keyword index and HNSW index open) and answer one question. Returns the wall time
    from process start to the answer (s), the warm-up's (s) and the RSS after it (MiB)."""
    import psutil

    from bot.service import build_service

    process_start = psutil.Process().create_time()
    service = build_service(settings_for(store_dir_for(int(spec["size"]), spec["key"])))
    with timed() as warm:
        service.warm_up()
    rss_warm = current_rss_mib()
    answer = service.ask(questions(1)[0])
    return {"start_to_first_answer_s": time.time() - process_start, "warm_up": warm.as_dict(),
            "rss_after_warm_up_mib": rss_warm, "found": answer.found, "peak_rss_mib": peak_rss_mib(),
            "rss_parts_mib": rss_parts_mib()}


def serve(spec: dict[str, Any]) -> dict[str, Any]:
    """Child: a serving process over the store of ``spec["size"]``; latency of ours and stock, peak RSS.

    Order: load the model the settings give (``NewsQA.embedder``: the ONNX query export when the store has one,
    as ``newsqa serve`` does; timed, excluded), open the store and the keyword index (``NewsQA.warm_up``, timed
    separately), 3 warm-up questions (excluded), then for each question ``retrieve(q, 5)`` and ``ask(q)``; peak RSS
    is read here (the serving process as the REST API would hold it). The stock retriever runs afterwards on the
    same chunk collection, with the sentence-transformers model loaded for it.
    """
    import psutil
    from llama_index.vector_stores.chroma import ChromaVectorStore
    from stock import adapter_for, stock_retriever

    from bot.service import build_service

    process_start = psutil.Process().create_time()
    size, key = int(spec["size"]), spec["key"]
    data_dir = store_dir_for(size, key)
    rss_start = current_rss_mib()
    service = build_service(settings_for(data_dir))  # the embedder `newsqa serve` gets (ONNX queries if exported)
    started = time.perf_counter()
    embedder = service.embedder
    embedder.embed_query("预热")
    model_load_s = time.perf_counter() - started
    rss_model = current_rss_mib()
    qs = questions(int(spec["questions"]))
    with timed() as build:
        service.warm_up()
    n_docs = service.keyword_index.current().n_docs
    rss_index = current_rss_mib()
    service.ask(qs[0])
    first_answer_s = time.time() - process_start  # imports, model, store, keyword index, first question
    for q in qs[1:3]:
        service.ask(q)

    profiler = None
    if spec.get("profile_dir"):
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
        profiler.start()
    retrieve_ms: list[float] = []
    ask_ms: list[float] = []
    found = 0
    for q in qs:
        t0 = time.perf_counter()
        service.retrieve(q, 5)
        t1 = time.perf_counter()
        answer = service.ask(q)
        t2 = time.perf_counter()
        retrieve_ms.append(1000 * (t1 - t0))
        ask_ms.append(1000 * (t2 - t1))
        found += answer.found
    if profiler:
        profiler.stop()
        folder = Path(spec["profile_dir"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"serve_{size}.txt").write_text(profiler.output_text(unicode=True, color=False), "utf-8")
        (folder / f"serve_{size}.html").write_text(profiler.output_html(), "utf-8")
    peak_ours = peak_rss_mib()
    rss_parts = rss_parts_mib()
    refresh = refresh_after_writes(service, 2000)
    dense = dense_costs(service, embedder, qs[:50])

    # The stock pipeline embeds with the sentence-transformers model itself (loaded now, after our figures).
    stock = stock_retriever(ChromaVectorStore(chroma_collection=service.store.chunks), adapter_for(load_model()[0]))
    for q in qs[:3]:
        stock.retrieve(q)
    stock_ms: list[float] = []
    for q in qs:
        t0 = time.perf_counter()
        stock.retrieve(q)
        stock_ms.append(1000 * (time.perf_counter() - t0))
    return {
        "size": size, "chunks": n_docs, "questions": len(qs), "model_load_s": model_load_s,
        "index_build": build.as_dict(), "retrieve_ms": percentiles(retrieve_ms), "ask_ms": percentiles(ask_ms),
        "stock_retrieve_ms": percentiles(stock_ms), "answers_found": found / max(len(qs), 1),
        "start_to_first_answer_s": first_answer_s, "keyword_refresh": refresh, "dense": dense,
        "rss_start_mib": rss_start, "rss_after_model_mib": rss_model, "rss_after_index_mib": rss_index,
        "peak_rss_mib": peak_ours, "rss_parts_mib": rss_parts, "peak_rss_with_stock_mib": peak_rss_mib(),
    }


def export_queries(spec: dict[str, Any]) -> dict[str, Any]:
    """Child: what ``newsqa ingest`` leaves beside a store, the ONNX export of its model for torch-free questions
    (:func:`rag.retrieval.embedders.onnx_query.ensure_query_model`); seconds, and whether one exists now."""
    from rag.retrieval.embedders.onnx_query import ensure_query_model
    from rag.retrieval.embedding import PACKAGED_MODEL_NAME

    started = time.perf_counter()
    data_dir = store_dir_for(int(spec["size"]), spec["key"])
    folder = ensure_query_model(data_dir, PACKAGED_MODEL_NAME, lambda: load_model()[0])
    return {"export_s": time.perf_counter() - started, "exported": folder is not None}


def refresh_after_writes(service: Any, n: int) -> dict[str, Any]:
    """Another store client (the ingest's) adds ``n`` chunks (copies of stored records under new ids) and commits
    a version; the serving process's keyword index catches up (``LiveKeywordIndex.refresh_now``, what its
    background refresh runs). Then the chunks are removed again the same way, so the cached store stays as built."""
    from rag.store.store import Store

    got = service.store.chunks.get(limit=n, include=["embeddings", "metadatas"])
    ids = [f"refresh{uuid.uuid4().hex[:8]}:{i}" for i in range(len(got["ids"]))]
    writer = Store(service.settings)
    out: dict[str, Any] = {"chunks": len(ids)}
    for step in ("add", "remove"):
        t0 = time.perf_counter()
        if step == "add":
            writer.chunks.add(ids=ids, embeddings=got["embeddings"], metadatas=got["metadatas"])
        else:
            writer.chunks.delete(ids=ids)
        writer.set_state(version=uuid.uuid4().hex)
        out[f"chroma_{step}_s"] = time.perf_counter() - t0
        t1, cpu = time.perf_counter(), time.process_time()
        service.keyword_index.refresh_now()
        out[f"{step}_refresh_s"] = time.perf_counter() - t1
        out[f"{step}_refresh_cpu_s"] = time.process_time() - cpu
        out[f"{step}_how"] = service.keyword_index.last_refresh.get("how")
    writer.close()
    return out


def dense_costs(service: Any, embedder: Any, qs: list[str]) -> dict[str, Any]:
    """Chroma's HNSW at this size: top-20 query latency, its settings, and recall@20 against exact cosine search
    over every stored vector (read back from Chroma) for ``qs``."""
    import numpy as np

    collection = service.store.chunks
    vectors = [embedder.embed_query(q) for q in qs]
    ms, hnsw = [], []
    for v in vectors:
        t0 = time.perf_counter()
        got = collection.query(query_embeddings=[np.asarray(v).tolist()], n_results=20, include=[])
        ms.append(1000 * (time.perf_counter() - t0))
        hnsw.append(got["ids"][0])
    t0 = time.perf_counter()
    q = np.asarray(vectors, dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    best: list[list[tuple[float, str]]] = [[] for _ in qs]
    offset = 0
    while True:
        page = collection.get(include=["embeddings"], limit=20000, offset=offset)
        if not len(page["ids"]):
            break
        m = np.asarray(page["embeddings"], dtype=np.float32)
        m /= np.linalg.norm(m, axis=1, keepdims=True) + 1e-12
        sims = q @ m.T
        for row in range(len(qs)):
            top = np.argpartition(-sims[row], min(20, len(page["ids"]) - 1))[:20]
            best[row] = sorted(best[row] + [(float(sims[row, t]), page["ids"][t]) for t in top], reverse=True)[:20]
        offset += len(page["ids"])
    exact_s = time.perf_counter() - t0
    recall = [len({i for _s, i in b} & set(h)) / max(len(b), 1) for b, h in zip(best, hnsw, strict=True)]
    config = getattr(service.store.client.get_collection(service.settings.collection), "configuration_json", None)
    return {"query_ms": percentiles(ms), "recall_at_20": sum(recall) / len(recall), "recall_min": min(recall),
            "queries": len(qs), "exact_search_s": exact_s, "hnsw": (config or {}).get("hnsw")}
