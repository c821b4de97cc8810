"""The receiver's WSGI application called directly (PEP 3333 environ): limits, hostile input, listing, page."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from descope_audit_hook import BearerToken, ClaimState, ConfigurationError, Verifier
from descope_audit_hook.receiver import AuditReceiver, EventStore, create_app, make_app
from descope_audit_hook.testing import make_delivery, sample_event, sample_events
from tests.support.secrets import BEARER_TOKEN, HMAC_SECRET
from tests.support.wsgi import WEBHOOK, Reply, call, post_delivery

LIMIT = 4096


class NeverRead(io.RawIOBase):
    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body was read")


class Counting(io.RawIOBase):
    """An endless body that counts what was read."""

    def __init__(self) -> None:
        self.consumed = 0

    def read(self, size: int = -1) -> bytes:
        size = 65_536 if size < 0 else size
        self.consumed += size
        return b"[" * size


class Broken(io.RawIOBase):
    def __init__(self, error: Exception) -> None:
        self.error = error

    def read(self, size: int = -1) -> bytes:
        raise self.error


@pytest.fixture
def app(tmp_path: Path) -> AuditReceiver:
    verifier = Verifier(HMAC_SECRET, auth=BearerToken(BEARER_TOKEN), max_body_bytes=LIMIT)
    return make_app(verifier, tmp_path / "events.db")


def deliver(app: AuditReceiver, events: list[dict[str, Any]]) -> Reply:
    return post_delivery(app, events, auth=BearerToken(BEARER_TOKEN))


def test_accepts_stores_once_and_counts_duplicates(app: AuditReceiver) -> None:
    events = sample_events(3)
    first = deliver(app, events)
    assert (first.code, first.json()) == (200, {"received": 3, "stored": 3, "duplicates": 0, "signed_form": "raw"})
    overlapping = deliver(app, [*events[1:], sample_event("login_failed")])
    assert overlapping.json() == {"received": 3, "stored": 1, "duplicates": 2, "signed_form": "raw"}
    assert call(app, path="/api/events").json()["total"] == 4


def test_events_another_request_holds_are_stored_but_not_acknowledged(app: AuditReceiver) -> None:
    # The receiver stores through the library's claim, as the adapters handle: while another
    # request holds an event of the delivery (it may crash before storing it), the others
    # are stored and the answer is 503 with Retry-After; once that request lets go, the
    # redelivery stores what is left and is acknowledged.
    events = sample_events(3)
    body, headers = make_delivery(events, hmac_secret=HMAC_SECRET, auth=BearerToken(BEARER_TOKEN))
    held = app.hooks[WEBHOOK].verify(body, headers)[0].fingerprint
    assert app.claims.claim([held], "another-request") == [ClaimState.CLAIMED]
    busy = deliver(app, events)
    assert busy.code == 503
    assert busy.json()["error"] == "events_in_progress"
    assert 1 <= int(busy.headers["retry-after"]) <= 60
    assert call(app, path="/api/events").json()["total"] == 2
    app.claims.release([held], "another-request")
    again = deliver(app, events)
    assert (again.code, again.json()) == (200, {"received": 3, "stored": 1, "duplicates": 2, "signed_form": "raw"})
    assert call(app, path="/api/events").json()["total"] == 3


def test_declared_oversize_body_is_refused_before_reading(app: AuditReceiver) -> None:
    headers = make_delivery(sample_events(1), hmac_secret=HMAC_SECRET, auth=BearerToken(BEARER_TOKEN)).headers
    reply = call(app, "POST", "/descope/audit", headers=headers, stream=NeverRead(), content_length=str(LIMIT + 1))
    assert reply.code == 413
    assert reply.json()["error"] == "payload_too_large"


def test_undeclared_oversize_body_is_cut_off_while_reading(app: AuditReceiver) -> None:
    stream = Counting()
    headers = make_delivery(sample_events(1), hmac_secret=HMAC_SECRET, auth=BearerToken(BEARER_TOKEN)).headers
    headers.pop("Content-Length", None)
    reply = call(app, "POST", "/descope/audit", headers=headers, stream=stream, terminated=True)
    assert reply.code == 413
    assert stream.consumed <= LIMIT + 1


@pytest.mark.parametrize("value", ["abc", "-1", "1e3"])
def test_invalid_content_length_is_400(app: AuditReceiver, value: str) -> None:
    reply = call(app, "POST", "/descope/audit", stream=NeverRead(), content_length=value)
    assert reply.code == 400
    assert reply.json()["error"] == "invalid_content_length"


@pytest.mark.parametrize(
    # The client went away; the server's own error for a broken chunked body (gunicorn's
    # InvalidChunkSize is a plain Exception, no OSError).
    "failure",
    [ConnectionResetError(), ValueError("invalid chunk size"), Exception("the server's own")],
)
def test_a_body_that_cannot_be_read_is_400(app: AuditReceiver, failure: Exception) -> None:
    reply = call(app, "POST", "/descope/audit", stream=Broken(failure), content_length="100")
    assert reply.code == 400
    assert reply.json()["error"] == "incomplete_body"


def test_a_body_that_does_not_arrive_in_time_is_408(app: AuditReceiver) -> None:
    # The server's request deadline ends a read with TimeoutError (see test_server.py).
    reply = call(app, "POST", "/descope/audit", stream=Broken(TimeoutError("timed out")), content_length="100")
    assert reply.code == 408
    assert reply.json()["error"] == "request_timeout"


def test_a_body_shorter_than_declared_is_a_400_as_in_the_adapters(app: AuditReceiver) -> None:
    body, headers = make_delivery(sample_events(2), hmac_secret=HMAC_SECRET, auth=BearerToken(BEARER_TOKEN))
    reply = call(app, "POST", "/descope/audit", body=body[:-5], headers=headers, content_length=str(len(body)))
    assert (reply.code, reply.json()["error"]) == (400, "incomplete_body")


def test_without_content_length_or_terminated_input_the_body_is_empty(app: AuditReceiver) -> None:
    body, headers = make_delivery(sample_events(1), hmac_secret=HMAC_SECRET, auth=BearerToken(BEARER_TOKEN))
    reply = call(app, "POST", "/descope/audit", stream=io.BytesIO(body), headers=headers, content_length="")
    assert reply.code == 401  # the signature was over a body the server never delivered


def test_basic_challenge_and_allow_headers_are_sent(tmp_path: Path) -> None:
    from descope_audit_hook import BasicAuth

    app = make_app(Verifier(HMAC_SECRET, auth=BasicAuth("u", "p")), tmp_path / "db")
    reply = call(app, "POST", "/descope/audit", body=b"[]")
    assert reply.code == 401
    assert reply.headers["www-authenticate"].startswith("Basic ")
    wrong = call(app, "PUT", "/descope/audit")
    assert (wrong.code, wrong.headers["allow"]) == (405, "POST")
    page_post = call(app, "POST", "/")
    assert (page_post.code, page_post.headers["allow"]) == (405, "GET, HEAD")
    assert call(app, "GET", "/elsewhere").code == 404


@given(
    body=st.binary(max_size=300),
    headers=st.dictionaries(
        st.sampled_from(["authorization", "x-descope-webhook-s256", "content-type", "x-other"]),
        st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=60),
    ),
)
def test_hostile_posts_never_get_a_5xx(
    tmp_path_factory: pytest.TempPathFactory, body: bytes, headers: dict[str, str]
) -> None:
    app = _shared_app(tmp_path_factory)
    reply = call(app, "POST", "/descope/audit", body=body, headers=headers)
    assert reply.code in (400, 401, 413)
    assert set(reply.json()) == {"error", "message"}


_APPS: dict[str, AuditReceiver] = {}


def _shared_app(factory: pytest.TempPathFactory) -> AuditReceiver:
    if "app" not in _APPS:
        _APPS["app"] = make_app(Verifier(HMAC_SECRET, auth=BearerToken(BEARER_TOKEN)), factory.mktemp("hostile") / "db")
    return _APPS["app"]


@pytest.mark.parametrize(
    "query", ["page=0", "page=abc", "per_page=100000", "severity=critical", "&".join(f"a{i}=1" for i in range(30))]
)
def test_bad_listing_queries_are_400(app: AuditReceiver, query: str) -> None:
    for path in ("/api/events", "/"):
        reply = call(app, path=path, query=query)
        assert reply.code == 400
        assert reply.json()["error"] == "invalid_query"


def test_listing_filters_and_pages(app: AuditReceiver) -> None:
    events = sample_events(40, seed=3)
    for start in range(0, 40, 5):
        assert deliver(app, events[start : start + 5]).code == 200
    everything = call(app, path="/api/events", query="per_page=500").json()
    assert everything["total"] == 40
    times = [e["occurred"] for e in everything["events"]]
    assert times == sorted(times, reverse=True)

    def listing(query: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = call(app, path="/api/events", query=query + "&per_page=500").json()["events"]
        return events

    assert {e["action"] for e in listing("action=LoginFailed")} == {"LoginFailed"}
    assert len(listing("action=LoginFailed")) == sum(e["action"] == "LoginFailed" for e in everything["events"])
    assert all("globex" in e["tenants"] for e in listing("tenant=globex"))
    assert len(listing("tenant=globex")) == sum("globex" in e["tenants"] for e in everything["events"])
    assert {e["type"] for e in listing("severity=warn")} == {"warn"}
    by_login = listing("user=bob%40example.com")
    assert by_login
    assert all("bob@example.com" in e["loginIds"] for e in by_login)
    by_id = listing("user=U2ZzCarolExample00000000000")
    assert by_id
    assert {e["userId"] for e in by_id} == {"U2ZzCarolExample00000000000"}

    pages = [call(app, path="/api/events", query=f"per_page=15&page={n}").json() for n in (1, 2, 3)]
    assert [len(p["events"]) for p in pages] == [15, 15, 10]
    assert [e["fingerprint"] for p in pages for e in p["events"]] == [e["fingerprint"] for e in everything["events"]]


def test_page_escapes_everything_and_sets_a_strict_policy(app: AuditReceiver) -> None:
    hostile = sample_event(
        "login_failed",
        action="<script>alert(1)</script>",
        tenants=['"><img src=x onerror=alert(2)>'],
        data={"error_message": "</pre></details><script>alert(3)</script>"},
    )
    assert deliver(app, [hostile]).code == 200
    reply = call(app, path="/")
    page = reply.body.decode()
    assert reply.code == 200
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    policy = reply.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src" not in policy
    assert "<script" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    head = call(app, "HEAD", "/")
    assert (head.code, head.body) == (200, b"")
    assert int(head.headers["content-length"]) == len(reply.body)
    css = call(app, path="/audit.css")
    assert css.headers["content-type"].startswith("text/css")


def test_one_log_line_per_request_without_secrets(app: AuditReceiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="descope_audit_hook.receiver")
    deliver(app, sample_events(2))
    call(app, "POST", "/descope/audit", body=b"[]", headers={"Authorization": f"Bearer {BEARER_TOKEN}x"})
    call(app, path="/\r\nforged log line")
    lines = [r.getMessage() for r in caplog.records if r.name == "descope_audit_hook.receiver"]
    assert len(lines) == 3
    assert '"POST /descope/audit" 200' in lines[0]
    assert "stored=2" in lines[0]
    assert "invalid_credentials" in lines[1]
    assert "\n" not in lines[2]
    assert "\\r\\nforged" in lines[2]
    for line in lines:
        assert BEARER_TOKEN not in line
        assert HMAC_SECRET not in line


def test_create_app_reads_the_environment(tmp_path: Path) -> None:
    env = {
        "DESCOPE_AUDIT_HMAC_SECRET": HMAC_SECRET,
        "DESCOPE_AUDIT_DB": str(tmp_path / "env.db"),
        "DESCOPE_AUDIT_PATH": "/hooks/descope",
    }
    app = create_app(env)
    assert list(app.hooks) == ["/hooks/descope"]
    assert app.store.path == str(tmp_path / "env.db")
    body, headers = make_delivery(sample_events(1), hmac_secret=HMAC_SECRET)
    assert call(app, "POST", "/hooks/descope", body=body, headers=headers).code == 200


@pytest.mark.parametrize("path", ["/", "/api/events", "/audit.css", "no-slash"])
def test_reserved_or_relative_hook_paths_are_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(ConfigurationError, match="webhook path"):
        make_app(Verifier(HMAC_SECRET), tmp_path / "db", path)


def test_an_unopenable_database_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot open the event database"):
        EventStore(tmp_path / "missing-dir" / "events.db")


def test_an_async_token_validator_is_refused_when_the_receiver_is_built(tmp_path: Path) -> None:
    # The receiver is a WSGI app: it could only fail on the first delivery (a 500).
    async def validate(token: str) -> dict[str, str]:
        return {"sub": token}

    verifier = Verifier(HMAC_SECRET, auth=BearerToken(validator=validate))
    with pytest.raises(ConfigurationError, match="async def token validator"):
        make_app(verifier, tmp_path / "events.db")
    with pytest.raises(ConfigurationError, match="async def token validator"):
        AuditReceiver({"/hook": verifier}, EventStore(tmp_path / "other.db"))
