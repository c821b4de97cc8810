"""The settings, each declared once in :data:`SETTINGS`.

A setting is named ``DESCOPE_AUDIT_`` + its name in the environment, and the same in a
Flask ``app.config`` or Django settings (``DESCOPE_AUDIT_WEBHOOK`` takes it without the
prefix). From the table come :meth:`Verifier.from_env`, the adapters' typed mappings,
Django's known keys, the command line's options and the table in docs/configuration.md
(a test compares the two). Reading the settings from their sources and building the
verifier from them is ``_settings_loader.py``. Messages name settings, never their values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ._auth import ApiKey, Auth, BasicAuth, BearerToken
from ._setting_kinds import Flag, HeaderMap, ImportPath, Kind, Listed, PositiveInt, Seconds, Subset, Text
from ._signature import FORMS

__all__ = ["AUTH_TYPES", "MAPPING_KEYS", "PREFIX", "SETTINGS", "AuthType", "Setting", "setting", "settings_of"]

PREFIX = "DESCOPE_AUDIT_"


@dataclass(frozen=True)
class AuthType:
    """An authentication type the settings build, from the settings whose ``auth`` it is."""

    label: str
    cls: type[Auth]
    #: Whether every setting of the type must be given (a header name needs its value).
    together: bool
    build: Callable[[Mapping[str, Any]], Auth]


def _basic(values: Mapping[str, Any]) -> Auth:
    user, passwords = values["BASIC_USERNAME"], values["BASIC_PASSWORD"]
    return BasicAuth(user, passwords[0], *((user, password) for password in passwords[1:]))


BEARER = AuthType(
    "Bearer",
    BearerToken,
    False,
    lambda v: BearerToken(*v.get("BEARER_TOKEN", ()), validator=v.get("BEARER_VALIDATOR")),
)
API_KEY = AuthType("API key", ApiKey, True, lambda v: ApiKey(v["API_KEY_HEADER"], *v["API_KEY"]))
BASIC = AuthType("Basic", BasicAuth, True, _basic)
AUTH_TYPES = (BEARER, API_KEY, BASIC)


@dataclass(frozen=True)
class Setting:
    """One setting: how it is named, read, used, offered on the command line and documented."""

    name: str  # after the prefix
    kind: Kind
    doc: str  # its format, for docs/configuration.md
    keyword: str | None = None  # the Verifier keyword it feeds ...
    auth: AuthType | None = None  # ... or the authentication type it builds
    secret: bool = False  # a credential: never printed, nor shown by a repr
    fail_closed: bool = False  # present but blank is an error (not "unset"): a lost value must not open a check
    scope: Literal["verifier", "receiver", "send"] = "verifier"  # who reads it
    flag: str | None = None  # the command-line option (serve and verify; receiver: serve; send: send)
    metavar: str | None = None
    help: str = ""
    send_help: str | None = None  # also an option of send, with this help
    default: str = ""  # for a setting whose default is not the Verifier's

    @property
    def mapping(self) -> bool:
        """Whether Flask's ``app.config`` and Django's settings take it (the verifier's settings)."""
        return self.scope == "verifier"


_FORMS_TEXT = ",".join(FORMS)
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "HMAC_SECRET", Listed(), "the secret; several, comma-separated, for rotation (`new,old`)",
        keyword="hmac_secret", secret=True, fail_closed=True, flag="--hmac-secret", metavar="SECRET",
        help="the connector's HMAC secret; repeat to rotate", send_help="sign the body into x-descope-webhook-s256",
    ),
    Setting(
        "BEARER_TOKEN", Listed(), "token(s), comma-separated",
        auth=BEARER, secret=True, fail_closed=True, flag="--bearer-token", metavar="TOKEN",
        help="Bearer token; repeat to rotate", send_help="send Authorization: Bearer TOKEN",
    ),
    Setting(
        "BEARER_VALIDATOR", ImportPath(),
        "the import path of a token validator, `package.module:function` (or `package.module.function`); "
        "with `BEARER_TOKEN` too, both are accepted",
        auth=BEARER, fail_closed=True, flag="--bearer-validator", metavar="MODULE:FUNC",
        help="Bearer/OAuth 2.0 type: a token validator's import path (importable: installed or on PYTHONPATH)",
    ),
    Setting(
        "API_KEY_HEADER", Text(), "the API key's header name (the connector's \"key\")",
        auth=API_KEY, flag="--api-key-header", metavar="NAME",
        help="API key type: the header name (the key)", send_help="API key type: the header name (the key)",
    ),
    Setting(
        "API_KEY", Listed(), "value(s), comma-separated; needs `API_KEY_HEADER`",
        auth=API_KEY, secret=True, fail_closed=True, flag="--api-key", metavar="VALUE",
        help="API key type: the value; repeat to rotate", send_help="API key type: the header value (the token)",
    ),
    Setting(
        "BASIC_USERNAME", Text(), "the username",
        auth=BASIC, flag="--basic-user", metavar="USER",
        help="Basic type: the username", send_help="Basic type: the username",
    ),
    Setting(
        "BASIC_PASSWORD", Listed(), "password(s) for that username, comma-separated; needs `BASIC_USERNAME`",
        auth=BASIC, secret=True, fail_closed=True, flag="--basic-password", metavar="PASSWORD",
        help="Basic type: the password; repeat to rotate", send_help="Basic type: the password",
    ),
    Setting(
        "HEADERS", HeaderMap(), 'a JSON object of header names to string values: `{"x-env": "prod"}`',
        keyword="required_headers", flag="--required-header", metavar="NAME:VALUE",
        help="a static header the connector sends; it must arrive with this value (repeatable)",
    ),
    Setting(
        "MAX_BODY_BYTES", PositiveInt(), "a positive integer (digits only)",
        keyword="max_body_bytes", flag="--max-body-bytes", metavar="N", help="body size limit (default 1048576)",
    ),
    Setting(
        "SIGNED_FORMS", Subset(FORMS), f"comma-separated subset of `{_FORMS_TEXT}`",
        keyword="signed_forms", flag="--signed-forms", metavar="FORMS",
        help=f"accepted signed forms, comma-separated (default: {_FORMS_TEXT})",
    ),
    Setting(
        "ALLOW_UNAUTHENTICATED", Flag(),
        "`true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`, any case; empty is false)",
        keyword="allow_unauthenticated", flag="--allow-unauthenticated",
        help="accept deliveries with no signature and no credentials (the connector's auth type None)",
    ),
    Setting(
        "MAX_EVENT_AGE_SECONDS", Seconds(allow_zero=False), "a positive number of seconds (decimals allowed)",
        keyword="max_event_age",
    ),
    Setting(
        "MAX_CLOCK_SKEW_SECONDS", Seconds(allow_zero=True), "a non-negative number of seconds",
        keyword="max_clock_skew",
    ),
    Setting(
        "DB", Text(), "the reference receiver's SQLite file (default `audit-events.db` in the working directory)",
        scope="receiver", flag="--db", metavar="FILE", help="SQLite database (default ./audit-events.db)",
        default="audit-events.db",
    ),
    Setting(
        "PATH", Text(), "the reference receiver's webhook path (default `/descope/audit`)",
        scope="receiver", flag="--path", metavar="PATH", help="the webhook path (default /descope/audit)",
        default="/descope/audit",
    ),
    Setting(
        "PAGE_TOKEN", Listed(), "the audit page's access token(s), 16+ characters, comma-separated",
        secret=True, scope="receiver", flag="--page-token", metavar="TOKEN",
        help="access token of the audit page and its data (16+ characters; repeat to rotate); "
        "required to show the page on a non-loopback address",
    ),
    Setting(
        "ALLOWED_HOSTS", Listed(), "`Host` names the receiver serves besides loopback, comma-separated",
        scope="receiver", flag="--allowed-host", metavar="NAME",
        help="a Host name served besides loopback and the bound address (repeatable)",
    ),
    Setting(
        "OAUTH_CLIENT_SECRET", Text(strip=False), "`send`'s OAuth 2.0 client secret (kept off the command line)",
        secret=True, fail_closed=True, scope="send", flag="--client-secret", metavar="SECRET",
        help="the client secret (prefer the variable: command lines are visible to other users)",
    ),
)  # fmt: skip

#: The keys of a Flask ``app.config`` or a Django ``DESCOPE_AUDIT_WEBHOOK`` (unprefixed) for the verifier.
MAPPING_KEYS = ("VERIFIER", *(s.name for s in SETTINGS if s.mapping))


def settings_of(scope: str) -> tuple[Setting, ...]:
    return tuple(s for s in SETTINGS if s.scope == scope)


def setting(name: str) -> Setting:
    (found,) = (s for s in SETTINGS if s.name == name)
    return found
