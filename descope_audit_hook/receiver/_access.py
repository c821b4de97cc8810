"""Who may see the audit page: the ``Host`` allow-list, the access token, the login session.

DNS rebinding: a web page on ``attacker.example`` whose name is made to resolve to
127.0.0.1 can read our answers from the victim's browser, same-origin as far as the
browser knows. Its requests carry ``Host: attacker.example``, so every route answers
only an allowed ``Host`` (loopback names, the bound address, what the operator adds).

Without an access token the page and its data are shown only to loopback clients that
name a loopback ``Host``, and not at all when the server listens on another address. The
``Host`` matters behind a reverse proxy on the same machine: every visitor then connects
from 127.0.0.1, but asks for the public name, and a public name needs a token. With one, a client shows it as
``Authorization: Bearer <token>`` or logs in once through a form: the cookie then holds
a random session id (the database keeps only its SHA-256, tied by an HMAC to the token
that opened it, so a token taken out of the configuration ends its sessions), HttpOnly,
SameSite=Strict. Tokens are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs

from descope_audit_hook._auth import BearerToken
from descope_audit_hook._errors import AuthenticationError, ConfigurationError, PayloadError, VerificationError
from descope_audit_hook._headers import collect
from descope_audit_hook._setting_kinds import parse_int

from ._http import SECURITY_HEADERS, Environ, Forbidden, Response, read_form, request_headers
from ._store import EventStore

__all__ = ["LOOPBACK_NAMES", "MIN_TOKEN_LENGTH", "Grant", "PageAccess", "is_loopback"]

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
MIN_TOKEN_LENGTH = 16
SESSION_COOKIE = "descope_audit_session"
CSRF_COOKIE = "descope_audit_csrf"
SESSION_SECONDS = 12 * 3600
_FORM_LIMIT = 4096
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 - names, not a bind
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-._")


def is_loopback(address: str) -> bool:
    """Whether ``address`` (an IP literal, possibly bracketed or IPv4-mapped, or a name) is loopback."""
    name = address.strip().strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool((mapped or ip).is_loopback)


def host_name(value: str) -> str | None:
    """The name in a ``Host`` header (``name``, ``name:port``, ``[v6]:port``), lower-cased; ``None`` if malformed."""
    value = value.strip()
    if value.startswith("["):
        name, sep, rest = value[1:].partition("]")
        if not sep or (rest and not (rest.startswith(":") and rest[1:].isascii() and rest[1:].isdigit())):
            return None
    else:
        name, _, port = value.partition(":")
        if port and not (port.isascii() and port.isdigit()):
            return None
    if not name or not all(char in _NAME_CHARS or char == ":" for char in name.lower()):
        return None
    return _normal(name)


@dataclass(frozen=True)
class Grant:
    """A request allowed to see the page; ``session`` is the login cookie's id when it came by one."""

    session: str | None = None


