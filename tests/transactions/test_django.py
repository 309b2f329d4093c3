"""eventbus.django on real databases, through Django's own backends: SQLite and PostgreSQL.

Django is configured once for the process, with the alias ``"default"`` on an SQLite file
and, where ``EVENTBUS_TEST_POSTGRES_URL`` is set, ``"postgres"`` on that server (psycopg 3).
A handler that runs "after the commit" counts the committed rows through a driver
connection of its own.
"""

from __future__ import annotations

import functools
import gc
import importlib
import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from helpers_core import run_workers
from helpers_databases import SAVEPOINTS_TWO_DEEP, missing, postgres_settings, postgres_url

try:
    import psycopg

    # Django ships no types: its names are Any here.
    django: Any = importlib.import_module("django")
    settings: Any = importlib.import_module("django.conf").settings
    connections: Any = importlib.import_module("django.db").connections
    transaction: Any = importlib.import_module("django.db.transaction")
    TestCase: Any = importlib.import_module("django.test").TestCase
    ConnectionDoesNotExist: Any = importlib.import_module("django.utils.connection").ConnectionDoesNotExist
except ImportError as error:
    missing(error)
    raise

import eventbus.django

TABLE = "eventbus_django_users"


@pytest.fixture(scope="session")
def configured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Django's settings (once per process): the alias -> what counts committed rows."""
    path = tmp_path_factory.mktemp("django") / "app.db"
    databases: dict[str, dict[str, str]] = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}
    }
    url = os.environ.get("EVENTBUS_TEST_POSTGRES_URL") or None
    if url:
        databases["postgres"] = postgres_settings(url)
    if not settings.configured:
        settings.configure(DATABASES=databases, USE_TZ=True)
        django.setup()
    return {"default": str(path), **({"postgres": url} if url else {})}


@pytest.fixture(params=["default", "postgres"], ids=["sqlite", "postgresql"])
def alias(request: pytest.FixtureRequest, configured: dict[str, str]) -> Iterator[str]:
    if request.param == "postgres":
        postgres_url()  # skips (or fails in CI) without a server
    using: str = request.param
    with connections[using].cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (email varchar(100))")
        cursor.execute(f"DELETE FROM {TABLE}")
    yield using
    connections[using].close()


def counter(configured: dict[str, str], using: str) -> Callable[[], int]:
    """The rows another connection sees: what has been committed."""
    target = configured[using]

    def count() -> int:
        if using == "default":
            with sqlite3.connect(target) as connection:
                return int(connection.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0])
        with psycopg.connect(target) as connection:
            row = connection.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
            assert row is not None
            return int(row[0])

    return count


def add_user(using: str, email: str) -> None:
    with connections[using].cursor() as cursor:
        cursor.execute(f"INSERT INTO {TABLE} (email) VALUES (%s)", [email])


class Mailer:
    def __init__(self, count: Callable[[], int]) -> None:
        self.count = count
        self.sent: list[tuple[str, int]] = []

    def __call__(self, ctx: object, data: Any) -> None:
        self.sent.append((data.action, self.count()))


@pytest.fixture
def mailer(configured: dict[str, str], alias: str) -> Mailer:
    return Mailer(counter(configured, alias))


def test_events_run_after_the_commit(impl: ModuleType, alias: str, mailer: Mailer) -> None:
    bus = impl.Bus()
    bus.register("users", "created", mailer)
    with transaction.atomic(using=alias):
        add_user(alias, "a@example.com")
        tx = eventbus.django.transaction(alias)
        assert tx.active()
        bus.call_after_commit(None, impl.Data("users", "created"), tx)
        bus.publish_after_commit(None, impl.Data("users", "created"), tx)
        assert mailer.sent == []
    assert mailer.sent == [("created", 1), ("created", 1)]


