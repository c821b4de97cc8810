"""SQLiteDedupeStore's own features: one file shared by instances, its table, threads, forks, failures."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest

from descope_audit_hook import (
    ClaimState,
    ConfigurationError,
    SQLiteDedupeStore,
)
from tests.support.stores import CLAIMED, COMPLETED, IN_PROGRESS, FakeClock


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
