"""One exception hierarchy.

Everything raised because a *request* is bad is a :class:`VerificationError` and
carries the HTTP status a server should answer (the idea of h11's
``error_status_hint``), a short machine-readable ``code`` and a short message that
is safe to show to the caller: it never contains a secret, a signature or any part
of the body.

:class:`ConfigurationError` is for the developer's mistakes and is deliberately
*not* a :class:`VerificationError`: an adapter must never turn it into a 4xx.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NoReturn

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "MethodNotAllowed",
    "PayloadError",
    "PayloadTooLarge",
    "RetryLater",
    "SignatureError",
    "VerificationError",
    "missing_framework",
]

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class ConfigurationError(ValueError):
    """The library was configured in a way that cannot work, or would accept anyone."""


class VerificationError(Exception):
    """A request was rejected. Base class of every error raised for untrusted input."""

    status_code: int = 400
    default_code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        #: Response headers the server should send with the error (``WWW-Authenticate``, ``Allow``).
        self.headers: Mapping[str, str] = MappingProxyType(dict(headers)) if headers else _NO_HEADERS
        #: What the log line adds to ``message`` (e.g. the class of what a token validator raised);
        #: never sent to the caller, and never a secret.
        self.detail = detail

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"

    def to_dict(self) -> dict[str, str]:
        """The JSON body an adapter answers with."""
        return {"error": self.code, "message": self.message}


class AuthenticationError(VerificationError):
    """Missing, malformed or wrong credentials, or a missing/wrong required header (401)."""

    status_code = 401
    default_code = "authentication_failed"


class SignatureError(VerificationError):
    """Missing, malformed or non-matching ``x-descope-webhook-s256`` signature (401)."""

    status_code = 401
    default_code = "invalid_signature"


class PayloadError(VerificationError):
    """An authenticated body that is not a valid audit payload (400).

    ``path`` is the JSON path of the problem (``$[0].occurred``), never a value; ``None``
    for a problem that has no place in the JSON (an unreadable body, a bad Content-Length).
    """

    status_code = 400
    default_code = "invalid_payload"

    def __init__(self, message: str, *, path: str | None = "$", code: str | None = None) -> None:
        if path is not None and len(path) > _LONGEST_PATH:
            # A path as deep as the body is nested: its two ends say where, the answer and the
            # log line stay short.
            half = _LONGEST_PATH // 2
            path = f"{path[:half]}…{path[-half:]}"
        super().__init__(message if path is None else f"{message} at {path}", code=code)
        self.path = path


_LONGEST_PATH = 200


class PayloadTooLarge(VerificationError):
    """The body is larger than ``max_body_bytes`` (413)."""

    status_code = 413
    default_code = "payload_too_large"


class MethodNotAllowed(VerificationError):
    """The webhook only accepts ``POST`` (405); ``allowed`` names the methods a path takes."""

    status_code = 405
    default_code = "method_not_allowed"

    def __init__(self, allowed: str = "POST") -> None:
        # The offending method is not echoed: it is attacker-controlled text.
        super().__init__(f"only {allowed} is accepted", headers={"Allow": allowed})


class RetryLater(VerificationError):
    """The delivery is sound but cannot be acknowledged yet (503, with ``Retry-After``).

    Raised by no verifier: the exactly-once path answers it when some events of the
    delivery are still being handled by another request (``events_in_progress``), or when
    the dedupe store failed (``dedupe_unavailable``). ``retry_after``: seconds.
    """

    status_code = 503
    default_code = "events_in_progress"

    def __init__(self, message: str, *, code: str, retry_after: int) -> None:
        super().__init__(message, code=code, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


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
