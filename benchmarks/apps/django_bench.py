"""Django: ``/verified`` through ``@audit_webhook``, ``/plain`` (csrf-exempt) reads and parses the body itself."""

from __future__ import annotations

import json

import _path  # noqa: F401
import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="benchmark-only-not-a-secret",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["django.middleware.common.CommonMiddleware", "django.middleware.csrf.CsrfViewMiddleware"],
    INSTALLED_APPS=[],
    USE_TZ=True,
)
django.setup()

from bench_common import make_verifier  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402

from descope_audit_hook import AuditBatch  # noqa: E402
from descope_audit_hook.django import audit_webhook  # noqa: E402


@audit_webhook(make_verifier())
def verified(request: HttpRequest, batch: AuditBatch) -> JsonResponse:
    return JsonResponse({"received": len(batch)})


@csrf_exempt
def plain(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"received": len(json.loads(request.body))})


urlpatterns = [path("verified", verified), path("plain", plain)]
application = get_wsgi_application()
