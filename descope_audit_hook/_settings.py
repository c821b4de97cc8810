"""The settings, each declared once in :data:`SETTINGS`.

A setting is named ``DESCOPE_AUDIT_`` + its name in the environment, and the same in a
Flask ``app.config`` or Django settings (``DESCOPE_AUDIT_WEBHOOK`` takes it without the
prefix). From the table come :meth:`Verifier.from_env`, the adapters' typed mappings,
Django's known keys, the command line's options and the table in docs/configuration.md
(a test compares the two). Messages name settings, never their values.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from ._auth import ApiKey, Auth, BasicAuth, BearerToken
from ._errors import ConfigurationError
from ._setting_kinds import Flag, HeaderMap, ImportPath, Kind, Listed, PositiveInt, Seconds, Subset, Text
from ._signature import FORMS
from ._verifier import Verifier

__all__ = [
    "AUTH_TYPES", "MAPPING_KEYS", "PREFIX", "SETTINGS", "AuthType", "Found", "Setting", "Source", "build_auth",
    "build_verifier", "from_env", "load_verifier", "prefixed", "read", "setting", "settings_of", "variables",
]  # fmt: skip

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


class Source(NamedTuple):
    """Where settings are looked up: a mapping, a setting's key in it, and how a message names that key."""

    values: Mapping[str, object]
    key: Callable[[str], str]
    label: Callable[[str], str] | None = None

    def get(self, name: str) -> tuple[object, str]:
        """The value of the setting ``name`` (``None``: absent), and how a message names it here."""
        key = self.key(name)
        value = self.values.get(key)
        return value, "" if value is None else (self.label or str)(key)


def prefixed(values: Mapping[str, object], label: str = "{}", prefix: str = PREFIX) -> Source:
    """A mapping keyed by ``prefix`` + each setting's name (Flask's ``app.config``, Django's settings);
    ``label`` formats a key for messages (``'app.config["{}"]'``)."""
    return Source(values, lambda name: prefix + name, label.format)


def variables(environ: Mapping[str, str] | None = None, prefix: str = PREFIX) -> Source:
    """The environment (default ``os.environ``) as a source."""
    return prefixed(os.environ if environ is None else environ, prefix=prefix)


@dataclass(frozen=True)
class Found:
    """The settings' values by name, and how messages name each setting (where it was found)."""

    values: dict[str, Any]
    names: dict[str, str]

    def __repr__(self) -> str:
        secret = {s.name for s in SETTINGS if s.secret}
        shown = (f"{k}=<hidden>" if k in secret else f"{k}={v!r}" for k, v in self.values.items())
        return f"Found({', '.join(shown)})"


def read(sources: Sequence[Source], settings: Iterable[Setting], canonical: Callable[[Setting], str]) -> Found:
    """Each setting's value from the first source that has it (``None`` there counts as absent).

    A value given blank is unset, and the next sources are not asked; for a ``fail_closed``
    setting it is an error: a deployment whose secret store returned nothing must not
    start with the check switched off. ``canonical`` names a setting found nowhere.
    """
    values: dict[str, Any] = {}
    names: dict[str, str] = {}
    for setting in settings:
        names[setting.name] = canonical(setting)
        for source in sources:
            raw, name = source.get(setting.name)
            if raw is None:
                continue
            names[setting.name] = name
            value = setting.kind.read(raw, name)
            if value is not None:
                values[setting.name] = value
            elif setting.fail_closed:
                raise ConfigurationError(f"{name} is set but empty")
            break
    return Found(values, names)


def build_auth(found: Found, others: Sequence[str] = ()) -> Auth | None:
    """The one authentication type the settings give, or ``None``; ``others``: the other types given (by name)."""
    chosen: list[tuple[AuthType, list[Setting]]] = []
    for kind in AUTH_TYPES:
        present = [s for s in SETTINGS if s.auth is kind and s.name in found.values]
        if present:
            chosen.append((kind, present))
    given = ["/".join(found.names[s.name] for s in present) for _, present in chosen] + list(others)
    if len(given) > 1:
        raise ConfigurationError(f"choose one authentication type, not {' and '.join(given)}")
    if not chosen:
        return None
    kind, present = chosen[0]
    needed = [s for s in SETTINGS if s.auth is kind]
    if kind.together and len(present) < len(needed):
        raise ConfigurationError(f"{' and '.join(found.names[s.name] for s in needed)} go together")
    return kind.build(found.values)


def build_verifier(found: Found, where: str) -> Verifier:
    """The :class:`Verifier` the settings describe; refused, naming the settings, if it would accept anyone."""
    kwargs = {s.keyword: found.values[s.name] for s in SETTINGS if s.keyword and s.name in found.values}
    kwargs["auth"] = build_auth(found)
    if not kwargs.get("hmac_secret") and kwargs["auth"] is None and not kwargs.get("allow_unauthenticated"):
        raise ConfigurationError(_accepts_anyone(found.names, where))
    return Verifier(**kwargs)


def _accepts_anyone(names: Mapping[str, str], where: str) -> str:
    types = []
    for kind in AUTH_TYPES:
        of_kind = [names[s.name] for s in SETTINGS if s.auth is kind]
        types += [" with ".join(of_kind)] if kind.together else of_kind
    allow = names["ALLOW_UNAUTHENTICATED"]
    options = allow.startswith("--")
    return (
        f"no HMAC secret and no authentication {where}, which would accept anyone: "
        f"{'pass' if options else 'set'} {names['HMAC_SECRET']} and/or one of {', '.join(types)} "
        f"(or {allow if options else allow + '=true'} if that is really what you want)"
    )


def from_env(environ: Mapping[str, str] | None, prefix: str) -> Verifier:
    """:meth:`Verifier.from_env`."""
    found = read([variables(environ, prefix)], settings_of("verifier"), lambda s: prefix + s.name)
    return build_verifier(found, "in the environment")


def load_verifier(*layers: Source, environ: Mapping[str, str] | None = None, where: str) -> Verifier:
    """The :class:`Verifier` of a Flask ``app.config`` or Django settings, the environment as fallback.

    Each layer is looked up in turn for ``VERIFIER`` (a ready :class:`Verifier`, used as
    is), else for each setting, whose typed value is taken as it is (a ``str`` is read
    like the variable); a setting in no layer is read from ``environ`` (default
    ``os.environ``). Raises :class:`ConfigurationError`.
    """
    for layer in layers:
        ready, name = layer.get("VERIFIER")
        if ready is not None:
            if not isinstance(ready, Verifier):
                raise ConfigurationError(f"{name} must be a descope_audit_hook.Verifier")
            return ready
    found = read([*layers, variables(environ)], settings_of("verifier"), lambda s: PREFIX + s.name)
    return build_verifier(found, f"in {where} or the environment")
