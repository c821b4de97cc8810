"""The examples, each under the production server its README names, over loopback HTTP.

Flask and Django run under gunicorn, FastAPI and Starlette under uvicorn, each started
with the very command examples/README.md gives (read from it, on a free port instead of
8000) and configured only by environment variables. A real HTTP client (http.client)
sends what Descope's connector would send; the event must reach the example's SQLite
store and its log, and forged, wrongly authenticated, malformed, oversize and GET
requests must be refused. The README's test-delivery command is run against the servers
too, its Python snippet against each example configured as its `export` lines say, and
the Django example under its development server.
"""

from __future__ import annotations

import http.client
import json
import re
import select
import shlex
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest

from descope_audit_hook import SIGNATURE_HEADER, ApiKey, Auth, BasicAuth, BearerToken, SignedForm, sign
from descope_audit_hook.testing import make_delivery, sample_event
from tests.support.cli import run_cli
from tests.support.paths import REPO
from tests.support.secrets import HMAC_SECRET
from tests.support.servers import Server, ServerStartError, gunicorn_env, request, serve

from ._readme import readme_command, readme_text

pytestmark = pytest.mark.server

PATH = "/descope/audit"
MAX_BODY = 65_536


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
        readme_command("flask_app:app"),
        BearerToken("e2e-bearer-token"),
        {"DESCOPE_AUDIT_BEARER_TOKEN": "e2e-bearer-token"},
    ),
    Example(
        "django",
        readme_command("audit_site.wsgi"),
        BasicAuth("descope", "e2e-basic-password"),
        {"DESCOPE_AUDIT_BASIC_USERNAME": "descope", "DESCOPE_AUDIT_BASIC_PASSWORD": "e2e-basic-password"},
        signed_form="trimmed",
    ),
    Example(
        "django-asgi",
        readme_command("audit_site.asgi:application"),
        BasicAuth("descope", "e2e-basic-password"),
        {"DESCOPE_AUDIT_BASIC_USERNAME": "descope", "DESCOPE_AUDIT_BASIC_PASSWORD": "e2e-basic-password"},
        signed_form="raw",
    ),
    Example(
        "fastapi",
        readme_command("fastapi_app:app"),
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
        readme_command("starlette_app:app"),
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
            "hmac_secret": HMAC_SECRET,
            "auth": self.example.auth,
            "required_headers": self.example.required_headers,
            "signed_form": self.example.signed_form,
        }
        options.update(overrides)
        return make_delivery(events, **options)


def environment(example: Example, db: Path) -> dict[str, str]:
    return {
        **gunicorn_env(),
        "DESCOPE_AUDIT_HMAC_SECRET": HMAC_SECRET,
        "DESCOPE_AUDIT_MAX_BODY_BYTES": str(MAX_BODY),
        "AUDIT_EVENTS_DB": str(db),
        **example.env,
    }


@pytest.fixture(scope="module", params=EXAMPLES, ids=[e.name for e in EXAMPLES])
def running(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    example: Example = request.param
    db = tmp_path_factory.mktemp(example.name) / "audit_events.sqlite3"
    # GET on the webhook answers (405) only once the app is imported: a broken example fails here.
    with serve(example.argv, environment(example, db), REPO, ready_path=PATH) as server:
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
    assert HMAC_SECRET not in output


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
        "django-asgi": BasicAuth("descope", "wrong-password"),
        "fastapi": ApiKey("x-descope-key", "wrong-key"),
        "starlette": BearerToken("wrong-token"),
    }
    body, headers = running.delivery([sample_event("login_failed")], auth=wrong[running.example.name])

    answer = request(running.server.url + PATH, "POST", body, headers)

    assert answer.status == 401
    assert answer.json()["error"] == "invalid_credentials"
    if running.example.name.startswith("django"):
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


def test_readme_send_command_delivers(running: Running) -> None:
    # The CLI line of examples/README.md, with the example's own DESCOPE_AUDIT_* variables.
    line = next(li for li in readme_text().splitlines() if li.startswith("descope-audit-hook send "))
    words = [w.replace("http://127.0.0.1:8000", running.server.url) for w in shlex.split(line)]
    alerts = running.server.output().count("ALERT LoginFailed")

    done = run_cli(words[1:], env=environment(running.example, running.db), inherit=False, timeout=30)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "200" in done.stdout
    assert '"received": 1' in done.stdout.replace('"received":1', '"received": 1')
    # The event reached the handler (it may be stored already: the sample is a fixed event).
    assert running.server.output().count("ALERT LoginFailed") == alerts + 1
    assert "LoginFailed" in running.stored_actions()


