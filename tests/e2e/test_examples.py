"""The examples, each under the production server its README names, over loopback HTTP.

Flask and Django run under gunicorn, FastAPI and Starlette under uvicorn, each started
with the command examples/README.md gives and configured only by environment variables.
A real HTTP client (http.client) sends what Descope's connector would send; the event
must reach the example's SQLite store and its log, and forged, wrongly authenticated,
oversize and GET requests must be refused with our JSON errors.
"""

from __future__ import annotations

import http.client
import json
import sqlite3
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from descope_audit_hook import ApiKey, Auth, BasicAuth, BearerToken, SignedForm
from descope_audit_hook.testing import make_delivery, sample_event

from .servers import Server, serve

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[2]
PATH = "/descope/audit"
SECRET = "e2e-hmac-secret-not-a-real-one"
MAX_BODY = 65_536
GUNICORN = [sys.executable, "-m", "gunicorn", "--bind", "{host}:{port}", "--workers", "2", "--graceful-timeout", "5"]
UVICORN = [sys.executable, "-m", "uvicorn", "--host", "{host}", "--port", "{port}"]


@dataclass(frozen=True)
class Example:
    name: str
    argv: list[str]
    auth: Auth
    env: dict[str, str]
    signed_form: SignedForm = "raw"
    required_headers: dict[str, str] = field(default_factory=dict)


# Each example gets another authentication type of the connector, all from DESCOPE_AUDIT_*.
EXAMPLES = [
    Example(
        "flask",
        [*GUNICORN, "--chdir", "examples", "flask_app:app"],
        BearerToken("e2e-bearer-token"),
        {"DESCOPE_AUDIT_BEARER_TOKEN": "e2e-bearer-token"},
    ),
    Example(
        "django",
        [*GUNICORN, "--chdir", "examples/django_app", "audit_site.wsgi"],
        BasicAuth("descope", "e2e-basic-password"),
        {"DESCOPE_AUDIT_BASIC_USERNAME": "descope", "DESCOPE_AUDIT_BASIC_PASSWORD": "e2e-basic-password"},
        signed_form="trimmed",
    ),
    Example(
        "fastapi",
        [*UVICORN, "--app-dir", "examples", "fastapi_app:app"],
        ApiKey("x-descope-key", "e2e-api-key"),
        {
            "DESCOPE_AUDIT_API_KEY_HEADER": "x-descope-key",
            "DESCOPE_AUDIT_API_KEY": "e2e-api-key",
            "DESCOPE_AUDIT_HEADERS": '{"x-env": "e2e"}',
        },
        signed_form="compact",
        required_headers={"x-env": "e2e"},
    ),
    Example(
        "starlette",
        [*UVICORN, "--app-dir", "examples", "starlette_app:app"],
        BearerToken("e2e-bearer-token"),
        {"DESCOPE_AUDIT_BEARER_TOKEN": "e2e-bearer-token"},
        signed_form="compact-escaped",
    ),
]


@dataclass(frozen=True)
class Running:
    example: Example
    server: Server
    db: Path

    def stored_actions(self) -> list[str]:
        if not self.db.exists():
            return []
        with sqlite3.connect(self.db) as db:
            return [row[0] for row in db.execute("SELECT action FROM audit_events ORDER BY occurred")]

    def delivery(self, events: list[dict[str, Any]] | bytes, **overrides: Any) -> tuple[bytes, dict[str, str]]:
        options: dict[str, Any] = {
            "hmac_secret": SECRET,
            "auth": self.example.auth,
            "required_headers": self.example.required_headers,
            "signed_form": self.example.signed_form,
        }
        options.update(overrides)
        return make_delivery(events, **options)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(url: str, method: str, body: bytes | None, headers: Mapping[str, str]) -> Answer:
    parts = urlsplit(url)
    assert parts.hostname is not None
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    try:
        conn.request(method, parts.path, body=body, headers=dict(headers))
        response = conn.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        conn.close()


