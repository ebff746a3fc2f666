"""Queries embedded without torch: a sentence-transformers model exported once to ONNX, run by onnxruntime.

A serving process embeds only questions, yet loading a sentence-transformers model costs it torch,
transformers and sentence-transformers (4.7 s and ~440 MiB here for all-MiniLM-L6-v2: docs/benchmarks.md). So
when a store's model is a sentence-transformers one, ingest exports its transformer once
(:func:`ensure_query_model`, ``torch.onnx.export``'s TorchScript exporter, opset 17) with its tokenizer
(Hugging Face ``tokenizers``) and pooling, checked against torch on probe texts; :func:`rag.retrieval.embedding.
load_embedder` then returns an :class:`OnnxQueryEmbedder`: queries through onnxruntime (0.3 s and ~175 MiB to
load), passages still through the torch model, loaded only if a passage is embedded (an ingest job in the API), so
the stored vectors stay exactly torch's. ``NEWSQA_QUERY_ONNX=false`` turns it off.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import threading
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import EmbeddingModelError
from rag.retrieval.embedders.base import Embedder, normalised

log = logging.getLogger(__name__)

#: Largest element-wise difference allowed between the exported and the torch query embedding (unit vectors).
MAX_EXPORT_DIFF = 1e-4
FORMAT = 1
_PROBES = ("郏县建成了多少座5G基站？", "How many 5G base stations were built?", "這座大橋是哪一年建成的", "x")


class UnsupportedModelError(EmbeddingModelError):
    """The model cannot be exported as a query encoder (module stack, or vectors unlike torch's); deterministic,
    so :func:`ensure_query_model` records it instead of trying at every ingest."""


def query_model_dir(data_dir: Path, name: str) -> Path:
    """Folder of the exported query model for embedding model ``name`` under ``data_dir/query-models``."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[-60:]
    return data_dir / "query-models" / f"{safe}-{hashlib.sha1(name.encode()).hexdigest()[:10]}"


def export_query_model(embedder: Any, folder: Path) -> Path:
    """Export the sentence-transformers ``embedder`` (a :class:`~rag.retrieval.embedders.sbert.
    SentenceTransformerEmbedder`) to ``folder``: ``model.onnx``, ``tokenizer.json`` and ``meta.json``.

    Written to a temporary folder and renamed into place, so a reader never sees half an export. Raises
    :class:`EmbeddingModelError` when the model is not a transformer + mean/CLS pooling (+ normalise) stack, when
    the export fails (e.g. the ``onnx`` package is missing) or when its query vectors differ from torch's by more
    than :data:`MAX_EXPORT_DIFF`.
    """
    import torch

    model = embedder._model
    kinds = [type(m).__name__ for m in model]
    pooling = getattr(model[1], "pooling_mode", None) if len(kinds) > 1 else None
    if kinds[:2] != ["Transformer", "Pooling"] or set(kinds[2:]) - {"Normalize"} or pooling not in ("mean", "cls"):
        raise UnsupportedModelError(f"{embedder.name}: modules {kinds} (pooling {pooling}) have no ONNX query export")
    tokenizer = model.tokenizer
    names = [n for n in tokenizer.model_input_names if n in ("input_ids", "attention_mask", "token_type_ids")]
    encoder = model[0].auto_model.eval()

    class _Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.encoder(**dict(zip(names, inputs, strict=True))).last_hidden_state

    sample = tokenizer([_PROBES[0]], return_tensors="pt")
    tmp = folder.parent / f".{folder.name}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir(parents=True)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer warns that shape checks become constants: they are, for one unpadded text per call.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Encoder(), tuple(sample[n] for n in names), str(tmp / "model.onnx"), input_names=names,
                output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
            )
        tokenizer.backend_tokenizer.save(str(tmp / "tokenizer.json"))
        meta = {"format": FORMAT, "name": embedder.name, "dimension": embedder.dimension, "pooling": pooling,
                "max_tokens": int(model.max_seq_length), "query_prefix": embedder.query_instruction,
                "inputs": names}
        (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
        exported = OnnxQueryEmbedder(tmp, lambda: embedder)
        diff = max(float(np.abs(exported.embed_query(t) - embedder.embed_query(t)).max()) for t in _PROBES)
        if diff > MAX_EXPORT_DIFF:
            raise UnsupportedModelError(f"{embedder.name}: ONNX query vectors differ from torch's by {diff:.2g}")
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    except EmbeddingModelError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except Exception as exc:  # exporter errors: missing onnx package, unsupported operators
        shutil.rmtree(tmp, ignore_errors=True)
        raise EmbeddingModelError(f"{embedder.name}: ONNX export failed: {exc}") from exc
    log.info("exported the query encoder of %s to %s (largest difference %.1g)", embedder.name, folder, diff)
    return folder


def ensure_query_model(data_dir: Path, name: str | None, get_embedder: Callable[[], Embedder]) -> Path | None:
    """The export for the store's model ``name``, made now (through ``get_embedder()``) when missing and the
    model is a sentence-transformers one; None when it cannot be (logged, never raised: ingest goes on)."""
    from rag.retrieval.embedders.sbert import SentenceTransformerEmbedder

    if not name:
        return None
    folder = query_model_dir(data_dir, name)
    if (folder / "meta.json").exists():
        return folder
    refused = folder.with_name(folder.name + f".refused-v{FORMAT}")
    if refused.exists():  # a model this exporter cannot handle: not loaded again at every ingest
        return None
    try:
        embedder = get_embedder()
        if not isinstance(embedder, SentenceTransformerEmbedder) or embedder.name != name:
            return None
        return export_query_model(embedder, folder)
    except UnsupportedModelError as exc:
        refused.parent.mkdir(parents=True, exist_ok=True)
        refused.write_text(str(exc), "utf-8")
        log.warning("queries keep using torch: %s", exc)
    except EmbeddingModelError as exc:  # e.g. the onnx package missing: tried again at the next ingest
        log.warning("queries keep using torch: %s", exc)
    return None


class OnnxQueryEmbedder:
    """:class:`~rag.retrieval.embedders.base.Embedder` whose queries run on an export of
    :func:`export_query_model`; passages go to ``documents()`` (the torch model, loaded on first use).

    ``embed_query`` gives the ``(dimension,)`` float32 unit vector of the torch model within
    :data:`MAX_EXPORT_DIFF` per element, on one onnxruntime thread (as the torch path). Thread-safe. Raises
    :class:`EmbeddingModelError` when the folder is incomplete or of another format.
    """

    def __init__(self, folder: Path, documents: Callable[[], Embedder]) -> None:
        try:
            meta = json.loads((folder / "meta.json").read_text("utf-8"))
            if meta.get("format") != FORMAT:
                raise ValueError(f"format {meta.get('format')}")
            import onnxruntime
            from tokenizers import Tokenizer

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1
            self._session = onnxruntime.InferenceSession(str(folder / "model.onnx"), options,
                                                         providers=["CPUExecutionProvider"])
            self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as exc:  # missing files, bad JSON, onnxruntime load errors
            raise EmbeddingModelError(f"cannot load the ONNX query model in {folder}: {exc}") from exc
        self._tokenizer.no_padding()  # tokenizer.json may pad every input to a fixed length (MiniLM: 128)
        self._tokenizer.enable_truncation(int(meta["max_tokens"]))
        self.name: str = meta["name"]
        self.dimension: int = int(meta["dimension"])
        self._pooling, self._prefix, self._inputs = meta["pooling"], meta["query_prefix"], meta["inputs"]
        self._documents = documents
        self._torch: Embedder | None = None
        self._lock = threading.Lock()

    def embed_query(self, text: str) -> np.ndarray:
        """``(dimension,)`` float32, L2-normalised, the model's query instruction prefixed."""
        encoding = self._tokenizer.encode(self._prefix + text)
        fields = {"input_ids": encoding.ids, "attention_mask": encoding.attention_mask,
                  "token_type_ids": encoding.type_ids}
        feed = {n: np.asarray([fields[n]], dtype=np.int64) for n in self._inputs}
        hidden = self._session.run(None, feed)[0][0]  # (tokens, dimension) float32
        if self._pooling == "cls":
            vector = hidden[0]
        else:
            mask = np.asarray(encoding.attention_mask, dtype=np.float32)[:, None]
            vector = (hidden * mask).sum(0) / max(float(mask.sum()), 1e-9)
        return normalised(vector)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), dimension)`` float32 from the torch model (loaded now if it is not yet)."""
        with self._lock:
            if self._torch is None:
                self._torch = self._documents()
        return self._torch.embed_documents(texts)