def readme_exports(db: Path) -> dict[str, str]:
    """The variables the README's ``export`` lines set (its secret and Bearer token), with the table in ``db``."""
    exported: dict[str, str] = {}
    for line in readme_text().splitlines():
        if line.startswith("export "):
            for word in shlex.split(line)[1:]:
                name, _, value = word.partition("=")
                exported[name] = value
    assert {"DESCOPE_AUDIT_HMAC_SECRET", "DESCOPE_AUDIT_BEARER_TOKEN", "AUDIT_EVENTS_DB"} <= exported.keys()
    return {**gunicorn_env(), **exported, "AUDIT_EVENTS_DB": str(db)}


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_readme_python_snippet_delivers(example: Example, tmp_path: Path) -> None:
    # The README's walk-through: the example configured by its `export` lines (a Bearer token,
    # whatever auth type the other tests give it), then its Python snippet run against it.
    blocks = re.findall(r"```python\n(.*?)```", readme_text(), flags=re.DOTALL)
    assert len(blocks) == 1
    env = readme_exports(tmp_path / "audit_events.sqlite3")

    with serve(example.argv, env, REPO, ready_path=PATH) as server:
        running = Running(example, server, tmp_path / "audit_events.sqlite3")
        done = subprocess.run(
            [sys.executable, "-c", blocks[0].replace("http://127.0.0.1:8000", server.url)],
            env={"PATH": "", **env},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("200 ")
        assert json.loads(done.stdout[4:]) == {"received": 2, "stored": 2}
        assert server.output().count("ALERT LoginFailed") == 1
        assert sorted(running.stored_actions()) == ["LoginFailed", "UserModified"]


@pytest.mark.parametrize("marker", ["manage.py runserver", "-m django runserver"])
def test_django_example_under_the_development_server(marker: str, tmp_path: Path) -> None:
    django = next(e for e in EXAMPLES if e.name == "django")
    db = tmp_path / "audit_events.sqlite3"
    with serve(readme_command(marker), environment(django, db), REPO, ready_path=PATH) as server:
        running = Running(django, server, db)
        body, headers = running.delivery([sample_event("login_failed")])

        accepted = request(server.url + PATH, "POST", body, headers)
        forged = request(server.url + PATH, "POST", body, {**headers, SIGNATURE_HEADER: sign(body, "forged")})

        assert (accepted.status, accepted.json()) == (200, {"received": 1, "stored": 1})
        assert forged.status == 401
        assert forged.json()["error"] == "invalid_signature"
        assert running.stored_actions() == ["LoginFailed"]


def post_chunked(url: str, headers: Mapping[str, str], chunks: Iterator[bytes]) -> tuple[int, bytes]:
    """POST with ``Transfer-Encoding: chunked`` (no Content-Length), then read the answer.

    The server may answer and close before the whole body was sent, which is exactly what
    a size limit enforced while reading does: a broken pipe while sending is expected.
    """
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    head = f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    with socket.create_connection((parts.hostname, parts.port), timeout=20) as sock:
        try:
            sock.sendall(head.encode("latin-1"))
            for chunk in chunks:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read()


def test_undeclared_oversize_body_is_refused_while_reading(running: Running) -> None:
    # Chunked, no Content-Length: the limit must hold while the body streams in.
    _, headers = running.delivery([sample_event("login_failed")])
    chunks = iter([b"[" + b" " * 8191] * (3 * MAX_BODY // 8192))

    status, body = post_chunked(running.server.url + PATH, headers, chunks)

    assert (status, json.loads(body)["error"]) == (413, "payload_too_large")


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_example_without_configuration_refuses_to_start(example: Example, tmp_path: Path) -> None:
    # Fail closed: with no secret and no credential the app would accept anyone, so it must not serve.
    env = {**gunicorn_env(), "AUDIT_EVENTS_DB": str(tmp_path / "events.sqlite3")}

    with pytest.raises(ServerStartError, match="ConfigurationError"), serve(example.argv, env, REPO, ready_path=PATH):
        pytest.fail("the example served without any configuration")


def stream_until_answered(url: str, headers: Mapping[str, str], total: int) -> tuple[int, bytes, int]:
    """POST a chunked body of up to ``total`` bytes, stopping as soon as an answer arrives.

    Returns ``(status, body, bytes of body sent)``. A client that watches for an early
    answer is what a size limit enforced while reading is for: it can stop sending.
    """
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    head = f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nTransfer-Encoding: chunked\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    chunk = b"[" + b" " * 65_535
    sent = 0
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head.encode("latin-1"))
        try:
            while sent < total and not select.select([sock], [], [], 0)[0]:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            if sent >= total:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read(), sent


def test_django_under_asgi_refuses_a_huge_upload_before_django_reads_it(tmp_path: Path) -> None:
    # Django's ASGIHandler reads the whole body (spooled to a file past 2.5 MB) before any
    # middleware: without AuditWebhookBodyLimit the 64 MiB are all read and written to disk,
    # and the 413 comes after the last byte. With it, the 413 comes after the first 64 KiB.
    example = next(e for e in EXAMPLES if e.name == "django-asgi")
    total = 64 * 1_048_576
    _, headers = Running(example, None, tmp_path).delivery([sample_event("login_failed")])  # type: ignore[arg-type]
    headers.pop("Content-Length", None)
    env = {**environment(example, tmp_path / "events.sqlite3"), "TMPDIR": str(tmp_path)}
    with serve(example.argv, env, REPO, ready_path=PATH) as server:
        process = psutil.Process(server.process.pid)
        assert "uvicorn" in " ".join(process.cmdline())
        written_before = process.io_counters().write_chars
        status, body, sent = stream_until_answered(server.url + PATH, headers, total)
        written = process.io_counters().write_chars - written_before

    assert (status, json.loads(body)["error"]) == (413, "payload_too_large")
    assert sent < total // 4, f"the answer came only after {sent} of {total} bytes"
    # What the server process wrote (files, its log; not its socket sends): nothing body-sized.
    assert written < 2 * 1_048_576, f"the server wrote {written} bytes"
