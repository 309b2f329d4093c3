"""``eventbus.testing``: ``record`` and ``muted`` on both implementations' ``Bus``."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from types import ModuleType
from typing import Any

import pytest

import eventbus
from eventbus.testing import Recorded, muted, record


@dataclasses.dataclass
class UserCreated:
    id: int
    email: str


def _appender(log: list[str], name: str) -> Any:
    def handler(ctx: object, data: object) -> None:
        log.append(name)

    return handler


def test_record_keeps_the_data_of_the_chosen_pairs_in_order(impl: ModuleType) -> None:
    bus = impl.Bus()
    first = impl.new_data("users", "created", {"id": 1})
    second = impl.new_data("users", "deleted", {"id": 1})
    other = impl.new_data("users", "renamed", {"id": 1})
    with record(bus, ("users", "created"), ("users", "deleted")) as recorded:
        bus.call("ctx-1", first)
        bus.publish("ctx-2", other)
        bus.publish("ctx-3", second)
        bus.call("ctx-4", first)
    assert recorded.data == [first, second, first]
    assert all(type(data) is impl.Data for data in recorded)
    assert recorded.contexts == ["ctx-1", "ctx-3", "ctx-4"]
    assert recorded.pairs == [("users", "created"), ("users", "deleted"), ("users", "created")]
    assert len(recorded) == 3
    assert recorded[1] is second


def test_record_removes_its_recorder_on_exit(impl: ModuleType) -> None:
    bus = impl.Bus()
    log: list[str] = []
    handler = _appender(log, "consumer")
    bus.register("users", "created", handler)
    with record(bus, ("users", "created")) as recorded:
        assert len(bus.handlers("users", "created")) == 2
        bus.call(None, impl.Data("users", "created"))
    assert bus.handlers("users", "created") == (handler,)
    bus.call(None, impl.Data("users", "created"))
    assert len(recorded) == 1
    assert log == ["consumer", "consumer"]


def test_record_removes_its_recorder_when_the_block_raises(impl: ModuleType) -> None:
    bus = impl.Bus()
    with pytest.raises(KeyError), record(bus, ("a", "b"), ("a", "c")):
        raise KeyError("boom")
    assert bus.handlers("a", "b") == ()
    assert bus.handlers("a", "c") == ()


def test_record_runs_after_the_existing_handlers(impl: ModuleType) -> None:
    bus = impl.Bus()
    log: list[str] = []
    bus.register("d", "a", _appender(log, "consumer"))
    with record(bus, ("d", "a")) as recorded:
        bus.register("d", "a", _appender(log, "later"))
        bus.call(None, impl.Data("d", "a"))
    assert log == ["consumer", "later"]
    assert len(recorded) == 1


def test_record_decode_shortcuts(impl: ModuleType) -> None:
    bus = impl.Bus()
    with record(bus, ("users", "created")) as recorded:
        bus.call(None, impl.must_data("users", "created", UserCreated(1, "a@example.com")))
        bus.call(None, impl.must_data("users", "created", UserCreated(2, "b@example.com")))
    users = recorded.decode(UserCreated)
    assert users == [UserCreated(1, "a@example.com"), UserCreated(2, "b@example.com")]
    assert recorded.decode() == [{"id": 1, "email": "a@example.com"}, {"id": 2, "email": "b@example.com"}]
    with pytest.raises(AssertionError, match="exactly one"):
        recorded.one(UserCreated)
    recorded.clear()
    assert recorded.data == []
    with record(bus, ("users", "created")) as single:
        bus.call(None, impl.must_data("users", "created", UserCreated(3, "c@example.com")))
    assert single.one(UserCreated) == UserCreated(3, "c@example.com")
    assert single.one() == {"id": 3, "email": "c@example.com"}


def test_record_decode_errors_are_decode_errors(impl: ModuleType) -> None:
    bus = impl.Bus()
    with record(bus, ("users", "created")) as recorded:
        bus.call(None, impl.new_data("users", "created", {"id": "7", "email": "x"}))
    with pytest.raises(eventbus.DecodeError, match=r"'users'/'created' into UserCreated at id"):
        recorded.decode(UserCreated)


def test_record_sees_dispatches_from_other_threads(impl: ModuleType) -> None:
    bus = impl.Bus()
    data = impl.Data("d", "a")
    with record(bus, ("d", "a")) as recorded:
        threads = [
            threading.Thread(target=lambda: [bus.call(None, data) for _ in range(200)]) for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(recorded) == 800


def test_record_works_with_async_dispatch(impl: ModuleType) -> None:
    bus = impl.Bus()
    log: list[str] = []

    async def consumer(ctx: object, data: object) -> None:
        await asyncio.sleep(0)
        log.append("async consumer")

    bus.register("d", "a", consumer)
    with record(bus, ("d", "a")) as recorded:
        asyncio.run(bus.acall(None, impl.new_data("d", "a", [1])))
    assert log == ["async consumer"]
    assert recorded.decode(list[int]) == [[1]]


def test_muted_pairs_run_no_handler(impl: ModuleType) -> None:
    bus = impl.Bus()
    log: list[str] = []
    bus.register("users", "created", _appender(log, "created"))
    bus.register("users", "deleted", _appender(log, "deleted"))
    with muted(bus, ("users", "created")):
        bus.call(None, impl.Data("users", "created"))
        bus.publish(None, impl.Data("users", "created"))
        asyncio.run(bus.acall(None, impl.Data("users", "created")))
        bus.call(None, impl.Data("users", "deleted"))
        assert bus.handlers("users", "created") == ()
    assert log == ["deleted"]
    bus.call(None, impl.Data("users", "created"))
    assert log == ["deleted", "created"]


def test_muted_restores_on_error(impl: ModuleType) -> None:
    bus = impl.Bus()
    handler = _appender([], "h")
    bus.register("d", "a", handler)
    with pytest.raises(RuntimeError), muted(bus, ("d", "a")):
        raise RuntimeError
    assert bus.handlers("d", "a") == (handler,)


def test_registration_changes_inside_a_mute_apply_on_exit(impl: ModuleType) -> None:
    bus = impl.Bus()
    log: list[str] = []
    unregister_first = bus.register("d", "a", _appender(log, "first"))
    bus.register("d", "a", _appender(log, "second"))
    with muted(bus, ("d", "a")):
        third = bus.register("d", "a", _appender(log, "third"))
        assert unregister_first() is True
        assert unregister_first() is False
        bus.call(None, impl.Data("d", "a"))
        assert log == []
    bus.call(None, impl.Data("d", "a"))
    assert log == ["second", "third"]
    assert third() is True
    log.clear()
    bus.call(None, impl.Data("d", "a"))
    assert log == ["second"]


def test_everything_unregistered_inside_a_mute_stays_gone(impl: ModuleType) -> None:
    bus = impl.Bus()
    unregister = bus.register("d", "a", _appender([], "only"))
    with muted(bus, ("d", "a")):
        assert unregister() is True
    assert bus.handlers("d", "a") == ()
    assert bus.register("d", "a", _appender([], "again"))() is True


def test_mutes_nest_and_may_end_in_any_order(impl: ModuleType) -> None:
    bus = impl.Bus()
    log: list[str] = []
    bus.register("d", "a", _appender(log, "consumer"))
    outer = muted(bus, ("d", "a"))
    inner = muted(bus, ("d", "a"))
    outer.__enter__()
    inner.__enter__()
    outer.__exit__(None, None, None)
    bus.call(None, impl.Data("d", "a"))
    assert log == []
    inner.__exit__(None, None, None)
    bus.call(None, impl.Data("d", "a"))
    assert log == ["consumer"]


def test_record_with_mute_sees_every_dispatch_and_runs_no_handler(impl: ModuleType) -> None:
    bus = impl.Bus()
    log: list[str] = []

    def failing(ctx: object, data: object) -> None:
        log.append("failing")
        raise ValueError("would stop call before the recorder")

    bus.register("orders", "paid", failing)
    with record(bus, ("orders", "paid"), mute=True) as recorded:
        bus.call(None, impl.new_data("orders", "paid", {"order": 1}))
        bus.call(None, impl.new_data("orders", "paid", {"order": 2}))
    assert log == []
    assert recorded.decode(dict[str, int]) == [{"order": 1}, {"order": 2}]
    with pytest.raises(ValueError, match="would stop"):
        bus.call(None, impl.new_data("orders", "paid", {"order": 3}))
    assert len(recorded) == 2


def test_muting_a_pair_without_handlers(impl: ModuleType) -> None:
    bus = impl.Bus()
    with muted(bus, ("d", "a")):
        bus.call(None, impl.Data("d", "a"))
        handler = _appender([], "registered inside")
        bus.register("d", "a", handler)
        assert bus.handlers("d", "a") == ()
    assert bus.handlers("d", "a") == (handler,)


@pytest.mark.parametrize("helper", [record, muted], ids=["record", "muted"])
def test_helpers_validate_their_pairs(impl: ModuleType, helper: Any) -> None:
    bus = impl.Bus()
    with pytest.raises(TypeError, match="at least one"), helper(bus):
        pass
    with pytest.raises(TypeError, match="pair"), helper(bus, "users"):
        pass
    with pytest.raises(ValueError, match="action"), helper(bus, ("d", "a"), ("d", "")):
        pass
    # Nothing stays registered or muted after a refused pair.
    assert bus.handlers("d", "a") == ()
    log: list[str] = []
    bus.register("d", "a", _appender(log, "h"))
    bus.call(None, impl.Data("d", "a"))
    assert log == ["h"]


def test_recorded_repr_names_the_pairs(impl: ModuleType) -> None:
    bus = impl.Bus()
    with record(bus, ("d", "a")) as recorded:
        bus.call(None, impl.Data("d", "a"))
    assert repr(recorded) == "<Recorded [('d', 'a')]>"
    assert isinstance(recorded, Recorded)


# An example test of a consumer, as the README shows it.
def test_example_consumer_opens_an_account(impl: ModuleType) -> None:
    bus: eventbus.Bus = impl.Bus()

    @bus.on("users", "created")
    def open_account(ctx: list[str], data: eventbus.Data) -> None:
        user = eventbus.decode(data, UserCreated)
        bus.call(ctx, impl.new_data("billing", "account_opened", {"user": user.id}))

    with record(bus, ("billing", "account_opened")) as opened:
        bus.call([], impl.must_data("users", "created", UserCreated(7, "a@example.com")))
    assert opened.one(dict[str, int]) == {"user": 7}


def test_mutes_and_registrations_from_many_threads_keep_the_registry_exact(impl: ModuleType) -> None:
    """Writers race with mutes; afterwards exactly the surviving registrations run, in order."""
    bus = impl.Bus()
    data = impl.Data("d", "a")
    barrier = threading.Barrier(5)
    errors: list[BaseException] = []
    kept: dict[int, list[Any]] = {}

    def writer(number: int) -> None:
        barrier.wait()
        try:
            mine = []
            for step in range(200):
                handler = _appender([], f"{number}-{step}")
                unregister = bus.register("d", "a", handler)
                if step % 2:
                    assert unregister() is True
                else:
                    mine.append(handler)
                bus.call(None, data)
            kept[number] = mine
        except BaseException as exc:  # noqa: BLE001  # reported on the test's thread
            errors.append(exc)

    def muter() -> None:
        barrier.wait()
        try:
            for _ in range(300):
                with muted(bus, ("d", "a")):
                    bus.call(None, data)
                with record(bus, ("d", "a"), mute=True) as recorded:
                    bus.call(None, data)
                assert len(recorded) >= 1
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(4)]
    threads.append(threading.Thread(target=muter))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    registered = bus.handlers("d", "a")
    assert sorted(map(id, registered)) == sorted(id(h) for mine in kept.values() for h in mine)
    for mine in kept.values():  # each writer's handlers stay in its registration order
        positions = [registered.index(handler) for handler in mine]
        assert positions == sorted(positions)


@pytest.mark.parametrize("mute", [False, True], ids=["recorded", "muted"])
def test_a_pair_named_twice_through_an_event_is_recorded_once(impl: ModuleType, mute: bool) -> None:
    bus = impl.Bus()
    event = impl.Event("users", "created", dict)
    for pairs in ((event, event), (("users", "created"), event), (event, ("users", "created"))):
        with record(bus, *pairs, mute=mute) as recorded:
            bus.call(None, event.data({"id": 7}))
        assert len(recorded) == 1, pairs
        assert recorded.one() == {"id": 7}
    assert bus.handlers("users", "created") == ()
