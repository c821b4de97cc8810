"""The demo's OAuth 2.0 authorization server on loopback: a token endpoint and a token validator.

A token endpoint for the client-credentials grant, which the sender asks for a token
exactly as ``send --oauth-token-url`` does, and a token validator for the receiver that
looks the token up among those it issued (what RFC 7662 introspection asks a real server).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from descope_audit_hook._setting_kinds import parse_int

__all__ = ["AuthorizationServer"]


class AuthorizationServer:
    """The demo's OAuth 2.0 authorization server: ``POST /token`` (client credentials), opaque tokens."""

    client_id = "descope-audit-connector"
    lifetime = 300

    def __init__(self) -> None:
        self.client_secret = secrets.token_urlsafe(24)
        self._issued: dict[str, float] = {}  # token -> expiry (epoch seconds)
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _token_handler(self))
        self.server.daemon_threads = True
        self.token_url = f"http://127.0.0.1:{self.server.server_address[1]}/token"

    def grant(self, form: Mapping[str, list[str]], authorization: str) -> tuple[int, dict[str, Any]]:
        """RFC 6749 section 4.4: the answer to a token request."""
        client = _basic_client(authorization) or (form.get("client_id", [""])[0], form.get("client_secret", [""])[0])
        if form.get("grant_type") != ["client_credentials"]:
            return 400, {"error": "unsupported_grant_type"}
        known = hmac.compare_digest(client[0].encode(), self.client_id.encode())
        if not (hmac.compare_digest(client[1].encode(), self.client_secret.encode()) and known):
            return 401, {"error": "invalid_client"}
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._issued[token] = time.time() + self.lifetime
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime}

    def validate(self, token: str) -> dict[str, Any]:
        """The receiver's token validator: the claims of a token this server issued and that has not expired."""
        with self._lock:
            expiry = self._issued.get(token)
        if expiry is None or expiry < time.time():
            raise PermissionError("not an active token of this authorization server")
        return {"client_id": self.client_id, "exp": int(expiry)}


def _basic_client(authorization: str) -> tuple[str, str] | None:
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    return (unquote_plus(user), unquote_plus(password)) if sep else ("", "")


def _token_handler(authority: AuthorizationServer) -> type[BaseHTTPRequestHandler]:
    class TokenHandler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the demo's table says what happened."""

        def do_POST(self) -> None:
            size = parse_int(self.headers.get("Content-Length", "0"), 0, 65_536)
            if self.path != "/token" or size is None:
                status, answer = 400, {"error": "invalid_request"}
            else:
                form = parse_qs(self.rfile.read(size).decode("latin-1"))
                status, answer = authority.grant(form, self.headers.get("Authorization", ""))
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return TokenHandler
