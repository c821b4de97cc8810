"""The optional freshness window on ``occurred`` (``Verifier(max_event_age=..., max_clock_skew=...)``).

Off by default. It is replay *mitigation*: a captured delivery can only be replayed
while its events are young. It is not replay protection (that is what the dedupe
stores are for), and it has a cost: Descope retries with the original ``occurred``, so
a retry that comes later than ``max_event_age`` is rejected for good. See
docs/reliability.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ._errors import ConfigurationError, PayloadError
from ._events import AuditEvent

__all__ = ["Clock", "FreshnessWindow", "utc_now"]

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _event_path(value: Any, index: int) -> str:
    # The same paths as parse_events() gives its own errors.
    if type(value) is dict:
        for key in ("audits", "events"):
            if key in value:
                return f"$.{key}[{index}]"
        return "$"
    return f"$[{index}]"


@dataclass(frozen=True, slots=True)
class FreshnessWindow:
    """Rejects events whose ``occurred`` is older than ``max_age`` or later than now + ``max_skew``."""

    max_age: timedelta | None
    max_skew: timedelta | None
    clock: Clock

    @classmethod
    def build(
        cls, max_event_age: timedelta | None, max_clock_skew: timedelta | None, clock: Clock | None
    ) -> FreshnessWindow | None:
        """The window for the Verifier's keywords, or ``None`` when both bounds are off."""
        if max_event_age is not None and (not isinstance(max_event_age, timedelta) or max_event_age <= timedelta(0)):
            raise ConfigurationError("max_event_age must be a positive timedelta or None")
        if max_clock_skew is not None and (not isinstance(max_clock_skew, timedelta) or max_clock_skew < timedelta(0)):
            raise ConfigurationError("max_clock_skew must be a non-negative timedelta or None")
        if clock is not None and not callable(clock):
            raise ConfigurationError("clock must be a callable returning an aware datetime")
        if max_event_age is None and max_clock_skew is None:
            return None
        return cls(max_event_age, max_clock_skew, clock or utc_now)

    def check(self, events: Sequence[AuditEvent], value: Any) -> None:
        """Raise :class:`PayloadError` (400) for the first event outside the window."""
        now = self.clock()
        if not isinstance(now, datetime) or now.tzinfo is None:
            raise ConfigurationError("the verifier's clock must return a timezone-aware datetime")
        oldest = newest = None
        try:
            if self.max_age is not None:
                oldest = now - self.max_age
        except OverflowError:
            oldest = None  # the bound is before year 1: nothing is older
        try:
            if self.max_skew is not None:
                newest = now + self.max_skew
        except OverflowError:
            newest = None  # the bound is after year 9999: nothing is newer
        for index, event in enumerate(events):
            if oldest is not None and event.occurred < oldest:
                raise PayloadError(
                    "event is older than max_event_age",
                    path=f"{_event_path(value, index)}.occurred",
                    code="stale_event",
                )
            if newest is not None and event.occurred > newest:
                raise PayloadError(
                    "event is later than now plus max_clock_skew",
                    path=f"{_event_path(value, index)}.occurred",
                    code="future_event",
                )
