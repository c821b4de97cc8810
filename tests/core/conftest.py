"""``make_store``: the memory and the SQLite store, for what they share (test_dedupe, test_exactly_once)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from descope_audit_hook import DedupeStore, MemoryDedupeStore, SQLiteDedupeStore
from tests.support.stores import StoreFactory


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Builds a store of each kind; SQLite ones share one file, as separate processes would."""
    made: list[SQLiteDedupeStore] = []

    def factory(**kwargs: object) -> DedupeStore:
        if request.param == "memory":
            return MemoryDedupeStore(**kwargs)  # type: ignore[arg-type]
        store = SQLiteDedupeStore(tmp_path / "claims.db", **kwargs)  # type: ignore[arg-type]
        made.append(store)
        return store

    yield factory
    for store in made:
        store.close()
