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

The connector's OAuth 2.0 type: :func:`fetch_bearer` makes the client-credentials grant
(RFC 6749 section 4.4) against the customer's token endpoint, as the connector's
``client_id``, ``client_secret``, ``auth_url``, ``auth_style``, ``scopes`` and
``token_request_headers`` describe it, and the delivery carries the token it got as
``Authorization: Bearer``.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import re
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO
from urllib.parse import quote, quote_plus, urlencode, urlsplit

from ._auth import Auth, BearerToken
from ._errors import ConfigurationError
from ._models import SignedForm
from .testing import SAMPLE_KINDS, Delivery, make_delivery, sample_event, sample_events

__all__ = [
    "DEFAULT_SIGNED_FORM",
    "SAMPLES",
    "Grant",
    "Response",
    "SendError",
    "TokenRequest",
    "UsageError",
    "build_delivery",
    "fetch_bearer",
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
# RFC 6749 section 5.2: error and error_description are printable ASCII without '"' and '\\'.
_OAUTH_TEXT = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]{1,200}")


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


@dataclass(frozen=True)
class TokenRequest:
    """The connector's OAuth 2.0 settings: where and how it asks for a token (the secret stays out of ``repr``)."""

    url: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: Sequence[str] = ()
    auth_style: Literal["header", "body"] = "header"
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Grant:
    """What the token endpoint granted: the Bearer credential (its ``repr`` hides the token) and what it said of it."""

    auth: BearerToken
    expires_in: object = None
    scope: object = None


def fetch_bearer(token: TokenRequest, *, trust_any_certificate: bool = False, timeout: float = 10.0) -> Grant:
    """The client-credentials grant (RFC 6749 section 4.4), as the connector makes it.

    ``POST`` ``grant_type=client_credentials`` (and ``scope``, space-separated) as
    ``application/x-www-form-urlencoded``; the client authenticates with HTTP Basic over
    its form-urlencoded id and secret (``auth_style="header"``, section 2.3.1) or with
    ``client_id`` and ``client_secret`` in the form (``"body"``). A refusal, a timeout,
    an answer that is not JSON, has no ``access_token`` or another ``token_type`` than
    Bearer is a :class:`SendError` whose message holds neither the secret nor a token.
    """
    try:
        userinfo = "@" in urlsplit(token.url).netloc
    except ValueError:
        userinfo = False
    if userinfo:
        raise UsageError("put the client credentials in --client-id and --client-secret, not in the token URL")
    try:
        parse_url(token.url)
    except UsageError as exc:
        raise UsageError(f"the token URL: {exc}") from None
    if token.auth_style not in ("header", "body"):
        raise UsageError("the auth style must be header or body")
    if not token.client_id or not token.client_secret.strip():
        raise UsageError("the client id and the client secret must not be empty")
    reserved = {"content-type", "content-length"} | ({"authorization"} if token.auth_style == "header" else set())
    for name in token.headers:
        if name.lower() in reserved:
            raise UsageError(f"a token request header cannot set {name}: the grant sets it")
    form = {"grant_type": "client_credentials"}
    scope = " ".join(" ".join(token.scopes).split())
    if scope:
        form["scope"] = scope
    headers = {"Accept": "application/json", **token.headers, "Content-Type": "application/x-www-form-urlencoded"}
    if token.auth_style == "header":
        pair = f"{quote_plus(token.client_id)}:{quote_plus(token.client_secret)}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    else:
        form["client_id"] = token.client_id
        form["client_secret"] = token.client_secret
    try:
        response = request(
            token.url,
            urlencode(form).encode("ascii"),
            headers,
            trust_any_certificate=trust_any_certificate,
            timeout=timeout,
        )
    except SendError as exc:
        raise SendError(f"token request failed: {exc}") from None
    return _granted(response, token.client_secret)


def _granted(response: Response, secret: str) -> Grant:
    if not response.ok:
        redirect = " (redirects are not followed)" if 300 <= response.status < 400 else ""
        raise SendError(
            f"the token endpoint answered {response.status} {response.reason}{redirect}{_oauth_error(response, secret)}"
        )
    answer = response.json()
    if not isinstance(answer, dict):
        raise SendError("the token endpoint's answer is not a JSON object (RFC 6749 section 5.1)")
    access_token = answer.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise SendError("the token endpoint's answer has no access_token")
    # RFC 6749 section 7.1: the type is case-insensitive. Missing, it is taken as Bearer (as Go's oauth2 does).
    token_type = answer.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        shown = token_type if isinstance(token_type, str) and _OAUTH_TEXT.fullmatch(token_type) else "non-text"
        raise SendError(f"the token endpoint issued a {shown[:40]} token, not a Bearer token")
    try:
        auth = BearerToken(access_token)
    except ConfigurationError:
        raise SendError(
            "the token endpoint's access_token cannot be sent in an Authorization header "
            "(it holds line breaks, NUL or surrounding whitespace)"
        ) from None
    return Grant(auth, answer.get("expires_in"), answer.get("scope"))


def _oauth_error(response: Response, secret: str) -> str:
    """``: error (description)`` from an RFC 6749 error answer, printable and without the secret."""
    answer = response.json()
    if not isinstance(answer, dict):
        return ""

    def shown(key: str) -> str:
        value = answer.get(key)
        return value.replace(secret, "***") if isinstance(value, str) and _OAUTH_TEXT.fullmatch(value) else ""

    error, description = shown("error"), shown("error_description")
    if not error:
        return ""
    return f": {error}" + (f" ({description})" if description else "")


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
