"""AuditEvent, the table of its fields, Severity, Action."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import pickle
import re
import shutil
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from descope_audit_hook import Action, AuditEvent, PayloadError, Severity, Verifier
from descope_audit_hook._events import FIELDS, KEYED, LISTED
from descope_audit_hook.cli._verify import _event_line
from descope_audit_hook.receiver._export import _CSV_COLUMNS
from descope_audit_hook.receiver._filter import EventFilter
from descope_audit_hook.receiver._page import HEADINGS
from descope_audit_hook.receiver._store import EventStore
from descope_audit_hook.testing import make_delivery, sample_event, sample_events
from tests.support.paths import DOCS, PACKAGE

OPEN = Verifier(allow_unauthenticated=True)


def one(payload: Any, **dumps: Any) -> AuditEvent:
    (event,) = OPEN.verify(json.dumps(payload, **dumps).encode(), {})
    return event


def test_fingerprint_equal_for_a_redelivery() -> None:
    original = sample_event("user_modified")
    first = one([original])
    # The same event re-serialized: pretty, keys reordered, occurred as the search API's string,
    # loginIds spelled externalIds, empty strings dropped, non-ASCII escaped.
    again = {k: original[k] for k in reversed(list(original)) if original[k] != ""}
    again["occurred"] = str(original["occurred"])
    again["externalIds"] = again.pop("loginIds")
    again["data"] = {"Change": dict(reversed(list(original["data"]["Change"].items())))}
    second = one(again, indent=3, ensure_ascii=True)
    assert first.fingerprint == second.fingerprint
    assert len(first.fingerprint) == 64
    int(first.fingerprint, 16)
    # and across batches and calls
    assert one([original], separators=(",", ":")).fingerprint == first.fingerprint


def test_fingerprint_ignores_unknown_and_derived_fields() -> None:
    base = sample_event("login_failed")
    assert one([base]).fingerprint == one([{**base, "occurred_formatted": "x", "newField": 1}]).fingerprint


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("action", "LoginSucceed"),
        ("occurred", 1780949905843 + 106_534 + 1),
        ("type", "error"),
        ("actorId", "someone-else"),
        ("userId", "someone-else"),
        ("projectId", "P-other"),
        ("tenants", ["acme-corp", "x"]),
        ("loginIds", ["bob@example.com"]),
        ("device", "Desktop"),
        ("method", "otp"),
        ("geo", "FR"),
        ("remoteAddress", "198.51.100.8"),
        ("data", {"error_message": "Other"}),
    ],
)
def test_fingerprint_differs_when_a_field_differs(field: str, value: Any) -> None:
    base = sample_event("login_failed")
    assert one([base]).fingerprint != one([{**base, field: value}]).fingerprint


def test_tenant_order_matters_for_the_fingerprint() -> None:
    base = sample_event("user_modified")
    assert one([base]).fingerprint != one([{**base, "tenants": list(reversed(base["tenants"]))}]).fingerprint


def test_hand_built_event() -> None:
    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    event = AuditEvent("LoginSucceed", when, Severity.INFO, tenants=("t",))
    assert event.occurred_ms == 1767225600000
    assert event.data == {}
    assert event.to_dict()["tenants"] == ["t"]
    assert event == AuditEvent("LoginSucceed", when, Severity.INFO, tenants=("t",))
    assert hash(event) == hash(AuditEvent("LoginSucceed", when, Severity.INFO, tenants=("t",)))
    with pytest.raises(TypeError):
        AuditEvent("", when)
    with pytest.raises(TypeError):
        AuditEvent("A", datetime(2026, 1, 1))  # naive
    with pytest.raises(TypeError):
        AuditEvent("A", when, tenants=["t"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("severity", "warn"),
        ("actor_id", 5),
        ("geo", b"FR"),
        ("tenants", ("acme", 1)),
        ("login_ids", ("a", None)),
        ("data", ["x"]),
        ("raw", None),
    ],
)
def test_a_hand_made_event_is_checked_like_a_parsed_one(field: str, value: Any) -> None:
    # Each of these was accepted by hand before (severity and data then failed in fingerprint).
    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with pytest.raises(TypeError, match=f"AuditEvent.{field} must be"):
        AuditEvent("A", when, **{field: value})


def test_occurred_ms_is_exact_for_millisecond_values() -> None:
    for ms in (0, 1, 999, 1780949905843, -1, -1001, 253402300799999):
        assert one([{"action": "A", "occurred": ms}]).occurred_ms == ms


def test_to_dict_round_trips() -> None:
    event = one([sample_event("login_failed")])
    as_dict = event.to_dict()
    assert as_dict["occurred"] == sample_event("login_failed")["occurred"]
    assert as_dict["type"] == "warn"
    again = one([as_dict])
    assert again == event
    assert again.fingerprint == event.fingerprint


def test_repr_keeps_personal_data_out() -> None:
    event = one([sample_event("login_failed")])
    text = repr(event)
    assert "alice@example.com" not in text
    assert "198.51.100.7" not in text
    assert "Invalid login credentials" not in text
    assert "LoginFailed" in text


def test_action_enum() -> None:
    assert Action.LOGIN_FAILED.value == "LoginFailed"
    assert isinstance(Action.LOGIN_FAILED, str)
    assert str(Action.USER_MODIFIED) == "UserModified"
    assert one([sample_event("login_failed")]).action == Action.LOGIN_FAILED
    documented = {
        "UserCreated", "UsersCreated", "UserDeleted", "UserModified", "UsersModified", "UsersDeleted",
        "AccessKeyCreated", "AccessKeyDeleted", "AccessKeyModified", "AccessKeysDeleted", "LoginSucceed",
        "LoginStarted", "UserRefresh", "PermissionCreated", "PermissionModified", "LoginFailed",
        "LoginExceedMaxAttempts", "LoginStartedFailed", "ProjectDeleted", "PermissionDeleted",
    }  # fmt: skip
    assert documented <= {a.value for a in Action}


def test_occurred_is_utc_even_from_offsets() -> None:
    event = one([{"action": "A", "occurred": "2026-06-08T23:59:59.500+05:30"}])
    assert event.occurred.utcoffset() == timedelta(0)
    assert event.occurred.isoformat() == "2026-06-08T18:29:59.500000+00:00"


def _deepest_data_depth() -> int:
    low, high = 10, 5000
    while high - low > 1:
        mid = (low + high) // 2
        body = b'[{"action":"A","occurred":1,"data":{"x":' + b"[" * mid + b"]" * mid + b"}}]"
        try:
            OPEN.verify(body, {})
            low = mid
        except PayloadError:
            high = mid
    return low


def test_fingerprint_of_deeply_nested_data_from_a_deeper_stack() -> None:
    # verify() accepts data nested as deep as the parser allows; an adapter or exactly_once
    # then reads the fingerprint a few frames deeper. That must not become a RecursionError.
    depth = _deepest_data_depth()
    body = b'[{"action":"A","occurred":1,"data":{"x":' + b"[" * depth + b"]" * depth + b"}}]"
    (event,) = OPEN.verify(body, {})
    shallow = event.fingerprint

    def nested(levels: int) -> str:
        return event.fingerprint if levels == 0 else nested(levels - 1)

    for levels in (1, 10, 50):
        assert nested(levels) == shallow


def test_events_and_batches_pickle() -> None:
    # For multiprocessing and task queues: the read-only views must not block pickling.
    body, headers = make_delivery([sample_event("login_failed"), sample_event("user_modified")], hmac_secret="k")
    batch = Verifier("k").verify(body, headers)
    copy = pickle.loads(pickle.dumps(batch))  # noqa: S301 - our own bytes
    assert copy == batch
    assert copy.signed_form == "raw"
    assert [e.fingerprint for e in copy] == [e.fingerprint for e in batch]
    assert dict(copy[0].raw) == dict(batch[0].raw)
    with pytest.raises(TypeError):
        copy[1].data["Change"] = {}


def test_deepcopy_works_and_asdict_is_documented_not_to() -> None:
    batch = OPEN.verify(json.dumps([sample_event("user_modified")]).encode(), {})
    copied = copy.deepcopy(batch)
    assert copied == batch
    assert dict(copied[0].data) == dict(batch[0].data)
    with pytest.raises(TypeError):  # docs/api.md: use to_dict() or dict(event.raw)
        dataclasses.asdict(batch[0])


# --- the table of fields, and every place derived from it ----------------------------------


def test_the_table_is_the_dataclass() -> None:
    assert [row.name for row in FIELDS] == [item.name for item in dataclasses.fields(AuditEvent)]
    keys = [key for row in FIELDS for key in (row.key, *row.aliases) if key]
    assert len(keys) == len(set(keys))
    columns = [row.column for row in FIELDS if row.column]
    assert len(columns) == len(set(columns))
    places = sorted(row.fingerprint for row in FIELDS if row.fingerprint is not None)
    assert places == list(range(len(places)))
    assert [row.name for row in FIELDS if row.fingerprint is None] == ["raw"]
    assert [row.key for row in KEYED] == list(one([sample_event("login_failed")]).to_dict())


def test_the_api_page_lists_the_fields_of_the_table() -> None:
    api = (DOCS / "api.md").read_text("utf-8")
    section = api.split("### `AuditEvent`", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| .+ \| (.+) \|$", section, flags=re.MULTILINE)
    assert [name for name, _ in rows] == [row.name for row in FIELDS]
    for (_, source), row in zip(rows, FIELDS, strict=True):
        for key in filter(None, (row.key, *row.aliases)):
            assert f"`{key}`" in source, row.name


def test_fingerprints_are_those_of_earlier_versions() -> None:
    # The dedupe stores keep fingerprints across upgrades: the same event, the same hex id.
    first, second = OPEN.verify(json.dumps([sample_event("login_failed"), sample_event("user_modified")]).encode(), {})
    assert first.fingerprint == "b4b47e8a7934527bd8fce6b5f9e974e71e159cea39a850abe591dd839c52d69e"
    assert second.fingerprint == "97bd4fff457d81a01a7d1f9acfc718f045128b3bbbc518919072402b6be6b1d8"
    batch = OPEN.verify(json.dumps(sample_events(20, seed=3)).encode(), {})
    digest = hashlib.sha256("".join(event.fingerprint for event in batch).encode()).hexdigest()
    assert digest == "abafd613e79daf9d853c7c01e3ff0633d1c2c127970c90635263ddeb8b1c777f"


def test_the_receiver_and_the_command_line_follow_the_table(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events.db")
    with sqlite3.connect(store.path) as db:
        stored = [row[1] for row in db.execute("PRAGMA table_info(events)")]
    assert stored == ["id", "fingerprint", *(row.column for row in FIELDS if row.column), "signed_form", "received_at"]
    batch = OPEN.verify(json.dumps([sample_event("login_failed")]).encode(), {})
    assert store.add(batch) == (1, 0)
    (listed,) = store.query(EventFilter())[1]
    time_key = next(row.key for row in LISTED if row.key == "occurred")
    assert list(listed) == [
        "fingerprint",
        time_key,
        f"{time_key}At",
        *(row.key or row.name for row in LISTED if row.column and row.key != time_key),
        "signedForm",
        "receivedAt",
    ]
    event = batch[0]
    for key, value in event.to_dict().items():
        assert listed[key] == value, key
    assert listed["raw"] == dict(event.raw)
    assert set(_CSV_COLUMNS) >= {row.key for row in KEYED if row.key != time_key}
    assert tuple(row.heading for row in LISTED if row.heading) == HEADINGS
    line = _event_line(event)
    for row in LISTED:
        if row.label:
            value = getattr(event, row.name)
            assert (f"{row.label}=" in line) == bool(value), row.name


NEW_FIELD = """    app_name: str | None = field(default=None, metadata=_row(
        "appName", OPTIONAL_TEXT, column="app_name", heading="App", label="app"))
