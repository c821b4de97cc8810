"""The webhook view: AuditWebhookMiddleware verified the delivery before this runs."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse

from descope_audit_hook import AuditBatch

# isort: split
# What the app does with the verified events, shared by the examples: examples/audit_store.py
# (settings.py puts examples/ on sys.path).
from audit_store import record_events


@login_not_required  # the connector has no session; the middleware checks its credentials instead
def descope_audit(request: HttpRequest) -> JsonResponse:
    # Only a verified POST gets here; anything else was answered 401/400/413/405 already.
    batch: AuditBatch = request.descope_audit  # type: ignore[attr-defined]
    return JsonResponse(record_events(batch))
