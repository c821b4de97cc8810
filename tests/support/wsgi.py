"""Call the receiver's WSGI application directly, with a PEP 3333 environ, as a server would.

:func:`post_delivery` posts a signed delivery to its webhook path.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from descope_audit_hook import Auth
from descope_audit_hook.receiver import AuditReceiver
from descope_audit_hook.testing import make_delivery

from .secrets import HMAC_SECRET

__all__ = ["WEBHOOK", "Reply", "call", "environ", "post_delivery"]


class Reply:
    def __init__(self, status: str, headers: list[tuple[str, str]], chunks: Iterable[bytes]) -> None:
        self.code = int(status.split()[0])
        self.header_list = headers
        self.headers = {name.lower(): value for name, value in headers}
        self.chunks = chunks
        self._body: bytes | None = None

    @property
    def body(self) -> bytes:
        if self._body is None:
            self._body = b"".join(self.chunks)
            close = getattr(self.chunks, "close", None)
            if close is not None:
                close()
        return self._body

    def json(self) -> Any:
        return json.loads(self.body)

    def cookies(self) -> dict[str, str]:
        """``Set-Cookie`` values by cookie name (the whole header value)."""
        return {v.split("=", 1)[0]: v for k, v in self.header_list if k.lower() == "set-cookie"}


def environ(
    method: str = "GET",
    path: str = "/",
    *,
    query: str = "",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    stream: io.IOBase | None = None,
    content_length: str | None = None,
    terminated: bool = False,
    host: str | None = "127.0.0.1",
    remote: str = "127.0.0.1",
    scheme: str = "http",
) -> dict[str, Any]:
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "REMOTE_ADDR": remote,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.input": stream if stream is not None else io.BytesIO(body),
        "wsgi.url_scheme": scheme,
        "wsgi.input_terminated": terminated,
        "CONTENT_LENGTH": str(len(body)) if content_length is None and body else content_length or "",
    }
    if host is not None:
        env["HTTP_HOST"] = host
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            env[key] = value
        else:
            env["HTTP_" + key] = value
    return env


def call(app: AuditReceiver, method: str = "GET", path: str = "/", **kwargs: Any) -> Reply:
    """Run one request through ``app``; the body of a streamed answer is read (and closed) on first use."""
    captured: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured.append((status, response_headers))
        return lambda data: None

    chunks = app(environ(method, path, **kwargs), start_response)
    return Reply(captured[0][0], captured[0][1], chunks)


#: The reference receiver's webhook path (its default).
WEBHOOK = "/descope/audit"


def post_delivery(
    app: AuditReceiver, events: Sequence[Mapping[str, Any]], *, auth: Auth | None = None, **request: Any
) -> Reply:
    """POST ``events`` to the webhook path, signed with HMAC_SECRET (and ``auth``); ``request``: :func:`environ`'s."""
    body, headers = make_delivery(events, hmac_secret=HMAC_SECRET, auth=auth)
    return call(app, "POST", WEBHOOK, body=body, headers=headers, **request)