"""

ADDED_FIELD_CHECKS = """
import json, sys
from datetime import datetime, timezone
import descope_audit_hook as package
from descope_audit_hook import AuditEvent, PayloadError, Verifier
from descope_audit_hook.cli._verify import _event_line
from descope_audit_hook.receiver._export import _CSV_COLUMNS
from descope_audit_hook.receiver._filter import EventFilter
from descope_audit_hook.receiver._page import HEADINGS
from descope_audit_hook.receiver._store import EventStore
from descope_audit_hook.testing import sample_events

assert package.__file__.startswith(sys.argv[1]), package.__file__
verify = Verifier(allow_unauthenticated=True).verify
events = sample_events(12)
plain = verify(json.dumps(events).encode(), {})
for event in events:
    event["appName"] = "portal"
# Both parse paths: the column check (12 events) and one event at a time (1).
for payload in (events, events[:1]):
    batch = verify(json.dumps(payload).encode(), {})
    assert [event.app_name for event in batch] == ["portal"] * len(payload)
    assert batch[0].to_dict()["appName"] == "portal"
wrong = {**events[9], "appName": []}
for payload, path in (([wrong], "$[0].appName"), ([*events[:9], wrong], "$[9].appName")):
    try:
        verify(json.dumps(payload).encode(), {})
    except PayloadError as exc:
        assert exc.path == path, exc.path
    else:
        raise AssertionError("a wrong type was accepted")
