"""Event times: epoch milliseconds (what Descope sends), ISO-8601 text, aware UTC datetimes."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone

__all__ = [
    "EPOCH",
    "MAX_MS",
    "MIN_MS",
    "from_iso",
    "iso_text",
    "ms_of",
    "occurred_from_ms",
    "utc_datetimes",
    "utc_text",
]

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MS = timedelta(milliseconds=1)
#: The milliseconds EPOCH + timedelta can reach: 0001-01-01 to 9999-12-31 UTC.
MIN_MS = (datetime.min.replace(tzinfo=timezone.utc) - EPOCH) // _ONE_MS
MAX_MS = (datetime.max.replace(tzinfo=timezone.utc) - EPOCH) // _ONE_MS
_FRACTION = re.compile(r"(?<=:[0-9]{2})[.,]([0-9]+)")


def occurred_from_ms(ms: int) -> datetime:
    """Exact conversion (no float rounding) of epoch milliseconds to an aware UTC datetime."""
    return EPOCH + timedelta(milliseconds=ms)


def utc_text(ms: int, timespec: str = "milliseconds", sep: str = "T") -> str:
    """Epoch milliseconds as ISO-8601 UTC text without a zone: ``2026-06-08T20:18:25.871``.

    ``timespec`` is :meth:`datetime.isoformat`'s (``"minutes"``, ``"seconds"``...) or
    ``"date"``. Years always have four digits (``0001-01-01``): ``strftime("%Y")`` does not
    pad them on glibc, and ``1-01-01`` is no date a parser takes back.
    """
    moment = occurred_from_ms(ms).replace(tzinfo=None)
    return moment.date().isoformat() if timespec == "date" else moment.isoformat(sep, timespec)


def iso_text(ms: int) -> str:
    """Epoch milliseconds as ISO-8601 UTC text with milliseconds and ``Z``: ``2026-06-08T20:18:25.871Z``."""
    return utc_text(ms) + "Z"


def utc_datetimes(ms: Iterable[int]) -> Iterator[datetime]:
    """:func:`occurred_from_ms` of each, lazily, without a Python frame per value."""
    return map(EPOCH.__add__, map(_ONE_MS.__mul__, ms))


def ms_of(moment: datetime) -> int:
    """An aware datetime as integer milliseconds since the Unix epoch (what Descope sends)."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_iso(value: str) -> datetime | None:
    """An ISO-8601 timestamp as an aware UTC datetime (a naive one read as UTC); ``None`` if it is not one.

    Raises ``OverflowError`` for one whose UTC time is before year 1 or after 9999.
    """
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    # Python 3.10's fromisoformat takes only 3 or 6 fractional digits; Go writes up to 9
    # (RFC3339Nano) and trims zeros (".44"). Use exactly 6, as 3.11 does (it truncates).
    text = _FRACTION.sub(lambda m: "." + (m.group(1) + "00000")[:6], text, count=1)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        # Descope's timestamps are UTC; a naive one is read as UTC rather than local time.
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)
