"""Exactly-once handling: the stores, exactly_once, threads and processes."""

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
    AuditBatch,
    ConfigurationError,
    DedupeStore,
    MemoryDedupeStore,
    SQLiteDedupeStore,
    Verifier,
    exactly_once,
)
from descope_audit_hook.testing import make_delivery, sample_event, sample_events

from . import _workers
from ._scenarios import SECRET, overlapping_deliveries, run_concurrently


class FakeClock:
    """A settable clock in seconds."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


StoreFactory = Callable[..., DedupeStore]


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


def batch_of(events: Sequence[dict[str, object]]) -> AuditBatch:
    body, headers = make_delivery(list(events), hmac_secret=SECRET, signed_form="compact")
    return Verifier(SECRET).verify(body, headers)


# --- the protocol ------------------------------------------------------------------------


def test_claim_then_release(make_store: StoreFactory) -> None:
    store = make_store()
    assert isinstance(store, DedupeStore)
    assert store.claim(["a", "b"]) == [True, True]
    assert store.claim(["b", "c", "a"]) == [False, True, False]
    store.release(["a", "unknown"])
    assert store.claim(["a", "b", "c"]) == [True, False, False]
    assert store.claim([]) == []


def test_a_key_repeated_in_one_claim_is_claimed_once(make_store: StoreFactory) -> None:
    store = make_store()
    assert store.claim(["k", "k", "j", "k"]) == [True, False, True, False]


@pytest.mark.parametrize("keys", ["abc", b"abc", [""], [1], ["ok", None]])
def test_keys_must_be_a_sequence_of_nonempty_str(make_store: StoreFactory, keys: object) -> None:
    store = make_store()
    with pytest.raises(TypeError):
        store.claim(keys)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.release(keys)  # type: ignore[arg-type]


def test_ttl_expiry_with_an_injected_clock(make_store: StoreFactory) -> None:
    clock = FakeClock()
    store = make_store(ttl=timedelta(minutes=10), clock=clock)
    assert store.claim(["a"]) == [True]
    clock.now += 300
    assert store.claim(["a", "b"]) == [False, True]
    clock.now += 300.5  # "a" is now 600.5 s old, "b" 300.5 s
    assert store.claim(["a", "b"]) == [True, False]
    clock.now += 600
    assert store.claim(["b"]) == [True]


def test_ttl_in_seconds(make_store: StoreFactory) -> None:
    clock = FakeClock()
    store = make_store(ttl=5, clock=clock)
    assert store.claim(["a"]) == [True]
    clock.now += 4.9
    assert store.claim(["a"]) == [False]
    clock.now += 0.2
    assert store.claim(["a"]) == [True]


@pytest.mark.parametrize("ttl", [0, -1, timedelta(0), float("inf"), float("nan"), "60", True, None])
def test_bad_ttl_is_a_configuration_error(make_store: StoreFactory, ttl: object) -> None:
    with pytest.raises(ConfigurationError):
        make_store(ttl=ttl)


# --- the memory store --------------------------------------------------------------------


def test_memory_store_evicts_the_oldest_when_full(caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryDedupeStore(max_entries=3)
    assert store.claim(["a", "b"]) == [True, True]
    assert store.claim(["c", "d", "e"]) == [True, True, True]
    assert len(store) == 3
    assert "is full" in caplog.text
    # a and b were evicted: a redelivery of them gets through, the three newest do not.
    assert store.claim(["c", "d", "e"]) == [False, False, False]
    assert store.claim(["a"]) == [True]
    assert store.claim(["c"]) == [True]  # evicted by a
    assert len(store) == 3


def test_memory_store_size_counts_only_live_claims() -> None:
    clock = FakeClock()
    store = MemoryDedupeStore(max_entries=10, ttl=10, clock=clock)
    store.claim(["a", "b"])
    clock.now += 5
    store.claim(["c"])
    assert len(store) == 3
    clock.now += 5
    assert len(store) == 1
    assert "size=1" in repr(store)


def test_memory_store_expiry_does_not_rely_on_claim_order() -> None:
    clock = FakeClock(100)
    store = MemoryDedupeStore(ttl=10, clock=clock)
    store.claim(["a"])  # expires at 110
    clock.now = 0  # an injected clock may step back
    store.claim(["b"])  # expires at 10, queued behind "a"
    clock.now = 50
    assert store.claim(["b", "a"]) == [True, False]


@pytest.mark.parametrize("max_entries", [0, -5, 1.5, True])
def test_memory_store_bad_size(max_entries: object) -> None:
    with pytest.raises(ConfigurationError):
        MemoryDedupeStore(max_entries=max_entries)  # type: ignore[arg-type]


# --- the SQLite store --------------------------------------------------------------------


def test_sqlite_store_shares_claims_between_instances_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "claims.db"
    with SQLiteDedupeStore(path) as first, SQLiteDedupeStore(str(path)) as second:
        assert first.claim(["a", "b"]) == [True, True]
        assert second.claim(["a", "c"]) == [False, True]
        second.release(["a"])
        assert first.claim(["a"]) == [True]
        assert len(first) == 3
    with SQLiteDedupeStore(path) as reopened:
        assert reopened.claim(["a", "b", "c", "d"]) == [False, False, False, True]
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT COUNT(*) FROM descope_audit_claims").fetchone()[0] == 4
    finally:
        conn.close()


def test_sqlite_store_deletes_expired_rows(tmp_path: Path) -> None:
    clock = FakeClock()
    with SQLiteDedupeStore(tmp_path / "claims.db", ttl=60, clock=clock, table="claims_v2") as store:
        store.claim([f"k{i}" for i in range(50)])
        clock.now += 61
        store.claim(["fresh"])
        conn = sqlite3.connect(tmp_path / "claims.db")
        try:
            assert conn.execute("SELECT key FROM claims_v2").fetchall() == [("fresh",)]
        finally:
            conn.close()


def test_sqlite_store_connection_per_thread_and_close(tmp_path: Path) -> None:
    store = SQLiteDedupeStore(tmp_path / "claims.db")
    results: list[list[bool]] = []
    thread = threading.Thread(target=lambda: results.append(store.claim(["t"])))
    thread.start()
    thread.join()
    assert results == [[True]]
    store.close()
    # A closed store reopens on the next call, in this thread and in others.
    assert store.claim(["t", "u"]) == [False, True]
    thread = threading.Thread(target=lambda: results.append(store.claim(["u", "v"])))
    thread.start()
    thread.join()
    assert results[-1] == [False, True]
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
            store.claim(["a"])
        blocker.execute("ROLLBACK")
        assert store.claim(["a"]) == [True]
    finally:
        blocker.close()
        store.close()


def test_sqlite_store_failure_inside_the_transaction_rolls_back(tmp_path: Path) -> None:
    path = tmp_path / "claims.db"
    store = SQLiteDedupeStore(path)
    try:
        assert store.claim(["a"]) == [True]
        other = sqlite3.connect(path)
        other.execute("DROP TABLE descope_audit_claims")
        other.close()
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            store.claim(["b"])
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            store.release(["a"])
        # Nothing is left half done: the connection is usable, and a new one recreates the table.
        store.close()
        assert store.claim(["a", "b"]) == [True, True]
    finally:
        store.close()


def _claim_in_child(store: SQLiteDedupeStore, keys: list[str], out: Path) -> None:
    out.write_text(json.dumps(store.claim(keys)))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork()")
def test_sqlite_store_after_fork_uses_a_fresh_connection(tmp_path: Path) -> None:
    store = SQLiteDedupeStore(tmp_path / "claims.db")
    try:
        assert store.claim(["parent"]) == [True]  # the parent's connection exists before the fork
        out = tmp_path / "child.json"
        child = multiprocessing.get_context("fork").Process(
            target=_claim_in_child, args=(store, ["parent", "child"], out)
        )
        child.start()
        child.join(60)
        assert child.exitcode == 0
        assert json.loads(out.read_text()) == [False, True]
        assert store.claim(["child", "parent"]) == [False, False]
    finally:
        store.close()


# --- exactly_once ------------------------------------------------------------------------


def test_exactly_once_drops_seen_events_and_keeps_the_batch() -> None:
    store = MemoryDedupeStore()
    first = batch_of(sample_events(3))
    with exactly_once(first, store) as new:
        assert new.events == first.events
        assert new.duplicates == 0
    again = batch_of([*sample_events(3), sample_event("login_failed")])
    with exactly_once(again, store) as new:
        assert [e.action for e in new] == ["LoginFailed"]
        assert new.duplicates == 3
        assert new.body == again.body
        assert new.signed_form == again.signed_form == "compact"
    with exactly_once(again, store) as new:
        assert len(new) == 0
        assert new.duplicates == 4


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
        assert new.duplicates == 1  # the event handled before the failure stays claimed
    assert handled == ["LoginFailed"]
    with exactly_once(delivery, store) as new:
        assert len(new) == 0


def test_base_exceptions_release_too() -> None:
    store = MemoryDedupeStore()
    batch = batch_of(sample_events(2))
    with pytest.raises(KeyboardInterrupt), exactly_once(batch, store):
        raise KeyboardInterrupt
    assert store.claim([e.fingerprint for e in batch]) == [True, True]


class _BrokenStore:
    def __init__(self, claim_result: list[bool] | None = None) -> None:
        self.claim_result = claim_result
        self.released: list[list[str]] = []

    def claim(self, keys: Sequence[str]) -> list[bool]:
        if self.claim_result is None:
            raise OSError("store unavailable")
        return self.claim_result

    def release(self, keys: Sequence[str]) -> None:
        self.released.append(list(keys))
        raise OSError("store unavailable")


def test_a_failing_store_fails_the_delivery_before_the_handler_runs() -> None:
    ran = False
    with pytest.raises(OSError, match="unavailable"), exactly_once(batch_of(sample_events(2)), _BrokenStore()):
        ran = True
    assert not ran


def test_a_store_answering_the_wrong_number_of_results_is_refused() -> None:
    store = _BrokenStore([True])
    batch = batch_of(sample_events(2))
    with pytest.raises(OSError, match="unavailable"), exactly_once(batch, store):
        pytest.fail("handler ran")
    assert store.released == [[batch[0].fingerprint]]


class _OverEagerStore(MemoryDedupeStore):
    def claim(self, keys: Sequence[str]) -> list[bool]:
        return [*super().claim(keys), True]


def test_a_store_answering_too_many_results_is_refused_and_its_claims_released() -> None:
    store = _OverEagerStore()
    batch = batch_of(sample_events(2))
    with pytest.raises(TypeError, match="3 results for 2 keys"), exactly_once(batch, store):
        pytest.fail("handler ran")
    assert len(store) == 0


def test_a_failing_release_keeps_the_handlers_exception(caplog: pytest.LogCaptureFixture) -> None:
    store = _BrokenStore([True, True])
    batch = batch_of(sample_events(2))
    with pytest.raises(ValueError, match="handler"), exactly_once(batch, store):
        raise ValueError("handler")
    assert "could not release 2 dedupe claims" in caplog.text
    assert batch[0].fingerprint not in caplog.text


# --- concurrency -------------------------------------------------------------------------


@pytest.mark.parametrize("fail_every", [0, 3])
def test_concurrent_duplicate_deliveries_from_threads_are_handled_exactly_once(
    make_store: StoreFactory, fail_every: int
) -> None:
    deliveries, fingerprints = overlapping_deliveries(120, size=10, stride=4)
    store = make_store()
    workers = 8
    outcome = run_concurrently(lambda _: store, deliveries, workers=workers, fail_every=fail_every)
    assert outcome.errors == []
    assert set(outcome.handled) == fingerprints
    assert set(outcome.handled.values()) == {1}, "an event reached the handler twice"
    assert outcome.delivered_events - outcome.duplicates == len(fingerprints)
    assert (outcome.failures > 0) == (fail_every > 0)


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


def _spawn_all(target: Callable[..., None], args_for: Callable[[int, object], tuple[object, ...]], count: int) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(count)
    processes = [ctx.Process(target=target, args=args_for(i, barrier), daemon=True) for i in range(count)]
    try:
        for process in processes:
            process.start()
        for process in processes:
            process.join(120)
        assert [p.exitcode for p in processes] == [0] * count
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join(5)


def test_concurrent_duplicate_deliveries_from_processes_are_handled_exactly_once(tmp_path: Path) -> None:
    deliveries, fingerprints = overlapping_deliveries(80, size=10, stride=5)
    db, processes = str(tmp_path / "claims.db"), 4
    orders = []
    for index in range(processes):
        order = [(d.body, d.headers) for d in deliveries]
        random.Random(index).shuffle(order)  # noqa: S311 - test data
        orders.append(order)
    outs = [tmp_path / f"out{i}.json" for i in range(processes)]
    _spawn_all(
        _workers.handle_deliveries,
        lambda i, barrier: (db, SECRET, orders[i], barrier, str(outs[i])),
        processes,
    )
    results = [json.loads(out.read_text()) for out in outs]
    handled = Counter(fp for result in results for fp in result["handled"])
    assert set(handled) == fingerprints
    assert set(handled.values()) == {1}, "an event reached two processes' handlers"
    delivered = processes * sum(len(Verifier(SECRET).verify(d.body, d.headers)) for d in deliveries)
    assert sum(r["duplicates"] for r in results) == delivered - len(fingerprints)


def test_processes_claiming_the_same_keys_one_by_one_each_key_won_once(tmp_path: Path) -> None:
    keys = [f"key-{i:04d}" for i in range(300)]
    db, processes = str(tmp_path / "claims.db"), 4
    outs = [tmp_path / f"won{i}.json" for i in range(processes)]
    orders = [random.Random(i).sample(keys, len(keys)) for i in range(processes)]  # noqa: S311 - test data
    _spawn_all(_workers.claim_keys, lambda i, barrier: (db, orders[i], barrier, str(outs[i])), processes)
    won = Counter(key for out in outs for key in json.loads(out.read_text()))
    assert set(won) == set(keys)
    assert set(won.values()) == {1}
