"""A loopback OAuth 2.0 authorization server for the tests: real HTTP, real keys, real tokens.

It serves, on a free loopback port:

- ``POST /token``: the client-credentials grant (RFC 6749 section 4.4). The client
  authenticates with HTTP Basic (the client id and secret each form-urlencoded first,
  section 2.3.1) or with ``client_id``/``client_secret`` in the form body, never both.
  The answer is a JWT access token in the shape of RFC 9068 (``iss``, ``aud``, ``sub``,
  ``client_id``, ``scope``, ``iat``, ``nbf``, ``exp``, ``jti``; header ``typ: at+jwt`` and
  ``kid``), signed with a per-run RS256 or ES256 key, or an opaque token.
- ``GET /jwks``: the public keys (RFC 7517).
- ``POST /introspect``: RFC 7662 token introspection for the opaque tokens, for a
  resource server authenticating with Basic.

Every request is recorded, and the token endpoint can be scripted to answer something
else (an error, garbage, slowly) for the client's error handling.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import itertools
import json
import os
import secrets
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, unquote_plus

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from .paths import EXAMPLES

__all__ = [
    "AUDIENCE",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "RESOURCE_ID",
    "RESOURCE_SECRET",
    "Issuer",
    "Recorded",
    "Scripted",
    "load_example",
]

_loaded = itertools.count()

AUDIENCE = "https://audit.example.test/descope"
# A client id and secret with characters that form-urlencoding changes (RFC 6749 section 2.3.1).
CLIENT_ID = "descope audit:connector"
CLIENT_SECRET = "s3cr=t+/ with spaces:" + secrets.token_urlsafe(8)
# The receiver's own credentials, for introspection.
RESOURCE_ID = "audit-receiver"
RESOURCE_SECRET = "resource-" + secrets.token_urlsafe(8)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("ascii"), keep_blank_values=True, strict_parsing=bool(self.body))


@dataclass(frozen=True)
class Scripted:
    """What the token endpoint answers to its next request instead of a token."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    delay: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Key:
    kid: str
    algorithm: str
    private: Any


