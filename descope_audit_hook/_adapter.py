"""What the framework adapters share, with no framework imported.

An adapter turns the framework's request into ``(body bytes, headers)``, hands them to
the core :class:`~descope_audit_hook.Verifier` and turns a
:class:`~descope_audit_hook.VerificationError` into the framework's response. The
pieces that do not depend on the framework live here: the JSON error answer, reading a
body with a size limit, configuration from a mapping (Flask ``app.config``, Django
settings) with the environment as fallback, and running a handler exactly once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, NoReturn, TypeVar

from ._auth import BearerToken
from ._claim import exactly_once
from ._config import ENV_VARS, check_not_open, kwargs_from_env
from ._dedupe import DedupeStore, is_async_store
from ._errors import ConfigurationError, PayloadTooLarge, VerificationError
from ._models import AuditBatch
from ._verifier import Verifier, log_rejection

__all__ = [
    "CHUNK_SIZE",
    "PREFIX",
    "BodyCollector",
    "ErrorResponse",
    "HandlerFailed",
    "check_dedupe",
    "error_response",
    "incomplete_body",
    "load_verifier",
    "missing_framework",
    "read_bounded",
    "reject",
    "require_sync",
    "run_once",
]

PREFIX = "DESCOPE_AUDIT_"
#: Bytes asked of the server per read; the body is assembled from chunks of at most this size.
CHUNK_SIZE = 65_536

T = TypeVar("T")


def missing_framework(module: str, extra: str, framework: str, cause: ImportError) -> NoReturn:
    """Raise the error of an adapter whose framework, or one of the framework's own
    dependencies (Django's ``asgiref``, Flask's ``werkzeug``, Starlette's ``anyio``), cannot
    be imported: it names the pip extra that installs them all. An import error in one of
    our own modules is a bug, not a missing install, and is raised as it is.
    """
    if (cause.name or "").partition(".")[0] == "descope_audit_hook":
        raise cause
    raise ImportError(
        f"descope_audit_hook.{module} needs {framework}, which is not installed or not completely ({cause}): "
        f'pip install "descope-audit-hook[{extra}]"'
    ) from cause


class ErrorResponse(NamedTuple):
    """A rejected request's answer: status, JSON body and headers (``Content-Type`` included)."""

    status: int
    body: bytes
    headers: dict[str, str]


def error_response(exc: VerificationError) -> ErrorResponse:
    """``{"error": code, "message": short message}`` with the error's status and headers.

    The message is the error's own short, safe text: never a secret, a signature or
    any part of the body.
    """
    body = json.dumps(exc.to_dict(), ensure_ascii=True, separators=(",", ":")).encode("ascii")
    headers = {"Content-Type": "application/json", **exc.headers}
    return ErrorResponse(exc.status_code, body, headers)


def reject(exc: VerificationError) -> VerificationError:
    """Log a rejection raised by an adapter itself (the verifier logs its own), as the core does."""
    return log_rejection(exc)


def require_sync(verifier: Verifier, where: str) -> Verifier:
    """``verifier``, unless its token validator is ``async def``, which a synchronous path cannot await.

    Raised when the app is set up, not on the first delivery.
    """
    auth = verifier.auth
    if isinstance(auth, BearerToken) and auth.asynchronous:
        raise ConfigurationError(
            f"{where} verifies synchronously and cannot await an async def token validator: "
            "make the validator a plain function (it is called once per delivery), or use an async path"
        )
    return verifier


def incomplete_body() -> VerificationError:
    """The client sent less than it declared, or the connection broke mid-body (400)."""
    return VerificationError("request body could not be read", code="incomplete_body")


class BodyCollector:
    """Collects body chunks and raises :class:`PayloadTooLarge` as soon as ``limit`` is passed."""

    __slots__ = ("_chunks", "_size", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._chunks: list[bytes] = []
        self._size = 0

    @property
    def wanted(self) -> int:
        """How many more bytes may be read: one past the limit, so that an overflow is seen."""
        return min(CHUNK_SIZE, self.limit + 1 - self._size)

    def add(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self.limit:
            self._chunks.clear()
            raise reject(PayloadTooLarge(f"body larger than {self.limit} bytes"))
        self._chunks.append(bytes(chunk))

    def body(self) -> bytes:
        return b"".join(self._chunks)


def read_bounded(read: Callable[[int], bytes], limit: int) -> bytes:
    """Read a body with ``read(n)`` until it returns ``b""``, never more than ``limit + 1`` bytes.

    Raises :class:`PayloadTooLarge` once more than ``limit`` bytes arrived, whatever the
    ``Content-Length`` said (it can lie, or be absent for a chunked request).
    """
    collector = BodyCollector(limit)
    while True:
        chunk = read(collector.wanted)
        if not chunk:
            return collector.body()
        collector.add(chunk)


# --- configuration -----------------------------------------------------------------------------

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


# --- exactly once ----------------------------------------------------------------------------


def check_dedupe(dedupe: object) -> DedupeStore | None:
    """``dedupe`` if it is ``None`` or a sync :class:`DedupeStore`; a :class:`ConfigurationError` otherwise."""
    if dedupe is not None and not isinstance(dedupe, DedupeStore):
        raise ConfigurationError("dedupe must be a DedupeStore (an object with claim(), complete() and release())")
    if is_async_store(dedupe):
        raise ConfigurationError(f"dedupe must be a sync DedupeStore; {type(dedupe).__name__} is async")
    return dedupe


class HandlerFailed(Exception):
    """Raised inside ``exactly_once`` when a handler *returned* a 5xx, so that its claims are released."""


def run_once(
    batch: AuditBatch,
    store: DedupeStore | None,
    handler: Callable[[AuditBatch], T],
    status_of: Callable[[T], int],
) -> T:
    """Run ``handler`` on the batch's new events; release their claims if it raises or answers 5xx.

    A handler that answers 5xx without raising has failed as surely as one that raised:
    the sender will redeliver, and a kept claim would drop that redelivery.
    """
    if store is None:
        return handler(batch)
    outcome: list[T] = []
    try:
        with exactly_once(batch, store) as fresh:
            outcome.append(handler(fresh))
            if status_of(outcome[0]) >= 500:
                raise HandlerFailed
    except HandlerFailed:
        pass
    return outcome[0]
