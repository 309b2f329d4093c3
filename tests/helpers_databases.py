"""What the transaction tests need from outside: the frameworks and a PostgreSQL server.

The PostgreSQL tests read the server's URL from ``EVENTBUS_TEST_POSTGRES_URL``
(``postgresql://user@/dbname?host=/socket/dir``) and skip, saying why, where it is unset;
``nox -s databases`` starts a throwaway server and sets it (CONTRIBUTING.md).  Where
``EVENTBUS_POSTGRES_REQUIRED=1`` (CI), a missing server or framework fails instead.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlsplit

import pytest

# Events staged in the root ("root", "after"), in an outer savepoint and in one inside it,
# each savepoint released ("commit") or rolled back: what runs after the root's commit.  A
# savepoint released into one rolled back afterwards is dropped with it.
SAVEPOINTS_TWO_DEEP = [
    ("commit", "commit", ["root", "outer", "inner", "after"]),
    ("commit", "rollback", ["root", "after"]),
    ("rollback", "commit", ["root", "outer", "after"]),
    ("rollback", "rollback", ["root", "after"]),
]

REQUIRED = os.environ.get("EVENTBUS_POSTGRES_REQUIRED", "") not in ("", "0")


def unavailable(reason: str) -> None:
    """Skip with ``reason``, or fail where CI requires every database test to run."""
    if REQUIRED:
        pytest.fail(f"{reason} (EVENTBUS_POSTGRES_REQUIRED is set)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def missing(error: ImportError) -> None:
    """A framework the test module imports is not installed: skip it, or fail in CI."""
    unavailable(f"{error.name} is not installed (pip install --group databases .)")


def postgres_url() -> str:
    """The test server's URL, or skip (fail under EVENTBUS_POSTGRES_REQUIRED)."""
    url = os.environ.get("EVENTBUS_TEST_POSTGRES_URL", "")
    if not url:
        unavailable("no PostgreSQL server: EVENTBUS_TEST_POSTGRES_URL is not set (nox -s databases sets it)")
    return url


def postgres_settings(url: str) -> dict[str, str]:
    """``url`` as Django's DATABASES entry for its psycopg 3 backend."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": parts.username or "",
        "PASSWORD": parts.password or "",
        "HOST": query.get("host", [parts.hostname or ""])[0],
        "PORT": str(parts.port or ""),
    }