class PageAccess:
    """The audit page's access policy; see the module docstring."""

    def __init__(
        self,
        tokens: Sequence[str] = (),
        allowed_hosts: Iterable[str] = (),
        *,
        bound_host: str | None = None,
    ) -> None:
        for token in tokens:
            if not isinstance(token, str) or len(token.strip()) < MIN_TOKEN_LENGTH:
                raise ConfigurationError(
                    f"the audit page's access token must be at least {MIN_TOKEN_LENGTH} characters"
                )
        self._tokens = tuple(token.strip().encode("utf-8") for token in tokens)
        self._bearer = BearerToken(*(t.strip() for t in tokens)) if tokens else None
        hosts = set(LOOPBACK_NAMES) | {_configured_host(host) for host in allowed_hosts}
        if bound_host is not None and _normal(bound_host) not in _WILDCARDS:
            hosts.add(_configured_host(bound_host))
        self.allowed_hosts = frozenset(hosts)
        #: Without a token, the page is shown at all only when the server listens on loopback.
        self.local_only = bound_host is None or is_loopback(bound_host)

    @property
    def has_token(self) -> bool:
        return bool(self._tokens)

    # --- every route ---------------------------------------------------------------------

    def check_host(self, environ: Environ) -> None:
        """Refuse a ``Host`` that is not ours (400): the DNS-rebinding defence."""
        name = host_name(str(environ.get("HTTP_HOST", "")))
        if name is None or not (name in self.allowed_hosts or is_loopback(name)):
            raise VerificationError("this Host is not served here", code="invalid_host")

    # --- the page and its data -------------------------------------------------------------

    def authorize(self, environ: Environ, store: EventStore) -> Grant:
        """Let a request see the page or its data, or raise a :class:`VerificationError` (401, 403)."""
        if self._bearer is None:
            name = host_name(str(environ.get("HTTP_HOST", "")))
            local = is_loopback(str(environ.get("REMOTE_ADDR", ""))) and name is not None and is_loopback(name)
            if not (self.local_only and local):
                raise _forbidden()
            return Grant()
        found = collect(request_headers(environ), frozenset({"authorization"}))
        if found:
            self._bearer.check(found)  # 401 with its challenge when wrong
            return Grant()
        session = _cookie(environ, SESSION_COOKIE)
        if session and self._session_valid(session, store):
            return Grant(session)
        raise AuthenticationError(
            "log in or send the access token", code="login_required", headers={"WWW-Authenticate": _CHALLENGE}
        )

    def _session_valid(self, session: str, store: EventStore) -> bool:
        tag = store.session_tag(_digest(session), _now_ms())
        return tag is not None and self._tag_matches(session, tag)

    def _tag_matches(self, session: str, tag: str) -> bool:
        matched = False
        for token in self._tokens:  # every token compared, no short-circuit
            matched |= hmac.compare_digest(_tag(token, session), tag)
        return matched

    # --- login and logout ------------------------------------------------------------------

    def login_form_cookie(self, environ: Environ) -> tuple[str, str]:
        """``(csrf value, Set-Cookie)`` for a fresh login form (double-submit CSRF token)."""
        value = secrets.token_urlsafe(24)
        return value, _set_cookie(CSRF_COOKIE, value, 3600, environ)

    def login(self, environ: Environ, store: EventStore) -> Response | None:
        """Check a submitted login form; a 303 to the page with the session cookie, or ``None`` if refused."""
        form = _form(environ)
        expected = _cookie(environ, CSRF_COOKIE)
        if not expected or not hmac.compare_digest(form.get("csrf", "").encode(), expected.encode()):
            raise Forbidden("the login form expired; load it again", code="invalid_csrf")
        submitted = form.get("token", "").strip().encode("utf-8")
        matched = False
        for token in self._tokens:
            matched |= hmac.compare_digest(submitted, token)
        if not matched:
            return None
        session = secrets.token_urlsafe(32)
        now = _now_ms()
        store.add_session(_digest(session), _tag(submitted, session), now + SESSION_SECONDS * 1000, now)
        cookies = [
            _set_cookie(SESSION_COOKIE, session, SESSION_SECONDS, environ),
            _set_cookie(CSRF_COOKIE, "", 0, environ),
        ]
        return Response(303, [("Location", "./"), *SECURITY_HEADERS], note="login", cookies=cookies)

    def logout(self, environ: Environ, store: EventStore) -> Response:
        """End the cookie's session (the form carries :meth:`logout_token`); a 303 to the login form."""
        session = _cookie(environ, SESSION_COOKIE)
        if session:
            form = _form(environ)
            if not hmac.compare_digest(form.get("csrf", "").encode(), self.logout_token(session).encode()):
                raise Forbidden("the logout form is not valid; load the page again", code="invalid_csrf")
            store.drop_session(_digest(session))
        return Response(
            303,
            [("Location", "./login"), *SECURITY_HEADERS],
            note="logout",
            cookies=[_set_cookie(SESSION_COOKIE, "", 0, environ)],
        )

    @staticmethod
    def logout_token(session: str) -> str:
        """The logout form's CSRF value: bound to the session, useless without its cookie."""
        return hmac.new(session.encode(), b"descope-audit-page-logout", hashlib.sha256).hexdigest()

    def check_origin(self, environ: Environ) -> None:
        """A form POST from another site is refused, whatever its cookies (403).

        ``Origin: null`` is what a browser sends under our ``Referrer-Policy: no-referrer``;
        it says nothing, and the SameSite=Strict CSRF cookie covers that case.
        """
        site = str(environ.get("HTTP_SEC_FETCH_SITE", "same-origin")).lower()
        origin = str(environ.get("HTTP_ORIGIN", "null"))
        host = str(environ.get("HTTP_HOST", ""))
        if site not in ("same-origin", "none") or (origin != "null" and origin.partition("://")[2] != host):
            raise Forbidden("cross-site form refused", code="invalid_csrf")


_CHALLENGE = 'Bearer realm="descope-audit-page"'


def _normal(name: str) -> str:
    """A host name lower-cased without its final dot; an IP address in its canonical spelling."""
    name = name.strip().strip("[]").lower().rstrip(".")
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name


def _configured_host(value: str) -> str:
    name = _normal(value)
    try:
        ipaddress.ip_address(name)
    except ValueError:
        if not name or not set(name) <= _NAME_CHARS:
            raise ConfigurationError("an allowed host must be a host name or an IP address, without a port") from None
    return name


def _forbidden() -> Forbidden:
    return Forbidden(
        "without an access token the audit page is shown only to loopback clients asking for a loopback "
        "name of a server listening on loopback; set --page-token (DESCOPE_AUDIT_PAGE_TOKEN)",
        code="page_token_required",
    )


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _digest(session: str) -> str:
    return hashlib.sha256(session.encode()).hexdigest()


def _tag(token: bytes, session: str) -> str:
    return hmac.new(token, b"descope-audit-page-session:" + session.encode(), hashlib.sha256).hexdigest()


def _cookie(environ: Environ, name: str) -> str:
    """The value of cookie ``name``, or ``""``; parsed by hand (no cookie library quirks)."""
    value = ""
    for part in str(environ.get("HTTP_COOKIE", "")).split(";"):
        key, sep, text = part.strip().partition("=")
        if sep and key == name and text.isascii():
            value = text.strip()
    return value


def _set_cookie(name: str, value: str, max_age: int, environ: Environ) -> str:
    secure = "; Secure" if environ.get("wsgi.url_scheme") == "https" else ""
    return f"{name}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Strict{secure}"


def _form(environ: Environ) -> dict[str, str]:
    """A small urlencoded form body (a 400 for anything else)."""
    length = parse_int(str(environ.get("CONTENT_LENGTH") or ""), 0, _FORM_LIMIT)
    if length is None:
        raise PayloadError("a form of at most 4096 bytes with a Content-Length", path=None, code="invalid_form")
    try:
        text = read_form(environ, length).decode("utf-8")
        fields = parse_qs(text, keep_blank_values=True, max_num_fields=5)
    except (UnicodeDecodeError, ValueError):
        raise PayloadError("the form could not be read", path=None, code="invalid_form") from None
    return {name: values[-1] for name, values in fields.items()}
