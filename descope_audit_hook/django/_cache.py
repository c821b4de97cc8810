"""A :class:`~descope_audit_hook.DedupeStore` on Django's cache framework.

Public as ``descope_audit_hook.django.CacheDedupeStore``. A claim is
``cache.add(key, "in_progress:<owner>", timeout=lease)``: ``SET NX`` on Redis, ``add``
on Memcached, atomic on the cache server, so several app servers sharing the cache
never both claim an event.

The cache API has no compare-and-set or compare-and-delete, so ``complete`` and
``release`` read the values (``get_many``) and then write (``set_many``) or delete
(``delete_many``) the keys still held by this owner: two steps, not one. What can go
wrong in between, and why it is still safe enough, is in docs/reliability.md.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from django.core.cache import BaseCache, caches

from descope_audit_hook._dedupe import (
    CLAIM_ROUNDS,
    COMPLETED_VALUE,
    DEFAULT_DEDUPE_LEASE,
    DEFAULT_DEDUPE_TTL,
    IN_PROGRESS_VALUE,
    ClaimState,
    LeasedStore,
    TTLArg,
    check_keys,
    check_owner,
    check_prefix,
)
from descope_audit_hook._errors import ConfigurationError

__all__ = ["CacheDedupeStore"]

logger = logging.getLogger("descope_audit_hook")

# Backends whose add() is not a claim: the dummy cache stores nothing (add always
# succeeds), the file cache checks and writes in two steps (two processes can both win).
_NOT_ATOMIC = {
    "django.core.cache.backends.dummy.DummyCache",
    "django.core.cache.backends.filebased.FileBasedCache",
}


class CacheDedupeStore(LeasedStore):
    """Records in the Django cache ``alias``: in progress for ``lease``, completed for ``ttl``.

    Use a cache that every app server shares and that does not evict under memory
    pressure before ``ttl`` (Redis with a ``noeviction`` or ``volatile-*`` policy, or a
    Memcached sized for it): an evicted record lets a redelivery through. The local-memory
    cache only deduplicates within one process; the dummy and file caches are refused.
    Timeouts are whole seconds (rounded up).
    """

    __slots__ = ("_lease_timeout", "_ttl_timeout", "alias", "key_prefix")

    def __init__(
        self,
        alias: str = "default",
        *,
        ttl: TTLArg = DEFAULT_DEDUPE_TTL,
        lease: TTLArg = DEFAULT_DEDUPE_LEASE,
        key_prefix: str = "descope-audit:",
    ) -> None:
        if not isinstance(alias, str) or not alias:
            raise ConfigurationError("alias must be the name of a cache in settings.CACHES")
        super().__init__(ttl, lease)
        self.alias = alias
        self.key_prefix = check_prefix(key_prefix, "key_prefix")
        # Whole seconds: Memcached takes integer timeouts, and rounding up never shortens a record.
        self._ttl_timeout = math.ceil(self.ttl)
        self._lease_timeout = math.ceil(self.lease)

    def __repr__(self) -> str:
        return (
            f"CacheDedupeStore(alias={self.alias!r}, key_prefix={self.key_prefix!r}, ttl={self.ttl:g}s, "
            f"lease={self.lease:g}s)"
        )

    def _cache(self) -> BaseCache:
        # Looked up on every call: django.core.cache.caches hands each thread its own client,
        # and settings may not be ready when the store is built (e.g. in settings.py).
        # The backend is checked on every call (a dict lookup): settings can change under tests.
        cache = caches[self.alias]
        backend = f"{type(cache).__module__}.{type(cache).__qualname__}"
        if backend in _NOT_ATOMIC:
            raise ConfigurationError(
                f"cache {self.alias!r} ({backend}) cannot claim atomically; use Redis, Memcached or SQLiteDedupeStore"
            )
        return cache

    def claim(self, keys: Sequence[str], owner: str) -> list[ClaimState]:
        checked, owner = check_keys(keys), check_owner(owner)
        cache = self._cache()
        value = IN_PROGRESS_VALUE + owner
        states: dict[str, ClaimState] = {}
        added: list[str] = []
        pending = checked
        try:
            for _ in range(CLAIM_ROUNDS):
                taken = []
                for key in pending:
                    if cache.add(self.key_prefix + key, value, timeout=self._lease_timeout):
                        added.append(self.key_prefix + key)
                        states[key] = ClaimState.CLAIMED
                    else:
                        taken.append(key)
                found = cache.get_many([self.key_prefix + key for key in taken]) if taken else {}
                pending = []
                for key in taken:
                    current = found.get(self.key_prefix + key)
                    if current is None:
                        pending.append(key)  # gone since add(): claimable again
                    else:
                        states[key] = ClaimState.COMPLETED if current == COMPLETED_VALUE else ClaimState.IN_PROGRESS
                if not pending:
                    break
        except BaseException:
            # A claim left behind by a failed call would hold the redelivery until the lease ends.
            if added:
                try:
                    self._delete_own(cache, added, value)
                except Exception:
                    logger.exception("descope_audit_hook: could not undo %d dedupe claims", len(added))
            raise
        for key in pending:
            states[key] = ClaimState.IN_PROGRESS
        return [states[key] for key in checked]

    def _own(self, cache: BaseCache, cache_keys: list[str], value: str) -> list[str]:
        found: dict[str, Any] = cache.get_many(cache_keys)
        return [key for key in cache_keys if found.get(key) == value]

    def _delete_own(self, cache: BaseCache, cache_keys: list[str], value: str) -> None:
        mine = self._own(cache, cache_keys, value)
        if mine:
            cache.delete_many(mine)

    def complete(self, keys: Sequence[str], owner: str) -> None:
        checked, owner = check_keys(keys), check_owner(owner)
        if not checked:
            return
        cache = self._cache()
        mine = self._own(cache, [self.key_prefix + key for key in checked], IN_PROGRESS_VALUE + owner)
        failed = cache.set_many(dict.fromkeys(mine, COMPLETED_VALUE), timeout=self._ttl_timeout) if mine else []
        self._lost(len(checked) - len(mine) + len(failed or ()))

    def release(self, keys: Sequence[str], owner: str) -> None:
        checked, owner = check_keys(keys), check_owner(owner)
        if checked:
            self._delete_own(self._cache(), [self.key_prefix + key for key in checked], IN_PROGRESS_VALUE + owner)
