"""The column check and builder of ``_fast`` against the checked path they short-cut.

``usual_columns`` accepts a batch only when every event has the common field types, and
``build_usual`` builds it; anything else goes to ``_event``. ``parse_events`` and
``parse_batch`` must give exactly what the checked path gives: equal events (every field,
``raw`` and the concrete type), or the same ``PayloadError`` (message, code and JSON path)
for the same first bad event.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from descope_audit_hook import AuditEvent, PayloadError
from descope_audit_hook._fast import all_usual, build_usual, usual_columns
from descope_audit_hook._payload import _event, parse_batch, parse_events
from descope_audit_hook.testing import SAMPLE_KINDS, sample_event, sample_events

_KEYS = (
    "action",
    "occurred",
    "type",
    "actorId",
    "userId",
    "projectId",
    "tenants",
    "loginIds",
    "externalIds",
    "device",
    "method",
    "geo",
    "remoteAddress",
    "data",
    "occurred_formatted",
)

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.just(""),
    st.text(max_size=8),
    st.sampled_from(["info", "INFO", "Warning", "warn", "error", "Error", "information", "loud"]),
    st.integers(),
    st.integers(min_value=-(2**62), max_value=2**62),
    st.sampled_from([0, -1, 1780949905843, 10**17, -(10**17), 2**53 + 1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["1780949905843", "2026-06-08T20:20:12.377Z", "2026-06-08T20:20:12", "not a date"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=6,
)


@st.composite
def events(draw: st.DrawFn) -> Any:
    """Mostly event-shaped objects with a few fields replaced, dropped or added; sometimes not an object."""
    if draw(st.integers(0, 19)) == 0:
        return draw(_values)
    event: dict[str, Any] = sample_event(draw(st.sampled_from(SAMPLE_KINDS)))
    for key in draw(st.lists(st.sampled_from(_KEYS), max_size=4)):
        if draw(st.booleans()):
            event.pop(key, None)
        else:
            event[key] = draw(st.one_of(_values, st.lists(st.text(max_size=5), max_size=3)))
    return event


def _checked(value: list[Any]) -> tuple[AuditEvent, ...]:
    return tuple(_event(item, f"$[{index}]") for index, item in enumerate(value))


def _same(left: AuditEvent, right: AuditEvent) -> None:
    assert type(left) is AuditEvent
    assert type(right) is AuditEvent
    for name in AuditEvent.__slots__:
        a, b = getattr(left, name), getattr(right, name)
        assert type(a) is type(b), name
        assert a == b, name
    assert left.raw is not None
    assert dict(left.raw) == dict(right.raw)
    assert left.fingerprint == right.fingerprint
    assert repr(left) == repr(right)
    assert hash(left) == hash(right)


def _outcome(fn: Any, value: Any) -> tuple[AuditEvent, ...] | tuple[str, str, str | None]:
    try:
        return tuple(fn(value))
    except PayloadError as exc:
        return (exc.message, exc.code, exc.path)


@settings(max_examples=600)
@given(events())
def test_one_usual_event_is_built_as_the_checked_path_builds_it(obj: Any) -> None:
    columns = usual_columns([obj])
    if columns is None:
        return  # the checked path decides: covered by the batch tests below
    (built,) = build_usual(columns)
    _same(built, _event(obj, "$[0]"))


@settings(max_examples=300)
@given(st.lists(events(), max_size=6))
def test_parse_events_is_the_checked_path(batch: list[Any]) -> None:
    got = _outcome(parse_events, batch)
    want = _outcome(_checked, batch)
    if want and isinstance(want[0], AuditEvent):
        assert len(got) == len(want)
        for left, right in zip(got, want, strict=True):
            assert isinstance(left, AuditEvent)
            assert isinstance(right, AuditEvent)
            _same(left, right)
    else:
        assert got == want


def test_a_realistic_batch_takes_the_fast_path_and_matches() -> None:
    batch = json.loads(json.dumps(sample_events(50)))
    columns = usual_columns(batch)
    assert columns is not None  # every sample event takes the fast path
    for left, right in zip(build_usual(columns), _checked(batch), strict=True):
        _same(left, right)


@pytest.mark.parametrize(
    ("event", "path"),
    [
        ({"action": "X", "occurred": 10**30}, "$[1].occurred"),
        ({"action": "X", "occurred": 1, "tenants": ["a", 1]}, "$[1].tenants[1]"),
        ({"action": "X", "occurred": 1, "externalIds": [2]}, "$[1].externalIds[0]"),
        ({"action": "X", "occurred": 1, "data": []}, "$[1].data"),
        ({"action": "", "occurred": 1}, "$[1].action"),
        ({"action": "X", "occurred": True}, "$[1].occurred"),
    ],
)
def test_the_first_bad_event_is_reported_with_its_path(event: dict[str, Any], path: str) -> None:
    good = sample_event()
    with pytest.raises(PayloadError) as info:
        parse_events([good, event, {"action": 1}])
    assert info.value.path == path


def test_external_ids_are_read_when_login_ids_are_absent() -> None:
    event = sample_event()
    del event["loginIds"]
    event["externalIds"] = ["bob@example.com"]
    (parsed,) = parse_events([event])
    assert parsed.login_ids == ("bob@example.com",)


# --- all_usual: the batch check that lets verify() defer building the events ---------------


_MIN_MS = (datetime.min.replace(tzinfo=timezone.utc) - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(
    milliseconds=1
)
_MAX_MS = (datetime.max.replace(tzinfo=timezone.utc) - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(
    milliseconds=1
)


def _usual(item: Any) -> bool:
    """The common shape, written out plainly, one event at a time: the oracle for all_usual."""
    if type(item) is not dict or "externalIds" in item:
        return False
    action, occurred = item.get("action"), item.get("occurred")
    strings = ("type", "actorId", "userId", "projectId", "device", "method", "geo", "remoteAddress")
    lists = [item.get(key) for key in ("tenants", "loginIds")]
    return (
        type(action) is str
        and action != ""
        and type(occurred) is int
        and _MIN_MS <= occurred <= _MAX_MS
        and all(item.get(key) is None or type(item.get(key)) is str for key in strings)
        and all(value is None or (type(value) is list and all(type(x) is str for x in value)) for value in lists)
        and (item.get("data") is None or type(item.get("data")) is dict)
    )


@settings(max_examples=600)
@given(st.lists(events(), max_size=6))
def test_all_usual_is_the_common_shape_of_every_event(batch: list[Any]) -> None:
    # Soundness is what matters: a batch all_usual() lets through is built later, inside
    # the handler, where an error would be a 500; parse_batch_gives_the_checked_outcome
    # below checks that. Here: it takes exactly the batches of the common shape.
    assert all_usual(batch) == all(map(_usual, batch))


@settings(max_examples=300)
@given(st.lists(events(), max_size=6))
def test_parse_batch_gives_the_checked_outcome(batch: list[Any]) -> None:
    want = _outcome(_checked, batch)
    try:
        got: Any = parse_batch(batch, "raw", b"").events
    except PayloadError as exc:
        got = (exc.message, exc.code, exc.path)
    if want and isinstance(want[0], AuditEvent):
        assert len(got) == len(want)
        for left, right in zip(got, want, strict=True):
            _same(left, right)
    else:
        assert got == want


def test_a_realistic_batch_is_built_by_the_columns_as_the_checked_path_builds_it() -> None:
    items = json.loads(json.dumps(sample_events(50)))
    assert all_usual(items)
    batch = parse_batch(items, "raw", b"[]")
    assert len(batch) == 50
    assert list(batch) == list(batch.events)
    for left, right in zip(batch, _checked(items), strict=True):
        _same(left, right)


_DEFECTS: list[tuple[str, Any]] = [
    ("action", ""),
    ("action", 1),
    ("action", None),
    ("action", ["A"]),
    ("occurred", True),
    ("occurred", 1.5),
    ("occurred", "1780949905843"),
    ("occurred", None),
    ("occurred", 10**17),
    ("occurred", -(10**17)),
    ("occurred", 253402300800000),  # 10000-01-01: one millisecond past datetime.max
    ("type", 1),
    ("actorId", []),
    ("userId", {}),
    ("projectId", False),
    ("device", 0),
    ("method", 1.0),
    ("geo", ["US"]),
    ("remoteAddress", 127001),
    ("tenants", "acme"),
    ("tenants", [1]),
    ("tenants", ["a", None]),
    ("tenants", {}),
    ("loginIds", "a@b.c"),
    ("loginIds", [["a"]]),
    ("data", []),
    ("data", "x"),
    ("data", 0),
]


@pytest.mark.parametrize(("key", "value"), _DEFECTS, ids=[f"{k}={v!r}"[:40] for k, v in _DEFECTS])
def test_all_usual_refuses_each_defect_among_good_events(key: str, value: Any) -> None:
    batch = json.loads(json.dumps(sample_events(5)))
    assert all_usual(batch)
    if value is None and key in ("action", "occurred"):
        del batch[2][key]
    else:
        batch[2][key] = value
    assert not all_usual(batch)
    assert not all(map(_usual, batch))


@pytest.mark.parametrize(
    "change",
    [
        lambda batch: batch.__setitem__(2, "not an event"),
        lambda batch: batch.__setitem__(2, None),
        lambda batch: (batch[2].pop("loginIds", None), batch[2].__setitem__("externalIds", ["x"])),
    ],
)
def test_all_usual_refuses_non_objects_and_external_ids(change: Any) -> None:
    batch = json.loads(json.dumps(sample_events(5)))
    change(batch)
    assert not all_usual(batch)


def test_all_usual_takes_nulls_missing_fields_and_the_range_ends() -> None:
    batch = json.loads(json.dumps(sample_events(5)))
    batch[0].update(type=None, actorId=None, tenants=None, loginIds=None, data=None, device="", geo=None)
    for key in ("userId", "projectId", "method", "remoteAddress", "tenants", "loginIds", "data", "type"):
        batch[1].pop(key, None)
    batch[2]["occurred"] = 253402300799999  # 9999-12-31T23:59:59.999Z
    batch[3]["occurred"] = -62135596800000  # 0001-01-01T00:00:00Z
    batch += [dict(batch[4], type=kind, tenants=[], loginIds=[]) for kind in ("INFO", "Warning", "loud", "", "error")]
    assert all_usual(batch)
    assert all(map(_usual, batch))
    for left, right in zip(parse_batch(batch, "raw", b"").events, _checked(batch), strict=True):
        _same(left, right)


def test_a_single_event_object_is_a_batch_of_one() -> None:
    event = sample_event()
    (parsed,) = parse_events(event)
    (deferred,) = parse_batch(event, None, b"")
    _same(parsed, deferred)
