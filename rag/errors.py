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
