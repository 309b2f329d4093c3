"""eventbus.sqlalchemy on real databases: SQLite (a file) and PostgreSQL (psycopg 3).

Every test runs on both implementations and both databases.  A handler that runs "after
the commit" checks it: it counts the committed rows through a connection of its own.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from helpers_core import run_workers
from helpers_databases import SAVEPOINTS_TWO_DEEP, missing, postgres_url

try:
    import aiosqlite  # noqa: F401  # pyright: ignore[reportUnusedImport]  # the async SQLite driver
    from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, event, func, insert, select
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
    from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
except ImportError as error:
    missing(error)
    raise

import eventbus.sqlalchemy

METADATA = MetaData()
USERS = Table(
    "eventbus_users", METADATA, Column("id", Integer, primary_key=True), Column("email", String(100))
)


class Base(DeclarativeBase):
    metadata = METADATA


class Order(Base):
    __tablename__ = "eventbus_orders"
    id: Mapped[int] = mapped_column(primary_key=True)


def _savepoints_on_pysqlite(engine: Engine) -> None:
    # SQLAlchemy's recipe: pysqlite's own BEGIN handling breaks SAVEPOINT; let SQLAlchemy
    # emit BEGIN itself.
    @event.listens_for(engine, "connect")
    def no_pysqlite_begin(dbapi_connection: Any, record: object) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    return postgres_url().replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        _savepoints_on_pysqlite(engine)
    METADATA.drop_all(engine)
    METADATA.create_all(engine)
    yield engine
    METADATA.drop_all(engine)
    engine.dispose()


def committed_users(engine: Engine) -> int:
    """The rows another connection sees: what has been committed."""
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(USERS)).scalar_one())


class Mailer:
    """The handler of users/created: it records what the database held when it ran."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sent: list[tuple[str, int]] = []

    def __call__(self, ctx: object, data: Any) -> None:
        self.sent.append((data.action, committed_users(self.engine)))


def add_user(session: Session, email: str) -> None:
    session.execute(insert(USERS).values(email=email))


def created(impl: ModuleType, email: str = "a@example.com") -> Any:
    return impl.new_data("users", "created", {"email": email})


def test_events_run_after_the_commit(impl: ModuleType, engine: Engine) -> None:
    bus, mailer = impl.Bus(), Mailer(engine)
    bus.register("users", "created", mailer)
    with Session(engine) as session, session.begin():
        add_user(session, "a@example.com")
        tx = eventbus.sqlalchemy.transaction(session)
        bus.publish_after_commit(session, created(impl), tx)
        bus.call_after_commit(session, created(impl), tx)
        session.flush()
        assert mailer.sent == []
    assert mailer.sent == [("created", 1), ("created", 1)]


def test_session_commit_and_autobegin(impl: ModuleType, engine: Engine) -> None:
    bus, mailer = impl.Bus(), Mailer(engine)
    bus.register("users", "created", mailer)
    with Session(engine) as session:
        session.add(Order(id=1))  # begins the session's transaction
        bus.call_after_commit(session, created(impl), eventbus.sqlalchemy.transaction(session))
        add_user(session, "a@example.com")
        assert mailer.sent == []
        session.commit()
        assert mailer.sent == [("created", 1)]


def test_a_rollback_runs_nothing(impl: ModuleType, engine: Engine) -> None:
    bus, mailer = impl.Bus(), Mailer(engine)
    bus.register("users", "created", mailer)
    with Session(engine) as session:
        add_user(session, "a@example.com")
        bus.publish_after_commit(session, created(impl), eventbus.sqlalchemy.transaction(session))
        session.rollback()
        # The session goes on: a new transaction, committed, runs only its own.
        add_user(session, "b@example.com")
        bus.publish_after_commit(session, created(impl, "b"), eventbus.sqlalchemy.transaction(session))
        session.commit()
    assert mailer.sent == [("created", 1)]


def test_a_failure_inside_the_transaction_runs_nothing(impl: ModuleType, engine: Engine) -> None:
    bus, mailer = impl.Bus(), Mailer(engine)
    bus.register("users", "created", mailer)
    with pytest.raises(ZeroDivisionError), Session(engine) as session, session.begin():
        add_user(session, "a@example.com")
        bus.publish_after_commit(session, created(impl), eventbus.sqlalchemy.transaction(session))
        _ = 1 / 0
    assert mailer.sent == []
    assert committed_users(engine) == 0


