"""The store format version: what layout of the five collections (and the derived files beside them) a store has.

Recorded as ``store_format`` in the store's state record (``<name>-state``, id ``store``; see
:mod:`rag.store.store`), so it travels with the store, embedded or on a Chroma server, and with a backup
(:mod:`rag.store.backup` copies it into the backup's manifest). A store without the key was written before the
version existed: format 1.

Opening a store for questions or an ingest checks it (:func:`ensure_format`):

- the same format: nothing to do;
- a newer format (written by a newer newsqa): refused with :class:`rag.errors.StoreFormatError` naming the data
  dir, the store's format and ours, since an older newsqa may misread or damage it;
- an older format whose upgrade is only a stamp (:data:`UPGRADES`): the current format is recorded in place;
- an older format that needs more: refused, naming ``newsqa ingest --rebuild``, which re-ingests the articles
  (the embedding cache keeps the vectors, so nothing is embedded twice).

History (bump :data:`STORE_FORMAT` and add a row to :data:`UPGRADES` when the stored layout changes):

1. the layout before the version was recorded (chunk change log, lease records, embedding cache included);
2. the same layout with ``store_format`` recorded: upgrading 1 to 2 is only the stamp.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal

from rag.errors import StoreFormatError

log = logging.getLogger(__name__)

#: The format this newsqa writes.
STORE_FORMAT = 2
#: The format of a store whose state record has data but no ``store_format`` (written before it existed).
UNVERSIONED_FORMAT = 1
#: How an older format becomes :data:`STORE_FORMAT`: ``stamp`` (the layout is the same; record the version) or
#: ``rebuild`` (re-ingest); a format missing here needs a rebuild.
UPGRADES: Mapping[int, Literal["stamp", "rebuild"]] = {1: "stamp"}


def stored_format(state: Mapping[str, Any]) -> int | None:
    """The format recorded in ``state`` (:meth:`rag.store.store.Store.state`): None for a new, empty store (its
    first write records :data:`STORE_FORMAT`), :data:`UNVERSIONED_FORMAT` for a store written before the version
    existed. Raises StoreFormatError for a value that is not an integer."""
    value = state.get("store_format")
    if value is None:
        has_data = any(state.get(key) is not None for key in ("embedding_model", "version", "last_ingest"))
        return UNVERSIONED_FORMAT if has_data else None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise StoreFormatError(f"store_format {value!r} in the state record is not a format version") from exc


def ensure_format(store: Any, upgrades: Mapping[int, str] = UPGRADES, state: Mapping[str, Any] | None = None) -> None:
    """Check the format of ``store`` (a :class:`rag.store.store.Store`) and stamp an older one whose ``upgrades``
    entry is ``stamp`` (see the module docstring; StoreFormatError, naming the data dir, otherwise). ``state``: the
    store's state record when the caller has just read it (read here otherwise)."""
    where = f"the store of data dir {store.settings.data_dir} ({store.where})"
    found = stored_format(store.state() if state is None else state)
    if found is None or found == STORE_FORMAT:
        return
    if found > STORE_FORMAT:
        raise StoreFormatError(
            f"{where} has store format {found}, written by a newer newsqa; this newsqa reads store format "
            f"{STORE_FORMAT} and older. Upgrade newsqa, or restore a backup made with this version"
        )
    if upgrades.get(found) != "stamp":
        raise StoreFormatError(
            f"{where} has store format {found}, which this newsqa (store format {STORE_FORMAT}) cannot upgrade in "
            "place: run `newsqa ingest --rebuild` to re-ingest the articles (cached embeddings are reused)"
        )
    store.set_state(store_format=STORE_FORMAT)
    log.info("%s: store format %d recorded (the layout was already current)", where, STORE_FORMAT)
