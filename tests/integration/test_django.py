"""Django against a real P2PDB node: ``migrate`` (admin, auth, contenttypes, sessions and the sample
shop app of tests/apps/django_app), ORM CRUD from ``manage.py shell``, and Django's own ``TestCase``
runner (``manage.py test shop``). Django's MySQL backend runs on PyMySQL (see the app's settings).

ALTER TABLE forms that migrations send (ADD CONSTRAINT ... FOREIGN KEY, MODIFY, DROP COLUMN) belong to
the DDL work of issue 11: while the node answers them with 1235, the migrate test is an expected
failure naming the statement; any other error fails.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pymysql
import pytest

if TYPE_CHECKING:
    from tests.integration.conftest import NodeProcess

pytest.importorskip("django")

APP = Path(__file__).resolve().parents[1] / "apps" / "django_app"
TIMEOUT = 240

CRUD = """
import datetime, decimal
from shop.models import Category, Product
cat = Category.objects.create(name="crud")
p = Product.objects.create(name="kettle", price=decimal.Decimal("19.95"), category=cat,
    created=datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC), attributes={"watts": 1500})
p = Product.objects.get(pk=p.pk)
assert p.price == decimal.Decimal("19.95") and p.attributes == {"watts": 1500} and p.available is True
Product.objects.filter(pk=p.pk).update(available=False)
assert Product.objects.filter(available=False, category__name="crud").count() == 1
cat.delete()
assert not Product.objects.filter(name="kettle").exists()
print("CRUD OK")
"""


def manage(node: NodeProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "P2PDB_PORT": str(node.port), "DJANGO_SETTINGS_MODULE": "settings"}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=APP,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.fixture(scope="module")
def migrated(node: NodeProcess) -> NodeProcess:
    conn = pymysql.connect(host="127.0.0.1", port=node.port, user="root", autocommit=True)
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS djangoshop")
    conn.close()
    result = manage(node, "migrate", "--noinput")
    output = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail(f"manage.py migrate failed:\n{output[-4000:]}")
    assert "Applying auth.0001_initial... OK" in output
    return node


def test_migrate_creates_the_admin_auth_and_shop_tables(migrated: NodeProcess) -> None:
    conn = pymysql.connect(host="127.0.0.1", port=migrated.port, user="root", database="djangoshop")
    with conn.cursor() as cur:
        cur.execute("SHOW TABLES")
        tables = {row[0] for row in cur.fetchall()}
    conn.close()
    expected = {"auth_user", "django_admin_log", "django_session", "django_content_type", "shop_product"}
    assert expected <= tables
    assert manage(migrated, "migrate", "--check").returncode == 0  # nothing left to apply


def test_orm_crud(migrated: NodeProcess) -> None:
    result = manage(migrated, "shell", "-c", CRUD)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "CRUD OK" in result.stdout


def test_django_testcase_runner(migrated: NodeProcess) -> None:
    result = manage(migrated, "test", "shop", "--noinput", "-v", "2")
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    assert re.search(r"Ran 4 tests", result.stderr), result.stderr[-2000:]
