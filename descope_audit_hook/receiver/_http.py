"""The receiver's HTTP plumbing: responses, security headers, request headers, the body read."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from descope_audit_hook._adapter import incomplete_body, read_bounded
from descope_audit_hook._errors import VerificationError

__all__ = [
    "CSP",
    "SECURITY_HEADERS",
    "Environ",
    "Forbidden",
    "RequestTimeout",
    "Response",
    "StartResponse",
    "error_response",
    "html_response",
    "json_response",
    "log_text",
    "read_body",
    "request_headers",
    "status_line",
]

Environ = dict[str, Any]
StartResponse = Callable[..., Any]

SECURITY_HEADERS = (
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
)
#: No script at all; styles only from our own stylesheet; the chart is inline SVG, styled by it.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


class Forbidden(VerificationError):
    """The request is well-formed and may not see this (403)."""

    status_code = 403
    default_code = "forbidden"


class RequestTimeout(VerificationError):
    """The client did not send its whole request (headers and body) in time (408)."""

    status_code = 408
    default_code = "request_timeout"


@dataclass(frozen=True)
class Response:
    """What a route answers; ``body`` is bytes, or an iterable of chunks for a streamed answer."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes | Iterable[bytes] = b""
    note: str = ""  # for the request's log line: stored/duplicate counts, an error code
    cookies: list[str] = field(default_factory=list)


def status_line(code: int) -> str:
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:  # pragma: no cover - we only answer known statuses
        return f"{code} Unknown"


def json_response(
    code: int, payload: Mapping[str, Any], note: str = "", extra: Iterable[tuple[str, str]] = ()
) -> Response:
    body = json.dumps(payload, ensure_ascii=True).encode("ascii")
    return Response(code, [("Content-Type", "application/json"), *extra, *SECURITY_HEADERS], body, note)


def html_response(code: int, page: str, cookies: Iterable[str] = ()) -> Response:
    # "backslashreplace": a lone surrogate from a JSON escape in the data cannot break the page.
    body = page.encode("utf-8", "backslashreplace")
    headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Security-Policy", CSP), *SECURITY_HEADERS]
    return Response(code, headers, body, cookies=list(cookies))


def error_response(exc: VerificationError) -> Response:
    return json_response(exc.status_code, exc.to_dict(), exc.code, exc.headers.items())


def log_text(value: str, limit: int = 200) -> str:
    # Request lines are attacker-controlled: escape control characters, cap the length.
    return json.dumps(value[:limit], ensure_ascii=True)[1:-1]


def request_headers(environ: Environ) -> list[tuple[str, str]]:
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers.append((key[5:].replace("_", "-").lower(), value))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers.append((key.replace("_", "-").lower(), value))
    return headers


def read_body(environ: Environ, limit: int) -> bytes:
    """Read the body in chunks, never more than ``limit`` bytes (plus one to notice more).

    ``CONTENT_LENGTH`` must have been checked already (``Verifier.check_content_length``).
    A read that times out (the server's request deadline) is a 408; any other failure to
    read (the client went away, sent less than it declared) a 400.
    """
    stream = environ["wsgi.input"]
    declared = environ.get("CONTENT_LENGTH") or ""
    if declared:
        remaining = int(declared)
    elif environ.get("wsgi.input_terminated"):
        remaining = limit + 1  # chunked: read until EOF, but stop as soon as the limit is passed
    else:
        return b""  # PEP 3333: no Content-Length and no terminated input means no body

    def read(size: int) -> bytes:
        # A raw WSGI stream must not be read past its Content-Length: it would block.
        nonlocal remaining
        chunk = stream.read(min(size, remaining)) if remaining > 0 else b""
        remaining -= len(chunk)
        return bytes(chunk)

    try:
        return read_bounded(read, limit)
    except TimeoutError:
        raise RequestTimeout("the request was not received in time") from None
    except OSError:
        raise incomplete_body() from None
