"""Django settings of the sample app that runs against a P2PDB node (tests/integration/test_django.py).

The node's MySQL port comes from ``P2PDB_PORT``; Django's MySQL backend talks to it through PyMySQL
standing in for mysqlclient (no C build needed).
"""

from __future__ import annotations

import os

import pymysql

# Django's MySQL backend imports MySQLdb (mysqlclient) and checks its version; PyMySQL is a
# drop-in replacement that announces itself as the mysqlclient release Django asks for.
pymysql.version_info = (2, 2, 7, "final", 0)
pymysql.install_as_MySQLdb()

SECRET_KEY = "p2pdb-django-sample-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "shop",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.request",
            ]
        },
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.mysql",
        "NAME": os.environ.get("P2PDB_DJANGO_DB", "djangoshop"),
        "USER": "root",
        "PASSWORD": "",
        "HOST": "127.0.0.1",
        "PORT": os.environ.get("P2PDB_PORT", "3306"),
        "OPTIONS": {"charset": "utf8mb4"},
        "TEST": {"NAME": os.environ.get("P2PDB_DJANGO_TEST_DB", "test_djangoshop")},
    }
}
