"""Configuration from environment variables (``Verifier.from_env``, the CLI, the adapters).

With the default prefix ``DESCOPE_AUDIT_``:

=============================  ==========================================================
``HMAC_SECRET``                the connector's HMAC secret; several, comma-separated, rotate
``BEARER_TOKEN``               Bearer token(s), comma-separated
``BEARER_VALIDATOR``           Bearer/OAuth: a token validator's import path, ``pkg.mod:func``
``API_KEY_HEADER``             API key type: the header name (the connector's "key")
``API_KEY``                    API key type: the value(s), comma-separated
``BASIC_USERNAME``             Basic type: the username
``BASIC_PASSWORD``             Basic type: the password(s), comma-separated
``HEADERS``                    static headers as a JSON object, ``{"x-env": "prod"}``
``MAX_BODY_BYTES``             body size limit in bytes (default 1048576)
``SIGNED_FORMS``               accepted signed forms, comma-separated (default: all four)
``ALLOW_UNAUTHENTICATED``      ``true`` to accept a connector with no auth and no secret
``MAX_EVENT_AGE_SECONDS``      reject events whose ``occurred`` is older (off when unset)
``MAX_CLOCK_SKEW_SECONDS``     reject events later than now plus this (off when unset)
=============================  ==========================================================

Error messages name variables, never their values.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, cast

from ._auth import ApiKey, Auth, BasicAuth, BearerToken, TokenValidator
from ._errors import ConfigurationError
from ._forms import FORMS

__all__ = [
    "ENV_VARS",
    "check_not_open",
    "import_validator",
    "kwargs_from_env",
    "parse_bool",
    "parse_header_pairs",
    "parse_int",
    "split_list",
]

ENV_VARS = (
    "HMAC_SECRET",
    "BEARER_TOKEN",
    "BEARER_VALIDATOR",
    "API_KEY_HEADER",
    "API_KEY",
    "BASIC_USERNAME",
    "BASIC_PASSWORD",
    "HEADERS",
    "MAX_BODY_BYTES",
    "SIGNED_FORMS",
    "ALLOW_UNAUTHENTICATED",
    "MAX_EVENT_AGE_SECONDS",
    "MAX_CLOCK_SKEW_SECONDS",
)

_SECRET_VARS = ("HMAC_SECRET", "BEARER_TOKEN", "API_KEY", "BASIC_PASSWORD")
# Variables that, once present, must not be blank: a lost value must not switch a check off.
_NOT_BLANK = (*_SECRET_VARS, "BEARER_VALIDATOR")
_IMPORT_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*)?", re.ASCII)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def split_list(value: str) -> list[str]:
    """A comma-separated variable's values, blanks dropped."""
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_int(text: str, lower: int, upper: int) -> int | None:
    """``text`` as an int from ``lower`` to ``upper``, or ``None``.

    Only ASCII digits: ``str.isdigit()`` also takes ``"²"``, which ``int()`` then refuses,
    and ``int()`` alone takes ``"+5"``, ``"5_0"`` and Arabic-Indic digits. At most 19 digits,
    so a hostile string never reaches ``int()``'s own digit limit.
    """
    text = text.strip()
    if not (0 < len(text) <= 19 and text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if lower <= value <= upper else None


def parse_bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be true or false")


def parse_header_pairs(value: str, name: str) -> dict[str, str]:
    """A JSON object of header name to value."""
    try:
        loaded = json.loads(value)
    except ValueError:
        raise ConfigurationError(f"{name} must be a JSON object of header names to values") from None
    if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
        raise ConfigurationError(f"{name} must be a JSON object of header names to string values")
    return loaded


def _seconds(value: str, name: str, *, allow_zero: bool) -> timedelta:
    try:
        seconds = float(value.strip())
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero) or seconds > 1e9:
        raise ConfigurationError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} number of seconds")
    return timedelta(seconds=seconds)


def import_validator(path: str, name: str) -> TokenValidator:
    """The callable named by ``path``: ``pkg.module:attr`` (or ``pkg.module.attr``).

    Raises :class:`ConfigurationError`, naming the setting ``name`` and the path (not a
    secret), if it does not import or is not callable; the import error is chained.
    """
    path = path.strip()
    if not _IMPORT_PATH.fullmatch(path) or ("." not in path and ":" not in path):
        raise ConfigurationError(f"{name} must be an import path like mypackage.auth:validate")
    module_name, _, attribute = path.partition(":") if ":" in path else path.rpartition(".")
    try:
        found: object = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except Exception as exc:  # ImportError, AttributeError, or whatever the module raised on import
        raise ConfigurationError(f"{name}: {path} cannot be imported ({type(exc).__name__})") from exc
    if not callable(found):
        raise ConfigurationError(f"{name}: {path} is not callable")
    return cast(TokenValidator, found)


