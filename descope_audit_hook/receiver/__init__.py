"""The reference receiver: a WSGI application that verifies, stores and shows audit events.

``POST`` on a webhook path verifies the delivery with a :class:`~descope_audit_hook.Verifier`
and stores the accepted events in SQLite, each once (keyed by ``AuditEvent.fingerprint``,
so a redelivery adds nothing). ``GET /`` is the audit page (a chart, filters, the table),
``GET /api/events`` the same listing as JSON, ``GET /api/events.csv`` and
``/api/events.jsonl`` the whole filter as a streamed export. Standard library only.

Run it with ``descope-audit-hook serve`` or under any WSGI server, configured by the
``DESCOPE_AUDIT_*`` environment variables::

    gunicorn 'descope_audit_hook.receiver:create_app()'

Only ``Host`` names of loopback (and those you allow) are served; without an access token
the page is shown only to loopback clients asking for a loopback name. See docs/cli.md.
"""

from ._access import PageAccess
from ._app import DEFAULT_DB, DEFAULT_PATH, AuditReceiver, create_app, log_requests_to_stderr, make_app
from ._filter import EventFilter
from ._server import DEFAULT_MAX_CONNECTIONS, DEFAULT_REQUEST_TIMEOUT, make_server
from ._store import EventStore

__all__ = [
    "DEFAULT_DB",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_PATH",
    "DEFAULT_REQUEST_TIMEOUT",
    "AuditReceiver",
    "EventFilter",
    "EventStore",
    "PageAccess",
    "create_app",
    "log_requests_to_stderr",
    "make_app",
    "make_server",
]
