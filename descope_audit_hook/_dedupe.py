"""Dedupe stores: the protocol and the rules every store shares.

Descope sends no delivery id and (as far as anyone has documented) redelivers what was
not acknowledged with a 2xx, so the same event can arrive twice, even twice at once on
two workers. A request claims every event of a verified batch in a :class:`DedupeStore`
*before* the handler runs and hands the handler only the events it claimed (``_claim.py``).
A claim is a *lease*: the event is recorded in progress, held by this request's owner
token until the lease expires; the handler's success marks it completed for the
``ttl``; its failure releases the lease, so that the redelivery is processed. A process
killed mid-handler releases nothing, but its leases expire. See docs/reliability.md.

The stores live in their own modules (memory, SQLite, Redis, PostgreSQL beside this one;
the Django cache in the Django adapter); this one holds what they share.
"""

from __future__ import annotations

import inspect
import logging
import math
import secrets
from collections.abc import Sequence
from datetime import timedelta
from enum import Enum
from typing import Protocol, Union, runtime_checkable

from ._errors import ConfigurationError

__all__ = [
    "CLAIM_ROUNDS",
    "COMPLETED_VALUE",
    "DEFAULT_DEDUPE_LEASE",
    "DEFAULT_DEDUPE_TTL",
    "IN_PROGRESS_VALUE",
    "AsyncDedupeStore",
    "ClaimState",
    "DedupeStore",
    "LeasedStore",
    "TTLArg",
    "check_keys",
    "check_owner",
    "check_prefix",
    "is_async_store",
    "new_owner",
    "ttl_seconds",
]

logger = logging.getLogger("descope_audit_hook")

#: How long a completed event is remembered unless told otherwise. Descope documents no
#: retry horizon; set ``ttl`` to at least the longest delay after which a redelivery may come.
DEFAULT_DEDUPE_TTL = timedelta(days=1)
#: How long a claim holds an event in progress unless told otherwise: longer than the
#: slowest handler, short enough that a crashed request's events are retried soon.
DEFAULT_DEDUPE_LEASE = timedelta(minutes=5)

TTLArg = Union[timedelta, float, int]

# The values of the key-value stores (Redis, a Django cache): "in_progress:<owner>" and
# "completed". A claim retries a key that vanished between its add and its read this often,
# then reports it in progress.
IN_PROGRESS_VALUE = "in_progress:"
COMPLETED_VALUE = "completed"
CLAIM_ROUNDS = 5

_MAX_KEY = 200  # a fingerprint is 64 characters; Memcached keys stop at 250 with the prefix
_MAX_OWNER = 128
_MAX_PREFIX = 150


class ClaimState(str, Enum):
    """What :meth:`DedupeStore.claim` found for one key."""

    #: Newly claimed by this caller: it holds the lease and handles the event.
    CLAIMED = "claimed"
    #: Completed by an earlier request, within ``ttl``: a duplicate, dropped.
    COMPLETED = "completed"
    #: Held by another request whose lease has not expired: dropped now, retried later.
    IN_PROGRESS = "in_progress"


@runtime_checkable
class DedupeStore(Protocol):
    """Where the events' fingerprints are claimed, completed and released.

    A record is either *in progress* (held by one ``owner`` until ``lease`` seconds after
    the claim) or *completed* (kept ``ttl`` seconds). ``claim`` must be atomic per key
    across every client the store reaches: when several callers claim the same key,
    exactly one gets :attr:`ClaimState.CLAIMED`. The keys of one call are distinct
    non-empty strings (the caller removes repeats). ``owner`` is a random token per
    request.
    """

    def claim(self, keys: Sequence[str], owner: str) -> list[ClaimState]:
        """Claim each absent (or expired) key for ``owner``; return one state per key, in order."""
        ...

    def complete(self, keys: Sequence[str], owner: str) -> None:
        """Mark completed (for ``ttl``) the keys whose lease ``owner`` still holds; ignore the others."""
        ...

    def release(self, keys: Sequence[str], owner: str) -> None:
        """Remove ``owner``'s in-progress records of ``keys``; never another owner's, never a completed one."""
        ...


