"""Verify and parse Descope Audit Webhook Connector deliveries.

The core imports nothing outside the standard library; the framework adapters live in
``descope_audit_hook.flask``, ``.django`` and ``.starlette``.
"""

from ._auth import ApiKey, Auth, BasicAuth, BearerToken
from ._dedupe import DedupeStore, MemoryDedupeStore, SQLiteDedupeStore, exactly_once
from ._errors import (
    AuthenticationError,
    ConfigurationError,
    MethodNotAllowed,
    PayloadError,
    PayloadTooLarge,
    SignatureError,
    VerificationError,
)
from ._forms import sign
from ._models import Action, AuditBatch, AuditEvent, Severity, SignedForm
from ._verifier import DEFAULT_MAX_BODY_BYTES, SIGNATURE_HEADER, Verifier, verify

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "SIGNATURE_HEADER",
    "Action",
    "ApiKey",
    "AuditBatch",
    "AuditEvent",
    "Auth",
    "AuthenticationError",
    "BasicAuth",
    "BearerToken",
    "ConfigurationError",
    "DedupeStore",
    "MemoryDedupeStore",
    "MethodNotAllowed",
    "PayloadError",
    "PayloadTooLarge",
    "SQLiteDedupeStore",
    "Severity",
    "SignatureError",
    "SignedForm",
    "VerificationError",
    "Verifier",
    "exactly_once",
    "sign",
    "verify",
]
