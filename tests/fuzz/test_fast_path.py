"""The fast path of ``parse_events`` against the checked path it short-cuts.

``_fast_event`` builds an event only for the common field types and hands anything else
to ``_event``; ``parse_events`` must give exactly what the checked path gives: equal
events (every field, ``raw`` and the concrete type), or the same ``PayloadError`` (message,
code and JSON path) for the same first bad event.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from descope_audit_hook import AuditEvent, PayloadError
from descope_audit_hook._payload import _event, _fast_event, _Unusual, parse_events
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
def test_fast_event_builds_what_the_checked_path_builds(obj: Any) -> None:
    try:
        fast = _fast_event(obj)
    except _Unusual:
        return  # the checked path decides: covered by the batch test below
    _same(fast, _event(obj, "$[0]"))


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
    fast = [_fast_event(item) for item in batch]  # raises if any event missed the fast path
    for left, right in zip(fast, _checked(batch), strict=True):
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
