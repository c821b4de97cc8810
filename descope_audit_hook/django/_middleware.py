"""``AuditWebhookMiddleware``: verifies every request to ``DESCOPE_AUDIT_WEBHOOK["PATHS"]`` before its view."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponseBase
from django.urls import Resolver404, resolve
from django.utils.module_loading import import_string

from descope_audit_hook._batch import AuditBatch
from descope_audit_hook._claim import Claim
from descope_audit_hook._claim_rules import check_store
from descope_audit_hook._dedupe import DedupeStore
from descope_audit_hook._errors import ConfigurationError, VerificationError
from descope_audit_hook._request import require_sync

from ._convert import answer, error, received, status
from ._settings import SETTING, settings_verifier, webhook_settings

__all__ = ["AuditWebhookMiddleware"]

_LOGIN_REQUIRED = "django.contrib.auth.middleware.LoginRequiredMiddleware"


class AuditWebhookMiddleware:
    """Verifies every request to ``DESCOPE_AUDIT_WEBHOOK["PATHS"]`` before the view runs.

    A verified request reaches the view with ``request.descope_audit`` set; any other
    answers with the JSON error (405 for anything but ``POST``). Place it anywhere in
    ``MIDDLEWARE``; requests to other paths pass through untouched.
    """

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        conf = webhook_settings()
        paths = conf.get("PATHS")
        if (
            isinstance(paths, (str, bytes))
            or not isinstance(paths, (list, tuple, set, frozenset))
            or not paths
            or not all(isinstance(p, str) and p.startswith("/") for p in paths)
        ):
            raise ImproperlyConfigured(f'settings.{SETTING}["PATHS"] must be a non-empty list of paths starting with /')
        self.paths = frozenset(paths)
        # Built now, so that a broken configuration stops the app at start-up.
        self.verifier = require_sync(settings_verifier(), "AuditWebhookMiddleware")
        dedupe = conf.get("DEDUPE")
        if isinstance(dedupe, str):
            dedupe = import_string(dedupe)
        try:
            self.dedupe = cast("DedupeStore | None", check_store(dedupe, allow_async=False))
        except ConfigurationError as exc:
            raise ImproperlyConfigured(f'settings.{SETTING}["DEDUPE"]: {exc} (or its import path)') from None
        self._login_required = _LOGIN_REQUIRED in settings.MIDDLEWARE

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.path_info not in self.paths:
            return self.get_response(request)
        try:
            batch = received(request, self.verifier).finish(request.headers)
        except VerificationError as exc:
            return error(exc)
        # CsrfViewMiddleware.process_view skips a request it is told was checked (the flag
        # it sets itself once a request passed). A cross-site form cannot forge the
        # connector's credential or signature, which is what the CSRF token stands for.
        request.csrf_processing_done = True  # type: ignore[attr-defined]
        if self._login_required:
            self._check_login_exempt(request)

        def handle(fresh: AuditBatch) -> HttpResponseBase:
            request.descope_audit = fresh  # type: ignore[attr-defined]
            return self.get_response(request)

        outcome = Claim(batch, self.dedupe).run(handle, status)
        return answer(outcome)

    @staticmethod
    def _check_login_exempt(request: HttpRequest) -> None:
        try:
            match = resolve(request.path_info, getattr(request, "urlconf", None))
        except Resolver404:
            return
        if getattr(match.func, "login_required", True):
            raise ImproperlyConfigured(
                f"{request.path_info} is a {SETTING} path but its view is not marked @login_not_required: "
                "LoginRequiredMiddleware would redirect the webhook (it has no session) to the login page"
            )
