"""MemoryDedupeStore's own features: bounded size, eviction order, live records, an injected clock."""

from __future__ import annotations

import pytest

from descope_audit_hook import (
    ConfigurationError,
    MemoryDedupeStore,
)
from tests.support.stores import CLAIMED, COMPLETED, IN_PROGRESS, FakeClock


def test_memory_store_evicts_the_oldest_completed_first_when_full(caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryDedupeStore(max_entries=3)
    assert store.claim(["a", "b"], "A") == [CLAIMED, CLAIMED]
    store.complete(["a", "b"], "A")
    assert store.claim(["c", "d"], "C") == [CLAIMED, CLAIMED]  # a, the oldest completed, goes
    assert len(store) == 3
    assert "is full" in caplog.text
    assert store.claim(["a", "b", "c", "d"], "D") == [CLAIMED, COMPLETED, IN_PROGRESS, IN_PROGRESS]
    assert len(store) == 3  # a's new lease pushed b out
    assert store.claim(["e"], "E") == [CLAIMED]  # only leases left: the oldest, c, goes
    assert store.claim(["c"], "F") == [CLAIMED]
    assert caplog.text.count("is full") == 1


def test_memory_store_size_counts_only_live_records() -> None:
    clock = FakeClock()
    store = MemoryDedupeStore(max_entries=10, ttl=10, lease=3, clock=clock)
    store.claim(["a", "b", "c"], "A")
    store.complete(["a"], "A")
    assert len(store) == 3
    clock.now += 3  # the leases of b and c are over
    assert len(store) == 1
    clock.now += 7
    assert len(store) == 0
    assert "size=0" in repr(store)


def test_memory_store_expiry_does_not_rely_on_claim_order() -> None:
    clock = FakeClock(100)
    store = MemoryDedupeStore(ttl=10, lease=10, clock=clock)
    store.claim(["a"], "A")  # expires at 110
    clock.now = 0  # an injected clock may step back
    store.claim(["b"], "A")  # expires at 10, queued behind "a"
    clock.now = 50
    assert store.claim(["b", "a"], "B") == [CLAIMED, IN_PROGRESS]


@pytest.mark.parametrize("max_entries", [0, -5, 1.5, True])
def test_memory_store_bad_size(max_entries: object) -> None:
    with pytest.raises(ConfigurationError):
        MemoryDedupeStore(max_entries=max_entries)  # type: ignore[arg-type]
