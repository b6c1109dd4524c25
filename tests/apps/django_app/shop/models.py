"""Models with the field types applications use most, on a P2PDB node."""

from __future__ import annotations

from django.db import models


class Category(models.Model):
    name = models.CharField(max_length=60, unique=True)

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    name = models.CharField(max_length=100, db_index=True)
    description = models.TextField(blank=True, default="")
    price = models.DecimalField(max_digits=10, decimal_places=2)
    created = models.DateTimeField()
    available = models.BooleanField(default=True)
    attributes = models.JSONField(default=dict)
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="products")

    def __str__(self) -> str:
        return self.name
