"""An emulator of Descope's Audit Webhook Connector: builds a delivery and POSTs it.

Standard library only (:mod:`http.client`, :mod:`ssl`). The delivery itself (body,
auth headers, static headers, signature) comes from :func:`descope_audit_hook.testing.make_delivery`,
so the emulator and the library's test helpers cannot drift apart.

Which signed form is the default, and why: Descope's backend is written in Go, and the
plain Go way to send a signed JSON request is to ``json.Marshal`` the events once, sign
those bytes and send the same bytes as the body. The receiver then sees a compact body
whose exact bytes were signed: the ``raw`` form. Descope's remark that the signature is
made "from a JSON string, not the raw post body" reads best as a warning to receivers
whose framework parsed the body before they could see it. The other forms stay one
option away (``--signed-form``) because that reading is not confirmed.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, urlsplit

from ._auth import Auth
from ._models import SignedForm
from .testing import SAMPLE_KINDS, Delivery, make_delivery, sample_event, sample_events

__all__ = [
    "DEFAULT_SIGNED_FORM",
    "SAMPLES",
    "Response",
    "SendError",
    "UsageError",
    "build_delivery",
    "load_payload",
    "parse_header_option",
    "parse_url",
    "request",
    "sample_payload",
]

#: What Descope most likely signs; see the module docstring.
DEFAULT_SIGNED_FORM: SignedForm = "raw"

#: Built-in samples: the kinds of :func:`sample_event`, and ``mixed`` (:func:`sample_events`).
SAMPLES: tuple[str, ...] = (*SAMPLE_KINDS, "mixed")

_MAX_RESPONSE = 1_048_576
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class UsageError(Exception):
    """The command line asked for something impossible (exit status 2)."""


class SendError(Exception):
    """The delivery could not be made: connection refused, TLS failure, timeout (exit status 1)."""


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()

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


def parse_header_option(value: str, option: str = "--header") -> tuple[str, str]:
    """``NAME:VALUE`` (or ``Name: value``) -> ``(name, value)``; anything else is a :class:`UsageError`.

    The messages never repeat the argument: a header value may be a secret.
    """
    name, sep, rest = value.partition(":")
    name = name.strip()
    usage = f"{option} must look like NAME:VALUE"
    if not sep:
        raise UsageError(f"{usage}; the argument has no ':'")
    if not name:
        raise UsageError(f"{usage}; the name before ':' is empty")
    if not set(name) <= _TOKEN:
        raise UsageError(f"{usage}; the name before ':' is not a valid HTTP header name")
    rest = rest.strip(" \t")
    if any((ord(char) < 32 and char != "\t") or ord(char) == 127 for char in rest):
        raise UsageError(f"{option} {name}: the value must not contain control characters")
    return name, rest


def sample_payload(name: str, count: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """The events of a built-in sample."""
    if name not in SAMPLES:
        raise UsageError(f"unknown sample {name!r}; choose from {', '.join(SAMPLES)}")
    if name == "mixed":
        number = 10 if count is None else count
        if number < 1:
            raise UsageError("--count must be at least 1")
        return sample_events(number, seed=seed)
    if count is not None:
        raise UsageError("--count applies to the mixed sample only")
    return [sample_event(name)]


def load_payload(path: str, stdin: TextIO | None = None) -> list[dict[str, Any]] | dict[str, Any]:
    """The JSON of ``path`` (``-`` for stdin): an array of event objects or one object."""
    label = "stdin" if path == "-" else path
    try:
        if path == "-":
            if stdin is None:
                raise UsageError("no stdin to read")
            text = stdin.read()
        else:
            text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {label}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{label} is not UTF-8 text") from None
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{label} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if isinstance(payload, dict):
        return payload
    if isinstance(payload, list) and all(isinstance(item, dict) for item in payload):
        return payload
    raise UsageError(f"{label} must hold a JSON array of event objects or one JSON object")


def build_delivery(
    payload: list[dict[str, Any]] | dict[str, Any] | bytes,
    *,
    hmac_secret: str | None = None,
    auth: Auth | None = None,
    headers: Mapping[str, str] | None = None,
    signed_form: SignedForm = DEFAULT_SIGNED_FORM,
) -> Delivery:
    """The request the connector would send: body and headers (ready ``bytes`` are signed as they are)."""
    return make_delivery(payload, hmac_secret=hmac_secret, auth=auth, required_headers=headers, signed_form=signed_form)


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
    from . import __version__

    url_parts = parse_url(url)
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
    sent: dict[str, bytes] = {
        "User-Agent": f"descope-audit-hook/{__version__} (connector emulator)".encode(),
        **{name: value.encode("utf-8") for name, value in headers.items()},
        "Content-Length": str(len(body)).encode(),
    }
    try:
        # The server may have answered early (a 413) and stopped reading: its answer counts.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.request(method, target, body=body, headers=sent)
        answer = connection.getresponse()
        data = answer.read(_MAX_RESPONSE)
        return Response(answer.status, answer.reason, data, tuple(answer.getheaders()))
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
