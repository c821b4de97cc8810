"""A :class:`Verifier` from a framework's configuration mapping (Flask ``app.config``, Django settings).

The keys are named like the environment variables of ``Verifier.from_env``
(``DESCOPE_AUDIT_HMAC_SECRET``...), each one missing from the mapping read from the
environment; ``DESCOPE_AUDIT_VERIFIER`` is a ready :class:`Verifier`, used as is.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from ._config import ENV_VARS, check_not_open, kwargs_from_env
from ._errors import ConfigurationError
from ._verifier import Verifier

__all__ = ["PREFIX", "load_verifier"]

PREFIX = "DESCOPE_AUDIT_"

_LIST_VARS = frozenset({"HMAC_SECRET", "BEARER_TOKEN", "API_KEY", "BASIC_PASSWORD", "SIGNED_FORMS"})
_INT_VARS = frozenset({"MAX_BODY_BYTES", "MAX_EVENT_AGE_SECONDS", "MAX_CLOCK_SKEW_SECONDS"})


def _as_env_text(name: str, value: object) -> str:
    """A configuration value as the text its environment variable would hold.

    Strings are taken as they are (so ``"a,b"`` means two secrets, as in the environment);
    lists of strings, ints, booleans and (for ``HEADERS``) a dict are accepted too. A
    value the environment format cannot carry (bytes, a secret with a comma) needs a
    ``Verifier`` object instead. Messages name the key, never the value.
    """
    short = name[len(PREFIX) :]
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        if short == "ALLOW_UNAUTHENTICATED":
            return "true" if value else "false"
    elif isinstance(value, int) and short in _INT_VARS:
        return str(value)
    elif isinstance(value, (list, tuple)) and short in _LIST_VARS:
        if all(isinstance(v, str) and "," not in v for v in value):
            return ",".join(value)
    elif isinstance(value, Mapping) and short == "HEADERS":
        return json.dumps(dict(value))
    raise ConfigurationError(
        f"{name} has a type this setting does not take; for anything beyond the environment "
        f"variable's format, configure a Verifier object ({PREFIX}VERIFIER)"
    )


def load_verifier(
    config: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
    where: str = "the configuration",
) -> Verifier:
    """The :class:`Verifier` described by ``config``, each key falling back to the environment.

    ``config`` holds ``DESCOPE_AUDIT_VERIFIER`` (a ready :class:`Verifier`, used as is), or
    the ``DESCOPE_AUDIT_*`` keys named like the environment variables of
    ``Verifier.from_env``. A key absent (or ``None``) in ``config`` is read from
    ``environ`` (default ``os.environ``). Raises :class:`ConfigurationError`.
    """
    ready = config.get(PREFIX + "VERIFIER")
    if ready is not None:
        if not isinstance(ready, Verifier):
            raise ConfigurationError(f"{PREFIX}VERIFIER in {where} must be a descope_audit_hook.Verifier")
        return ready
    env = os.environ if environ is None else environ
    merged: dict[str, str] = {}
    for short in ENV_VARS:
        name = PREFIX + short
        value = config.get(name)
        if value is not None:
            merged[name] = _as_env_text(name, value)
        elif name in env:
            merged[name] = env[name]
    kwargs = kwargs_from_env(merged, PREFIX)
    check_not_open(kwargs, PREFIX, f"{where} or the environment")
    return Verifier(**kwargs)
