"""The settings read from where they are given, and the verifier built from them.

A :class:`Source` is a mapping (the environment, a Flask ``app.config``, Django settings)
and how its keys and messages are named; :func:`read` takes each setting of the table
(``_settings.py``) from the first source that has it; :func:`build_verifier` makes the
:class:`Verifier` the values describe, and refuses one that would accept anyone.
:func:`from_env` and :func:`load_verifier` are those steps for the environment and for a
framework's settings. Messages name settings, never their values.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from ._auth import Auth
from ._errors import ConfigurationError
from ._settings import AUTH_TYPES, PREFIX, SETTINGS, AuthType, Setting, settings_of
from ._verifier import Verifier

__all__ = [
    "Found",
    "Source",
    "build_auth",
    "build_verifier",
    "from_env",
    "load_verifier",
    "prefixed",
    "read",
    "variables",
]


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
        # Credentials and what goes with them (a user name, static header values, a validator
        # whose own repr could hold a secret) are named, never shown.
        hidden = {s.name for s in SETTINGS if s.secret or s.auth is not None} | {"HEADERS"}
        shown = (f"{k}=<hidden>" if k in hidden or callable(v) else f"{k}={v!r}" for k, v in self.values.items())
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