def test_a_rollback_runs_nothing(impl: ModuleType, alias: str, mailer: Mailer) -> None:
    bus = impl.Bus()
    bus.register("users", "created", mailer)
    with pytest.raises(ZeroDivisionError), transaction.atomic(using=alias):
        add_user(alias, "a@example.com")
        bus.publish_after_commit(None, impl.Data("users", "created"), eventbus.django.transaction(alias))
        _ = 1 / 0
    assert mailer.sent == []
    assert mailer.count() == 0


@pytest.mark.parametrize(("inner", "outer", "expected"), SAVEPOINTS_TWO_DEEP)
def test_savepoints_two_deep(
    impl: ModuleType, alias: str, inner: str, outer: str, expected: list[str]
) -> None:
    bus, seen = impl.Bus(), list[str]()
    for action in ("root", "outer", "inner", "after"):
        bus.register("users", action, lambda ctx, data: seen.append(data.action))
    tx = eventbus.django.transaction(alias)

    class Rollback(Exception):
        pass

    def savepoint(action: str, outcome: str, body: Callable[[], None]) -> None:
        try:
            with transaction.atomic(using=alias):
                bus.call_after_commit(None, impl.Data("users", action), tx)
                body()
                if outcome == "rollback":
                    raise Rollback
        except Rollback:
            pass

    with transaction.atomic(using=alias):
        bus.call_after_commit(None, impl.Data("users", "root"), tx)
        savepoint("outer", outer, lambda: savepoint("inner", inner, lambda: add_user(alias, "a@example.com")))
        bus.call_after_commit(None, impl.Data("users", "after"), tx)
        assert seen == []
    assert seen == expected


def test_no_transaction_open_dispatches_at_once(impl: ModuleType, alias: str, mailer: Mailer) -> None:
    bus = impl.Bus()
    bus.register("users", "created", mailer)
    tx = eventbus.django.transaction(alias)
    assert not tx.active()
    add_user(alias, "a@example.com")  # autocommit
    bus.call_after_commit(None, impl.Data("users", "created"), tx)
    assert mailer.sent == [("created", 1)]


def test_failures_after_commit_are_logged_and_never_reach_the_commit(
    impl: ModuleType, alias: str, mailer: Mailer, caplog: pytest.LogCaptureFixture
) -> None:
    bus = impl.Bus(logger=logging.getLogger("tx.django"))

    def broken(ctx: object, data: object) -> None:
        raise ConnectionError("smtp down")

    bus.register("users", "created", broken)
    bus.register("users", "created", mailer)
    bus.register("users", "deleted", mailer)
    with caplog.at_level(logging.ERROR, logger="tx.django"), transaction.atomic(using=alias):
        add_user(alias, "a@example.com")
        tx = eventbus.django.transaction(alias)
        bus.call_after_commit(None, impl.Data("users", "created"), tx)
        bus.publish_after_commit(None, impl.Data("users", "created"), tx)
        bus.call_after_commit(None, impl.Data("users", "deleted"), tx)
    assert mailer.sent == [("created", 1), ("deleted", 1)]
    messages = [r.getMessage() for r in caplog.records if r.name == "tx.django"]
    assert len(messages) == 2 and all("broken" in m and "'users'/'created'" in m for m in messages)


def test_a_handler_staging_after_commit_dispatches_at_once(impl: ModuleType, alias: str) -> None:
    bus, seen = impl.Bus(), list[str]()
    tx = eventbus.django.transaction(alias)

    def chain(ctx: object, data: Any) -> None:
        seen.append("created")
        bus.publish_after_commit(ctx, impl.Data("users", "welcomed"), tx)
        seen.append("staged")

    bus.register("users", "created", chain)

    bus.register("users", "welcomed", lambda ctx, data: seen.append("welcomed"))
    with transaction.atomic(using=alias):
        bus.call_after_commit(None, impl.Data("users", "created"), tx)
    assert seen == ["created", "welcomed", "staged"]