@pytest.fixture(scope="module", params=EXAMPLES, ids=[e.name for e in EXAMPLES])
def running(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    example: Example = request.param
    db = tmp_path_factory.mktemp(example.name) / "audit_events.sqlite3"
    env = {
        "DESCOPE_AUDIT_HMAC_SECRET": SECRET,
        "DESCOPE_AUDIT_MAX_BODY_BYTES": str(MAX_BODY),
        "AUDIT_EVENTS_DB": str(db),
        **example.env,
    }
    # GET on the webhook answers (405) only once the app is imported: a broken example fails here.
    with serve(example.argv, env, ROOT, ready_path=PATH) as server:
        yield Running(example, server, db)


def test_signed_delivery_is_logged_and_stored(running: Running) -> None:
    events = [sample_event("login_succeed"), sample_event("login_failed"), sample_event("user_modified")]
    body, headers = running.delivery(events)

    answer = request(running.server.url + PATH, "POST", body, headers)

    assert answer.status == 200, answer.body
    assert answer.json() == {"received": 3, "stored": 3}
    assert running.stored_actions() == ["LoginSucceed", "UserModified", "LoginFailed"]
    output = running.server.output()
    assert "LoginSucceed" in output
    assert "ALERT LoginFailed" in output
    assert SECRET not in output


def test_redelivery_is_stored_once(running: Running) -> None:
    body, headers = running.delivery([sample_event("access_key_created")])

    first = request(running.server.url + PATH, "POST", body, headers)
    again = request(running.server.url + PATH, "POST", body, headers)

    assert (first.status, first.json()) == (200, {"received": 1, "stored": 1})
    assert (again.status, again.json()) == (200, {"received": 1, "stored": 0})
    assert running.stored_actions().count("AccessKeyCreated") == 1


def test_forged_signature_is_rejected(running: Running) -> None:
    before = running.stored_actions()
    body, headers = running.delivery([sample_event("user_created")], hmac_secret="not-the-secret")

    answer = request(running.server.url + PATH, "POST", body, headers)

    assert answer.status == 401
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.json() == {"error": "invalid_signature", "message": "signature does not match"}
    assert running.stored_actions() == before


def test_tampered_body_is_rejected(running: Running) -> None:
    body, headers = running.delivery([sample_event("login_failed")])
    tampered = body.replace(b"LoginFailed", b"LoginSucceed")

    answer = request(running.server.url + PATH, "POST", tampered, headers)

    assert answer.status == 401
    assert answer.json()["error"] == "invalid_signature"


def test_wrong_credentials_are_rejected(running: Running) -> None:
    wrong: dict[str, Auth] = {
        "flask": BearerToken("wrong-token"),
        "django": BasicAuth("descope", "wrong-password"),
        "fastapi": ApiKey("x-descope-key", "wrong-key"),
        "starlette": BearerToken("wrong-token"),
    }
    body, headers = running.delivery([sample_event("login_failed")], auth=wrong[running.example.name])

    answer = request(running.server.url + PATH, "POST", body, headers)

    assert answer.status == 401
    assert answer.json()["error"] == "invalid_credentials"
    if running.example.name == "django":
        assert answer.headers["WWW-Authenticate"].startswith("Basic ")
    assert b"wrong" not in answer.body


def test_missing_credentials_are_rejected(running: Running) -> None:
    body, headers = running.delivery([sample_event("login_failed")], auth=None)

    answer = request(running.server.url + PATH, "POST", body, headers)

    assert answer.status == 401
    assert answer.json()["error"] == "missing_credentials"


def test_signed_malformed_json_is_a_400(running: Running) -> None:
    body, headers = running.delivery(b'[{"action": "LoginFailed", ')

    answer = request(running.server.url + PATH, "POST", body, headers)

    assert answer.status == 400
    assert answer.json()["error"] == "invalid_json"


def test_declared_oversize_body_is_a_413_before_it_is_sent(running: Running) -> None:
    # Only the headers are sent: the answer must come without the server reading a body.
    _, headers = running.delivery([sample_event("login_failed")])
    parts = urlsplit(running.server.url)
    assert parts.hostname is not None
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    try:
        conn.putrequest("POST", PATH)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(10 * MAX_BODY))
        conn.endheaders()
        response = conn.getresponse()
        status, body = response.status, response.read()
    finally:
        conn.close()

    assert status == 413
    assert json.loads(body)["error"] == "payload_too_large"


def test_get_is_a_405(running: Running) -> None:
    answer = request(running.server.url + PATH, "GET", None, {})

    assert answer.status == 405
    assert "POST" in answer.headers["Allow"]