@runtime_checkable
class AsyncDedupeStore(Protocol):
    """:class:`DedupeStore` with coroutine methods (``await store.claim(keys, owner)``).

    ``isinstance`` only checks the method names, which the sync protocol shares; use
    :func:`inspect.iscoroutinefunction` on ``claim`` to tell them apart.
    """

    async def claim(self, keys: Sequence[str], owner: str) -> list[ClaimState]:
        """As :meth:`DedupeStore.claim`."""
        ...

    async def complete(self, keys: Sequence[str], owner: str) -> None:
        """As :meth:`DedupeStore.complete`."""
        ...

    async def release(self, keys: Sequence[str], owner: str) -> None:
        """As :meth:`DedupeStore.release`."""
        ...


def is_async_store(store: object) -> bool:
    """Whether ``store.claim`` is a coroutine function (an :class:`AsyncDedupeStore`)."""
    return inspect.iscoroutinefunction(getattr(store, "claim", None))


def ttl_seconds(ttl: TTLArg, name: str = "ttl") -> float:
    """``ttl`` (a :class:`~datetime.timedelta` or seconds) as positive, finite seconds."""
    if isinstance(ttl, timedelta):
        seconds = ttl.total_seconds()
    elif isinstance(ttl, (int, float)) and not isinstance(ttl, bool):
        seconds = float(ttl)
    else:
        raise ConfigurationError(f"{name} must be a timedelta or a number of seconds")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigurationError(f"{name} must be positive and finite")
    return seconds


def _plain(text: str) -> bool:
    return not any(ord(char) <= 32 or ord(char) == 127 for char in text)


def check_keys(keys: Sequence[str]) -> list[str]:
    """``keys`` as a list of distinct, non-empty str without spaces or control characters.

    A bare string is refused (a lone fingerprint would be claimed character by
    character); a key repeated in one call is refused (callers remove repeats, and SQL
    upserts cannot touch one row twice in a statement).
    """
    if isinstance(keys, (str, bytes)):
        raise TypeError("keys must be a sequence of str, not a single str")
    checked = list(keys)
    for key in checked:
        if type(key) is not str or not key:
            raise TypeError("every dedupe key must be a non-empty str")
        if len(key) > _MAX_KEY or not _plain(key):
            raise ValueError(f"a dedupe key must be at most {_MAX_KEY} characters, without spaces or controls")
    if len(set(checked)) != len(checked):
        raise ValueError("the keys of one call must be distinct")
    return checked


def check_owner(owner: str) -> str:
    """``owner`` if it is a non-empty str of at most 128 characters without spaces or control characters."""
    if type(owner) is not str or not owner:
        raise TypeError("owner must be a non-empty str")
    if len(owner) > _MAX_OWNER or not _plain(owner):
        raise ValueError(f"owner must be at most {_MAX_OWNER} characters, without spaces or control characters")
    return owner


def check_prefix(prefix: str, name: str = "prefix") -> str:
    """A key prefix for stores that share a key space (Redis, a cache): short, no spaces or control characters."""
    if not isinstance(prefix, str) or len(prefix) > _MAX_PREFIX:
        raise ConfigurationError(f"{name} must be a str of at most {_MAX_PREFIX} characters")
    if not _plain(prefix):
        raise ConfigurationError(f"{name} must not contain spaces or control characters")
    return prefix


def new_owner() -> str:
    """A fresh owner token: 128 random bits, hex."""
    return secrets.token_hex(16)


class LeasedStore:
    """What every store shares: ``ttl`` and ``lease`` in seconds, validated here once.

    ``ttl``: how long a completed record is kept (default one day). ``lease``: how long a
    claim holds an event in progress (default five minutes): longer than the slowest
    handler, or its events may be claimed again while it still runs.
    """

    __slots__ = ("lease", "ttl")

    def __init__(self, ttl: TTLArg, lease: TTLArg) -> None:
        #: Seconds a completed record is kept.
        self.ttl = ttl_seconds(ttl, "ttl")
        #: Seconds a claim holds an event in progress.
        self.lease = ttl_seconds(lease, "lease")

    def _lost(self, count: int) -> None:
        """Warn that ``count`` keys could not be completed: their lease was gone."""
        if count:
            logger.warning(
                "descope_audit_hook: %s could not complete %d events: their lease (%gs) had expired or they were "
                "released, so another request may handle them again; raise lease above the slowest handler",
                type(self).__name__,
                count,
                self.lease,
            )
