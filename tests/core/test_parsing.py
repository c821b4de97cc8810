"""Parsing: payload shapes, each field's rules, and the JSON path of a PayloadError."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from descope_audit_hook import Severity, Verifier
from descope_audit_hook._parsing import parse_events
from tests.support.deliveries import event, refused, verify_open

OPEN = Verifier(allow_unauthenticated=True)
MS = 1780949905843
WHEN = datetime(2026, 6, 8, 20, 18, 25, 843000, tzinfo=timezone.utc)


parse = verify_open
bad = refused


# --- shapes -------------------------------------------------------------------------------


def test_array() -> None:
    batch = parse([event(), event(action="LoginFailed")])
    assert [e.action for e in batch] == ["LoginSucceed", "LoginFailed"]


def test_single_object() -> None:
    assert [e.action for e in parse(event())] == ["LoginSucceed"]


@pytest.mark.parametrize("key", ["audits", "events"])
def test_wrapped_list(key: str) -> None:
    assert len(parse({key: [event(), event()]})) == 2
    assert len(parse({key: []})) == 0
    error = bad({key: [event(), {"occurred": MS}]})
    assert error.path == f"$.{key}[1].action"
    assert bad({key: {"action": "x"}}).path == f"$.{key}"


def test_both_wrappers_is_an_error() -> None:
    assert bad({"audits": [], "events": []}).path == "$"


def test_empty_list_is_an_empty_batch() -> None:
    batch = parse(b"[]")
    assert len(batch) == 0
    assert list(batch) == []
    assert batch.events == ()


@pytest.mark.parametrize("payload", [b"1", b'"x"', b"null", b"true", b"1.5"])
def test_top_level_scalar(payload: bytes) -> None:
    error = bad(payload)
    assert error.path == "$"
    assert error.code == "invalid_payload"


def test_non_object_item() -> None:
    assert bad([event(), 5]).path == "$[1]"
    assert bad([[event()]]).path == "$[0]"


# --- action and occurred ---------------------------------------------------------------


@pytest.mark.parametrize("action", [None, 5, "", ["LoginSucceed"], {"a": 1}, True])
def test_bad_action(action: Any) -> None:
    payload = [event(action=action)] if action is not None else [{"occurred": MS}]
    assert bad(payload).path == "$[0].action"


def test_unknown_action_is_ordinary_input() -> None:
    (e,) = parse([event(action="MyCustomFlowAction")])
    assert e.action == "MyCustomFlowAction"


@pytest.mark.parametrize(
    ("occurred", "expected"),
    [
        (MS, WHEN),
        (str(MS), WHEN),
        (float(MS), WHEN),
        (0, datetime(1970, 1, 1, tzinfo=timezone.utc)),
        (-1000, datetime(1969, 12, 31, 23, 59, 59, tzinfo=timezone.utc)),
        ("2026-06-08T20:18:25.843Z", WHEN),
        ("2026-06-08T20:18:25.843z", WHEN),
        ("2026-06-08T20:18:25.843000+00:00", WHEN),
        ("2026-06-08T22:18:25.843+02:00", WHEN),
        ("2026-06-08T15:18:25.843-05:00", WHEN),
        ("2026-06-08T20:18:25.843", WHEN),  # naive: read as UTC
        ("2026-06-08 20:18:25.843", WHEN),
        (" 2026-06-08T20:18:25.843Z ", WHEN),
        # Go's RFC3339Nano: zeros trimmed, or nanoseconds (truncated to microseconds).
        ("2026-06-08T20:18:25.8430Z", WHEN),
        ("2026-06-08T20:18:25.843000999Z", WHEN),
        ("2026-06-08T20:18:25,843Z", WHEN),
        ("2026-06-08T20:18:25.84Z", WHEN.replace(microsecond=840000)),
        ("2026-06-08T20:18:25Z", WHEN.replace(microsecond=0)),
    ],
)
def test_occurred_spellings(occurred: Any, expected: datetime) -> None:
    (e,) = parse([event(occurred=occurred)])
    assert e.occurred == expected
    assert e.occurred.tzinfo is timezone.utc
    assert e.occurred_ms == (expected - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(milliseconds=1)


@pytest.mark.parametrize(
    "occurred",
    [
        None,
        "",
        "yesterday",
        "2026-13-01T00:00:00Z",
        "1780949905843.5",
        "+1780949905843",
        "١٢٣",  # non-ASCII digits
        1.5,
        True,
        [MS],
        {"ms": MS},
        10**30,
        "9" * 40,
        "9" * 5000,
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
    ],
)
def test_bad_occurred(occurred: Any) -> None:
    payload = [event(occurred=occurred)] if occurred is not None else [{"action": "A"}]
    error = bad(payload)
    assert error.path == "$[0].occurred"
    assert error.code == "invalid_payload"


# --- the other fields -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "severity"),
    [
        ("info", Severity.INFO),
        ("Information", Severity.INFO),
        ("INFO", Severity.INFO),
        ("warn", Severity.WARNING),
        ("Warning", Severity.WARNING),
        ("WARNING", Severity.WARNING),
        ("error", Severity.ERROR),
        ("Error", Severity.ERROR),
        ("", None),
        (None, None),
        ("debug", None),  # unknown: kept in raw, not an error
    ],
)
def test_severity_spellings(spelling: Any, severity: Severity | None) -> None:
    (e,) = parse([event(type=spelling)])
    assert e.severity is severity
    assert e.raw["type"] == spelling


def test_severity_is_a_str_enum() -> None:
    assert Severity("warn") is Severity.WARNING
    assert Severity.WARNING.value == "warn"
    assert str(Severity.ERROR) == "error"
    assert isinstance(Severity.INFO, str)


def test_string_fields_and_empty_strings() -> None:
    full = event(actorId="A", userId="U", projectId="P", device="Bot", method="otp", geo="FR", remoteAddress="::1")
    (e,) = parse([full])
    assert (e.actor_id, e.user_id, e.project_id, e.device, e.method, e.geo, e.remote_address) == (
        "A",
        "U",
        "P",
        "Bot",
        "otp",
        "FR",
        "::1",
    )
    empty = event(actorId="", userId="", projectId="", device="", method="", geo="", remoteAddress="")
    (e,) = parse([empty])
    assert (e.actor_id, e.user_id, e.project_id, e.device, e.method, e.geo, e.remote_address) == (None,) * 7
    (e,) = parse([event()])
    assert e.actor_id is None
    assert e.tenants == ()
    assert e.login_ids == ()
    assert dict(e.data) == {}


@pytest.mark.parametrize("key", ["actorId", "userId", "projectId", "device", "method", "geo", "remoteAddress", "type"])
@pytest.mark.parametrize("value", [5, 1.5, True, [], {}, ["x"]])
def test_wrong_type_in_string_fields(key: str, value: Any) -> None:
    assert bad([event(**{key: value})]).path == f"$[0].{key}"


@pytest.mark.parametrize("key", ["tenants", "loginIds", "externalIds"])
def test_string_lists(key: str) -> None:
    attr = "tenants" if key == "tenants" else "login_ids"
    (e,) = parse([event(**{key: ["a", "b"]})])
    assert getattr(e, attr) == ("a", "b")
    (e,) = parse([event(**{key: None})])
    assert getattr(e, attr) == ()
    (e,) = parse([event(**{key: []})])
    assert getattr(e, attr) == ()
    assert bad([event(**{key: "a"})]).path == f"$[0].{key}"
    assert bad([event(**{key: {"a": 1}})]).path == f"$[0].{key}"
    assert bad([event(**{key: ["a", 5]})]).path == f"$[0].{key}[1]"
    assert bad([event(**{key: ["a", None]})]).path == f"$[0].{key}[1]"


def test_login_ids_wins_over_external_ids() -> None:
    (e,) = parse([event(loginIds=["a"], externalIds=["b"])])
    assert e.login_ids == ("a",)


@pytest.mark.parametrize("value", [5, "x", ["a"], True])
def test_wrong_type_in_data(value: Any) -> None:
    assert bad([event(data=value)]).path == "$[0].data"


def test_data_null_is_empty() -> None:
    (e,) = parse([event(data=None)])
    assert dict(e.data) == {}


def test_unknown_fields_are_kept_in_raw() -> None:
    payload = [event(occurred_formatted="2026-06-08T20:18:25.843Z", newField={"nested": [1, 2]}, data={"k": "v"})]
    (e,) = parse(payload)
    assert e.raw["newField"] == {"nested": [1, 2]}
    assert e.raw["occurred_formatted"] == "2026-06-08T20:18:25.843Z"
    assert dict(e.raw) == payload[0]
    assert e.data["k"] == "v"


def test_data_and_raw_are_read_only() -> None:
    (e,) = parse([event(data={"k": "v"})])
    with pytest.raises(TypeError):
        e.data["k"] = "changed"  # type: ignore[index]
    with pytest.raises(TypeError):
        e.raw["action"] = "changed"  # type: ignore[index]
    with pytest.raises(AttributeError):
        e.action = "changed"  # type: ignore[misc]


def test_parse_events_directly() -> None:
    events = parse_events([event(), event()])
    assert len(events) == 2
    assert isinstance(events, tuple)
