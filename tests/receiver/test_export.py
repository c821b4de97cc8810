"""Export of the current filter as CSV and JSON Lines: streamed in chunks, formula-safe CSV."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Generator
from pathlib import Path

import psutil
import pytest

from descope_audit_hook import Verifier
from descope_audit_hook.receiver import AuditReceiver, make_app
from descope_audit_hook.receiver._export import csv_cell
from descope_audit_hook.testing import sample_event, sample_events
from tests.support.secrets import HMAC_SECRET
from tests.support.wsgi import call, post_delivery

HOSTILE = ['=HYPERLINK("http://evil.example")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


@pytest.fixture
def app(tmp_path: Path) -> AuditReceiver:
    app = make_app(Verifier(HMAC_SECRET), tmp_path / "events.db")
    hostile = sample_event("login_failed", loginIds=HOSTILE, geo="=1+1", data={"note": "-1"})
    assert post_delivery(app, [*sample_events(30, seed=5), hostile]).code == 200
    return app


def listing(app: AuditReceiver, query: str = "") -> list[dict[str, object]]:
    events: list[dict[str, object]] = call(app, path="/api/events", query=f"per_page=500&{query}").json()["events"]
    return events


@pytest.mark.parametrize("query", ["", "action=LoginFailed", "severity=info&from=2026-06-08T20:18:40", "user=nobody"])
def test_jsonl_is_the_filtered_listing_line_by_line(app: AuditReceiver, query: str) -> None:
    reply = call(app, path="/api/events.jsonl", query=query)
    assert reply.code == 200
    assert reply.headers["content-type"] == "application/jsonl; charset=utf-8"
    assert reply.headers["content-disposition"] == 'attachment; filename="descope-audit-events.jsonl"'
    assert "content-length" not in reply.headers  # streamed
    lines = reply.body.decode().splitlines()
    assert [json.loads(line) for line in lines] == listing(app, query)


def test_csv_has_the_filtered_events_and_defuses_formulas(app: AuditReceiver) -> None:
    reply = call(app, path="/api/events.csv", query="action=LoginFailed")
    assert reply.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(reply.body.decode())))
    expected = listing(app, "action=LoginFailed")
    assert [row["fingerprint"] for row in rows] == [e["fingerprint"] for e in expected]
    assert {row["action"] for row in rows} == {"LoginFailed"}
    hostile = next(row for row in rows if row["geo"].endswith("=1+1"))
    assert hostile["geo"] == "'=1+1"
    assert hostile["loginIds"] == "'" + " ".join(HOSTILE)
    assert hostile["data"] == '{"note":"-1"}'
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value


@pytest.mark.parametrize("value", [*HOSTILE, "-", "=", "@"])
def test_every_formula_start_is_prefixed(value: str) -> None:
    assert csv_cell(value) == "'" + value
    assert csv_cell([value, "x"]).startswith("'")


@pytest.mark.parametrize("value", ["LoginFailed", "", None, "a=b", "1-2", " =1"])
def test_plain_cells_are_left_alone(value: str | None) -> None:
    assert csv_cell(value) == ("" if value is None else value)


def test_head_of_an_export_opens_nothing(app: AuditReceiver) -> None:
    reply = call(app, "HEAD", "/api/events.csv")
    assert (reply.code, reply.body) == (200, b"")


def test_an_export_of_100k_events_streams_in_small_chunks(tmp_path: Path) -> None:
    app = make_app(Verifier(HMAC_SECRET), tmp_path / "events.db")
    assert post_delivery(app, sample_events(1000)).code == 200
    _copy_events(tmp_path / "events.db", times=100)  # 1000 real events, copied to 100 000 rows
    assert call(app, path="/api/events").json()["total"] == 100_000

    process = psutil.Process()
    before = process.memory_info().rss
    reply = call(app, path="/api/events.csv")
    assert isinstance(reply.chunks, Generator), "the export must be an iterator of chunks, not one body"
    rows = chunks = largest = grown = 0
    for chunk in reply.chunks:
        chunks += 1
        rows += chunk.count(b"\r\n")
        largest = max(largest, len(chunk))
        if chunks % 50 == 0:
            grown = max(grown, process.memory_info().rss - before)
    reply.chunks.close()

    assert rows == 100_001  # the heading and every event
    assert chunks > 100
    assert largest < 256 * 1024
    # The whole export is ~30 MB of CSV (and 100 000 dicts if it were loaded): memory stays flat.
    assert grown < 20 * 1_048_576, f"memory grew by {grown} bytes while streaming"


def test_closing_an_export_midway_closes_its_cursor(app: AuditReceiver) -> None:
    reply = call(app, path="/api/events.jsonl")
    assert isinstance(reply.chunks, Generator)
    next(reply.chunks)
    reply.chunks.close()
    # The read connection is gone: nothing keeps the database from a checkpoint that needs it.
    with sqlite3.connect(app.store.path) as db:
        assert db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0


def _copy_events(path: Path, times: int) -> None:
    columns = (
        "action, severity, actor_id, user_id, project_id, tenants, login_ids, device, method, geo, "
        "remote_address, data, raw, signed_form, received_at"
    )
    with sqlite3.connect(path) as db:
        db.execute(
            f"INSERT INTO events (fingerprint, occurred_ms, {columns}) "  # noqa: S608 - a fixed test statement
            f"WITH RECURSIVE copy(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM copy WHERE n < {times - 1}) "
            f"SELECT fingerprint || '-' || n, occurred_ms - n * 3600000, {columns} FROM events, copy"
        )
