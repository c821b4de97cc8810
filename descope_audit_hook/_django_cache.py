"""A :class:`~descope_audit_hook.DedupeStore` on Django's cache framework.

Re-exported as ``descope_audit_hook.django.CacheDedupeStore``. A claim is
``cache.add`` (``SET NX`` on Redis, ``add`` on Memcached: atomic on the server, so
several app servers sharing the cache never both claim an event); a release is
``cache.delete_many``. Only this module and the Django adapter import Django.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from django.core.cache import BaseCache, caches

from ._dedupe import DEFAULT_DEDUPE_TTL, TTLArg, check_keys, ttl_seconds
from ._errors import ConfigurationError

__all__ = ["CacheDedupeStore"]

logger = logging.getLogger("descope_audit_hook")

# Backends whose add() is not a claim: the dummy cache stores nothing (add always
# succeeds), the file cache checks and writes in two steps (two processes can both win).
_NOT_ATOMIC = {
    "django.core.cache.backends.dummy.DummyCache",
    "django.core.cache.backends.filebased.FileBasedCache",
}
_MAX_PREFIX = 150  # a fingerprint is 64 characters; Memcached keys stop at 250


class CacheDedupeStore:
    """Claims in the Django cache ``alias``, each kept for ``ttl`` (a timedelta or seconds).

    Use a cache that every app server shares and that does not evict under memory
    pressure before ``ttl`` (Redis with a ``noeviction`` or ``volatile-*`` policy, or a
    Memcached sized for it): an evicted claim lets a redelivery through. The local-memory
    cache only deduplicates within one process; the dummy and file caches are refused.
    """

    __slots__ = ("_timeout", "alias", "key_prefix", "ttl")

    def __init__(
        self,
        alias: str = "default",
        *,
        ttl: TTLArg = DEFAULT_DEDUPE_TTL,
        key_prefix: str = "descope-audit:",
    ) -> None:
        if not isinstance(alias, str) or not alias:
            raise ConfigurationError("alias must be the name of a cache in settings.CACHES")
        if not isinstance(key_prefix, str) or len(key_prefix) > _MAX_PREFIX:
            raise ConfigurationError(f"key_prefix must be a str of at most {_MAX_PREFIX} characters")
        if any(ord(char) <= 32 or ord(char) == 127 for char in key_prefix):
            raise ConfigurationError("key_prefix must not contain spaces or control characters")
        self.alias = alias
        self.key_prefix = key_prefix
        self.ttl = ttl_seconds(ttl)
        # Whole seconds: Memcached takes integer timeouts, and rounding up never shortens a claim.
        self._timeout = math.ceil(self.ttl)

    def __repr__(self) -> str:
        return f"CacheDedupeStore(alias={self.alias!r}, key_prefix={self.key_prefix!r}, ttl={self.ttl:g}s)"

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

    def _key(self, key: str) -> str:
        return self.key_prefix + key

    def claim(self, keys: Sequence[str]) -> list[bool]:
        checked = check_keys(keys)
        cache = self._cache()
        results: list[bool] = []
        added: list[str] = []
        seen: set[str] = set()
        try:
            for key in checked:
                if key in seen:
                    results.append(False)
                    continue
                seen.add(key)
                won = bool(cache.add(self._key(key), 1, timeout=self._timeout))
                if won:
                    added.append(self._key(key))
                results.append(won)
        except BaseException:
            # All or nothing: a claim left behind by a failed call would drop the redelivery.
            if added:
                try:
                    cache.delete_many(added)
                except Exception:
                    logger.exception("descope_audit_hook: could not undo %d dedupe claims", len(added))
            raise
        return results

    def release(self, keys: Sequence[str]) -> None:
        checked = check_keys(keys)
        if checked:
            self._cache().delete_many([self._key(key) for key in dict.fromkeys(checked)])
