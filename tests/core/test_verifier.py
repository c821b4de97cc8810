"""Verifier: order of checks, configuration errors, logging policy, one-shot verify()."""

from __future__ import annotations

import base64
import inspect
import logging
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from descope_audit_hook import (
    DEFAULT_MAX_BODY_BYTES,
    ApiKey,
    AuditBatch,
    AuthenticationError,
    BasicAuth,
    BearerToken,
    ConfigurationError,
    MethodNotAllowed,
    PayloadError,
    PayloadTooLarge,
    SignatureError,
    VerificationError,
    Verifier,
    _verifier,
    sign,
    verify,
)
from tests.support.deliveries import SIG, body_of, event
from tests.support.secrets import BEARER_TOKEN, HMAC_SECRET

BODY = body_of([event()])


def test_defaults() -> None:
    assert DEFAULT_MAX_BODY_BYTES == 1_048_576
    v = Verifier(HMAC_SECRET)
    assert v.max_body_bytes == DEFAULT_MAX_BODY_BYTES
    assert v.signs
    assert v.auth is None
    assert not Verifier(auth=BearerToken(BEARER_TOKEN)).signs


# --- configuration errors --------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"hmac_secret": None},
        {"hmac_secret": ""},
        {"hmac_secret": "   "},
        {"hmac_secret": b""},
        {"hmac_secret": b" \n"},
        {"hmac_secret": []},
        {"hmac_secret": ["ok", ""]},
        {"hmac_secret": ["ok", None]},
        {"hmac_secret": 12345},
        {"hmac_secret": {"a": "b"}},
        {"hmac_secret": "s", "max_body_bytes": 0},
        {"hmac_secret": "s", "max_body_bytes": -1},
        {"hmac_secret": "s", "max_body_bytes": 1.5},
        {"hmac_secret": "s", "max_body_bytes": "1000"},
        {"hmac_secret": "s", "max_body_bytes": True},
        {"hmac_secret": "s", "signed_forms": []},
        {"hmac_secret": "s", "signed_forms": ["raw", "pretty"]},
        {"hmac_secret": "s", "required_headers": {"x-env": " "}},
        {"auth": None, "required_headers": {"x-env": "prod"}},
    ],
)
def test_configuration_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        Verifier(**kwargs)
    assert issubclass(ConfigurationError, ValueError)
    assert not issubclass(ConfigurationError, VerificationError)


def test_allow_unauthenticated_is_explicit_and_warned(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="descope_audit_hook"):
        v = Verifier(allow_unauthenticated=True)
    assert v.verify(BODY, {}).signed_form is None
    assert any("unauthenticated" in r.getMessage() for r in caplog.records)


def test_one_shot_verify_warns_about_an_open_configuration_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_verifier, "_one_shot_warned", threading.Event())  # as in a fresh process
    with caplog.at_level(logging.WARNING, logger="descope_audit_hook"):
        for _ in range(5):
            assert len(verify(BODY, {}, allow_unauthenticated=True)) == 1
        built = [Verifier(allow_unauthenticated=True) for _ in range(2)]
    open_warnings = [r for r in caplog.records if "unauthenticated" in r.getMessage()]
    assert len(open_warnings) == 1 + len(built)  # once for the one-shot calls, then per Verifier built
    with pytest.raises(ConfigurationError):
        verify(BODY, {})  # still refused without the explicit keyword


def test_bytes_secret_and_rotation() -> None:
    v = Verifier([b"new-secret", "old-secret"])
    assert v.verify(BODY, {SIG: sign(BODY, "new-secret")}).signed_form == "raw"
    assert v.verify(BODY, {SIG: sign(BODY, b"old-secret")}).signed_form == "raw"
    with pytest.raises(SignatureError):
        v.verify(BODY, {SIG: sign(BODY, "older-secret")})
    v2 = Verifier(("a-secret", "b-secret"))
    assert len(v2.verify(BODY, {SIG: sign(BODY, "b-secret")})) == 1


