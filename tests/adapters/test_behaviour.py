"""The shared behaviour suite: every test runs against every adapter, through its framework's test client.

Adapters: Flask decorator, Django decorator, Django middleware (both with CsrfViewMiddleware
and LoginRequiredMiddleware on, and a test client that enforces CSRF), Starlette endpoint,
FastAPI dependency.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from descope_audit_hook import (
    ApiKey,
    AuditEvent,
    Auth,
    BasicAuth,
    BearerToken,
    ClaimState,
    ConfigurationError,
    DedupeStore,
    MemoryDedupeStore,
    Severity,
    SignedForm,
    Verifier,
)
from descope_audit_hook.testing import make_delivery, sample_event, sample_events
from tests.support.deliveries import SIG
from tests.support.oauth_issuer import AUDIENCE, CLIENT_ID, Issuer
from tests.support.oauth_tokens import bad_tokens
from tests.support.secrets import HMAC_SECRET
from tests.support.stores import BrokenStore

from ._harness import Harness, Reply

REQUIRED = {"x-env": "prod"}
FORMS: tuple[SignedForm, ...] = ("raw", "trimmed", "compact", "compact-escaped")
AUTHS: dict[str, Auth] = {
    "bearer": BearerToken("adapter-suite-token"),
    "api-key": ApiKey("x-api-key", "adapter-suite-key"),
    "basic": BasicAuth("descope", "adapter-suite-password"),
}
WRONG: dict[str, dict[str, str]] = {
    "bearer": {"Authorization": "Bearer not-the-token"},
    "api-key": {"x-api-key": "not-the-key"},
    "basic": {"Authorization": "Basic " + base64.b64encode(b"descope:wrong").decode()},
}
CHALLENGE = {"bearer": "Bearer", "basic": "Basic", "api-key": None}

Make = Callable[..., Harness]


def verifier(auth: str | None = "bearer", **kwargs: Any) -> Verifier:
    return Verifier(HMAC_SECRET, auth=AUTHS[auth] if auth else None, required_headers=REQUIRED, **kwargs)


def delivery(auth: str | None = "bearer", events: Any = None, **kwargs: Any) -> tuple[bytes, dict[str, str]]:
    chosen = AUTHS[auth] if auth else None
    payload = sample_events(3) if events is None else events
    return make_delivery(payload, hmac_secret=HMAC_SECRET, auth=chosen, required_headers=REQUIRED, **kwargs)


def assert_rejected(harness: Harness, reply: Reply, status: int, code: str | None = None) -> dict[str, Any]:
    assert reply.status == status, (reply.status, reply.body[:200])
    assert harness.received == [], "the handler must not run for a rejected request"
    assert reply.headers["content-type"].startswith("application/json")
    answer: dict[str, Any] = reply.json()
    assert set(answer) == {"error", "message"}
    if code is not None:
        assert answer["error"] == code
    return answer


@pytest.mark.parametrize("auth", [*AUTHS, None])
def test_valid_delivery_reaches_handler_with_typed_events(make_harness: Make, auth: str | None) -> None:
    harness = make_harness(verifier(auth))
    events = sample_events(4, seed=7)
    body, headers = delivery(auth, events)
    reply = harness.send(body, headers)
    assert reply.status == 200, reply.body[:200]
    assert reply.json() == {"received": 4}
    [batch] = harness.received
    assert [e.action for e in batch] == [e["action"] for e in events]
    assert all(isinstance(e, AuditEvent) for e in batch)
    assert batch[0].occurred_ms == events[0]["occurred"]
    assert batch.signed_form == "raw"
    assert batch.body == body


def test_auth_without_hmac_secret(make_harness: Make) -> None:
    harness = make_harness(Verifier(auth=AUTHS["basic"]))
    body, headers = make_delivery([sample_event("login_failed")], auth=AUTHS["basic"])
    reply = harness.send(body, headers)
    assert reply.status == 200
    [batch] = harness.received
    assert batch[0].severity is Severity.WARNING
    assert batch.signed_form is None


@pytest.mark.parametrize("form", FORMS)
def test_each_signed_form_is_accepted(make_harness: Make, form: SignedForm) -> None:
    harness = make_harness(verifier())
    # "<&>" makes the compact-escaped form differ from the compact one.
    events = [sample_event("login_failed", data={"error_message": "a <b> & c"})]
    body, headers = delivery(events=events, signed_form=form)
    reply = harness.send(body, headers)
    assert reply.status == 200, reply.body[:200]
    [batch] = harness.received
    assert batch.signed_form == form
    assert batch[0].data["error_message"] == "a <b> & c"


def test_bad_signature(make_harness: Make) -> None:
    harness = make_harness(verifier())
    body, headers = delivery()
    other, _ = delivery(events=sample_events(3, seed=99))
    headers[SIG] = make_delivery(other, hmac_secret=HMAC_SECRET).headers[SIG]
    assert_rejected(harness, harness.send(body, headers), 401, "invalid_signature")


def test_signature_with_another_secret(make_harness: Make) -> None:
    harness = make_harness(verifier())
    body, headers = delivery()
    headers[SIG] = make_delivery(body, hmac_secret="another-secret").headers[SIG]
    assert_rejected(harness, harness.send(body, headers), 401, "invalid_signature")


def test_tampered_body(make_harness: Make) -> None:
    harness = make_harness(verifier())
    body, headers = delivery()
    assert b"198.51.100." in body
    tampered = body.replace(b"198.51.100.", b"198.51.101.", 1)
    assert_rejected(harness, harness.send(tampered, headers), 401, "invalid_signature")


@pytest.mark.parametrize("value", ["", "not base64!", "A" * 10])
def test_missing_or_malformed_signature(make_harness: Make, value: str) -> None:
    harness = make_harness(verifier())
    body, headers = delivery()
    if value:
        headers[SIG] = value
    else:
        del headers[SIG]
    answer = assert_rejected(harness, harness.send(body, headers), 401)
    assert answer["error"] in {"missing_signature", "malformed_signature"}


@pytest.mark.parametrize("auth", list(AUTHS))
def test_bad_credentials(make_harness: Make, auth: str) -> None:
    harness = make_harness(verifier(auth))
    body, headers = delivery(auth)
    headers.update(WRONG[auth])
    reply = harness.send(body, headers)
    assert_rejected(harness, reply, 401, "invalid_credentials")
    scheme = CHALLENGE[auth]
    if scheme:
        assert reply.headers["www-authenticate"].startswith(scheme + " ")
    else:
        assert "www-authenticate" not in reply.headers


@pytest.mark.parametrize("auth", list(AUTHS))
def test_missing_credentials(make_harness: Make, auth: str) -> None:
    harness = make_harness(verifier(auth))
    body, headers = delivery(auth)
    for name in AUTHS[auth].connector_headers():
        del headers[name]
    reply = harness.send(body, headers)
    assert_rejected(harness, reply, 401, "missing_credentials")
    if CHALLENGE[auth]:
        assert reply.headers["www-authenticate"].startswith(f"{CHALLENGE[auth]} ")


def test_missing_required_header(make_harness: Make) -> None:
    harness = make_harness(verifier())
    body, headers = delivery()
    del headers["x-env"]
    assert_rejected(harness, harness.send(body, headers), 401, "missing_header")


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b'{"action": "LoginSucceed", "occurred": ', "invalid_json"),
        (b"\xff\xfe not utf-8", "invalid_encoding"),
        (b"", "invalid_json"),
        (b'[{"action": 1}]', "invalid_payload"),
        (b"{}", "invalid_payload"),
    ],
    ids=["truncated", "not-utf8", "empty", "bad-field", "not-events"],
)
def test_malformed_payload_signed(make_harness: Make, payload: bytes, code: str) -> None:
    harness = make_harness(verifier())
    body, headers = delivery(events=payload)
    answer = assert_rejected(harness, harness.send(body, headers), 400, code)
    assert payload[:8].decode("latin-1") not in answer["message"] or not payload


LIMIT = 4096


def big_delivery() -> tuple[bytes, dict[str, str]]:
    body, headers = delivery(events=sample_events(30))
    assert len(body) > LIMIT
    return body, headers


def test_oversize_declared(make_harness: Make) -> None:
    harness = make_harness(verifier(max_body_bytes=LIMIT))
    body, headers = big_delivery()
    assert_rejected(harness, harness.send(body, headers), 413, "payload_too_large")


def test_at_the_limit_is_accepted(make_harness: Make) -> None:
    body, headers = big_delivery()
    harness = make_harness(verifier(max_body_bytes=len(body)))
    assert harness.send(body, headers).status == 200


def test_oversize_undeclared(make_harness: Make) -> None:
    harness = make_harness(verifier(max_body_bytes=LIMIT))
    body, headers = big_delivery()
    reply = harness.send(body, headers, declared=None)
    assert_rejected(harness, reply, 413, "payload_too_large")


def test_oversize_with_a_lying_length(make_harness: Make) -> None:
    harness = make_harness(verifier(max_body_bytes=LIMIT))
    body, headers = big_delivery()
    reply = harness.send(body, headers, declared=100)
    # WSGI servers stop at the declared length (the truncated body fails the signature);
    # ASGI hands over what arrives, and reading stops at the limit.
    assert_rejected(harness, reply, 413 if harness.kind in {"starlette", "fastapi"} else 401)


def test_chunked_valid_delivery(make_harness: Make) -> None:
    harness = make_harness(verifier())
    body, headers = delivery()
    reply = harness.send(body, headers, declared=None)
    assert reply.status == 200
    assert len(harness.received) == 1


@pytest.mark.parametrize("value", ["abc", "-1", "1e3"])
def test_invalid_content_length(make_harness: Make, value: str) -> None:
    harness = make_harness(verifier())
    body, headers = delivery()
    headers["Content-Length"] = value
    reply = harness.send(body, headers, declared=value)  # type: ignore[arg-type]
    assert_rejected(harness, reply, 400, "invalid_content_length")


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_wrong_method(make_harness: Make, method: str) -> None:
    harness = make_harness(verifier())
    body, headers = delivery()
    reply = harness.send(body if method != "GET" else b"", headers, method=method)
    assert_rejected(harness, reply, 405, "method_not_allowed")
    assert reply.headers["allow"] == "POST"


def test_no_secret_signature_or_body_in_error_answers(make_harness: Make) -> None:
    harness = make_harness(verifier())
    body, headers = delivery(events=[sample_event("login_failed", loginIds=["leak-me@example.com"])])
    headers["Authorization"] = "Bearer adapter-suite-token-but-wrong"
    headers[SIG] = headers[SIG][:-4] + "AAA="
    for sent_body, sent_headers in [(body, headers), (body + b"x", delivery()[1])]:
        reply = harness.send(sent_body, sent_headers)
        assert reply.status == 401
        text = reply.body.decode() + json.dumps(dict(reply.headers))
        for secret in (HMAC_SECRET, "adapter-suite-token", sent_headers[SIG], "leak-me", "LoginFailed"):
            assert secret not in text


def test_dedupe_drops_redelivered_events(make_harness: Make) -> None:
    store = MemoryDedupeStore()
    harness = make_harness(verifier(), store)
    body, headers = delivery(events=sample_events(3))
    assert harness.send(body, headers).json() == {"received": 3}
    assert harness.send(body, headers).json() == {"received": 0}
    partly, headers2 = delivery(events=sample_events(5))  # the same three first events, and two new
    assert harness.send(partly, headers2).json() == {"received": 2}
    assert [(len(b), b.duplicates) for b in harness.received] == [(3, 0), (0, 3), (2, 3)]


@pytest.mark.parametrize("failure", ["raise", "500"])
def test_dedupe_releases_claims_when_the_handler_fails(make_harness: Make, failure: str) -> None:
    store: DedupeStore = MemoryDedupeStore()
    harness = make_harness(verifier(), store)
    body, headers = delivery()
    harness.script.append(failure)
    assert harness.send(body, headers).status == 500
    # The redelivery is processed in full, once.
    assert harness.send(body, headers).json() == {"received": 3}
    assert harness.send(body, headers).json() == {"received": 0}
    assert [len(b) for b in harness.received] == [3, 3, 0]


def test_handler_failure_without_dedupe_is_a_500(make_harness: Make) -> None:
    harness = make_harness(verifier())
    body, headers = delivery()
    harness.script.append("raise")
    assert harness.send(body, headers).status == 500


def test_a_failing_dedupe_store_is_a_503_with_retry_after_and_the_handler_does_not_run(
    make_any_harness: Make,
) -> None:
    store = BrokenStore()
    harness = make_any_harness(verifier(), store)
    body, headers = delivery()
    # Fail closed, and say it is temporary: the sender retries rather than being told the
    # events were handled, and nothing ran without deduplication.
    reply = harness.send(body, headers)
    assert_rejected(harness, reply, 503, "dedupe_unavailable")
    assert reply.headers["retry-after"] == "30"  # a tenth of the default five-minute lease
    assert store.released == []  # nothing was claimed, so nothing is released


@pytest.mark.parametrize("status", [301, 303, 400, 403, 404, 429, 503])
def test_any_non_2xx_answer_releases_the_claims(make_any_harness: Make, status: int) -> None:
    # The sender redelivers anything that is not a 2xx: a kept claim would answer that
    # redelivery with "received: 0", and the events would be lost.
    store = MemoryDedupeStore()
    harness = make_any_harness(verifier(), store)
    body, headers = delivery()
    harness.script.append(str(status))
    assert harness.send(body, headers).status == status
    assert harness.send(body, headers).json() == {"received": 3}
    assert harness.send(body, headers).json() == {"received": 0}
    assert [len(b) for b in harness.received] == [3, 3, 0]


def test_events_in_progress_elsewhere_are_a_503_after_the_claimed_ones_are_handled(make_any_harness: Make) -> None:
    store = MemoryDedupeStore(lease=40)
    harness = make_any_harness(verifier(), store)
    events = sample_events(3)
    held = Verifier(HMAC_SECRET, required_headers=REQUIRED).verify(*delivery(events=events[:1]))[0].fingerprint
    assert store.claim([held], "another-request") == [ClaimState.CLAIMED]  # a slow handler elsewhere
    body, headers = delivery(events=events)
    reply = harness.send(body, headers)
    # The two other events were handled and completed; the delivery is not acknowledged
    # while the third is not done: 503, retry soon.
    assert (reply.status, reply.json()["error"], reply.headers["retry-after"]) == (503, "events_in_progress", "4")
    assert [(len(b), b.duplicates, b.in_progress) for b in harness.received] == [(2, 0, 1)]
    assert harness.send(body, headers).status == 503  # still held: nothing handled twice
    store.complete([held], "another-request")
    assert harness.send(body, headers).json() == {"received": 0}  # every event done: acknowledged
    assert [(len(b), b.duplicates, b.in_progress) for b in harness.received] == [(2, 0, 1), (0, 2, 1), (0, 3, 0)]


def test_a_crashed_holders_events_are_handled_once_its_lease_expires(make_any_harness: Make) -> None:
    now = [1000.0]
    store = MemoryDedupeStore(lease=60, clock=lambda: now[0])
    harness = make_any_harness(verifier(), store)
    body, headers = delivery()
    batch = Verifier(HMAC_SECRET, required_headers=REQUIRED).verify(body, headers)
    store.claim([e.fingerprint for e in batch], "a-request-that-was-killed")  # never completes nor releases
    assert harness.send(body, headers).status == 503
    now[0] += 61
    assert harness.send(body, headers).json() == {"received": 3}
    assert harness.send(body, headers).json() == {"received": 0}


# --- a Bearer token validator: the connector's OAuth 2.0 type ----------------------------
# Every adapter and the Django async view (make_any_harness). Real tokens come from a
# loopback authorization server and are checked by docs/oauth.md's validator as written.

OAUTH_CLAIMS = {"sub": "descope-connector", "scope": "audit:write"}
ASYNC_KINDS = ("starlette", "fastapi", "django-async")


def oauth_verifier(validator: Any, *tokens: str) -> Verifier:
    return Verifier(HMAC_SECRET, auth=BearerToken(*tokens, validator=validator), required_headers=REQUIRED)


def oauth_delivery(token: str, **kwargs: Any) -> tuple[bytes, dict[str, str]]:
    return make_delivery(
        sample_events(3), hmac_secret=HMAC_SECRET, auth=BearerToken(token), required_headers=REQUIRED, **kwargs
    )


class Validator:
    """A validator that records the thread of each call; ``answer`` says what it does."""

    def __init__(self, answer: Callable[[str], Any] = lambda token: dict(OAUTH_CLAIMS)) -> None:
        self.answer = answer
        self.threads: list[int] = []

    def __call__(self, token: str) -> Any:
        self.threads.append(threading.get_ident())
        return self.answer(token)


@pytest.mark.parametrize("kid", ["rs-1", "ec-1"], ids=["RS256", "ES256"])
def test_a_real_token_reaches_the_handler_with_its_claims(
    make_any_harness: Make, oauth_issuer: Issuer, oauth_recipe: ModuleType, kid: str
) -> None:
    harness = make_any_harness(oauth_verifier(oauth_recipe.validate))
    reply = harness.send(*oauth_delivery(oauth_issuer.mint(kid=kid)))
    assert reply.status == 200, reply.body[:300]
    [batch] = harness.received
    assert batch.claims is not None
    assert batch.claims["client_id"] == CLIENT_ID
    assert batch.claims["aud"] == AUDIENCE
    with pytest.raises(TypeError):
        batch.claims["scope"] = "admin"  # type: ignore[index]


@pytest.mark.parametrize(
    "bad", ["wrong audience", "expired", "not yet valid", "alg none", "HS256 with the public key as secret", "garbage"]
)
def test_a_bad_real_token_is_a_401_with_the_bearer_challenge(
    make_any_harness: Make, oauth_issuer: Issuer, oauth_recipe: ModuleType, bad: str
) -> None:

    harness = make_any_harness(oauth_verifier(oauth_recipe.validate))
    token, _ = bad_tokens(oauth_issuer)[bad]
    reply = harness.send(*oauth_delivery(token))
    answer = assert_rejected(harness, reply, 401, "invalid_credentials")
    assert answer["message"] == "invalid credentials"
    assert reply.headers["www-authenticate"] == 'Bearer realm="descope-audit-hook"'
    assert token not in reply.body.decode() + json.dumps(dict(reply.headers))


class OddError(Exception):
    pass


def _raise(exc: BaseException) -> Any:
    raise exc


def _recurse(depth: int = 0) -> Any:
    return _recurse(depth + 1)


ODD: dict[str, Callable[[str], Any]] = {
    "ValueError": lambda token: _raise(ValueError(token)),
    "custom exception": lambda token: _raise(OddError(token)),
    "RecursionError": lambda token: _recurse(),
    "StopIteration": lambda token: _raise(StopIteration(token)),
    "returns None": lambda token: None,
    "returns True": lambda token: True,
    "returns {}": lambda token: {},
}


@pytest.mark.parametrize("odd", list(ODD))
def test_whatever_the_validator_does_wrong_is_a_401_never_a_500(make_any_harness: Make, odd: str) -> None:
    harness = make_any_harness(oauth_verifier(ODD[odd]))
    reply = harness.send(*oauth_delivery("some.opaque.token"))
    assert_rejected(harness, reply, 401, "invalid_credentials")
    assert reply.headers["www-authenticate"].startswith("Bearer ")
    assert b"some.opaque.token" not in reply.body


@pytest.mark.parametrize("any_kind", ASYNC_KINDS)
@pytest.mark.parametrize("odd", list(ODD))
def test_whatever_an_async_validator_does_wrong_is_a_401_never_a_500(make_any_harness: Make, odd: str) -> None:
    sync = ODD[odd]

    async def validate(token: str) -> Any:
        return sync(token)

    harness = make_any_harness(oauth_verifier(validate))
    assert_rejected(harness, harness.send(*oauth_delivery("some.opaque.token")), 401, "invalid_credentials")


def test_a_fixed_token_and_a_validator_while_a_connector_migrates(make_any_harness: Make) -> None:
    validator = Validator(lambda token: dict(OAUTH_CLAIMS) if token == "new.jwt.token" else None)
    harness = make_any_harness(oauth_verifier(validator, "old-fixed-token"))
    assert harness.send(*oauth_delivery("old-fixed-token")).status == 200
    assert validator.threads == []  # a fixed token never reaches the validator
    assert harness.send(*oauth_delivery("new.jwt.token")).status == 200
    assert len(validator.threads) == 1
    assert [b.claims for b in harness.received] == [None, OAUTH_CLAIMS]
    assert harness.send(*oauth_delivery("neither.of.them")).status == 401


def test_the_validator_is_not_called_before_the_signature_and_static_headers_passed(make_any_harness: Make) -> None:
    validator = Validator()
    harness = make_any_harness(oauth_verifier(validator))
    body, headers = oauth_delivery("some.jwt.token")
    forged = {**headers, SIG: make_delivery(body, hmac_secret="not-the-secret").headers[SIG]}
    assert_rejected(harness, harness.send(body, forged), 401, "invalid_signature")
    assert_rejected(harness, harness.send(body, {**headers, "x-env": "dev"}), 401, "invalid_header")
    assert validator.threads == []
    assert harness.send(body, headers).status == 200
    assert len(validator.threads) == 1


def test_a_sync_validator_runs_off_the_event_loop(make_any_harness: Make, any_kind: str) -> None:
    # A JWKS fetch or an introspection call in the validator must not block the event loop:
    # the async paths run a plain function in a worker thread. The sync ones call it in the
    # request's thread, as they do everything else.
    validator = Validator()
    harness = make_any_harness(oauth_verifier(validator))
    assert harness.send(*oauth_delivery("some.jwt.token")).status == 200
    [validator_thread] = validator.threads
    [handler_thread] = harness.threads
    if any_kind in ASYNC_KINDS:
        assert validator_thread != handler_thread
    else:
        assert validator_thread == handler_thread


def test_an_async_validator_is_awaited_on_the_loop_or_refused_at_set_up(make_any_harness: Make, any_kind: str) -> None:
    threads: list[int] = []

    async def validate(token: str) -> dict[str, Any]:
        await asyncio.sleep(0)
        threads.append(threading.get_ident())
        return dict(OAUTH_CLAIMS)

    verifier = oauth_verifier(validate)
    if any_kind in ASYNC_KINDS:
        harness = make_any_harness(verifier)
        assert harness.send(*oauth_delivery("some.jwt.token")).status == 200
        assert threads == harness.threads  # awaited on the loop that runs the handler
        assert harness.received[0].claims == OAUTH_CLAIMS
    elif any_kind == "django-middleware":
        # The middleware is built with the app (on the first request here): it refuses to start.
        harness = make_any_harness(verifier)
        with pytest.raises(ConfigurationError, match="async def token validator"):
            harness.send(*oauth_delivery("some.jwt.token"))
        assert threads == []
    else:
        with pytest.raises(ConfigurationError, match="async def token validator"):
            make_any_harness(verifier)


def test_the_claims_survive_exactly_once(make_any_harness: Make) -> None:
    harness = make_any_harness(oauth_verifier(Validator()), MemoryDedupeStore())
    body, headers = oauth_delivery("some.jwt.token")
    assert harness.send(body, headers).json() == {"received": 3}
    assert harness.send(body, headers).json() == {"received": 0}
    assert [(len(b), b.duplicates, b.claims) for b in harness.received] == [(3, 0, OAUTH_CLAIMS), (0, 3, OAUTH_CLAIMS)]
