"""The rules of a claim, without I/O: which keys, what a store's answer means, when to complete, when to retry.

A request claims its batch's distinct fingerprints (:func:`batch_keys`); the store answers
one :class:`ClaimState` per key (:func:`checked_states`), from which :func:`split_batch`
makes the batch the handler gets. A handler that answered a 2xx has done its work
(:func:`succeeded`); a 503 says when to retry (:func:`retry_after`). The one claim object
that drives a store with these rules, sync and async, is ``_claim.Claim``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Union

from ._batch import AuditBatch
from ._dedupe import DEFAULT_DEDUPE_LEASE, AsyncDedupeStore, ClaimState, DedupeStore, is_async_store
from ._errors import ConfigurationError

__all__ = ["AnyStore", "batch_keys", "check_store", "checked_states", "retry_after", "split_batch", "succeeded"]

#: A sync or an async dedupe store.
AnyStore = Union[DedupeStore, AsyncDedupeStore]


def batch_keys(batch: AuditBatch) -> tuple[list[str], list[str]]:
    """Each event's fingerprint (computed once: a hash of the event), and the distinct ones in order."""
    fingerprints = [event.fingerprint for event in batch.events]
    return fingerprints, list(dict.fromkeys(fingerprints))


def checked_states(store: object, keys: Sequence[str], states: object) -> list[ClaimState]:
    """``states`` if it is one :class:`ClaimState` per key; a :class:`TypeError` otherwise."""
    if not isinstance(states, list):
        raise TypeError(f"{type(store).__name__}.claim must return a list, not {type(states).__name__}")
    if len(states) != len(keys):
        raise TypeError(f"{type(store).__name__}.claim returned {len(states)} results for {len(keys)} keys")
    if not all(isinstance(state, ClaimState) for state in states):
        raise TypeError(f"{type(store).__name__}.claim must return ClaimState values")
    return states


def split_batch(
    batch: AuditBatch, fingerprints: Sequence[str], keys: Sequence[str], states: Sequence[ClaimState]
) -> tuple[AuditBatch, list[str]]:
    """The batch holding only the claimed events (counts set), and the claimed keys.

    ``fingerprints``: each event's, in order (:func:`batch_keys`); ``keys``: the distinct
    ones the store answered ``states`` for.

    ``duplicates`` grows by the events completed earlier and the repeats inside the
    batch; ``in_progress`` by the distinct events another request holds.
    """
    state_of = dict(zip(keys, states, strict=True))
    seen: set[str] = set()
    events = []
    in_progress = 0
    for event, key in zip(batch.events, fingerprints, strict=True):
        if key in seen:
            continue
        seen.add(key)
        state = state_of[key]
        if state is ClaimState.CLAIMED:
            events.append(event)
        elif state is ClaimState.IN_PROGRESS:
            in_progress += 1
    dropped = len(batch.events) - len(events)
    fresh = replace(
        batch,
        events=tuple(events),
        duplicates=batch.duplicates + dropped - in_progress,
        in_progress=batch.in_progress + in_progress,
    )
    claimed = [key for key, state in zip(keys, states, strict=True) if state is ClaimState.CLAIMED]
    return fresh, claimed


def check_store(store: object, *, allow_async: bool) -> AnyStore | None:
    """``store`` if it is ``None`` or a dedupe store this caller can drive; a :class:`ConfigurationError` otherwise.

    A synchronous caller (Flask, Django) needs a sync store; an async one (Starlette)
    takes either.
    """
    if store is not None and not isinstance(store, DedupeStore):
        raise ConfigurationError("dedupe must be a DedupeStore (an object with claim(), complete() and release())")
    if not allow_async and is_async_store(store):
        raise ConfigurationError(f"dedupe must be a sync DedupeStore; {type(store).__name__} is async")
    return store


def succeeded(status: int) -> bool:
    """Whether a handler that answered ``status`` has done its work, so that its claims are completed.

    Only a 2xx: the sender redelivers anything else (a 3xx, a 429, a 5xx), and a kept claim
    would answer that redelivery with nothing to do.
    """
    return 200 <= status < 300


def retry_after(store: object) -> int:
    """The ``Retry-After`` of a 503, in seconds: a tenth of the store's lease, between 1 and 60.

    Several retries fit in one lease: the delivery goes through soon after a slow handler
    elsewhere completes, and soon after a crashed one's lease expires.
    """
    lease = getattr(store, "lease", None)
    if not isinstance(lease, (int, float)) or isinstance(lease, bool) or not lease > 0:
        lease = DEFAULT_DEDUPE_LEASE.total_seconds()
    return max(1, min(60, math.ceil(lease / 10)))
