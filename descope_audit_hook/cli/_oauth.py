"""The connector's OAuth 2.0 type for ``send``: the client-credentials grant, then a Bearer delivery.

:func:`fetch_bearer` makes the grant (RFC 6749 section 4.4) against the customer's token
endpoint, as the connector's ``client_id``, ``client_secret``, ``auth_url``,
``auth_style``, ``scopes`` and ``token_request_headers`` describe it, and the delivery
carries the token it got as ``Authorization: Bearer``.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote_plus, urlencode, urlsplit

from descope_audit_hook._auth import Auth, BearerToken
from descope_audit_hook._errors import ConfigurationError
from descope_audit_hook._settings import PREFIX, setting

from ._args import UsageError, parse_header_option, refuse_reserved, safe_text
from ._client import RESERVED, Response, SendError, parse_url, request, shown_url
from ._config import add_option, found_in

__all__ = ["Grant", "TokenRequest", "add_oauth_options", "fetch_bearer", "fetch_token", "token_request"]

# RFC 6749 section 5.2: error and error_description are printable ASCII without '"' and '\\'.
_OAUTH_TEXT = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]{1,200}")
_SECRET = setting("OAUTH_CLIENT_SECRET")


def add_oauth_options(send: argparse.ArgumentParser) -> None:
    """``send``'s OAuth 2.0 client-credentials options: the connector's auth_url, client_id, ... settings."""
    oauth = send.add_argument_group(
        "OAuth 2.0 client credentials (the connector's OAuth type: it fetches a token and sends it as Bearer)"
    )
    oauth.add_argument("--oauth-token-url", metavar="URL", help="the authorization server's token endpoint")
    oauth.add_argument("--client-id", metavar="ID", help="the client id")
    add_option(oauth, _SECRET, f"{_SECRET.help} [default: {PREFIX}{_SECRET.name}]")
    oauth.add_argument(
        "--scope", action="append", metavar="SCOPE", help="a scope to ask for (repeatable, or space-separated)"
    )
    oauth.add_argument(
        "--auth-style",
        choices=("header", "body"),
        help="how the client authenticates to the token endpoint: HTTP Basic (header, the default) or form fields",
    )
    oauth.add_argument(
        "--token-header",
        action="append",
        metavar="NAME:VALUE",
        help="an extra header on the token request (repeatable)",
    )


def token_request(args: argparse.Namespace) -> TokenRequest | None:
    """The OAuth 2.0 options as a token request; ``None`` without ``--oauth-token-url``."""
    if args.oauth_token_url is None:
        given = [
            option
            for option, value in (
                ("--client-id", args.client_id),
                (_SECRET.flag, getattr(args, _SECRET.name)),
                ("--scope", args.scope),
                ("--auth-style", args.auth_style),
                ("--token-header", args.token_header),
            )
            if value is not None
        ]
        if given:
            raise UsageError(f"{', '.join(map(str, given))} need --oauth-token-url")
        return None
    if not args.client_id:
        raise UsageError("--oauth-token-url needs --client-id")
    secret = found_in(args, [_SECRET], os.environ).values.get(_SECRET.name)
    if secret is None:
        raise UsageError(
            f"--oauth-token-url needs the client secret: set {PREFIX}{_SECRET.name} (or pass {_SECRET.flag})"
        )
    headers = dict(parse_header_option(item, "--token-header") for item in args.token_header or ())
    return TokenRequest(
        args.oauth_token_url, args.client_id, secret, tuple(args.scope or ()), args.auth_style or "header", headers
    )


def fetch_token(token: TokenRequest, args: argparse.Namespace) -> Auth:
    """The grant, announced and reported without the secret or the token."""
    scope = f", scope {' '.join(token.scopes)}" if token.scopes else ""
    grant_line = f"client credentials grant, {token.auth_style} authentication{scope}"
    print(f"POST {shown_url(token.url)}: {grant_line}", flush=True)
    grant = fetch_bearer(token, trust_any_certificate=args.trust_any_certificate, timeout=args.timeout)
    details = [f"expires in {grant.expires_in} s"] if type(grant.expires_in) is int else []
    if isinstance(grant.scope, str) and grant.scope:
        details.append(f"scope {safe_text(grant.scope[:200])}")
    print("got a Bearer token" + (f" ({', '.join(details)})" if details else ""), flush=True)
    return grant.auth


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
    reserved = {"content-type", *RESERVED} | ({"authorization"} if token.auth_style == "header" else set())
    refuse_reserved(token.headers, reserved, "a token request header", "the grant sets it")
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