def test_secret_with_surrounding_whitespace_is_used_as_is() -> None:
    # Not a header value: the HMAC key is exactly what was configured.
    v = Verifier(" spaced ")
    assert len(v.verify(BODY, {SIG: sign(BODY, " spaced ")})) == 1
    with pytest.raises(SignatureError):
        v.verify(BODY, {SIG: sign(BODY, "spaced")})


def test_body_types() -> None:
    v = Verifier(allow_unauthenticated=True)
    assert len(v.verify(bytearray(BODY), {})) == 1  # type: ignore[arg-type]
    assert len(v.verify(memoryview(BODY), {})) == 1  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        v.verify(BODY.decode(), {})  # type: ignore[arg-type]


# --- order of checks --------------------------------------------------------------------

ALL = Verifier(HMAC_SECRET, auth=BearerToken(BEARER_TOKEN), required_headers={"x-env": "prod"}, max_body_bytes=200)
GOOD = {"Authorization": f"Bearer {BEARER_TOKEN}", "x-env": "prod"}


def _signed(body: bytes) -> dict[str, str]:
    return {**GOOD, SIG: sign(body, HMAC_SECRET)}


@pytest.mark.parametrize(
    ("body", "headers", "error", "code"),
    [
        # too large beats everything, even missing credentials
        (b"[" + b" " * 300 + b"]", {}, PayloadTooLarge, "payload_too_large"),
        # authentication before required headers, signature, payload
        (b"not json", {"x-env": "nope"}, AuthenticationError, "missing_credentials"),
        (b"not json", {"Authorization": "Bearer wrong"}, AuthenticationError, "invalid_credentials"),
        (b"not json", {"Authorization": f"Bearer {BEARER_TOKEN}"}, AuthenticationError, "missing_header"),
        # signature before payload: a malformed body with a bad signature is a 401, not a 400
        (b"not json", GOOD, SignatureError, "missing_signature"),
        (b"not json", {**GOOD, SIG: "A" * 44}, SignatureError, "malformed_signature"),
        (b"not json", {**GOOD, SIG: sign(b"other", HMAC_SECRET)}, SignatureError, "invalid_signature"),
        (b"[NaN]", {**GOOD, SIG: sign(b"[]", HMAC_SECRET)}, SignatureError, "invalid_signature"),
        (b'[{"a":1,"a":2}]', {**GOOD, SIG: sign(b"[]", HMAC_SECRET)}, SignatureError, "invalid_signature"),
        (b"\xff\xfe", {**GOOD, SIG: sign(b"[]", HMAC_SECRET)}, SignatureError, "invalid_signature"),
        # only a verified body is validated
        (b"not json", _signed(b"not json"), PayloadError, "invalid_json"),
        (b'[{"action":5}]', _signed(b'[{"action":5}]'), PayloadError, "invalid_payload"),
    ],
)
def test_order(body: bytes, headers: dict[str, str], error: type[VerificationError], code: str) -> None:
    with pytest.raises(error) as info:
        ALL.verify(body, headers)
    assert type(info.value) is error
    assert info.value.code == code


def test_size_limit_is_inclusive() -> None:
    v = Verifier(allow_unauthenticated=True, max_body_bytes=len(BODY))
    assert len(v.verify(BODY, {})) == 1
    with pytest.raises(PayloadTooLarge) as info:
        v.verify(BODY + b" ", {})
    assert info.value.status_code == 413