def test_a_session_closed_without_commit_runs_nothing(impl: ModuleType, engine: Engine) -> None:
    bus, mailer = impl.Bus(), Mailer(engine)
    bus.register("users", "created", mailer)
    session = Session(engine)
    add_user(session, "a@example.com")
    session.begin_nested()
    bus.publish_after_commit(session, created(impl, "inner"), eventbus.sqlalchemy.transaction(session))
    bus.publish_after_commit(session, created(impl), eventbus.sqlalchemy.transaction(session))
    session.close()
    assert mailer.sent == []
    assert session.info["eventbus.transaction"]._staged == {}


def test_a_released_savepoint_is_not_the_commit_and_joins_its_parent(
    impl: ModuleType, engine: Engine
) -> None:
    bus, mailer = impl.Bus(), Mailer(engine)
    bus.register("users", "created", mailer)
    bus.register("users", "invited", mailer)
    with Session(engine) as session, session.begin():
        tx = eventbus.sqlalchemy.transaction(session)
        bus.publish_after_commit(session, impl.new_data("users", "invited"), tx)
        with session.begin_nested():
            add_user(session, "a@example.com")
            bus.call_after_commit(session, created(impl), tx)
        assert mailer.sent == []  # SQLAlchemy fired after_commit for the RELEASE
    assert mailer.sent == [("invited", 1), ("created", 1)]


def test_a_rolled_back_savepoint_drops_its_events_only(impl: ModuleType, engine: Engine) -> None:
    bus, mailer = impl.Bus(), Mailer(engine)
    bus.register("users", "created", mailer)
    bus.register("users", "invited", mailer)
    with Session(engine) as session, session.begin():
        tx = eventbus.sqlalchemy.transaction(session)
        add_user(session, "kept@example.com")
        bus.publish_after_commit(session, impl.new_data("users", "invited"), tx)
        savepoint = session.begin_nested()
        add_user(session, "dropped@example.com")
        bus.call_after_commit(session, created(impl), tx)
        savepoint.rollback()
        bus.publish_after_commit(session, impl.new_data("users", "invited"), tx)
    assert mailer.sent == [("invited", 1), ("invited", 1)]


@pytest.mark.parametrize(("inner", "outer", "expected"), SAVEPOINTS_TWO_DEEP)
def test_savepoints_two_deep(
    impl: ModuleType, engine: Engine, inner: str, outer: str, expected: list[str]
) -> None:
    bus, seen = impl.Bus(), list[str]()
    for action in ("root", "outer", "inner", "after"):
        bus.register("users", action, lambda ctx, data: seen.append(data.action))
    with Session(engine) as session, session.begin():
        tx = eventbus.sqlalchemy.transaction(session)
        bus.call_after_commit(session, impl.Data("users", "root"), tx)
        outer_savepoint = session.begin_nested()
        bus.call_after_commit(session, impl.Data("users", "outer"), tx)
        inner_savepoint = session.begin_nested()
        add_user(session, "a@example.com")
        bus.call_after_commit(session, impl.Data("users", "inner"), tx)
        getattr(inner_savepoint, inner)()
        getattr(outer_savepoint, outer)()
        bus.call_after_commit(session, impl.Data("users", "after"), tx)
        assert seen == []
    assert seen == expected


def test_no_transaction_open_dispatches_at_once(impl: ModuleType, engine: Engine) -> None:
    bus, mailer = impl.Bus(), Mailer(engine)
    bus.register("users", "created", mailer)
    with Session(engine) as session:
        tx = eventbus.sqlalchemy.transaction(session)
        assert not tx.active()
        bus.call_after_commit(session, created(impl), tx)
        assert mailer.sent == [("created", 0)]
        with session.begin():
            assert tx.active()
        assert not tx.active()


