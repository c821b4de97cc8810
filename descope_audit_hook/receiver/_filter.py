"""What the audit page, the listing, the chart and the exports select: :class:`EventFilter`.

Every value comes from a query string a stranger may write, so parsing is strict and a
bad value is a :class:`PayloadError` (400 ``invalid_query``), never an exception of ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlencode

from descope_audit_hook._errors import PayloadError
from descope_audit_hook._setting_kinds import parse_int
from descope_audit_hook._time import MAX_MS, MIN_MS, ms_of, utc_text

__all__ = ["FIRST_MS", "LAST_MS", "MAX_PER_PAGE", "PER_PAGE", "SEVERITIES", "EventFilter", "time_text"]

PER_PAGE = 50
MAX_PER_PAGE = 500
SEVERITIES = ("info", "warn", "error")

# What an <input type="datetime-local"> sends (taken as UTC, the page's time zone), an ISO
# 8601 date, or a date-time with Z or an offset. Checked before fromisoformat, which takes more.
# A "+" typed in a URL arrives as a space (form encoding): " 02:00" is the offset "+02:00".
_TIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)(?P<zone>Z|[+ -]\d{2}:\d{2})?)?"
)
_TEXT_LIMIT = 200
#: The range of ``occurred`` the core accepts, in epoch milliseconds: 0001-01-01 to 9999-12-31 (UTC).
FIRST_MS = MIN_MS
LAST_MS = MAX_MS


def _invalid(message: str) -> PayloadError:
    return PayloadError(message, path="query", code="invalid_query")


def _time_ms(name: str, text: str) -> int | None:
    if not text:
        return None
    parts = _TIME.fullmatch(text)
    if parts is None:
        raise _invalid(f"{name} must be a date or date-time such as 2026-06-08T20:15 (UTC unless an offset is given)")
    date, time, zone = parts.group("date", "time", "zone")
    iso = date if time is None else f"{date}T{time}{(zone or '').replace(' ', '+')}"
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        raise _invalid(f"{name} is not a valid date or date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    ms = ms_of(moment)
    if not FIRST_MS <= ms <= LAST_MS:
        raise _invalid(f"{name} must be within the years 1 to 9999 (UTC)")
    return ms


def time_text(ms: int | None) -> str:
    """A bound as an ``<input type="datetime-local">`` value (UTC); ``""`` for none."""
    if ms is None:
        return ""
    if ms % 60_000 == 0:
        return utc_text(ms, "minutes")
    return utc_text(ms, "milliseconds" if ms % 1000 else "seconds")


@dataclass(frozen=True)
class EventFilter:
    """Exact matches on action, tenant, user (user ID or login ID) and severity; a time range
    ``since <= occurred < until`` in epoch milliseconds; the page of the listing."""

    action: str = ""
    tenant: str = ""
    user: str = ""
    severity: str = ""
    since: int | None = None
    until: int | None = None
    page: int = 1
    per_page: int = PER_PAGE

    @classmethod
    def from_query(cls, query: str) -> EventFilter:
        """Parse a query string (``from`` and ``to`` are the time range); a bad value is a 400."""
        try:
            values = parse_qs(query, keep_blank_values=True, max_num_fields=20)
        except ValueError:
            raise _invalid("too many query parameters") from None

        def text(name: str) -> str:
            return values.get(name, [""])[-1].strip()[:_TEXT_LIMIT]

        def number(name: str, default: int, upper: int) -> int:
            raw = text(name)
            if not raw:
                return default
            parsed = parse_int(raw, 1, upper)
            if parsed is None:
                raise _invalid(f"{name} must be an integer from 1 to {upper}")
            return parsed

        severity = text("severity").lower()
        if severity and severity not in SEVERITIES:
            raise _invalid("severity must be info, warn or error")
        since, until = _time_ms("from", text("from")), _time_ms("to", text("to"))
        if since is not None and until is not None and since >= until:
            raise _invalid("from must be earlier than to")
        return cls(
            action=text("action"),
            tenant=text("tenant"),
            user=text("user"),
            severity=severity,
            since=since,
            until=until,
            page=number("page", 1, 1_000_000),
            per_page=number("per_page", PER_PAGE, MAX_PER_PAGE),
        )

    def query(self, **changes: Any) -> str:
        """This filter as a query string, with ``changes`` applied; defaults and blanks left out."""
        chosen = replace(self, **changes)
        defaults = EventFilter()
        pairs: list[tuple[str, Any]] = []
        for field in fields(self):
            value = getattr(chosen, field.name)
            if value == getattr(defaults, field.name):
                continue
            if field.name in ("since", "until"):
                pairs.append(("from" if field.name == "since" else "to", time_text(value)))
            else:
                pairs.append((field.name, value))
        return urlencode(pairs)

    def export_query(self) -> str:
        """The whole selection, without the page: what an export of "the current filter" takes."""
        return self.query(page=1, per_page=PER_PAGE)
