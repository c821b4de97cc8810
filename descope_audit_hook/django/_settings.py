"""The Django settings of the webhook: ``DESCOPE_AUDIT_WEBHOOK`` and the verifier they describe."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from descope_audit_hook._settings import MAPPING_KEYS, PREFIX
from descope_audit_hook._settings_loader import Source, load_verifier, prefixed
from descope_audit_hook._verifier import Verifier

__all__ = ["SETTING", "settings_verifier", "webhook_settings"]

#: The settings dict for the middleware and the shared verifier.
SETTING = "DESCOPE_AUDIT_WEBHOOK"
_KNOWN_KEYS = frozenset({"PATHS", "DEDUPE", *MAPPING_KEYS})

_cache: dict[str, Verifier] = {}


def _clear_cache(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith(PREFIX):
        _cache.clear()


setting_changed.connect(_clear_cache, dispatch_uid="descope_audit_hook.django")


def webhook_settings() -> Mapping[str, Any]:
    """``settings.DESCOPE_AUDIT_WEBHOOK`` (empty if unset); unknown keys are refused."""
    conf = getattr(settings, SETTING, None) or {}
    if not isinstance(conf, Mapping):
        raise ImproperlyConfigured(f"settings.{SETTING} must be a dict")
    unknown = set(conf) - _KNOWN_KEYS
    if unknown:
        raise ImproperlyConfigured(f"settings.{SETTING} has unknown keys: {', '.join(sorted(map(str, unknown)))}")
    return conf


def settings_verifier() -> Verifier:
    """The verifier the settings describe (built once, rebuilt when a ``DESCOPE_AUDIT*`` setting changes).

    Order: ``DESCOPE_AUDIT_WEBHOOK["VERIFIER"]``; else each verifier key from
    ``DESCOPE_AUDIT_WEBHOOK`` (unprefixed), the top-level ``DESCOPE_AUDIT_*`` setting, the
    environment variable. Raises :class:`~descope_audit_hook.ConfigurationError`.
    """
    cached = _cache.get("verifier")
    if cached is None:
        webhook = Source(webhook_settings(), str, f'settings.{SETTING}["{{}}"]'.format)
        top_level = {PREFIX + key: getattr(settings, PREFIX + key, None) for key in MAPPING_KEYS}
        cached = _cache["verifier"] = load_verifier(webhook, prefixed(top_level, "settings.{}"), where="settings")
    return cached
