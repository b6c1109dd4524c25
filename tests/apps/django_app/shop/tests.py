"""Django's own TestCase runner against a P2PDB node (``python manage.py test shop``)."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Count, Sum
from django.test import TestCase

from .models import Category, Product

WHEN = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.UTC)


class ShopTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.tea = Category.objects.create(name="tea")
        Product.objects.create(
            name="sencha",
            description="green; loose",
            price=Decimal("12.50"),
            created=WHEN,
            attributes={"origin": "JP", "grams": 100},
            category=cls.tea,
        )

    def test_create_read_update_delete(self) -> None:
        cup = Category.objects.create(name="cups")
        product = Product.objects.create(
            name="mug", price=Decimal("7.99"), created=WHEN, available=False, category=cup
        )
        loaded = Product.objects.select_related("category").get(pk=product.pk)
        self.assertEqual(loaded.category.name, "cups")
        self.assertEqual(loaded.price, Decimal("7.99"))
        self.assertEqual(loaded.created, WHEN)
        self.assertIs(loaded.available, False)
        self.assertEqual(loaded.attributes, {})
        Product.objects.filter(pk=product.pk).update(price=Decimal("8.49"), available=True)
        loaded.refresh_from_db()
        self.assertEqual((loaded.price, loaded.available), (Decimal("8.49"), True))
        loaded.delete()
        self.assertFalse(Product.objects.filter(pk=product.pk).exists())

    def test_json_and_aggregates(self) -> None:
        self.assertEqual(Product.objects.get(attributes__origin="JP").name, "sencha")
        totals = Category.objects.annotate(n=Count("products"), total=Sum("products__price")).get(name="tea")
        self.assertEqual((totals.n, totals.total), (1, Decimal("12.50")))

    def test_unique_violation_rolls_back_the_atomic_block(self) -> None:
        with self.assertRaises(IntegrityError), transaction.atomic():
            Category.objects.create(name="tea")
        self.assertEqual(Category.objects.filter(name="tea").count(), 1)

    def test_cascade_delete_and_auth_user(self) -> None:
        self.tea.delete()
        self.assertEqual(Product.objects.count(), 0)
        user = User.objects.create_user("ada", "ada@example.org", "s3cret!")
        self.assertTrue(User.objects.get(username="ada").check_password("s3cret!"))
        self.assertEqual(user.get_username(), "ada")
