"""Settings of a minimal Django project that receives Descope audit events.

The webhook's verifier comes from the DESCOPE_AUDIT_* environment variables
(DESCOPE_AUDIT_HMAC_SECRET, DESCOPE_AUDIT_BEARER_TOKEN, ...): no secret lives in this
file. The site is configured like a real one, CSRF protection and login required for
every view included, to show that the webhook passes both.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# The view hands the events to examples/audit_store.py, the module every example shares, one
# level above this project. Each way of running it (gunicorn --chdir examples/django_app,
# manage.py runserver or test, python -m django --pythonpath examples/django_app) puts only
# examples/django_app/ on sys.path and loads these settings before any view: this is the one
# place that makes examples/ importable too. Your own project would keep that code inside it.
EXAMPLES_DIR = str(BASE_DIR.parent)
if EXAMPLES_DIR not in sys.path:
    sys.path.append(EXAMPLES_DIR)

# Set DJANGO_SECRET_KEY in production; the fallback is only for trying the example.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-insecure-descope-audit-example-only")
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",  # Django 5.1+
    # Verifies POSTs to DESCOPE_AUDIT_WEBHOOK["PATHS"] before the view runs; answers
    # 401/400/413/405 as JSON otherwise. Other paths pass through untouched.
    "descope_audit_hook.django.AuditWebhookMiddleware",
]

# The verifier is built from the DESCOPE_AUDIT_* environment variables; its keys may also
# be set here ("HMAC_SECRET": ...) or a ready Verifier given as "VERIFIER".
DESCOPE_AUDIT_WEBHOOK = {"PATHS": ["/descope/audit"]}

ROOT_URLCONF = "audit_site.urls"
WSGI_APPLICATION = "audit_site.wsgi.application"

# This example keeps its events with sqlite3 directly (audit_store.py, in the file named by
# AUDIT_EVENTS_DB) and needs no Django database; sessions live in signed cookies for the
# same reason.
DATABASES: dict[str, dict[str, str]] = {}
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"

USE_TZ = True
TIME_ZONE = "UTC"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "audit_receiver": {"handlers": ["console"], "level": "INFO"},
        # Rejected deliveries: one warning line each, with the reason code and never a secret.
        "descope_audit_hook": {"handlers": ["console"], "level": "WARNING"},
    },
}
