"""The one request path (``_request.WebhookRequest``), without a framework: method, length, body, headers."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from typing import Any

import pytest

from descope_audit_hook import BearerToken, ConfigurationError, VerificationError, Verifier
from descope_audit_hook._request import CHUNK_SIZE, WebhookRequest, error_response, require_sync
from descope_audit_hook.testing import make_delivery, sample_events
from tests.support.secrets import BEARER_TOKEN, HMAC_SECRET

LIMIT = 200_000


def verifier(**kwargs: Any) -> Verifier:
    return Verifier(HMAC_SECRET, auth=BearerToken(BEARER_TOKEN), **{"max_body_bytes": LIMIT, **kwargs})


def delivery(count: int = 3) -> tuple[bytes, dict[str, str]]:
    body, headers = make_delivery(sample_events(count), hmac_secret=HMAC_SECRET, auth=BearerToken(BEARER_TOKEN))
    return body, headers


def refused(call: Any) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        call()
    return info.value


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "post", ""])
def test_anything_but_post_is_a_405_naming_post(method: str) -> None:
    error = refused(lambda: WebhookRequest(verifier(), method, "10"))
    assert (error.status_code, error.code, dict(error.headers)) == (405, "method_not_allowed", {"Allow": "POST"})


@pytest.mark.parametrize(
    ("declared", "status", "code"),
    [
        ("abc", 400, "invalid_content_length"),
        ("-1", 400, "invalid_content_length"),
        (str(LIMIT + 1), 413, "payload_too_large"),
    ],
)
def test_a_bad_or_oversize_declared_length_is_refused_before_any_body(declared: str, status: int, code: str) -> None:
    error = refused(lambda: WebhookRequest(verifier(), "POST", declared))
    assert (error.status_code, error.code) == (status, code)


def test_each_refusal_is_logged_once_without_the_body(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="descope_audit_hook"):
        refused(lambda: WebhookRequest(verifier(), "GET", None))
        incoming = WebhookRequest(verifier(max_body_bytes=10), "POST", None)
        refused(lambda: incoming.feed(b"secret-body-bytes"))
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "descope audit webhook rejected (405 method_not_allowed)",
        "descope audit webhook rejected (413 payload_too_large)",
    ]
    assert "secret-body" not in caplog.text


def test_wanted_never_passes_the_declared_length_nor_one_past_the_limit() -> None:
    declared = WebhookRequest(verifier(), "POST", "100000")
    assert declared.wanted == CHUNK_SIZE
    declared.feed(b"x" * 99_990)
    assert declared.wanted == 10  # a raw WSGI stream would block past its Content-Length
    declared.feed(b"x" * 10)
    assert declared.wanted == 0
    chunked = WebhookRequest(verifier(max_body_bytes=1000), "POST", None)
    assert chunked.wanted == 1001  # one past the limit: an overflow is seen
    assert WebhookRequest(verifier(), "POST", "0").wanted == 0


def test_a_stream_is_read_to_its_declared_length_and_no_further() -> None:
    body, headers = delivery()
    stream = io.BytesIO(body + b"garbage the server would never hand over")
    asked: list[int] = []

    def read(size: int) -> bytes:
        asked.append(size)
        return stream.read(min(size, 7000))  # a stream may return less than asked

    incoming = WebhookRequest(verifier(), "POST", str(len(body)))
    incoming.read(read)
    assert incoming.body == body
    assert sum(asked) >= len(body)
    assert stream.tell() == len(body)
    assert len(incoming.finish(headers)) == 3


def test_a_lying_or_absent_length_is_cut_off_at_the_limit() -> None:
    endless = io.BytesIO(b"[" * 50_000)
    incoming = WebhookRequest(verifier(max_body_bytes=10_000), "POST", None)
    error = refused(lambda: incoming.read(endless.read))
    assert (error.status_code, error.code) == (413, "payload_too_large")
    assert endless.tell() <= 10_001
    pushed = WebhookRequest(verifier(max_body_bytes=10_000), "POST", "100")  # an ASGI server pushes what arrives
    pushed.feed(b"x" * 5000)
    assert refused(lambda: pushed.feed(b"x" * 5001)).status_code == 413


def test_reading_body_turns_any_failure_to_read_into_incomplete_body() -> None:
    from descope_audit_hook._request import reading_body

    for failure in (ConnectionResetError(), ValueError("invalid chunk size"), RuntimeError()):
        with pytest.raises(VerificationError) as caught, reading_body():
            raise failure
        assert (caught.value.status_code, caught.value.code) == (400, "incomplete_body")
    with pytest.raises(TimeoutError), reading_body(keep=(TimeoutError,)):
        raise TimeoutError  # the caller answers it itself
    too_large = WebhookRequest(Verifier(HMAC_SECRET, max_body_bytes=1), "POST", None)
    with pytest.raises(VerificationError) as caught, reading_body():
        too_large.feed(b"ab")  # our own error passes as it is
    assert caught.value.status_code == 413


def test_less_than_declared_is_an_incomplete_body_not_a_signature_failure() -> None:
    body, headers = delivery()
    incoming = WebhookRequest(verifier(), "POST", len(body))
    incoming.read(io.BytesIO(body[:-5]).read)
    error = refused(lambda: incoming.finish(headers))
    assert (error.status_code, error.code) == (400, "incomplete_body")


def test_a_chunked_body_is_verified_whole() -> None:
    body, headers = delivery()
    incoming = WebhookRequest(verifier(), "POST", None)
    for start in range(0, len(body), 1000):
        incoming.feed(body[start : start + 1000])
    assert [e.fingerprint for e in incoming.finish(headers)] == [
        e.fingerprint for e in verifier().verify(body, headers)
    ]


def test_finish_async_awaits_an_async_validator() -> None:
    seen: list[str] = []

    async def validate(token: str) -> dict[str, str]:
        seen.append(token)
        return {"sub": "connector"}

    checking = Verifier(HMAC_SECRET, auth=BearerToken(validator=validate))
    body, headers = make_delivery(sample_events(2), hmac_secret=HMAC_SECRET, auth=BearerToken("a.jwt.token"))
    incoming = WebhookRequest(checking, "POST", len(body))
    incoming.feed(body)
    batch = asyncio.run(incoming.finish_async(headers))
    assert (len(batch), batch.claims, seen) == (2, {"sub": "connector"}, ["a.jwt.token"])
    with pytest.raises(ConfigurationError, match="async def token validator"):
        require_sync(checking, "this path")
    assert require_sync(verifier(), "this path") is not None


def test_the_one_json_error_answer() -> None:
    error = refused(lambda: WebhookRequest(verifier(), "DELETE", None))
    status, body, headers = error_response(error)
    assert status == 405
    assert body == b'{"error":"method_not_allowed","message":"only POST is accepted"}'
    assert headers == {"Content-Type": "application/json", "Allow": "POST"}
    assert json.loads(body) == error.to_dict()
