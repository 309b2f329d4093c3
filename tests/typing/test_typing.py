"""What type checkers see of the public API (mypy --strict and pyright check this file in CI).

The point is the static checks: ``assert_type`` fails the type check when an inferred type
drifts, and each ``# type: ignore[code]`` is a misuse that must stay an error
(``warn_unused_ignores``, part of mypy --strict, reports an ignore that is no longer needed).
The tests also run, and assert what the calls return.  The misuses are in ``misuse_*``
functions that nothing calls: only the type checkers judge them (at run time each line would
fail or do nothing worth asserting).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from typing import Any, assert_type

import pytest

import eventbus
from eventbus.testing import Recorded, record


@dataclasses.dataclass
class User:
    id: int


def test_decode_is_typed_by_its_target() -> None:
    data = eventbus.new_data("users", "created", User(1))
    assert_type(eventbus.decode(data, User), User)
    assert_type(eventbus.decode(data, dict), dict[Any, Any])
    assert_type(eventbus.decode(data), object)
    assert eventbus.decode(data, User) == User(1)


def test_on_returns_the_function_with_its_own_type() -> None:
    bus = eventbus.Bus()

    @bus.on("users", "created")
    def count(ctx: list[int], data: eventbus.Data) -> int:
        ctx.append(1)
        return len(ctx)

    @bus.on("users", "created")
    async def later(ctx: list[int], data: eventbus.Data) -> None:
        await asyncio.sleep(0)

    assert_type(count([], eventbus.Data("d", "a")), int)
    assert count([], eventbus.Data("d", "a")) == 1
    assert inspect.iscoroutinefunction(later)


def test_handler_aliases() -> None:
    def sync(ctx: object, data: eventbus.Data) -> None:
        pass

    async def asynchronous(ctx: object, data: eventbus.Data) -> None:
        pass

    handlers: list[eventbus.Handler] = [sync, asynchronous]
    sync_only: eventbus.SyncHandler = sync
    async_only: eventbus.AsyncHandler = asynchronous
    bus = eventbus.Bus()
    for handler in (*handlers, sync_only, async_only):
        bus.register("d", "a", handler)
    assert_type(bus.handlers("d", "a"), tuple[eventbus.Handler, ...])
    assert len(bus.handlers("d", "a")) == 4


def misuse_of_handlers() -> None:
    bus = eventbus.Bus()

    def no_data(ctx: object) -> None:
        pass

    async def not_sync(ctx: object, data: eventbus.Data) -> None:
        pass

    sync_only: eventbus.SyncHandler = not_sync  # type: ignore[assignment]
    bus.register("d", "a", sync_only)
    bus.register("d", "a", no_data)  # type: ignore[arg-type]
    bus.on("d", "a")(no_data)  # type: ignore[type-var]
    bus.call(None, {"domain": "d"})  # type: ignore[arg-type]


def test_testing_helpers_are_typed() -> None:
    bus = eventbus.Bus()
    with record(bus, ("users", "created")) as recorded:
        bus.call(None, eventbus.must_data("users", "created", User(2)))
    assert_type(recorded, Recorded[object])
    assert_type(recorded.decode(User), list[User])
    assert_type(recorded.one(User), User)
    assert_type(recorded.data, list[eventbus.Data])
    assert recorded.one(User) == User(2)


# -- Declared events ---------------------------------------------------------------


@dataclasses.dataclass
class Admin(User):
    level: int = 0


UserCreated = eventbus.Event("users", "created", User)
UserUpdated = eventbus.Event("users", "updated", User, asynchronous=True)


def test_an_event_carries_its_payload_type() -> None:
    assert_type(UserCreated, eventbus.Event[User])
    data = UserCreated.data(User(1))
    assert_type(data, eventbus.Data)
    assert_type(UserCreated.decode(data), User)
    assert_type(eventbus.Event("d", "a", int | None), eventbus.Event[Any])
    assert UserCreated.decode(data) == User(1)


def test_event_handlers_are_checked_against_the_payload_type() -> None:
    bus = eventbus.Bus()

    def exact(ctx: object, user: User) -> None:
        pass

    def wider(ctx: object, user: object) -> None:  # a supertype of the payload: accepted
        pass

    bus.register(UserCreated, exact)
    bus.register(UserCreated, wider, weak=True)

    @bus.on(UserCreated)
    def count(ctx: list[int], user: User) -> None:
        ctx.append(user.id)

    @bus.on(UserUpdated)
    def total(ctx: list[int], user: User) -> int:  # an asynchronous event's handler may return
        ctx.append(user.id)
        return len(ctx)

    @bus.on(UserUpdated)
    async def later(ctx: list[int], user: User) -> None:
        await asyncio.sleep(0)

    assert_type(count([], User(1)), None)  # @bus.on(event) keeps the function's own type
    assert_type(total([], User(1)), int)
    assert total([], User(1)) == 1
    assert inspect.iscoroutinefunction(later)
    assert bus.handlers(UserCreated) == (exact, wider, count)
    assert bus.handlers(UserUpdated) == (total, later)
    assert bus.unregister(UserCreated, exact) is True
    assert_type(bus.pairs(), tuple[tuple[str, str], ...])


def misuse_of_events() -> None:
    # Each of these must stay an error for mypy (warn_unused_ignores); pyright's side is
    # .ci/typing/events_misuse.py, checked line by line by .ci/steps/40-typing.sh.
    bus = eventbus.Bus()

    def for_admins(ctx: object, admin: Admin) -> None:
        pass

    def for_data(ctx: object, data: eventbus.Data) -> None:
        pass

    UserCreated.data("not a user")  # type: ignore[arg-type]
    _wrong: str = UserCreated.decode(UserCreated.data(User(1)))  # type: ignore[assignment]
    bus.register(UserCreated, for_admins)  # type: ignore[arg-type]
    bus.register(UserCreated, for_data)  # type: ignore[arg-type]
    bus.on(UserCreated)(for_admins)  # type: ignore[arg-type]


def test_a_synchronous_event_refuses_an_async_consumer() -> None:
    # The static side of the run-time refusal (each line is also a marked line of
    # .ci/typing/events_misuse.py, which pyright checks too).
    bus = eventbus.Bus()

    async def consumer(ctx: object, user: User) -> None:
        pass

    with pytest.raises(TypeError, match="asynchronous=True"):
        bus.register(UserCreated, consumer)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="asynchronous=True"):
        bus.on(UserCreated)(consumer)  # type: ignore[arg-type]
    bus.register(UserUpdated, consumer)  # an asynchronous event takes it
    assert_type(UserUpdated.asynchronous, bool)
    assert bus.handlers(UserUpdated) == (consumer,)


def test_record_of_an_event_is_typed_by_its_payload() -> None:
    bus = eventbus.Bus()
    with record(bus, UserCreated) as recorded:
        bus.call(None, UserCreated.data(User(3)))
    assert_type(recorded, Recorded[User])
    assert_type(recorded.one(), User)
    assert_type(recorded.decode(), list[User])
    assert_type(recorded.one(dict), dict[Any, Any])
    wrong: str = recorded.one()  # type: ignore[assignment]
    assert wrong  # (a User at run time: only the annotation is wrong)
    with record(bus, ("users", "created")) as pairs:
        pass
    assert_type(pairs.decode(), list[object])


def test_registrations_are_typed() -> None:
    bus = eventbus.Bus(unhandled="raise")
    bus.register(UserCreated, lambda ctx, user: None)
    assert_type(bus.registrations(), tuple[eventbus.Registration, ...])
    assert_type(bus.registrations(UserCreated)[0].site, str)
    assert_type(bus.registrations("users", "created")[0].event, "eventbus.Event[Any] | None")
    with pytest.raises(ValueError, match="unhandled must be"):
        eventbus.Bus(unhandled="loud")  # type: ignore[arg-type]
