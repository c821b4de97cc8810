"""Every ``code`` an error answer of this package can carry, with its status and meaning.

The one registry of error codes: the table in docs/api.md is generated from it, and
tests/core/test_error_codes.py checks that the table is up to date, that every code the
package's source raises or answers is here, and that the statuses match the classes. A
new code is added here first (then ``python -m tests.core.test_error_codes --write``
rewrites the table).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ADAPTERS", "BY_CODE", "CLASS_DEFAULT", "ERROR_CODES", "SERVE", "VERIFIER", "ErrorCode"]

#: Who answers the code: ``Verifier.verify()`` (and so every adapter and ``serve``), the
#: framework adapters (and ``serve``'s webhook paths), ``serve``'s own pages, or nobody in
#: this package (a class's default, for an error raised without a code).
VERIFIER = "verify()"
ADAPTERS = "adapters"
SERVE = "serve"
CLASS_DEFAULT = "class default"


@dataclass(frozen=True)
class ErrorCode:
    """One error code: the ``"error"`` of the JSON answer and ``VerificationError.code``."""

    code: str
    status: int
    #: The exception class(es) that carry it (``""``: answered without an exception).
    raised_as: str
    by: str
    meaning: str


ERROR_CODES: tuple[ErrorCode, ...] = (
    # --- Verifier.verify() -------------------------------------------------------------------
    ErrorCode("payload_too_large", 413, "PayloadTooLarge", VERIFIER,
              "body (or declared `Content-Length`) above `max_body_bytes`"),
    ErrorCode("invalid_content_length", 400, "PayloadError", VERIFIER,
              "`Content-Length` is not a non-negative decimal integer"),
    ErrorCode("malformed_headers", 401, "AuthenticationError", VERIFIER,
              "the headers object cannot be read (not a mapping or pairs, a non-`str`/`bytes` name or a wanted value)"),
    ErrorCode("duplicate_header", 401, "AuthenticationError, SignatureError", VERIFIER,
              "a credential or static header (`AuthenticationError`) or `x-descope-webhook-s256` (`SignatureError`) "
              "arrived more than once"),
    ErrorCode("missing_credentials", 401, "AuthenticationError", VERIFIER,
              "no `Authorization` (Bearer, Basic) or no API key header"),
    ErrorCode("malformed_credentials", 401, "AuthenticationError", VERIFIER,
              "wrong scheme, no token, invalid base64, Basic credentials without `:`; a Bearer token outside RFC 6750 "
              "token syntax when a validator would check it"),
    ErrorCode("invalid_credentials", 401, "AuthenticationError", VERIFIER,
              "the credential matches none of the configured values, or the Bearer token validator raised or returned "
              "no claims"),
    ErrorCode("missing_header", 401, "AuthenticationError", VERIFIER,
              "a static header from `required_headers` is absent"),
    ErrorCode("invalid_header", 401, "AuthenticationError", VERIFIER,
              "a static header has another value"),
    ErrorCode("missing_signature", 401, "SignatureError", VERIFIER,
              "no `x-descope-webhook-s256` header"),
    ErrorCode("malformed_signature", 401, "SignatureError", VERIFIER,
              "not canonical base64 of 32 bytes (hex, URL-safe, truncated, empty, ...)"),
    ErrorCode("invalid_signature", 401, "SignatureError", VERIFIER,
              "matches no accepted form under any configured secret (also `SignatureError`'s default)"),
    ErrorCode("invalid_encoding", 400, "PayloadError", VERIFIER,
              "body not UTF-8, or a string with an unpaired surrogate escape"),
    ErrorCode("invalid_json", 400, "PayloadError", VERIFIER,
              "not JSON, `NaN`/`Infinity`, number out of range or too long, nesting too deep"),
    ErrorCode("invalid_payload", 400, "PayloadError", VERIFIER,
              "valid JSON but not an audit payload: duplicate keys (without an HMAC signature, see "
              "security.md), top-level scalar, missing/invalid `action` or `occurred`, wrong type in a known field"),
    ErrorCode("stale_event", 400, "PayloadError", VERIFIER,
              "`occurred` older than `max_event_age` (only when set)"),
    ErrorCode("future_event", 400, "PayloadError", VERIFIER,
              "`occurred` later than now + `max_clock_skew` (only when set)"),
    # --- the adapters ----------------------------------------------------------------------------
    ErrorCode("method_not_allowed", 405, "MethodNotAllowed", ADAPTERS,
              "not a `POST` (with `Allow: POST`); also `serve` for a method a path does not take"),
    ErrorCode("incomplete_body", 400, "VerificationError", ADAPTERS,
              "the client sent less than its `Content-Length`, or went away mid-body"),
    ErrorCode("events_in_progress", 503, "RetryLater", ADAPTERS,
              "with a dedupe store: another request holds some events of the delivery; the events this request "
              "claimed were handled and completed; `Retry-After` (a tenth of the store's lease, 1 to 60 s)"),
    ErrorCode("dedupe_unavailable", 503, "RetryLater", ADAPTERS,
              "with a dedupe store: the store failed to claim (down, restarting, a timeout); the handler did not "
              "run; `Retry-After` as above"),
    # --- serve: the reference receiver's own pages and server ---------------------------------
    ErrorCode("invalid_host", 400, "VerificationError", SERVE,
              "a `Host` the receiver does not serve (the DNS-rebinding defence, `--allowed-host`)"),
    ErrorCode("invalid_query", 400, "PayloadError", SERVE,
              "a listing or export query it cannot read: an unknown severity, a date that does not exist, `from` "
              "after `to`, a value too long"),
    ErrorCode("invalid_form", 400, "PayloadError", SERVE,
              "the login or logout form is over 4096 bytes, has no `Content-Length`, or cannot be read"),
    ErrorCode("login_required", 401, "AuthenticationError", SERVE,
              "the audit page or its data without a login session or the access token"),
    ErrorCode("invalid_csrf", 403, "Forbidden", SERVE,
              "a login or logout form whose CSRF value is missing, expired or wrong, or a cross-site form"),
    ErrorCode("page_token_required", 403, "Forbidden", SERVE,
              "the audit page without `--page-token`, from a client, for a `Host` or on a server not on loopback"),
    ErrorCode("not_found", 404, "NotFound", SERVE,
              "no such path"),
    ErrorCode("request_timeout", 408, "RequestTimeout", SERVE,
              "the request (headers and body) did not arrive within the server's time limit"),
    ErrorCode("internal_error", 500, "", SERVE,
              "an unexpected error in the receiver (logged with its stack, never sent)"),
    ErrorCode("busy", 503, "", SERVE,
              "too many open connections (`Retry-After: 5`)"),
    # --- defaults of classes, for an error raised without a code (this package always gives one) ---
    ErrorCode("bad_request", 400, "VerificationError", CLASS_DEFAULT,
              "`VerificationError`'s default"),
    ErrorCode("authentication_failed", 401, "AuthenticationError", CLASS_DEFAULT,
              "`AuthenticationError`'s default"),
    ErrorCode("forbidden", 403, "Forbidden", CLASS_DEFAULT,
              "the receiver's `Forbidden`'s default"),
)  # fmt: skip

#: Each code once: ``{code: ErrorCode}``.
BY_CODE = {entry.code: entry for entry in ERROR_CODES}