def test_failures_after_commit_are_logged_and_never_reach_the_commit(
    impl: ModuleType, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    bus, mailer = impl.Bus(logger=logging.getLogger("tx.sqlalchemy")), Mailer(engine)

    def broken(ctx: object, data: object) -> None:
        raise ConnectionError("smtp down")

    bus.register("users", "created", broken)
    bus.register("users", "created", mailer)
    bus.register("users", "deleted", mailer)
    with caplog.at_level(logging.ERROR, logger="tx.sqlalchemy"), Session(engine) as session:
        add_user(session, "a@example.com")
        tx = eventbus.sqlalchemy.transaction(session)
        bus.call_after_commit(session, created(impl), tx)
        bus.publish_after_commit(session, created(impl), tx)
        bus.call_after_commit(session, impl.new_data("users", "deleted"), tx)
        session.commit()  # raises nothing
    assert mailer.sent == [("created", 1), ("deleted", 1)]
    messages = [r.getMessage() for r in caplog.records if r.name == "tx.sqlalchemy"]
    assert len(messages) == 2 and all("broken" in m and "'users'/'created'" in m for m in messages)
    assert committed_users(engine) == 1


def test_a_handler_writes_through_the_session_after_commit(impl: ModuleType, engine: Engine) -> None:
    bus = impl.Bus()

    def audit(session: Session, data: Any) -> None:
        # The committed transaction is over: this begins and commits a new one, which
        # stages on a transaction open again (and so runs after that one's commit).
        add_user(session, "audit@example.com")
        bus.call_after_commit(
            session, impl.Data("users", "audited"), eventbus.sqlalchemy.transaction(session)
        )
        session.commit()

    bus.register("users", "created", audit)

    audited: list[int] = []
    bus.register("users", "audited", lambda ctx, data: audited.append(committed_users(engine)))
    with Session(engine) as session:
        add_user(session, "a@example.com")
        bus.call_after_commit(session, created(impl), eventbus.sqlalchemy.transaction(session))
        session.commit()
    assert audited == [2]


def test_a_handler_staging_after_commit_dispatches_at_once(impl: ModuleType, engine: Engine) -> None:
    bus, seen = impl.Bus(), list[str]()

    def chain(session: Session, data: Any) -> None:
        seen.append("created")
        bus.publish_after_commit(
            session, impl.Data("users", "welcomed"), eventbus.sqlalchemy.transaction(session)
        )
        seen.append("staged")

    bus.register("users", "created", chain)

    bus.register("users", "welcomed", lambda ctx, data: seen.append("welcomed"))
    with Session(engine) as session, session.begin():
        bus.call_after_commit(session, created(impl), eventbus.sqlalchemy.transaction(session))
    assert seen == ["created", "welcomed", "staged"]


def test_handlers_registered_before_the_commit_are_the_ones_that_run(
    impl: ModuleType, engine: Engine
) -> None:
    bus, seen = impl.Bus(), list[str]()
    unregister = bus.register("users", "created", lambda ctx, data: seen.append("early"))
    with Session(engine) as session, session.begin():
        bus.call_after_commit(session, created(impl), eventbus.sqlalchemy.transaction(session))
        unregister()
        bus.register("users", "created", lambda ctx, data: seen.append("late"))
    assert seen == ["late"]


def test_two_sessions_at_once(impl: ModuleType, engine: Engine) -> None:
    bus, seen = impl.Bus(), list[str]()
    bus.register("users", "created", lambda ctx, data: seen.append(ctx))
    first, second = Session(engine), Session(engine)
    with first, second:
        add_user(first, "a@example.com")
        bus.call_after_commit("first", created(impl), eventbus.sqlalchemy.transaction(first))
        second.begin()  # (no write: SQLite has one writer at a time)
        bus.call_after_commit("second", created(impl), eventbus.sqlalchemy.transaction(second))
        assert eventbus.sqlalchemy.transaction(first) is not eventbus.sqlalchemy.transaction(second)
        second.commit()
        assert seen == ["second"]
        first.rollback()
    assert seen == ["second"]


def test_an_orm_flush_inside_a_savepoint(impl: ModuleType, engine: Engine) -> None:
    bus, seen = impl.Bus(), list[str]()
    bus.register("orders", "placed", lambda ctx, data: seen.append(data.action))

    # Staged from a mapper event, inside the flush's own subtransaction.
    def placed(mapper: object, connection: object, target: Order) -> None:
        session = Session.object_session(target)
        assert session is not None
        bus.call_after_commit(None, impl.Data("orders", "placed"), eventbus.sqlalchemy.transaction(session))

    event.listen(Order, "after_insert", placed)
    try:
        with Session(engine) as session, session.begin():
            with session.begin_nested():
                session.add(Order(id=1))
            with pytest.raises(RuntimeError), session.begin_nested():
                session.add(Order(id=2))
                session.flush()
                raise RuntimeError("dropped with its savepoint")
            assert seen == []
    finally:
        event.remove(Order, "after_insert", placed)
    assert seen == ["placed"]


def test_the_external_transaction_test_fixture(impl: ModuleType, engine: Engine) -> None:
    # SQLAlchemy's recipe for tests: the session joins a transaction the test rolls back;
    # with "create_savepoint" the session's commit releases a savepoint, and counts as the
    # commit: the events run there, and nothing stays in the database.
    bus, mailer = impl.Bus(), Mailer(engine)
    bus.register("users", "created", mailer)
    with engine.connect() as connection:
        outer = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        add_user(session, "a@example.com")
        bus.call_after_commit(session, created(impl), eventbus.sqlalchemy.transaction(session))
        session.commit()
        assert [action for action, _ in mailer.sent] == ["created"]
        session.close()
        outer.rollback()
    assert committed_users(engine) == 0


def test_threads_each_with_a_session(impl: ModuleType, engine: Engine) -> None:
    bus, seen, lock = impl.Bus(), list[tuple[int, int]](), threading.Lock()

    def record(ctx: tuple[int, int], data: object) -> None:
        with lock:
            seen.append(ctx)

    bus.register("users", "created", record)

    def work(worker: int) -> None:
        with Session(engine) as session:
            for round_ in range(10):
                tx = eventbus.sqlalchemy.transaction(session)
                with session.begin():
                    bus.publish_after_commit((worker, round_), created(impl), tx)
                    with session.begin_nested() as savepoint:
                        bus.publish_after_commit((worker, -round_ - 1), created(impl), tx)
                        savepoint.rollback()

    run_workers([functools.partial(work, worker) for worker in range(3)])
    assert sorted(seen) == [(worker, round_) for worker in range(3) for round_ in range(10)]


def test_transaction_refuses_what_is_not_a_session(engine: Engine) -> None:
    for wrong in (engine, None, "session"):
        with pytest.raises(TypeError, match=r"session must be a sqlalchemy\.orm\.Session .* not "):
            eventbus.sqlalchemy.transaction(wrong)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


# AsyncSession: the same session events fire on its sync_session, inside its greenlet.


@pytest.fixture
def async_url(url: str) -> str:
    return url.replace("sqlite://", "sqlite+aiosqlite://", 1)


def test_async_session(impl: ModuleType, engine: Engine, async_url: str) -> None:
    bus, mailer = impl.Bus(), Mailer(engine)
    bus.register("users", "created", mailer)
    bus.register("users", "invited", mailer)

    async def main() -> None:
        async_engine = create_async_engine(async_url)
        if async_engine.dialect.name == "sqlite":
            _savepoints_on_pysqlite(async_engine.sync_engine)
        try:
            async with AsyncSession(async_engine) as session:
                tx = eventbus.sqlalchemy.transaction(session)
                assert tx is eventbus.sqlalchemy.transaction(session.sync_session)
                async with session.begin():
                    await session.execute(insert(USERS).values(email="a@example.com"))
                    bus.call_after_commit(session, created(impl), tx)
                    savepoint = await session.begin_nested()
                    bus.call_after_commit(session, impl.new_data("users", "invited"), tx)
                    await savepoint.rollback()
                    assert mailer.sent == []
                assert mailer.sent == [("created", 1)]
                await session.execute(insert(USERS).values(email="b@example.com"))
                bus.call_after_commit(session, created(impl), tx)
                await session.rollback()
        finally:
            await async_engine.dispose()

    asyncio.run(main())
    assert mailer.sent == [("created", 1)]


@pytest.mark.parametrize("end", ["commit", "rollback", "close"])
def test_nothing_staged_outlives_the_transaction(impl: ModuleType, engine: Engine, end: str) -> None:
    bus = impl.Bus()
    bus.register("users", "created", lambda ctx, data: None)

    class Ctx:
        pass

    session = Session(engine)
    ctx = Ctx()
    add_user(session, "a@example.com")
    tx = eventbus.sqlalchemy.transaction(session)
    bus.publish_after_commit(ctx, created(impl), tx)
    session.begin_nested()
    bus.call_after_commit(ctx, created(impl), tx)
    gone = weakref.ref(ctx)
    del ctx
    getattr(session, end)()
    gc.collect()
    assert gone() is None
    assert repr(tx).endswith(": 0 staged>")
    session.close()


def test_session_commit_with_savepoints_still_open_commits_them_all(impl: ModuleType, engine: Engine) -> None:
    bus, seen = impl.Bus(), list[str]()
    for action in ("root", "outer", "inner"):
        bus.register("users", action, lambda ctx, data: seen.append(data.action))
    with Session(engine) as session:
        tx = eventbus.sqlalchemy.transaction(session)
        add_user(session, "a@example.com")
        bus.call_after_commit(session, impl.Data("users", "root"), tx)
        session.begin_nested()
        bus.call_after_commit(session, impl.Data("users", "outer"), tx)
        session.begin_nested()
        bus.call_after_commit(session, impl.Data("users", "inner"), tx)
        session.commit()  # releases both savepoints, then commits
        assert seen == ["root", "outer", "inner"]
        session.begin_nested()
        bus.call_after_commit(session, impl.Data("users", "inner"), tx)
        session.rollback()  # rolls back the savepoint and the transaction around it
    assert seen == ["root", "outer", "inner"]