def test_handlers_registered_before_the_commit_are_the_ones_that_run(impl: ModuleType, alias: str) -> None:
    bus, seen = impl.Bus(), list[str]()
    unregister = bus.register("users", "created", lambda ctx, data: seen.append("early"))
    with transaction.atomic(using=alias):
        bus.call_after_commit(None, impl.Data("users", "created"), eventbus.django.transaction(alias))
        unregister()
        bus.register("users", "created", lambda ctx, data: seen.append("late"))
    assert seen == ["late"]


def test_two_databases_at_once(impl: ModuleType, alias: str, configured: dict[str, str]) -> None:
    if alias == "default":
        postgres_url()
    other = "default" if alias == "postgres" else "postgres"
    bus, seen = impl.Bus(), list[str]()
    bus.register("users", "created", lambda ctx, data: seen.append(ctx))
    with transaction.atomic(using=alias):
        bus.call_after_commit(alias, impl.Data("users", "created"), eventbus.django.transaction(alias))
        with transaction.atomic(using=other):
            bus.call_after_commit(other, impl.Data("users", "created"), eventbus.django.transaction(other))
        assert seen == [other]
    assert seen == [other, alias]


def test_testcase_capture_on_commit_callbacks(impl: ModuleType, alias: str) -> None:
    # Django's TestCase wraps each test in a transaction that never commits: the staged
    # events run where the test asks, with captureOnCommitCallbacks(execute=True).
    bus, seen = impl.Bus(), list[str]()
    bus.register("users", "created", lambda ctx, data: seen.append(data.action))
    with transaction.atomic(using=alias):  # what TestCase opens around a test
        with TestCase.captureOnCommitCallbacks(using=alias, execute=True) as callbacks:
            with transaction.atomic(using=alias):
                bus.call_after_commit(None, impl.Data("users", "created"), eventbus.django.transaction(alias))
            assert seen == []
        assert len(callbacks) == 1 and seen == ["created"]
        transaction.set_rollback(True, using=alias)


def test_threads_each_with_its_connection(impl: ModuleType, alias: str) -> None:
    bus, seen, lock = impl.Bus(), list[tuple[int, int]](), threading.Lock()

    def record(ctx: tuple[int, int], data: object) -> None:
        with lock:
            seen.append(ctx)

    bus.register("users", "created", record)

    tx = eventbus.django.transaction(alias)  # one object for every thread

    def work(worker: int) -> None:
        try:
            for round_ in range(10):
                with transaction.atomic(using=alias):
                    bus.publish_after_commit((worker, round_), impl.Data("users", "created"), tx)
                    try:
                        with transaction.atomic(using=alias):
                            bus.publish_after_commit((worker, -1), impl.Data("users", "created"), tx)
                            raise LookupError
                    except LookupError:
                        pass
        finally:
            connections[alias].close()

    run_workers([functools.partial(work, worker) for worker in range(3)])
    assert sorted(seen) == [(worker, round_) for worker in range(3) for round_ in range(10)]


def test_transaction_refuses_a_bad_alias(configured: dict[str, str]) -> None:
    with pytest.raises(TypeError, match=r"using must be a database alias \(a str\) or None, not int"):
        eventbus.django.transaction(3)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(ConnectionDoesNotExist):
        eventbus.django.transaction("nowhere")
    assert not eventbus.django.transaction().active()


@pytest.mark.parametrize("commit", [True, False], ids=["commit", "rollback"])
def test_nothing_staged_outlives_the_transaction(impl: ModuleType, alias: str, commit: bool) -> None:
    bus = impl.Bus()
    bus.register("users", "created", lambda ctx, data: None)

    class Ctx:
        pass

    ctx = Ctx()
    gone = weakref.ref(ctx)
    with transaction.atomic(using=alias):
        bus.publish_after_commit(ctx, impl.Data("users", "created"), eventbus.django.transaction(alias))
        del ctx
        transaction.set_rollback(not commit, using=alias)
    gc.collect()
    assert gone() is None
    assert connections[alias].run_on_commit == []