try:
    AuditEvent("A", datetime(2026, 1, 1, tzinfo=timezone.utc), app_name=5)
except TypeError as exc:
    assert "app_name" in str(exc)
else:
    raise AssertionError("a hand-made event skipped the check")
# Not in the fingerprint (its row says so): an event's fingerprint is what it was.
assert [event.fingerprint for event in batch] == [event.fingerprint for event in plain[:1]]
store = EventStore(sys.argv[2])
store.add(batch)
(listed,) = store.query(EventFilter())[1]
assert listed["appName"] == "portal"
assert "appName" in _CSV_COLUMNS and "App" in HEADINGS
assert "app=portal" in _event_line(batch[0])
print("ok")
"""


def test_adding_a_field_is_one_declaration(tmp_path: Path) -> None:
    # A copy of the package with one more field declared in AuditEvent's table, nothing
    # else changed: both parse paths read and check it, a hand-made event is checked,
    # to_dict, the receiver's table, listing, CSV and page and the command line show it.
    copy = tmp_path / "descope_audit_hook"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    events = copy / "_events.py"
    anchor = "    data: Mapping[str, Any] = field("
    text = events.read_text("utf-8")
    assert text.count(anchor) == 1
    events.write_text(text.replace(anchor, NEW_FIELD + anchor), "utf-8")
    result = subprocess.run(
        [sys.executable, "-c", ADDED_FIELD_CHECKS, str(tmp_path), str(tmp_path / "events.db")],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok"