@pytest.mark.parametrize(
    ("value", "outcome"),
    [
        (None, None),
        ("", None),
        ("0", None),
        ("200", None),
        (200, None),
        (" 200 ", None),
        ("201", "payload_too_large"),
        (10**20, "payload_too_large"),
        ("9" * 5000, "invalid_content_length"),
        ("-1", "invalid_content_length"),
        (-1, "invalid_content_length"),
        ("+5", "invalid_content_length"),
        ("1_0", "invalid_content_length"),
        ("١٢", "invalid_content_length"),
        ("abc", "invalid_content_length"),
        ("1.5", "invalid_content_length"),
        ("10, 10", "invalid_content_length"),
        (b"200", None),
        (b"+5", "invalid_content_length"),
        (b"5_0", "invalid_content_length"),
        (b"201", "payload_too_large"),
    ],
)
def test_check_content_length(value: Any, outcome: str | None) -> None:
    if outcome is None:
        ALL.check_content_length(value)
        return
    with pytest.raises(VerificationError) as info:
        ALL.check_content_length(value)
    assert info.value.code == outcome
    assert info.value.status_code == (413 if outcome == "payload_too_large" else 400)


# --- errors -------------------------------------------------------------------------------


def test_error_classes() -> None:
    assert (AuthenticationError.status_code, SignatureError.status_code) == (401, 401)
    assert (PayloadError.status_code, PayloadTooLarge.status_code, MethodNotAllowed.status_code) == (400, 413, 405)
    error = MethodNotAllowed()
    assert error.headers == {"Allow": "POST"}
    assert error.to_dict() == {"error": "method_not_allowed", "message": "only POST is accepted"}
    payload_error = PayloadError("bad", path="$[0].x")
    assert payload_error.path == "$[0].x"
    assert payload_error.to_dict() == {"error": "invalid_payload", "message": "bad at $[0].x"}
    assert "invalid_payload" in repr(payload_error)
    with pytest.raises(TypeError):
        error.headers["Allow"] = "GET"  # type: ignore[index]


# --- secrets stay out of messages and logs ------------------------------------------------

SECRET_HMAC = "hmac-TOPSECRET-value"
SECRET_TOKEN = "bearer-TOPSECRET-value"
PERSONAL = "alice-PERSONAL@example.com"


def _rejections() -> list[tuple[Verifier, bytes, Any]]:
    body = body_of([event(loginIds=[PERSONAL], occurred="PERSONAL-bad")])
    signature = sign(body, SECRET_HMAC)
    bearer = Verifier(SECRET_HMAC, auth=BearerToken(SECRET_TOKEN))
    good = {"Authorization": f"Bearer {SECRET_TOKEN}"}
    basic = "Basic " + base64.b64encode(f"user:{SECRET_TOKEN}x".encode()).decode()
    return [
        (bearer, body, {}),
        (bearer, body, {"Authorization": f"Bearer {SECRET_TOKEN}x"}),
        (bearer, body, {"Authorization": f"Bearer {SECRET_TOKEN}", "authorization": f"Bearer {SECRET_TOKEN}"}),
        (bearer, body, [("Authorization", f"Bearer {SECRET_TOKEN}"), ("authorization", f"Bearer {SECRET_TOKEN}")]),
        (bearer, body, good),
        (bearer, body, {**good, SIG: signature[:-3]}),
        (bearer, body, {**good, SIG: sign(body, SECRET_HMAC + "x")}),
        (bearer, body, [*good.items(), (SIG, signature), (SIG, signature)]),
        (bearer, body, {**good, SIG: signature}),  # payload error: occurred
        (bearer, body + b"x" * 2_000_000, {**good, SIG: signature}),
        (Verifier(auth=ApiKey("x-api-key", SECRET_TOKEN)), body, {"x-api-key": SECRET_TOKEN + "x"}),
        (Verifier(auth=BasicAuth("user", SECRET_TOKEN)), body, {"Authorization": basic}),
    ]


