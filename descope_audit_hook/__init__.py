"""Verify and parse Descope Audit Webhook Connector deliveries.

The core imports nothing outside the standard library; the framework adapters live in
``descope_audit_hook.flask``, ``.django`` and ``.starlette``.
"""

from ._auth import ApiKey, Auth, BasicAuth, BearerToken
from ._batch import AuditBatch
from ._dedupe import AsyncDedupeStore, ClaimState, DedupeStore
from ._errors import (
    AuthenticationError,
    ConfigurationError,
    MethodNotAllowed,
    PayloadError,
    PayloadTooLarge,
    SignatureError,
    VerificationError,
)
from ._events import Action, AuditEvent, Severity
from ._exactly_once import exactly_once, exactly_once_async
from ._memory_store import MemoryDedupeStore
from ._postgres_store import AsyncPostgresDedupeStore, PostgresDedupeStore
from ._redis_store import AsyncRedisDedupeStore, RedisDedupeStore
from ._signature import SignedForm, sign
from ._sqlite_store import SQLiteDedupeStore
from ._verifier import DEFAULT_MAX_BODY_BYTES, SIGNATURE_HEADER, Verifier, verify

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "SIGNATURE_HEADER",
    "Action",
    "ApiKey",
    "AsyncDedupeStore",
    "AsyncPostgresDedupeStore",
    "AsyncRedisDedupeStore",
    "AuditBatch",
    "AuditEvent",
    "Auth",
    "AuthenticationError",
    "BasicAuth",
    "BearerToken",
    "ClaimState",
    "ConfigurationError",
    "DedupeStore",
    "MemoryDedupeStore",
    "MethodNotAllowed",
    "PayloadError",
    "PayloadTooLarge",
    "PostgresDedupeStore",
    "RedisDedupeStore",
    "SQLiteDedupeStore",
    "Severity",
    "SignatureError",
    "SignedForm",
    "VerificationError",
    "Verifier",
    "exactly_once",
    "exactly_once_async",
    "sign",
    "verify",
]
