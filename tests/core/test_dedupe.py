"""What the stores share (``_dedupe``): leases and ttls on an injected clock, the same defaults everywhere.

Each store's own features are in test_<store>.py beside this file; the behaviour every
store shares, against real engines, in tests/reliability/test_store_protocol.py.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from descope_audit_hook import (
    AsyncPostgresDedupeStore,
    AsyncRedisDedupeStore,
    MemoryDedupeStore,
    PostgresDedupeStore,
    RedisDedupeStore,
    SQLiteDedupeStore,
)
from descope_audit_hook.django import CacheDedupeStore
from tests.support.stores import CLAIMED, COMPLETED, IN_PROGRESS, FakeClock, StoreFactory


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
