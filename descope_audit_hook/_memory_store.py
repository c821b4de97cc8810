"""The in-process dedupe store: :class:`MemoryDedupeStore`, bounded, leased, thread-safe."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Union

from ._dedupe import (
    DEFAULT_DEDUPE_LEASE,
    DEFAULT_DEDUPE_TTL,
    ClaimState,
    LeasedStore,
    TTLArg,
    check_keys,
    check_owner,
)
from ._errors import ConfigurationError

__all__ = ["MemoryDedupeStore"]

logger = logging.getLogger("descope_audit_hook")

_Record = tuple[Union[str, None], float]  # (owner, or None once completed; expiry time)


class MemoryDedupeStore(LeasedStore):
    """Records held in this process's memory: bounded in size, leased, thread-safe.

    Only deduplicates deliveries that reach *this* process; with several workers or
    hosts use :class:`SQLiteDedupeStore` (one host), :class:`RedisDedupeStore` or
    :class:`PostgresDedupeStore` (several). When full, the oldest completed records are
    evicted first (then the oldest leases), so size ``max_entries`` above the number of
    events expected within ``ttl``.
    """

    __slots__ = ("_clock", "_done", "_leases", "_lock", "_warned", "max_entries")

    def __init__(
        self,
        max_entries: int = 100_000,
        ttl: TTLArg = DEFAULT_DEDUPE_TTL,
        *,
        lease: TTLArg = DEFAULT_DEDUPE_LEASE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if type(max_entries) is not int or max_entries <= 0:
            raise ConfigurationError("max_entries must be a positive int")
        super().__init__(ttl, lease)
        self.max_entries = max_entries
        self._clock = clock
        # Every lease lasts ``lease`` and every completion ``ttl``, so in each dict the
        # insertion order is the expiry order: expired records are found at the front.
        self._leases: OrderedDict[str, _Record] = OrderedDict()
        self._done: OrderedDict[str, _Record] = OrderedDict()
        self._lock = threading.Lock()
        self._warned = False

    def __repr__(self) -> str:
        return (
            f"MemoryDedupeStore(max_entries={self.max_entries}, ttl={self.ttl:g}s, lease={self.lease:g}s, "
            f"size={len(self)})"
        )

    def __len__(self) -> int:
        """Live records, in progress or completed."""
        with self._lock:
            self._expire(self._clock())
            return len(self._leases) + len(self._done)

    def _expire(self, now: float) -> None:
        for records in (self._leases, self._done):
            while records:
                key, (_, expires) = next(iter(records.items()))
                if expires > now:
                    break
                del records[key]

    def _live(self, records: OrderedDict[str, _Record], key: str, now: float) -> _Record | None:
        # The expiry is checked again: an injected clock may step back, leaving an expired
        # record behind a live one.
        record = records.get(key)
        return record if record is not None and record[1] > now else None

    def claim(self, keys: Sequence[str], owner: str) -> list[ClaimState]:
        checked, owner = check_keys(keys), check_owner(owner)
        states: list[ClaimState] = []
        with self._lock:
            now = self._clock()
            self._expire(now)
            leases, done = self._leases, self._done
            for key in checked:
                if self._live(done, key, now):
                    states.append(ClaimState.COMPLETED)
                elif self._live(leases, key, now):
                    states.append(ClaimState.IN_PROGRESS)
                else:
                    done.pop(key, None)
                    leases.pop(key, None)
                    leases[key] = (owner, now + self.lease)
                    states.append(ClaimState.CLAIMED)
            self._evict()
        return states

    def _evict(self) -> None:
        evicted = 0
        while len(self._leases) + len(self._done) > self.max_entries:
            (self._done or self._leases).popitem(last=False)
            evicted += 1
        if evicted and not self._warned:
            self._warned = True
            logger.warning(
                "descope_audit_hook: MemoryDedupeStore is full (max_entries=%d); evicting unexpired records "
                "weakens deduplication",
                self.max_entries,
            )

    def complete(self, keys: Sequence[str], owner: str) -> None:
        checked, owner = check_keys(keys), check_owner(owner)
        lost = 0
        with self._lock:
            now = self._clock()
            for key in checked:
                record = self._live(self._leases, key, now)
                if record is None or record[0] != owner:
                    lost += 1
                    continue
                del self._leases[key]
                self._done[key] = (None, now + self.ttl)
        self._lost(lost)

    def release(self, keys: Sequence[str], owner: str) -> None:
        checked, owner = check_keys(keys), check_owner(owner)
        with self._lock:
            for key in checked:
                record = self._leases.get(key)
                if record is not None and record[0] == owner:
                    del self._leases[key]
