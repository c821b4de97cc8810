"""The command line's HTTP client: one request, no redirect, errors as one line.

Standard library only (:mod:`http.client`, :mod:`ssl`). ``send`` delivers with it, asks
the token endpoint for a token with it, and ``demo`` plays the connector with it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from ._args import UsageError, refuse_reserved

__all__ = ["RESERVED", "Response", "SendError", "Target", "parse_url", "request", "shown_url"]

#: Headers :func:`request` sets itself (the body's framing): no other header may set them, in any spelling.
RESERVED = frozenset({"content-length", "transfer-encoding"})

_MAX_RESPONSE = 1_048_576


class SendError(Exception):
    """The delivery could not be made: connection refused, TLS failure, timeout (exit status 1)."""


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON, or ``None`` when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def shown_url(url: str) -> str:
    """``url`` for the terminal: a query string may carry a token, so only that there is one is shown."""
    base, sep, _ = url.partition("?")
    return base + ("?..." if sep else "")


def _ssl_context(trust_any_certificate: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if trust_any_certificate:
        # The connector's "Trust any certificate": a self-signed test server. Off by default.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@dataclass(frozen=True)
class Target:
    """Where a request goes: scheme, host, port and the request target (ASCII, percent-encoded)."""

    scheme: str
    host: str
    port: int | None
    target: str

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}" if self.port else self.host


# Characters a request target keeps as they are; anything else (non-ASCII) is percent-encoded.
_TARGET_SAFE = "".join(chr(c) for c in range(33, 127))


def parse_url(url: str) -> Target:
    """Check a URL before anything is sent; a :class:`UsageError` says what is wrong with it."""
    if any(char.isspace() or not char.isprintable() for char in url):
        raise UsageError("URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise UsageError("URL is not valid (an unclosed '[' around an IPv6 address?)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"URL must be an http:// or https:// address, got {json.dumps(url[:200])}")
    if parts.username is not None or parts.password is not None:
        raise UsageError("put credentials in --basic-user/--basic-password, not in the URL")
    try:
        port = parts.port
    except ValueError:
        raise UsageError("the URL has an invalid port") from None
    host = parts.hostname
    if not host.startswith("[") and ":" not in host:
        try:
            host.encode("idna")  # what the connection will do; empty or overlong labels fail here
        except UnicodeError:
            raise UsageError("the URL's host name is not valid") from None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port, quote(target, safe=_TARGET_SAFE))


def request(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    method: str = "POST",
    trust_any_certificate: bool = False,
    timeout: float = 10.0,
) -> Response:
    """Send one request and return the response. Redirects are not followed (nor does Descope, presumably)."""
    from descope_audit_hook import __version__

    url_parts = parse_url(url)
    refuse_reserved(headers, RESERVED, "a header", "the request sets it from the body")
    host, port, where = url_parts.host, url_parts.port, url_parts.where
    connection: http.client.HTTPConnection
    if url_parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=_ssl_context(trust_any_certificate)
        )
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    target = url_parts.target
    # Header values leave as UTF-8 bytes, as Go's net/http (Descope's connector) sends a
    # string: http.client would encode them as latin-1 and fail on anything beyond it.
    sent: dict[str, bytes] = {name: value.encode("utf-8") for name, value in headers.items()}
    if not any(name.lower() == "user-agent" for name in sent):
        sent["User-Agent"] = f"descope-audit-hook/{__version__} (connector emulator)".encode()
    sent["Content-Length"] = str(len(body)).encode()
    try:
        # The server may have answered early (a 413) and stopped reading: its answer counts.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.request(method, target, body=body, headers=sent)
        answer = connection.getresponse()
        data = answer.read(_MAX_RESPONSE)
        return Response(answer.status, answer.reason, data)
    except ssl.SSLCertVerificationError as exc:
        reason = exc.verify_message or "certificate verify failed"
        raise SendError(
            f"TLS certificate of {where} is not trusted ({reason}); "
            "for a self-signed test server pass --trust-any-certificate"
        ) from None
    except ssl.SSLError as exc:
        raise SendError(f"TLS handshake with {where} failed: {exc.reason or exc}") from None
    except TimeoutError:
        raise SendError(f"no answer from {where} within {timeout:g} s") from None
    except http.client.HTTPException as exc:
        raise SendError(f"{where} did not answer with valid HTTP ({type(exc).__name__})") from None
    except OSError as exc:
        raise SendError(f"cannot connect to {where}: {exc.strerror or exc}") from None
    finally:
        connection.close()