def test_one_warning_per_rejection_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    for verifier, body, headers in _rejections():
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="descope_audit_hook"), pytest.raises(VerificationError) as info:
            verifier.verify(body, headers)
        records = [r for r in caplog.records if r.name.startswith("descope_audit_hook")]
        assert len(records) == 1, [r.getMessage() for r in records]
        (record,) = records
        assert record.levelno == logging.WARNING
        assert record.name == "descope_audit_hook"
        line = record.getMessage()
        assert info.value.code in line
        assert str(info.value.status_code) in line
        exposed = [line, str(info.value), repr(info.value), str(info.value.to_dict()), str(dict(info.value.headers))]
        for text in exposed:
            assert "TOPSECRET" not in text
            assert "PERSONAL" not in text
            assert sign(body, SECRET_HMAC) not in text
            assert sign(body, SECRET_HMAC)[:20] not in text
            assert "LoginSucceed" not in text


def test_no_log_line_for_an_accepted_delivery(caplog: pytest.LogCaptureFixture) -> None:
    v = Verifier(HMAC_SECRET)
    with caplog.at_level(logging.DEBUG, logger="descope_audit_hook"):
        v.verify(BODY, {SIG: sign(BODY, HMAC_SECRET)})
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_content_length_rejection_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="descope_audit_hook"), pytest.raises(PayloadTooLarge):
        ALL.check_content_length("999999")
    assert len(caplog.records) == 1
    assert "payload_too_large" in caplog.records[0].getMessage()


# --- the one-shot form ---------------------------------------------------------------------


def test_module_verify() -> None:
    headers = {"Authorization": f"Bearer {BEARER_TOKEN}", SIG: sign(BODY, HMAC_SECRET)}
    batch = verify(BODY, headers, hmac_secret=HMAC_SECRET, auth=BearerToken(BEARER_TOKEN))
    assert batch.signed_form == "raw"
    with pytest.raises(AuthenticationError):
        verify(BODY, {SIG: sign(BODY, HMAC_SECRET)}, hmac_secret=HMAC_SECRET, auth=BearerToken(BEARER_TOKEN))
    with pytest.raises(ConfigurationError):
        verify(BODY, headers)
    assert len(verify(BODY, {}, allow_unauthenticated=True)) == 1
    with pytest.raises(PayloadTooLarge):
        verify(BODY, {}, allow_unauthenticated=True, max_body_bytes=5)
    spaced = BODY + b" "
    spaced_headers = {**headers, SIG: sign(spaced, HMAC_SECRET)}
    assert verify(spaced, spaced_headers, hmac_secret=HMAC_SECRET, auth=BearerToken(BEARER_TOKEN)).signed_form == "raw"
    with pytest.raises(SignatureError):
        verify(
            spaced, spaced_headers, hmac_secret=HMAC_SECRET, auth=BearerToken(BEARER_TOKEN), signed_forms=["compact"]
        )


def test_one_shot_verify_takes_exactly_the_verifiers_options() -> None:
    one_shot = list(inspect.signature(verify).parameters.values())
    assert [parameter.name for parameter in one_shot[:2]] == ["body", "headers"]
    assert one_shot[2:] == list(inspect.signature(Verifier).parameters.values())
    assert {"max_event_age", "max_clock_skew", "clock"} <= {parameter.name for parameter in one_shot}


def test_one_shot_verify_with_the_freshness_window() -> None:
    # The freshness options, which verify() did not take (a TypeError) before it took Verifier's.
    occurred = datetime.fromtimestamp(1780949905843 / 1000, timezone.utc)
    headers = {SIG: sign(BODY, HMAC_SECRET)}

    def at(offset: timedelta) -> AuditBatch:
        return verify(
            BODY,
            headers,
            HMAC_SECRET,
            max_event_age=timedelta(minutes=5),
            max_clock_skew=timedelta(0),
            clock=lambda: occurred + offset,
        )

    assert len(at(timedelta(minutes=1))) == 1
    with pytest.raises(PayloadError) as stale:
        at(timedelta(hours=1))
    assert stale.value.code == "stale_event"
    with pytest.raises(PayloadError) as future:
        at(-timedelta(seconds=1))
    assert future.value.code == "future_event"
