from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("descope/audit", views.descope_audit, name="descope-audit"),
]