def _auth(env: Mapping[str, str], prefix: str) -> Auth | None:
    def get(key: str) -> str:
        return env.get(prefix + key, "").strip()

    choices: list[Auth] = []
    if get("BEARER_TOKEN") or get("BEARER_VALIDATOR"):
        validator = None
        if get("BEARER_VALIDATOR"):
            validator = import_validator(get("BEARER_VALIDATOR"), prefix + "BEARER_VALIDATOR")
        choices.append(BearerToken(*split_list(get("BEARER_TOKEN")), validator=validator))
    if get("API_KEY_HEADER") or get("API_KEY"):
        if not (get("API_KEY_HEADER") and get("API_KEY")):
            raise ConfigurationError(f"{prefix}API_KEY_HEADER and {prefix}API_KEY must be set together")
        choices.append(ApiKey(get("API_KEY_HEADER"), *split_list(get("API_KEY"))))
    if get("BASIC_USERNAME") or get("BASIC_PASSWORD"):
        user, passwords = get("BASIC_USERNAME"), split_list(get("BASIC_PASSWORD"))
        if not (user and passwords):
            raise ConfigurationError(f"{prefix}BASIC_USERNAME and {prefix}BASIC_PASSWORD must be set together")
        choices.append(BasicAuth(user, passwords[0], *((user, p) for p in passwords[1:])))
    if len(choices) > 1:
        raise ConfigurationError("set only one of the Bearer, API key and Basic variables")
    return choices[0] if choices else None


def check_not_open(kwargs: Mapping[str, Any], prefix: str, where: str = "the environment") -> None:
    """Refuse, naming the variables looked for, a configuration with no secret and no credential.

    Such a :class:`Verifier` would accept anyone; it takes ``ALLOW_UNAUTHENTICATED`` by name.
    """
    if kwargs.get("hmac_secret") is None and kwargs.get("auth") is None and not kwargs.get("allow_unauthenticated"):
        raise ConfigurationError(
            f"no HMAC secret and no authentication in {where}, which would accept anyone: set "
            f"{prefix}HMAC_SECRET and/or one of {prefix}BEARER_TOKEN, {prefix}API_KEY_HEADER with {prefix}API_KEY, "
            f"{prefix}BASIC_USERNAME with {prefix}BASIC_PASSWORD (or {prefix}ALLOW_UNAUTHENTICATED=true if that "
            "is really what you want)"
        )


def kwargs_from_env(environ: Mapping[str, str] | None, prefix: str) -> dict[str, Any]:
    """Keyword arguments for :class:`Verifier` read from ``environ`` (default ``os.environ``)."""
    env = os.environ if environ is None else environ
    for name in _NOT_BLANK:
        # Fail closed: a secret variable that is present but blank is a deployment that
        # lost its secret, not a request to skip the check.
        if prefix + name in env and not split_list(env[prefix + name]):
            raise ConfigurationError(f"{prefix}{name} is set but empty")
    kwargs: dict[str, Any] = {"auth": _auth(env, prefix)}
    secrets = split_list(env.get(prefix + "HMAC_SECRET", ""))
    kwargs["hmac_secret"] = secrets or None
    if env.get(prefix + "HEADERS", "").strip():
        kwargs["required_headers"] = parse_header_pairs(env[prefix + "HEADERS"], prefix + "HEADERS")
    if env.get(prefix + "MAX_BODY_BYTES", "").strip():
        limit = parse_int(env[prefix + "MAX_BODY_BYTES"], 1, 2**62)
        if limit is None:
            raise ConfigurationError(f"{prefix}MAX_BODY_BYTES must be a positive integer")
        kwargs["max_body_bytes"] = limit
    if env.get(prefix + "SIGNED_FORMS", "").strip():
        forms = split_list(env[prefix + "SIGNED_FORMS"])
        if not set(forms) <= set(FORMS):
            raise ConfigurationError(f"{prefix}SIGNED_FORMS must be a comma-separated subset of {', '.join(FORMS)}")
        kwargs["signed_forms"] = forms
    kwargs["allow_unauthenticated"] = parse_bool(
        env.get(prefix + "ALLOW_UNAUTHENTICATED", ""), prefix + "ALLOW_UNAUTHENTICATED"
    )
    for var, key, allow_zero in (
        ("MAX_EVENT_AGE_SECONDS", "max_event_age", False),
        ("MAX_CLOCK_SKEW_SECONDS", "max_clock_skew", True),
    ):
        if env.get(prefix + var, "").strip():
            kwargs[key] = _seconds(env[prefix + var], prefix + var, allow_zero=allow_zero)
    return kwargs
