"""The receiver's HTTP plumbing: responses, security headers, request headers, reading ``wsgi.input``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from descope_audit_hook._errors import VerificationError
from descope_audit_hook._request import WebhookRequest, reading_body
from descope_audit_hook._request import error_response as error_answer

__all__ = [
    "CSP",
    "SECURITY_HEADERS",
    "Environ",
    "Forbidden",
    "NotFound",
    "RequestTimeout",
    "Response",
    "StartResponse",
    "error_response",
    "html_response",
    "json_response",
    "log_text",
    "read_body",
    "read_form",
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


class NotFound(VerificationError):
    """No such path (404)."""

    status_code = 404
    default_code = "not_found"

    def __init__(self) -> None:
        super().__init__("no such path")


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


def json_response(code: int, payload: Mapping[str, Any], note: str = "") -> Response:
    body = json.dumps(payload, ensure_ascii=True).encode("ascii")
    return Response(code, [("Content-Type", "application/json"), *SECURITY_HEADERS], body, note)


def html_response(code: int, page: str, cookies: Iterable[str] = ()) -> Response:
    # The core refuses unpaired surrogates (a 400), so stored data holds none; "backslashreplace"
    # only keeps a mistake elsewhere from turning the page into a 500.
    body = page.encode("utf-8", "backslashreplace")
    headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Security-Policy", CSP), *SECURITY_HEADERS]
    return Response(code, headers, body, cookies=list(cookies))


def error_response(exc: VerificationError) -> Response:
    """The library's JSON error answer (``_request.error_response``), with the receiver's security headers."""
    status, body, headers = error_answer(exc)
    return Response(status, [*headers.items(), *SECURITY_HEADERS], body, exc.code)


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


@contextmanager
def _reading() -> Iterator[None]:
    """A read of ``wsgi.input`` that times out (the server's request deadline) is a 408; any
    other failure to read (:func:`reading_body`) a 400.
    """
    try:
        with reading_body(keep=(TimeoutError,)):
            yield
    except TimeoutError:
        raise RequestTimeout("the request was not received in time") from None


def read_body(environ: Environ, incoming: WebhookRequest) -> None:
    """Feed ``incoming`` the body from ``wsgi.input``: it asks for no more than was declared (a raw
    WSGI stream would block past it) and stops as soon as the limit is passed.
    """
    if not (environ.get("CONTENT_LENGTH") or environ.get("wsgi.input_terminated")):
        return  # PEP 3333: no Content-Length and no terminated input means no body
    with _reading():
        incoming.read(environ["wsgi.input"].read)


def read_form(environ: Environ, length: int) -> bytes:
    """A small body of a checked ``length`` (a login form), read at once."""
    with _reading():
        return bytes(environ["wsgi.input"].read(length)) if length else b""
