"""Ingest throughput (ours, the encode-only floor, stock llama-index) and answer quality on the ingested stores.

Two child processes, each loading the model once before any timed section:

- ``ours``: prepares the chunk texts our pipeline embeds (``ingest.pipeline.build_file_work``, untimed), clears
  the normalisation caches, times one batched ``embed_documents`` call over them (the floor), then times
  ``NewsQA.ingest`` of the same files into a new store (everything: reading, cleaning, segmenting, chunking,
  jieba, embedding, Chroma writes), then a re-ingest of the unchanged corpus by a fresh service without a loaded
  model (as a second ``newsqa ingest`` would);
- ``stock``: times ``SimpleDirectoryReader`` + ``VectorStoreIndex.from_documents`` over ``ChromaVectorStore``
  of the same files.

Answer quality on those two stores is measured by two more children (``quality-ours``, ``quality-stock``), which
``bench/run.py`` runs later, beside the scale-store builds: nothing in them is a timed goal.

The model (and jieba's dictionary, and llama-index's tiktoken tokenizer) are loaded before timing on both sides
and reported separately.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from common import (
    CMRC_QA,
    SEEDS_QA,
    clear_text_caches,
    init_jieba,
    load_model,
    log,
    peak_rss_mib,
    settings_for,
    timed,
)


def _profiler(spec: dict[str, Any]) -> Any:
    if not spec.get("profile_dir"):
        return None
    from pyinstrument import Profiler

    return Profiler(interval=0.005)


def _save_profile(profiler: Any, spec: dict[str, Any], name: str) -> None:
    if profiler is None:
        return
    folder = Path(spec["profile_dir"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.txt").write_text(profiler.output_text(unicode=True, color=False), encoding="utf-8")
    (folder / f"{name}.html").write_text(profiler.output_html(), encoding="utf-8")


def _quality_sets(files: list[Path]) -> dict[str, list[Any]]:
    from quality_bench import load_items

    sources = {p.name for p in files}
    return {"seeds_dev": load_items(SEEDS_QA, sources), "cmrc2018_trial": load_items(CMRC_QA, sources)}


def run_ours(spec: dict[str, Any]) -> dict[str, Any]:
    """The ``ours`` child (see module docstring); ``spec``: files, work_dir, profile_dir, rep_only."""
    from stock import encoder_tokens

    from bot.service import build_service
    from ingest.loaders import load_text
    from ingest.pipeline import build_file_work

    files = [Path(p) for p in spec["files"]]
    work = Path(spec["work_dir"])
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    embedder, model_load_s = load_model(query_warm_up=False)
    jieba_s = init_jieba()
    settings = settings_for(work)
    result: dict[str, Any] = {"files": len(files), "model_load_s": model_load_s, "jieba_init_s": jieba_s,
                              "store_dir": str(settings.store_dir)}

    # The chunk texts our ingest embeds, prepared exactly as the pipeline does (untimed for the floor).
    texts: list[str] = []
    with timed() as prep:
        for path in files:
            texts.extend(build_file_work(path.name, "", load_text(path), settings).embed_texts)
    result["prep_s"] = prep.wall
    result["embed_texts"] = len(texts)
    result["embed_chars_mean"] = sum(map(len, texts)) / max(len(texts), 1)
    result["encoder_tokens"] = encoder_tokens(embedder._model, texts)
    clear_text_caches()

    import torch

    result["torch_threads_ingest"] = torch.get_num_threads()
    result["max_seq_length"] = embedder._model.max_seq_length
    log(f"ours: floor, encoding {len(texts)} chunk texts in one call")
    with timed() as floor:
        vectors = embedder.embed_documents(texts)
    result["floor"] = floor.as_dict()
    assert len(vectors) == len(texts)
    del vectors

    log(f"ours: full ingest of {len(files)} files")
    service = build_service(settings, embedder=embedder)
    profiler = _profiler(spec)
    if profiler:
        profiler.start()
    with timed() as full:
        summary = service.ingest(files)
    if profiler:
        profiler.stop()
        _save_profile(profiler, spec, "ingest_ours")
    result["full"] = {**full.as_dict(), **summary.counts(), "peak_rss_mib": peak_rss_mib()}
    result["full"]["chunks_per_s"] = summary.chunks_added / full.wall if full.wall else 0.0
    if summary.failures:
        result["full"]["failures"] = summary.failures

    if spec.get("rep_only"):
        result["peak_rss_mib"] = peak_rss_mib()
        return result

    log("ours: re-ingest of the unchanged corpus (fresh service, model not loaded)")
    again = build_service(settings)  # no embedder: an unchanged corpus must not need the model
    with timed() as re_ingest:
        summary2 = again.ingest(files)
    result["reingest"] = {**re_ingest.as_dict(), **summary2.counts(),
                          "model_loaded": again._embedder is not None}
    again.close()

    result["peak_rss_mib"] = peak_rss_mib()
    return result


def run_quality_ours(spec: dict[str, Any]) -> dict[str, Any]:
    """The ``quality-ours`` child: our answers on the store ``run_ours`` built (``spec``: files, work_dir,
    profile_dir). Returns ``{"index_build_s", "quality": {set: figures}, ["quality_errors"]}``."""
    from quality_bench import eval_ours

    from bot.service import build_service

    files = [Path(p) for p in spec["files"]]
    embedder, _ = load_model(query_warm_up=False)
    init_jieba()
    service = build_service(settings_for(Path(spec["work_dir"])), embedder=embedder)
    started = time.perf_counter()
    service.warm_up()
    result: dict[str, Any] = {"index_build_s": time.perf_counter() - started, "quality": {}}
    profiler = _profiler(spec)
    for name, items in _quality_sets(files).items():
        log(f"ours: quality on {name} ({len(items)} questions)")
        if profiler and name == "cmrc2018_trial":
            profiler.start()
        try:
            result["quality"][name] = eval_ours(service, items)
        except Exception as exc:  # keep the other set's figures when an evaluation breaks
            log(f"ours: quality on {name} failed: {exc!r}")
            result["quality_errors"] = {**result.get("quality_errors", {}), name: repr(exc)}
        if profiler and name == "cmrc2018_trial":
            profiler.stop()
            _save_profile(profiler, spec, "ask_ours_cmrc")
    service.close()
    return result


def run_stock(spec: dict[str, Any]) -> dict[str, Any]:
    """The ``stock`` child (see module docstring); ``spec``: files, work_dir, profile_dir."""
    from llama_index.core.utils import get_tokenizer
    from stock import adapter_for, chunk_lengths, encoder_tokens, stock_ingest

    files = [Path(p) for p in spec["files"]]
    work = Path(spec["work_dir"])
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    embedder, model_load_s = load_model(query_warm_up=False)
    embed_model = adapter_for(embedder, stock_defaults=True)
    started = time.perf_counter()
    get_tokenizer()("预热")  # tiktoken's vocabulary, used by the default SentenceSplitter: loaded before timing
    result: dict[str, Any] = {"files": len(files), "model_load_s": model_load_s,
                              "tokenizer_init_s": time.perf_counter() - started}

    import torch

    result["torch_threads_ingest"] = torch.get_num_threads()
    result["max_seq_length"] = embedder._model.max_seq_length
    log(f"stock: SimpleDirectoryReader + VectorStoreIndex.from_documents of {len(files)} files")
    embedded = embed_model.record_texts()
    profiler = _profiler(spec)
    if profiler:
        profiler.start()
    with timed() as full:
        index, counts = stock_ingest(files, work / "chroma", embed_model)
    if profiler:
        profiler.stop()
        _save_profile(profiler, spec, "ingest_stock")
    result["full"] = {**full.as_dict(), **counts, "peak_rss_mib": peak_rss_mib()}
    result["full"]["chunks_per_s"] = counts["chunks"] / full.wall if full.wall else 0.0
    lengths = chunk_lengths(index.vector_store.client)
    result["embed_texts"] = len(embedded)
    result["encoder_tokens"] = encoder_tokens(embedder._model, embedded)
    result["embed_chars_mean"] = sum(map(len, embedded)) / max(len(embedded), 1)
    result["chunk_chars_mean"] = sum(lengths) / max(len(lengths), 1)

    result["peak_rss_mib"] = peak_rss_mib()
    return result


def run_quality_stock(spec: dict[str, Any]) -> dict[str, Any]:
    """The ``quality-stock`` child: the stock retriever (top 5) over the store ``run_stock`` built (``spec``:
    files, work_dir). Returns ``{"quality": {set: figures}, ["quality_errors"]}``."""
    import torch
    from llama_index.vector_stores.chroma import ChromaVectorStore
    from quality_bench import eval_stock
    from stock import adapter_for, stock_collection, stock_retriever

    files = [Path(p) for p in spec["files"]]
    embedder, _ = load_model(query_warm_up=False)
    # The core embeds queries with one torch thread (rag.retrieval.embedding); the stock side gets the same for queries.
    torch.set_num_threads(1)
    vector_store = ChromaVectorStore(chroma_collection=stock_collection(Path(spec["work_dir"]) / "chroma"))
    retriever = stock_retriever(vector_store, adapter_for(embedder, stock_defaults=True), top_k=5)
    retriever.retrieve("预热")
    result: dict[str, Any] = {"quality": {}}
    for name, items in _quality_sets(files).items():
        log(f"stock: quality on {name} ({len(items)} questions)")
        try:
            result["quality"][name] = eval_stock(retriever, items)
        except Exception as exc:
            log(f"stock: quality on {name} failed: {exc!r}")
            result["quality_errors"] = {**result.get("quality_errors", {}), name: repr(exc)}
    return result