class Issuer:
    """The authorization server; use as a context manager (it serves from a thread)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.keys = {
            "rs-1": Key("rs-1", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            "ec-1": Key("ec-1", "ES256", ec.generate_private_key(ec.SECP256R1())),
        }
        #: A key the JWKS does not publish (a forger's).
        self.stranger = Key("rs-1", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))
        self.signing_kid = "rs-1"
        self.token_format = "jwt"  # or "opaque"
        self.requests: list[Recorded] = []
        self.script: list[Scripted] = []
        self.opaque: dict[str, dict[str, Any]] = {}  # opaque token -> its introspection answer
        self.issued: list[str] = []  # every access token the token endpoint gave out
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._scheme = "http"
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
            self._scheme = "https"
        self._thread: threading.Thread | None = None

    # --- running ----------------------------------------------------------------------

    def __enter__(self) -> Issuer:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def base(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self._server.server_address[1]}"

    @property
    def issuer(self) -> str:
        return self.base + "/"

    @property
    def token_url(self) -> str:
        return self.base + "/token"

    @property
    def jwks_url(self) -> str:
        return self.base + "/jwks"

    @property
    def introspection_url(self) -> str:
        return self.base + "/introspect"

    def env(self) -> dict[str, str]:
        """The variables of examples/oauth_validator.py and examples/oauth_introspection.py for this server."""
        return {
            "OAUTH_ISSUER": self.issuer,
            "OAUTH_AUDIENCE": AUDIENCE,
            "OAUTH_JWKS_URL": self.jwks_url,
            "OAUTH_CLIENT_ID": CLIENT_ID,
            "OAUTH_INTROSPECTION_URL": self.introspection_url,
            "OAUTH_RESOURCE_CLIENT_ID": RESOURCE_ID,
            "OAUTH_RESOURCE_CLIENT_SECRET": RESOURCE_SECRET,
        }

    def count(self, path: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.path == path)

    @contextlib.contextmanager
    def scripted(self, *answers: Scripted) -> Iterator[None]:
        self.script[:] = answers
        try:
            yield
        finally:
            self.script.clear()

    # --- tokens ---------------------------------------------------------------------------

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """The claims of a good access token for the Descope client, with ``overrides`` (``None`` removes one)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": CLIENT_ID,
            "client_id": CLIENT_ID,
            "scope": "audit:write",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": secrets.token_hex(8),
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def mint(
        self,
        *,
        kid: str | None = None,
        key: Any = None,
        algorithm: str | None = None,
        headers: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> str:
        """A JWT signed with the key ``kid`` (default: the current signing key), or with ``key``."""
        chosen = self.keys[kid or self.signing_kid]
        header = {"kid": chosen.kid, "typ": "at+jwt", **(headers or {})}
        return jwt.encode(
            self.claims(**overrides),
            chosen.private if key is None else key,
            algorithm=algorithm or chosen.algorithm,
            headers=header,
        )

    def public_pem(self, kid: str = "rs-1") -> bytes:
        from cryptography.hazmat.primitives import serialization

        public = self.keys[kid].private.public_key()
        return bytes(public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    def jwks(self) -> dict[str, Any]:
        keys = []
        for key in self.keys.values():
            encoder = RSAAlgorithm if key.algorithm.startswith("RS") else ECAlgorithm
            jwk = encoder.to_jwk(key.private.public_key(), as_dict=True)
            keys.append({**jwk, "kid": key.kid, "alg": key.algorithm, "use": "sig"})
        return {"keys": keys}

    def rotate(self) -> str:
        """Publish a new RS256 key and sign with it from now on; the old keys stay published."""
        kid = f"rs-{len(self.keys) + 1}"
        self.keys[kid] = Key(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))
        self.signing_kid = kid
        return kid

    def issue(self, scope: str) -> dict[str, Any]:
        """The token endpoint's answer for the Descope client asking for ``scope``."""
        claims = self.claims(scope=scope or "audit:write")
        if self.token_format == "opaque":
            token = secrets.token_urlsafe(32)
            self.opaque[token] = {"active": True, "token_type": "Bearer", **claims}
        else:
            token = self.mint(scope=scope or "audit:write")
        with self._lock:
            self.issued.append(token)
        return {"access_token": token, "token_type": "Bearer", "expires_in": 300, "scope": claims["scope"]}


def load_example(name: str, env: Mapping[str, str]) -> ModuleType:
    """``examples/<name>.py`` imported as written, as a new module, with ``env`` set while it loads."""
    spec = importlib.util.spec_from_file_location(f"example_{name}_{next(_loaded)}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        spec.loader.exec_module(module)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return module


def _basic(value: str) -> tuple[str, str] | None:
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic":
        return None
    user, sep, password = base64.b64decode(encoded).decode("utf-8").partition(":")
    return (unquote_plus(user), unquote_plus(password)) if sep else None


def _handler(issuer: Issuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _answer(self, status: int, payload: Any, extra: Mapping[str, str] | None = None) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            headers = {"Content-Type": "application/json", "Cache-Control": "no-store", **(extra or {})}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            # A client that gave up waiting (the timeout tests) has closed its end by now.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.end_headers()
                self.wfile.write(data)

        def _record(self) -> Recorded:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            recorded = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            with issuer._lock:
                issuer.requests.append(recorded)
            return recorded

        def do_GET(self) -> None:
            self._record()
            if self.path == "/jwks":
                self._answer(200, issuer.jwks())
            else:
                self._answer(404, {"error": "not_found"})

        def do_POST(self) -> None:
            request = self._record()
            if self.path == "/token":
                self._token(request)
            elif self.path == "/introspect":
                self._introspect(request)
            else:
                self._answer(404, {"error": "not_found"})

        def _token(self, request: Recorded) -> None:
            if issuer.script:
                scripted = issuer.script.pop(0)
                time.sleep(scripted.delay)
                self._answer(
                    scripted.status, scripted.body, {"Content-Type": scripted.content_type, **scripted.headers}
                )
                return
            if request.headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
                self._answer(400, {"error": "invalid_request"})
                return
            form = request.form()
            header = _basic(request.headers.get("authorization", ""))
            in_body = (form.get("client_id", [""])[0], form.get("client_secret", [""])[0])
            if header is not None and any(in_body):
                self._answer(400, {"error": "invalid_request"})  # RFC 6749 2.3: one method only
                return
            client = header if header is not None else in_body
            if form.get("grant_type") != ["client_credentials"]:
                self._answer(400, {"error": "unsupported_grant_type"})
            elif client != (CLIENT_ID, CLIENT_SECRET):
                self._answer(401, {"error": "invalid_client"}, {"WWW-Authenticate": 'Basic realm="issuer"'})
            else:
                self._answer(200, issuer.issue(form.get("scope", [""])[0]))

        def _introspect(self, request: Recorded) -> None:
            if _basic(request.headers.get("authorization", "")) != (RESOURCE_ID, RESOURCE_SECRET):
                self._answer(401, {"error": "invalid_client"})
                return
            token = request.form().get("token", [""])[0]
            answer = issuer.opaque.get(token)
            if answer is None or answer["exp"] < time.time():
                self._answer(200, {"active": False})
            else:
                self._answer(200, answer)

    return Handler
