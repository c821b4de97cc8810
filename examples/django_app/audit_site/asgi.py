"""ASGI entry point: uvicorn --app-dir examples/django_app audit_site.asgi:application

Django's ASGIHandler reads a request's whole body before any middleware runs (to a
temporary file past 2.5 MB). AuditWebhookBodyLimit reads the body of a request to a
DESCOPE_AUDIT_WEBHOOK["PATHS"] path itself, bounded by the verifier's max_body_bytes, so an
oversize delivery is refused (413) before Django reads it.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

from descope_audit_hook.django import AuditWebhookBodyLimit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "audit_site.settings")

application = AuditWebhookBodyLimit(get_asgi_application())
