"""The shop's models in the admin."""

from __future__ import annotations

from django.contrib import admin

from .models import Category, Product

admin.site.register(Category)
admin.site.register(Product)
