"""Deliveries racing for the same events, and a request that dies holding them.

Worker threads with a store object each on one SQLite file, processes on one file, and a
request killed between claim and answer: every event is handled exactly once, and a dead
request's events come back when its lease ends.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

from descope_audit_hook import (
    MemoryDedupeStore,
    SQLiteDedupeStore,
    Verifier,
    exactly_once,
)
from descope_audit_hook.testing import sample_events
from tests.support.deliveries import batch_of, overlapping_deliveries
from tests.support.secrets import HMAC_SECRET
from tests.support.stores import FakeClock

from . import _workers
from ._scenarios import run_concurrently, spawn_all


def test_sqlite_store_instance_per_thread(tmp_path: Path) -> None:
    # As separate workers would: one store object each, one file.
    deliveries, fingerprints = overlapping_deliveries(60, size=6, stride=3)
    stores = [SQLiteDedupeStore(tmp_path / "claims.db") for _ in range(6)]
    try:
        outcome = run_concurrently(lambda i: stores[i], deliveries, workers=6, fail_every=5)
    finally:
        for store in stores:
            store.close()
    assert outcome.errors == []
    assert Counter(outcome.handled.values()) == Counter({1: len(fingerprints)})


def test_concurrent_duplicate_deliveries_from_processes_are_handled_exactly_once(tmp_path: Path) -> None:
    deliveries, fingerprints = overlapping_deliveries(80, size=10, stride=5)
    db, processes = str(tmp_path / "claims.db"), 4
    orders = []
    for index in range(processes):
        order = [(d.body, d.headers) for d in deliveries]
        random.Random(index).shuffle(order)  # noqa: S311 - test data
        orders.append(order)
    outs = [tmp_path / f"out{i}.json" for i in range(processes)]
    spawn_all(
        _workers.handle_deliveries,
        lambda i, barrier: (db, HMAC_SECRET, orders[i], barrier, str(outs[i])),
        processes,
    )
    results = [json.loads(out.read_text()) for out in outs]
    handled = Counter(fp for result in results for fp in result["handled"])
    assert set(handled) == fingerprints
    assert set(handled.values()) == {1}, "an event reached two processes' handlers"
    assert Verifier(HMAC_SECRET).verify(*deliveries[0])  # the deliveries were valid


def test_a_request_that_dies_mid_handler_holds_its_events_only_until_the_lease_expires() -> None:
    # The process is killed between claim and answer: nothing completes or releases its
    # claims. Its events must come back once the lease is over, not after the ttl.
    clock = FakeClock()
    store = MemoryDedupeStore(clock=clock)  # the defaults: a five-minute lease, a one-day ttl
    batch = batch_of(sample_events(3))
    dead = exactly_once(batch, store)
    assert len(dead.__enter__()) == 3  # claimed; the handler never returns
    with exactly_once(batch, store) as new:
        assert len(new) == 0  # the redelivery during the lease: held by the dead request
    clock.now += 6 * 60
    with exactly_once(batch, store) as new:
        handled = len(new)
    assert handled == 3, "the events of a crashed request stayed claimed beyond the lease"
