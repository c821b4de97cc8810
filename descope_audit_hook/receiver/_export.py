"""Export of the current filter as CSV or JSON Lines, streamed in chunks.

The events come from :meth:`EventStore.iterate` (a cursor read in small batches) and leave
as chunks of about 64 KiB, so an export of 100 000 events never holds them all in memory.

Audit data is attacker-influenced (login IDs, user agents, ``data`` fields), and a CSV
opens in a spreadsheet: a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return would be taken as a formula there. Such a cell gets a leading ``'``, the
OWASP recommendation, so it is shown as text.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Generator, Iterator
from typing import Any

from descope_audit_hook._events import LISTED
from descope_audit_hook._field_kinds import Time

__all__ = ["EXPORTS", "csv_cell", "export_chunks"]

#: Route suffix -> (media type, file name).
EXPORTS = {
    "csv": ("text/csv; charset=utf-8", "descope-audit-events.csv"),
    "jsonl": ("application/jsonl; charset=utf-8", "descope-audit-events.jsonl"),
}

_CHUNK = 65_536
_FORMULA_STARTS = frozenset("=+-@\t\r")
#: Every field but ``raw`` (its time as ISO-8601 text), then what the receiver adds.
_CSV_COLUMNS = (
    *(f"{row.key}At" if isinstance(row.kind, Time) else row.key for row in LISTED if row.key),
    "fingerprint",
    "signedForm",
    "receivedAt",
)


def csv_cell(value: Any) -> str:
    """One CSV cell: lists joined by spaces, objects as JSON, formula-like text defused."""
    if type(value) is str:  # the common case, first
        return "'" + value if value[:1] in _FORMULA_STARTS else value
    if value is None:
        return ""
    if isinstance(value, list):
        text = " ".join(map(str, value))
    elif isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = str(value)
    return "'" + text if text[:1] in _FORMULA_STARTS else text


def _csv_lines(events: Iterator[dict[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(_CSV_COLUMNS)
    for event in events:
        writer.writerow([csv_cell(event.get(column)) for column in _CSV_COLUMNS])
        if buffer.tell() >= _CHUNK:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _jsonl_lines(events: Iterator[dict[str, Any]]) -> Iterator[str]:
    parts: list[str] = []
    size = 0
    for event in events:
        line = json.dumps(event, ensure_ascii=True, separators=(",", ":")) + "\n"
        parts.append(line)
        size += len(line)
        if size >= _CHUNK:
            yield "".join(parts)
            parts, size = [], 0
    yield "".join(parts)


def export_chunks(kind: str, events: Generator[dict[str, Any], None, None]) -> Generator[bytes, None, None]:
    """The export ``kind`` (``csv`` or ``jsonl``) of ``events`` as byte chunks; closing it closes ``events``."""
    lines = _csv_lines(events) if kind == "csv" else _jsonl_lines(events)
    try:
        for text in lines:
            if text:
                # Stored data holds no unpaired surrogate (the core refuses them, a 400); should
                # one appear anyway, it cannot stop the export midway.
                yield text.encode("utf-8", "backslashreplace")
    finally:
        events.close()
