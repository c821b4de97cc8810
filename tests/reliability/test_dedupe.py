"""Exactly-once handling: the memory and SQLite stores' own features, exactly_once, processes.

The behaviour every store shares is in test_store_protocol.py.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from descope_audit_hook import (
    AsyncPostgresDedupeStore,
    AsyncRedisDedupeStore,
    ClaimState,
    ConfigurationError,
    DedupeStore,
    MemoryDedupeStore,
    PostgresDedupeStore,
    RedisDedupeStore,
    SQLiteDedupeStore,
    Verifier,
    exactly_once,
)
from descope_audit_hook.django import CacheDedupeStore
from descope_audit_hook.testing import sample_event, sample_events

from . import _workers
from ._scenarios import SECRET, batch_of, overlapping_deliveries, run_concurrently, spawn_all
from ._stores import FakeClock

CLAIMED, COMPLETED, IN_PROGRESS = ClaimState.CLAIMED, ClaimState.COMPLETED, ClaimState.IN_PROGRESS


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., DedupeStore]]:
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


StoreFactory = Callable[..., DedupeStore]


def test_lease_and_ttl_expiry_with_an_injected_clock(make_store: StoreFactory) -> None:
    clock = FakeClock()
    store = make_store(ttl=timedelta(minutes=10), lease=timedelta(minutes=1), clock=clock)
    assert store.claim(["a", "b"], "A") == [CLAIMED, CLAIMED]
    store.complete(["a"], "A")
    clock.now += 59.9
    assert store.claim(["a", "b"], "B") == [COMPLETED, IN_PROGRESS]
    clock.now += 0.2  # b's lease is over, a is completed for ten minutes
    assert store.claim(["a", "b"], "B") == [COMPLETED, CLAIMED]
    clock.now += 540
    assert store.claim(["a"], "C") == [CLAIMED]


def test_every_store_keeps_completed_records_a_day_and_leases_five_minutes(tmp_path: Path) -> None:
    class Client:  # enough of a redis-py client to be accepted
        def pipeline(self) -> None: ...
        def execute_command(self) -> None: ...

    class AsyncClient:
        def pipeline(self) -> None: ...
        async def execute_command(self) -> None: ...

    with SQLiteDedupeStore(tmp_path / "claims.db") as sqlite_store:
        stores = [
            MemoryDedupeStore(),
            sqlite_store,
            CacheDedupeStore(),
            RedisDedupeStore(Client()),
            AsyncRedisDedupeStore(AsyncClient()),
            PostgresDedupeStore(lambda: None),
            AsyncPostgresDedupeStore(lambda: None),
        ]
        assert {(store.ttl, store.lease) for store in stores} == {(86400.0, 300.0)}


# --- the memory store --------------------------------------------------------------------


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


# --- the SQLite store --------------------------------------------------------------------


def test_sqlite_store_shares_records_between_instances_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "claims.db"
    with SQLiteDedupeStore(path) as first, SQLiteDedupeStore(str(path)) as second:
        assert first.claim(["a", "b"], "A") == [CLAIMED, CLAIMED]
        assert second.claim(["a", "c"], "B") == [IN_PROGRESS, CLAIMED]
        first.complete(["a", "b"], "A")
        second.release(["c"], "B")
        assert len(first) == 2
    with SQLiteDedupeStore(path) as reopened:
        assert reopened.claim(["a", "b", "c"], "C") == [COMPLETED, COMPLETED, CLAIMED]
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        rows = conn.execute("SELECT key, owner FROM descope_audit_claims ORDER BY key").fetchall()
        assert rows == [("a", None), ("b", None), ("c", "C")]
    finally:
        conn.close()


def test_sqlite_store_upgrades_a_table_from_before_leases(tmp_path: Path) -> None:
    path = tmp_path / "claims.db"
    conn = sqlite3.connect(path)
    # The table of the previous release: every row a claim kept for the ttl.
    conn.execute(
        "CREATE TABLE descope_audit_claims (key TEXT PRIMARY KEY NOT NULL, expires REAL NOT NULL) WITHOUT ROWID"
    )
    conn.execute("INSERT INTO descope_audit_claims VALUES ('old', 2e9), ('gone', 1)")
    conn.commit()
    conn.close()
    clock = FakeClock(1_000_000)
    with SQLiteDedupeStore(path, clock=clock) as store:
        assert store.claim(["old", "gone", "new"], "A") == [COMPLETED, CLAIMED, CLAIMED]


def test_sqlite_store_deletes_expired_rows(tmp_path: Path) -> None:
    clock = FakeClock()
    with SQLiteDedupeStore(tmp_path / "claims.db", ttl=60, lease=30, clock=clock, table="claims_v2") as store:
        keys = [f"k{i}" for i in range(50)]
        store.claim(keys, "A")
        store.complete(keys[:10], "A")
        clock.now += 31
        store.claim(["fresh"], "B")
        conn = sqlite3.connect(tmp_path / "claims.db")
        try:
            assert len(conn.execute("SELECT key FROM claims_v2").fetchall()) == 11
            clock.now += 30
            store.claim(["fresh2"], "B")
            assert conn.execute("SELECT key FROM claims_v2 ORDER BY key").fetchall() == [("fresh2",)]
        finally:
            conn.close()


def test_sqlite_store_connection_per_thread_and_close(tmp_path: Path) -> None:
    store = SQLiteDedupeStore(tmp_path / "claims.db")
    results: list[list[ClaimState]] = []
    thread = threading.Thread(target=lambda: results.append(store.claim(["t"], "A")))
    thread.start()
    thread.join()
    assert results == [[CLAIMED]]
    store.close()
    # A closed store reopens on the next call, in this thread and in others.
    assert store.claim(["t", "u"], "B") == [IN_PROGRESS, CLAIMED]
    thread = threading.Thread(target=lambda: results.append(store.claim(["u", "v"], "C")))
    thread.start()
    thread.join()
    assert results[-1] == [IN_PROGRESS, CLAIMED]
    store.close()


@pytest.mark.parametrize(
    ("path", "kwargs"),
    [
        (":memory:", {}),
        ("", {}),
        ("file:x.db?mode=memory", {}),
        ("claims.db", {"table": "claims; DROP TABLE x"}),
        ("claims.db", {"table": "1abc"}),
        ("claims.db", {"timeout": -1}),
        ("claims.db", {"timeout": float("inf")}),
        ("claims.db", {"lease": 0}),
    ],
)
def test_sqlite_store_bad_configuration(tmp_path: Path, path: str, kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        SQLiteDedupeStore(path if path.startswith((":", "file:")) or not path else tmp_path / path, **kwargs)  # type: ignore[arg-type]


def test_sqlite_store_in_a_missing_directory_fails_at_construction(tmp_path: Path) -> None:
    with pytest.raises(sqlite3.OperationalError):
        SQLiteDedupeStore(tmp_path / "missing" / "claims.db")


def test_sqlite_store_busy_beyond_timeout_raises_and_claims_nothing(tmp_path: Path) -> None:
    path = tmp_path / "claims.db"
    store = SQLiteDedupeStore(path, timeout=0.05)
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            store.claim(["a"], "A")
        blocker.execute("ROLLBACK")
        assert store.claim(["a"], "B") == [CLAIMED]
    finally:
        blocker.close()
        store.close()


def test_sqlite_store_failure_inside_the_transaction_rolls_back(tmp_path: Path) -> None:
    path = tmp_path / "claims.db"
    store = SQLiteDedupeStore(path)
    try:
        assert store.claim(["a"], "A") == [CLAIMED]
        other = sqlite3.connect(path)
        other.execute("DROP TABLE descope_audit_claims")
        other.close()
        for call in (store.claim, store.complete, store.release):
            with pytest.raises(sqlite3.OperationalError, match="no such table"):
                call(["b"], "A")
        # Nothing is left half done: the connection is usable, and a new one recreates the table.
        store.close()
        assert store.claim(["a", "b"], "B") == [CLAIMED, CLAIMED]
    finally:
        store.close()


def _claim_in_child(store: SQLiteDedupeStore, keys: list[str], out: Path) -> None:
    out.write_text(json.dumps(store.claim(keys, "child")))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork()")
def test_sqlite_store_after_fork_uses_a_fresh_connection(tmp_path: Path) -> None:
    store = SQLiteDedupeStore(tmp_path / "claims.db")
    try:
        assert store.claim(["parent"], "parent") == [CLAIMED]  # the parent's connection exists before the fork
        out = tmp_path / "child.json"
        child = multiprocessing.get_context("fork").Process(
            target=_claim_in_child, args=(store, ["parent", "child"], out)
        )
        child.start()
        child.join(60)
        assert child.exitcode == 0
        assert json.loads(out.read_text()) == ["in_progress", "claimed"]
        assert store.claim(["child", "parent"], "again") == [IN_PROGRESS, IN_PROGRESS]
    finally:
        store.close()


# --- exactly_once ------------------------------------------------------------------------


def test_exactly_once_hands_over_only_claimed_events_and_completes_them() -> None:
    store = MemoryDedupeStore()
    first = batch_of(sample_events(3))
    with exactly_once(first, store) as new:
        assert new.events == first.events
        assert (new.duplicates, new.in_progress) == (0, 0)
    again = batch_of([*sample_events(3), sample_event("login_failed")])
    with exactly_once(again, store) as new:
        assert [e.action for e in new] == ["LoginFailed"]
        assert (new.duplicates, new.in_progress) == (3, 0)
        assert new.body == again.body
        assert new.signed_form == again.signed_form == "compact"
    with exactly_once(again, store) as new:
        assert len(new) == 0
        assert new.duplicates == 4
    assert store.claim([e.fingerprint for e in again], "other") == [COMPLETED] * 4


def test_exactly_once_counts_events_held_elsewhere_as_in_progress() -> None:
    store = MemoryDedupeStore()
    held, repeated, fresh = sample_event("login_failed"), sample_event("user_created"), sample_event("login_succeed")
    assert store.claim([batch_of([held])[0].fingerprint], "another-request") == [CLAIMED]
    batch = batch_of([held, repeated, held, repeated, fresh])
    with exactly_once(batch, store) as new:
        assert [e.action for e in new] == ["UserCreated", "LoginSucceed"]
        # the held event once in progress; its repeat and the repeat of a claimed one are duplicates
        assert (new.in_progress, new.duplicates) == (1, 2)
    assert store.claim([e.fingerprint for e in batch_of([held, repeated])], "x") == [IN_PROGRESS, COMPLETED]


def test_exactly_once_counts_an_event_repeated_inside_a_batch_once() -> None:
    event = sample_event("login_failed")
    batch = batch_of([event, sample_event("user_created"), event, event])
    with exactly_once(batch, MemoryDedupeStore()) as new:
        assert [e.action for e in new] == ["LoginFailed", "UserCreated"]
        assert new.duplicates == 2


def test_exactly_once_without_a_store_passes_the_batch_through() -> None:
    event = sample_event()
    batch = batch_of([event, event])
    with exactly_once(batch, None) as new:
        assert new is batch


def test_each_call_has_its_own_owner() -> None:
    owners: list[str] = []

    class Recording(MemoryDedupeStore):
        def claim(self, keys: Sequence[str], owner: str) -> list[ClaimState]:
            owners.append(owner)
            return super().claim(keys, owner)

    store = Recording()
    for _ in range(3):
        with exactly_once(batch_of(sample_events(2)), store):
            pass
    assert len(set(owners)) == 3
    assert all(len(owner) == 32 for owner in owners)


def test_handler_failure_releases_only_its_claims_and_the_redelivery_is_processed(make_store: StoreFactory) -> None:
    store = make_store()
    seen_before, new_event = sample_event("login_succeed"), sample_event("login_failed")
    with exactly_once(batch_of([seen_before]), store):
        pass
    delivery = batch_of([seen_before, new_event])

    def failing_handler() -> None:
        with exactly_once(delivery, store) as new:
            assert [e.action for e in new] == ["LoginFailed"]
            raise RuntimeError("database down")

    with pytest.raises(RuntimeError, match="database down"):
        failing_handler()
    handled: list[str] = []
    with exactly_once(delivery, store) as new:  # the redelivery
        handled.extend(e.action for e in new)
        assert new.duplicates == 1  # the event handled before the failure stays completed
    assert handled == ["LoginFailed"]
    with exactly_once(delivery, store) as new:
        assert len(new) == 0


def test_base_exceptions_release_too() -> None:
    store = MemoryDedupeStore()
    batch = batch_of(sample_events(2))
    with pytest.raises(KeyboardInterrupt), exactly_once(batch, store):
        raise KeyboardInterrupt
    assert store.claim([e.fingerprint for e in batch], "next") == [CLAIMED, CLAIMED]


class _BrokenStore:
    """Answers ``claim`` with ``claim_result`` (raises when None); ``complete`` and ``release`` raise."""

    def __init__(self, claim_result: object = None) -> None:
        self.claim_result = claim_result
        self.released: list[list[str]] = []

    def claim(self, keys: Sequence[str], owner: str) -> list[ClaimState]:
        if self.claim_result is None:
            raise OSError("store unavailable")
        return self.claim_result  # type: ignore[return-value]

    def complete(self, keys: Sequence[str], owner: str) -> None:
        raise OSError("store unavailable")

    def release(self, keys: Sequence[str], owner: str) -> None:
        self.released.append(list(keys))
        raise OSError("store unavailable")


def test_a_failing_store_fails_the_delivery_before_the_handler_runs() -> None:
    ran = False
    with pytest.raises(OSError, match="unavailable"), exactly_once(batch_of(sample_events(2)), _BrokenStore()):
        ran = True
    assert not ran


@pytest.mark.parametrize(
    ("answer", "message"),
    [([CLAIMED], "1 results for 2 keys"), ([CLAIMED] * 3, "3 results for 2 keys"), ([True, True], "ClaimState")],
)
def test_a_store_answering_nonsense_is_refused_and_this_owners_records_released(
    answer: list[object], message: str
) -> None:
    store = _BrokenStore(answer)
    batch = batch_of(sample_events(2))
    with pytest.raises(TypeError, match=message), exactly_once(batch, store):
        pytest.fail("handler ran")
    assert store.released == [[event.fingerprint for event in batch]]


def test_a_failing_release_keeps_the_handlers_exception(caplog: pytest.LogCaptureFixture) -> None:
    store = _BrokenStore([CLAIMED, CLAIMED])
    batch = batch_of(sample_events(2))
    with pytest.raises(ValueError, match="handler"), exactly_once(batch, store):
        raise ValueError("handler")
    assert "could not release 2 dedupe claims" in caplog.text
    assert batch[0].fingerprint not in caplog.text


def test_a_failing_complete_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    # The handler's work is done: an error now would bring a redelivery that runs it again.
    store = _BrokenStore([CLAIMED, CLAIMED])
    batch = batch_of(sample_events(2))
    with exactly_once(batch, store) as new:
        assert len(new) == 2
    assert "could not complete 2 dedupe claims" in caplog.text


# --- concurrency -------------------------------------------------------------------------


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
        lambda i, barrier: (db, SECRET, orders[i], barrier, str(outs[i])),
        processes,
    )
    results = [json.loads(out.read_text()) for out in outs]
    handled = Counter(fp for result in results for fp in result["handled"])
    assert set(handled) == fingerprints
    assert set(handled.values()) == {1}, "an event reached two processes' handlers"
    assert Verifier(SECRET).verify(*deliveries[0])  # the deliveries were valid


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
