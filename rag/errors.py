"""Errors raised by the core. Front-ends map them to messages; none carries a stack trace to users."""


class NewsQAError(Exception):
    """Base class for all newsqa errors; ``str(err)`` is a message safe to show a user."""


class InputError(NewsQAError, ValueError):
    """Bad user input (empty question, unreadable file ...); the message names the input."""


class ModelMismatchError(NewsQAError):
    """The store was built with another embedding model or dimension; re-ingest to fix."""


class IngestLockedError(NewsQAError):
    """Another ingest holds the store lock."""


class StoreUnavailableError(NewsQAError):
    """The store (embedded or Chroma server) cannot be reached or opened."""


class EmbeddingModelError(NewsQAError):
    """The embedding model cannot be loaded."""


class ConfigError(NewsQAError):
    """A ``NEWSQA_`` setting has a bad value; the message names the variable, its value and where it came from."""


class EmptyStoreError(NewsQAError):
    """Nothing has been ingested into the store yet: questions cannot be answered until ``newsqa ingest`` runs."""

    def __init__(self, articles_dir: object) -> None:
        super().__init__(
            f"the archive is empty: no article has been ingested yet. Run `newsqa ingest` to add the pages in "
            f"{articles_dir} (or POST /v1/ingest with the admin key); an ingest that is running adds them when it ends"
        )
        self.articles_dir = str(articles_dir)


class StoreFormatError(ModelMismatchError):
    """The store was written in a format this newsqa cannot read (a newer newsqa's) or cannot upgrade in place
    (re-ingest with ``newsqa ingest --rebuild``); the message names the data dir and both format versions."""


class DiskReserveError(NewsQAError):
    """An ingest stopped before a batch because the data dir's filesystem has less free space than the reserve
    (``NEWSQA_DISK_RESERVE_MB``); the message names the data dir, the free space and the reserve."""


class BackupError(NewsQAError):
    """A backup cannot be written, or a backup cannot be restored (damaged, incomplete, newer, or the target data
    dir is not empty); the message names the file or folder."""
