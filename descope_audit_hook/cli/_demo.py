"""``descope-audit-hook demo``: the receiver and the connector emulator, face to face.

Starts the reference receiver on a free loopback port (a thread, a temporary database,
secrets generated for this run and never printed), with one webhook path per connector
authentication type, then uses the sender to deliver valid batches and hostile ones and
prints a table of expected against actual outcomes.

For the connector's OAuth 2.0 type it also starts a tiny authorization server on
loopback (:mod:`._authority`).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import secrets
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from descope_audit_hook._auth import ApiKey, BasicAuth, BearerToken
from descope_audit_hook._models import SignedForm
from descope_audit_hook._samples import signed_string
from descope_audit_hook._verifier import Verifier
from descope_audit_hook.receiver import AuditReceiver, EventStore, log_requests_to_stderr, make_server

from ._args import PROG, Commands, port, stop_on_sigterm
from ._authority import AuthorizationServer
from ._client import Response, SendError, request
from ._oauth import TokenRequest, fetch_bearer
from ._send import build_delivery, sample_payload

__all__ = ["DEMO_LIMIT", "Case", "add_demo", "run_demo"]

#: The demo receivers' body limit, small enough for the oversize case to stay cheap.
DEMO_LIMIT = 64 * 1024


def add_demo(commands: Commands) -> None:
    demo = commands.add_parser(
        "demo",
        help="run a receiver and show what it accepts and rejects",
        description="Start the receiver on a free loopback port with a temporary database and generated "
        "secrets, send it valid deliveries for each authentication type and tampered, forged, wrongly "
        "authenticated and oversize ones, and print what was accepted and rejected. Exits 0 only when every "
        "outcome is the expected one.",
    )
    demo.add_argument("--keep-serving", action="store_true", help="leave the receiver up to browse its audit page")
    demo.add_argument("--port", type=port, default=0, help="port for the receiver (default: a free one)")
    demo.add_argument("--db", metavar="FILE", help="keep the events in this SQLite file (default: temporary)")
    demo.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    stop_on_sigterm()
    return run_demo(keep_serving=args.keep_serving, port=args.port, db=args.db, out=sys.stdout)


@dataclass(frozen=True)
class Case:
    """One request of the demo and what the receiver must answer."""

    label: str
    path: str
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    method: str = "POST"
    stored: int | None = None  # for an accepted delivery: how many new events
    duplicates: int = 0  # ... and how many it already had
    code: str | None = None  # for a rejection: the error code
    total: int | None = None  # for the listing: how many events it holds

    def expected(self) -> str:
        return f"{self.status} {_detail(self.stored, self.code, self.total, self.duplicates)}".rstrip()


def _detail(stored: int | None, code: str | None, total: int | None, duplicates: int | None = None) -> str:
    if stored is not None:
        return f"stored {stored}" + (f", {duplicates} dup" if duplicates else "")
    if code is not None:
        return code
    if total is not None:
        return f"lists {total}"
    return ""


def _actual(case: Case, response: Response) -> tuple[str, bool]:
    payload = response.json() if response.body[:1] in (b"{", b"[") else None
    data: dict[str, Any] = payload if isinstance(payload, dict) else {}
    stored = data.get("stored") if case.stored is not None else None
    code = data.get("error") if case.code is not None else None
    total = data.get("total") if case.total is not None else None
    text = f"{response.status} {_detail(stored, code, total, data.get('duplicates'))}".rstrip()
    duplicates = data.get("duplicates", 0) if case.stored is not None else 0
    expected = (case.status, case.stored, case.code, case.total, case.duplicates)
    ok = (response.status, stored, code, total, duplicates) == expected
    return text, ok


def _cases(authority: AuthorizationServer) -> tuple[dict[str, Verifier], list[Case]]:
    secret = secrets.token_urlsafe(32)
    bearer = BearerToken(secrets.token_urlsafe(24))
    api_key = ApiKey("x-api-key", secrets.token_urlsafe(24))
    basic = BasicAuth("descope-connector", secrets.token_urlsafe(24))
    static = {"x-descope-env": "demo"}
    hooks = {
        "/hooks/bearer": Verifier(secret, auth=bearer, required_headers=static, max_body_bytes=DEMO_LIMIT),
        "/hooks/api-key": Verifier(secret, auth=api_key, max_body_bytes=DEMO_LIMIT),
        "/hooks/basic": Verifier(secret, auth=basic, max_body_bytes=DEMO_LIMIT),
        "/hooks/hmac-only": Verifier(secret, max_body_bytes=DEMO_LIMIT),
        "/hooks/oauth": Verifier(secret, auth=BearerToken(validator=authority.validate), max_body_bytes=DEMO_LIMIT),
    }

    def deliver(
        payload: Any, auth: Any = None, form: SignedForm = "raw", headers: Mapping[str, str] | None = None
    ) -> tuple[bytes, dict[str, str]]:
        body, sent = build_delivery(payload, hmac_secret=secret, auth=auth, headers=headers, signed_form=form)
        return body, sent

    mixed = sample_payload("mixed", 5)
    bearer_body, bearer_headers = deliver(mixed, bearer, "raw", static)
    api_body, api_headers = deliver(sample_payload("login_failed"), api_key, "trimmed")
    basic_body, basic_headers = deliver(sample_payload("user_modified"), basic, "compact")
    hmac_body, hmac_headers = deliver(sample_payload("mixed", 3, seed=1), None, "compact-escaped")

    tampered = [dict(event) for event in mixed]
    tampered[0]["remoteAddress"] = "192.0.2.66"
    tampered_body = signed_string(tampered, "raw")[0]
    forged_body, forged_headers = build_delivery(
        mixed, hmac_secret=secrets.token_urlsafe(32), auth=bearer, headers=static
    )
    wrong_bearer = deliver(mixed, BearerToken(secrets.token_urlsafe(24)), "raw", static)
    wrong_basic = deliver(mixed, BasicAuth("descope-connector", secrets.token_urlsafe(24)))
    no_static = deliver(mixed, bearer)
    oversize = deliver(sample_payload("mixed", 200, seed=2), bearer, "raw", static)
    not_json, not_json_headers = deliver(b'[{"action": "LoginSucceed",', api_key)
    # The connector's OAuth type: a token from the authorization server, as `send --oauth-token-url` gets it.
    grant = fetch_bearer(TokenRequest(authority.token_url, authority.client_id, authority.client_secret), timeout=15)
    oauth_body, oauth_headers = deliver(sample_payload("mixed", 2, seed=3), grant.auth)
    never_issued = deliver(sample_payload("mixed", 2, seed=3), BearerToken(secrets.token_urlsafe(32)))
    valid = len(mixed) + 1 + 1 + 3 + 2

    cases = [
        Case(
            "Bearer token + static header, 5 events, raw", "/hooks/bearer", 200, bearer_body, bearer_headers, stored=5
        ),
        Case("API key header, LoginFailed, trimmed", "/hooks/api-key", 200, api_body, api_headers, stored=1),
        Case("Basic auth, UserModified, compact", "/hooks/basic", 200, basic_body, basic_headers, stored=1),
        Case("HMAC only, 3 events, compact-escaped", "/hooks/hmac-only", 200, hmac_body, hmac_headers, stored=3),
        Case("OAuth 2.0 client credentials, 2 events", "/hooks/oauth", 200, oauth_body, oauth_headers, stored=2),
        Case(
            "redelivery of the Bearer batch", "/hooks/bearer", 200, bearer_body, bearer_headers, stored=0, duplicates=5
        ),
        Case("tampered body", "/hooks/bearer", 401, tampered_body, bearer_headers, code="invalid_signature"),
        Case("forged signature", "/hooks/bearer", 401, forged_body, forged_headers, code="invalid_signature"),
        Case("wrong Bearer token", "/hooks/bearer", 401, *wrong_bearer, code="invalid_credentials"),
        Case("wrong Basic password", "/hooks/basic", 401, *wrong_basic, code="invalid_credentials"),
        Case("OAuth token never issued", "/hooks/oauth", 401, *never_issued, code="invalid_credentials"),
        Case("static header missing", "/hooks/bearer", 401, *no_static, code="missing_header"),
        Case(f"oversize body (> {DEMO_LIMIT // 1024} KiB)", "/hooks/bearer", 413, *oversize, code="payload_too_large"),
        Case("signed, authenticated, not JSON", "/hooks/api-key", 400, not_json, not_json_headers, code="invalid_json"),
        Case("GET on the webhook", "/hooks/bearer", 405, method="GET", code="method_not_allowed"),
        Case("the listing holds every valid event", "/api/events?per_page=500", 200, method="GET", total=valid),
    ]
    return hooks, cases


def _table(rows: list[tuple[str, ...]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(), file=out)
        if index == 0:
            print("  ".join("-" * width for width in widths), file=out)


def run_demo(*, keep_serving: bool = False, port: int = 0, db: str | None = None, out: TextIO) -> int:
    """Run the demo; 0 when every outcome was the expected one."""
    core_logger = logging.getLogger("descope_audit_hook")
    level = core_logger.level
    core_logger.setLevel(logging.ERROR)  # the table says what was rejected; no second report on stderr
    try:
        return _run(keep_serving, port, db, out)
    finally:
        core_logger.setLevel(level)


def _run(keep_serving: bool, port: int, db: str | None, out: TextIO) -> int:
    authority = AuthorizationServer()
    token_thread = threading.Thread(target=authority.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    token_thread.start()
    try:
        return _run_with(authority, keep_serving, port, db, out)
    finally:
        authority.server.shutdown()
        authority.server.server_close()


def _run_with(authority: AuthorizationServer, keep_serving: bool, port: int, db: str | None, out: TextIO) -> int:
    hooks, cases = _cases(authority)
    workdir = None if db is not None else tempfile.TemporaryDirectory(prefix="descope-audit-demo-")
    db_path = db if db is not None else os.path.join(workdir.name if workdir else ".", "audit-events.db")
    try:
        server = make_server("127.0.0.1", port, AuditReceiver(hooks, EventStore(db_path)))
    except OSError as exc:
        if workdir is not None:
            workdir.cleanup()
        print(f"{PROG}: error: cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        print(f"receiver on {base} (one webhook path per auth type, database {db_path})", file=out)
        print(f"OAuth token endpoint on {authority.token_url}\n", file=out, flush=True)
        rows: list[tuple[str, ...]] = [("#", "delivery", "path", "expected", "actual", "")]
        failures = 0
        for number, case in enumerate(cases, 1):
            try:
                response = request(base + case.path, case.body, case.headers, method=case.method, timeout=15)
            except SendError as exc:
                actual, ok = f"error: {exc}", False
            else:
                actual, ok = _actual(case, response)
            failures += not ok
            rows.append(
                (str(number), case.label, case.path.split("?")[0], case.expected(), actual, "ok" if ok else "FAIL")
            )
        page = request(base + "/", b"", {}, method="GET", timeout=15)
        page_ok = page.status == 200 and b"<table" in page.body
        failures += not page_ok
        rows.append(
            (
                str(len(cases) + 1),
                "the audit page shows them",
                "/",
                "200 html",
                f"{page.status} html" if page_ok else str(page.status),
                "ok" if page_ok else "FAIL",
            )
        )
        _table(rows, out)
        print(file=out)
        verdict = "every outcome was the expected one" if not failures else f"{failures} unexpected outcome(s)"
        print(f"result: {verdict}", file=out)
        if keep_serving:
            print(f"audit page: {base}/   JSON: {base}/api/events", file=out, flush=True)
            print("receiver kept running; press Ctrl-C to stop", file=out, flush=True)
            log_requests_to_stderr()
            with contextlib.suppress(KeyboardInterrupt):
                thread.join()
        else:
            print(
                "the receiver has stopped; 'descope-audit-hook demo --keep-serving' keeps it up to browse "
                "its audit page",
                file=out,
                flush=True,
            )
        return 0 if not failures else 1
    finally:
        server.shutdown()
        server.server_close()
        if workdir is not None:
            workdir.cleanup()
