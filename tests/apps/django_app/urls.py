"""The admin's URLs (the admin app needs a URLconf to pass Django's checks)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
