"""Django: a view decorator, ``@audit_webhook(verifier)``, or a middleware for configured paths.

::

    @audit_webhook()                         # the verifier from settings
    def descope_audit(request, batch): ...

    MIDDLEWARE = [..., "descope_audit_hook.django.AuditWebhookMiddleware", ...]
    DESCOPE_AUDIT_WEBHOOK = {"PATHS": ["/descope/audit/"]}       # request.descope_audit in the view

    application = AuditWebhookBodyLimit(get_asgi_application())   # asgi.py: the size limit before Django reads

    DEDUPE = CacheDedupeStore("default")     # exactly-once on Django's cache framework

Only Django's idiom lives in this package, one private module each: the settings
(``_settings``), Django's request in and the answer out (``_convert``), the view
decorator (``_decorator``), the middleware (``_middleware``), the ASGI body limit
(``_asgi``) and the cache store (``_cache``). The request path is ``_request.py``,
exactly-once ``_claim.py``. docs/django.md documents the settings
(``DESCOPE_AUDIT_WEBHOOK``: ``PATHS``, ``VERIFIER``, ``DEDUPE`` and the verifier keys;
top-level ``DESCOPE_AUDIT_*``), token validators (a plain function for the middleware and
sync views; an ``async def`` view awaits an async one and runs a plain one in a worker
thread), CSRF and login.
"""

from descope_audit_hook._errors import missing_framework

try:
    from ._asgi import AuditWebhookBodyLimit
    from ._cache import CacheDedupeStore
    from ._decorator import audit_webhook
    from ._middleware import AuditWebhookMiddleware
    from ._settings import SETTING
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    missing_framework("django", "django", "Django", exc)

__all__ = ["SETTING", "AuditWebhookBodyLimit", "AuditWebhookMiddleware", "CacheDedupeStore", "audit_webhook"]
