"""The optional freshness window on ``occurred``, with an injected clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from descope_audit_hook import ConfigurationError, PayloadError, SignatureError, Verifier
from descope_audit_hook.testing import make_delivery, sample_event
from tests.support.secrets import HMAC_SECRET

OCCURRED = datetime(2026, 6, 8, 12, 0, tzinfo=timezone.utc)
OCCURRED_MS = int(OCCURRED.timestamp() * 1000)


def clock_at(now: datetime) -> Callable[[], datetime]:
    return lambda: now


def deliver(verifier: Verifier, payload: Any) -> int:
    body, headers = make_delivery(payload, hmac_secret=HMAC_SECRET)
    return len(verifier.verify(body, headers))


def events(*offsets_ms: int) -> list[dict[str, Any]]:
    return [sample_event("login_failed", occurred=OCCURRED_MS + offset) for offset in offsets_ms]


def windowed(now: datetime, **kwargs: Any) -> Verifier:
    return Verifier(HMAC_SECRET, clock=clock_at(now), **kwargs)


def test_off_by_default() -> None:
    verifier = Verifier(HMAC_SECRET)
    assert deliver(verifier, events(0, -10 * 365 * 86_400_000, 10 * 365 * 86_400_000)) == 3


def test_a_clock_alone_turns_nothing_on() -> None:
    verifier = windowed(OCCURRED + timedelta(days=3650))
    assert deliver(verifier, events(0)) == 1


def test_events_inside_the_window_pass() -> None:
    verifier = windowed(OCCURRED + timedelta(minutes=5), max_event_age=timedelta(hours=1), max_clock_skew=timedelta(0))
    # Oldest exactly at the bound, newest exactly now: both inside.
    assert deliver(verifier, events(-55 * 60_000, 0, 5 * 60_000)) == 3


def test_an_old_event_is_a_400_naming_its_path() -> None:
    verifier = windowed(OCCURRED + timedelta(hours=1), max_event_age=timedelta(hours=1))
    with pytest.raises(PayloadError) as info:
        deliver(verifier, events(0, -1))
    error = info.value
    assert (error.status_code, error.code, error.path) == (400, "stale_event", "$[1].occurred")
    assert str(OCCURRED_MS - 1) not in error.message


def test_a_future_event_is_a_400_naming_its_path() -> None:
    verifier = windowed(OCCURRED, max_clock_skew=timedelta(seconds=30))
    assert deliver(verifier, events(30_000)) == 1
    with pytest.raises(PayloadError) as info:
        deliver(verifier, {"audits": events(0, 0, 30_001)})
    error = info.value
    assert (error.status_code, error.code, error.path) == (400, "future_event", "$.audits[2].occurred")
    assert error.to_dict()["error"] == "future_event"


def test_a_single_event_object_and_an_iso_occurred() -> None:
    verifier = windowed(OCCURRED, max_event_age=timedelta(minutes=1))
    stale = sample_event("user_created", occurred="2026-06-08T11:58:59.999Z")
    with pytest.raises(PayloadError) as info:
        deliver(verifier, stale)
    assert (info.value.code, info.value.path) == ("stale_event", "$.occurred")


def test_age_bound_alone_lets_future_events_through_and_vice_versa() -> None:
    age_only = windowed(OCCURRED, max_event_age=timedelta(minutes=1))
    assert deliver(age_only, events(86_400_000)) == 1
    skew_only = windowed(OCCURRED, max_clock_skew=timedelta(0))
    assert deliver(skew_only, events(-86_400_000 * 365)) == 1


def test_the_clock_is_read_per_delivery() -> None:
    now = [OCCURRED]
    verifier = Verifier(HMAC_SECRET, max_event_age=timedelta(minutes=10), clock=lambda: now[0])
    assert deliver(verifier, events(0)) == 1
    now[0] += timedelta(minutes=10, milliseconds=1)
    with pytest.raises(PayloadError, match="older"):
        deliver(verifier, events(0))


def test_window_applies_after_authentication() -> None:
    # A forged stale delivery is a 401 (the signature), not a 400 that would confirm the parse.
    verifier = windowed(OCCURRED + timedelta(days=1), max_event_age=timedelta(minutes=1))
    body, headers = make_delivery(events(0), hmac_secret="not-the-secret")
    with pytest.raises(SignatureError) as info:
        verifier.verify(body, headers)
    assert info.value.status_code == 401


def test_huge_bounds_do_not_overflow() -> None:
    verifier = windowed(OCCURRED, max_event_age=timedelta.max, max_clock_skew=timedelta.max)
    body = json.dumps([sample_event(occurred="0001-01-01T00:00:00Z"), sample_event(occurred="9999-12-31T23:59:59Z")])
    assert deliver(verifier, body.encode()) == 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_event_age": timedelta(0)},
        {"max_event_age": timedelta(seconds=-1)},
        {"max_event_age": 60},
        {"max_clock_skew": timedelta(seconds=-1)},
        {"max_clock_skew": 5.0},
        {"max_event_age": timedelta(1), "clock": "now"},
    ],
)
def test_bad_window_configuration(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        Verifier(HMAC_SECRET, **kwargs)


def test_a_naive_clock_is_a_configuration_error_not_a_4xx() -> None:
    verifier = Verifier(HMAC_SECRET, max_event_age=timedelta(1), clock=lambda: datetime(2026, 6, 8))
    body, headers = make_delivery(events(0), hmac_secret=HMAC_SECRET)
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        verifier.verify(body, headers)


def test_default_clock_is_utc_now() -> None:
    verifier = Verifier(HMAC_SECRET, max_event_age=timedelta(minutes=5), max_clock_skew=timedelta(minutes=5))
    now_ms = int(datetime.now(timezone.utc).timestamp() * 1000)
    assert deliver(verifier, [sample_event(occurred=now_ms)]) == 1
    with pytest.raises(PayloadError, match="older"):
        deliver(verifier, [sample_event(occurred=now_ms - 3_600_000)])


def test_from_env() -> None:
    env = {
        "DESCOPE_AUDIT_HMAC_SECRET": HMAC_SECRET,
        "DESCOPE_AUDIT_MAX_EVENT_AGE_SECONDS": "300",
        "DESCOPE_AUDIT_MAX_CLOCK_SKEW_SECONDS": "0",
    }
    verifier = Verifier.from_env(env)
    now_ms = int(datetime.now(timezone.utc).timestamp() * 1000)
    assert deliver(verifier, [sample_event(occurred=now_ms - 1000)]) == 1
    with pytest.raises(PayloadError) as info:
        deliver(verifier, [sample_event(occurred=now_ms - 301_000)])
    assert info.value.code == "stale_event"
    with pytest.raises(PayloadError) as info:
        deliver(verifier, [sample_event(occurred=now_ms + 3_600_000)])
    assert info.value.code == "future_event"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAX_EVENT_AGE_SECONDS", "0"),
        ("MAX_EVENT_AGE_SECONDS", "-5"),
        ("MAX_EVENT_AGE_SECONDS", "ten"),
        ("MAX_EVENT_AGE_SECONDS", "nan"),
        ("MAX_EVENT_AGE_SECONDS", "1e300"),
        ("MAX_CLOCK_SKEW_SECONDS", "-1"),
        ("MAX_CLOCK_SKEW_SECONDS", "inf"),
    ],
)
def test_from_env_rejects_bad_values_naming_the_variable_only(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Verifier.from_env({"DESCOPE_AUDIT_HMAC_SECRET": HMAC_SECRET, f"DESCOPE_AUDIT_{name}": value})
    assert f"DESCOPE_AUDIT_{name}" in str(info.value)
    assert value not in str(info.value)
