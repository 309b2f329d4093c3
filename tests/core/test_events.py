"""Declared events and knowing who handles what (API.md, added 2026-12), on both implementations.

One test (or a few) per sentence of the two contract sections, in their order.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import gc
import pickle
import weakref
from types import ModuleType
from typing import Any

import pytest
from helpers_core import ByName, collecting_logger, quiet_logger

import eventbus
from eventbus.testing import muted, record


@dataclasses.dataclass
class UserCreated:
    id: int
    email: str
    tags: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Person:
    id: int


# -- Event(domain, action, payload_type) ---------------------------------------------


def test_an_event_names_its_pair_and_payload_type(impl: ModuleType) -> None:
    created = impl.Event("users", "created", UserCreated)
    assert (created.domain, created.action, created.payload_type) == ("users", "created", UserCreated)
    assert type(created.domain) is str and type(created.action) is str


@pytest.mark.parametrize(
    ("domain", "action", "error", "message"),
    [
        ("", "created", ValueError, "domain must be a non-empty str"),
        ("users", "", ValueError, "action must be a non-empty str"),
        (None, "created", TypeError, "domain must be str, not NoneType"),
        ("users", 7, TypeError, "action must be str, not int"),
    ],
)
def test_event_names_are_validated_as_for_data(
    impl: ModuleType, domain: object, action: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as from_data:
        impl.Data(domain, action)
    with pytest.raises(error) as from_event:
        impl.Event(domain, action, dict)
    assert str(from_event.value) == str(from_data.value) == message


@pytest.mark.parametrize(
    "payload_type", [dict, list, str, int, float, bool, UserCreated, list[int], dict[str, int], int | None]
)
def test_any_type_decode_accepts_is_a_payload_type(impl: ModuleType, payload_type: Any) -> None:
    assert impl.Event("d", "a", payload_type).payload_type == payload_type


@pytest.mark.parametrize("payload_type", [set, object, 3, "str", complex])
def test_an_unsupported_payload_type_fails_at_creation(impl: ModuleType, payload_type: object) -> None:
    with pytest.raises(TypeError, match=r"payload_type of event 'd'/'a' is not a type decode\(\) accepts"):
        impl.Event("d", "a", payload_type)


def test_an_event_is_immutable(impl: ModuleType) -> None:
    created = impl.Event("users", "created", UserCreated)
    with pytest.raises(AttributeError, match="immutable"):
        created.domain = "other"
    with pytest.raises(AttributeError, match="immutable"):
        del created.payload_type
    assert created.domain == "users"


def test_events_are_equal_and_hashable_by_all_three(impl: ModuleType) -> None:
    created = impl.Event("users", "created", UserCreated)
    assert created == impl.Event("users", "created", UserCreated)
    assert hash(created) == hash(impl.Event("users", "created", UserCreated))
    assert created != impl.Event("users", "created", dict)
    assert created != impl.Event("users", "deleted", UserCreated)
    assert created != impl.Event("people", "created", UserCreated)
    assert created != ("users", "created")
    assert (
        len({created, impl.Event("users", "created", UserCreated), impl.Event("users", "created", dict)}) == 2
    )
    assert pickle.loads(pickle.dumps(created)) == created
    assert copy.deepcopy(created) == created


def test_an_event_has_a_readable_repr(impl: ModuleType) -> None:
    assert repr(impl.Event("users", "created", UserCreated)) == (
        "Event(domain='users', action='created', payload_type=test_events.UserCreated)"
    )
    assert repr(impl.Event("d", "a", int)) == "Event(domain='d', action='a', payload_type=int)"
    assert repr(impl.Event("d", "a", list[int])) == "Event(domain='d', action='a', payload_type=list[int])"


def test_eventbus_event_is_the_active_implementations() -> None:
    assert eventbus.Event.__module__ == eventbus.Bus.__module__
    assert eventbus.Event("d", "a", int).data(1).__class__ is eventbus.Data


# -- event.data and event.decode -----------------------------------------------------


def test_data_encodes_exactly_as_must_data(impl: ModuleType) -> None:
    created = impl.Event("users", "created", UserCreated)
    user = UserCreated(7, "a@example.com", ["é"])
    data = created.data(user)
    assert type(data) is impl.Data
    assert data == impl.must_data("users", "created", user)
    assert data.raw_params == b'{"id":7,"email":"a@example.com","tags":["\xc3\xa9"]}'
    assert impl.Event("d", "a", int | None).data(None).raw_params is None
    with pytest.raises(eventbus.EncodeError) as from_event:
        impl.Event("d", "a", dict).data({"x": {1, 2}})
    with pytest.raises(eventbus.EncodeError) as from_must:
        impl.must_data("d", "a", {"x": {1, 2}})
    assert str(from_event.value) == str(from_must.value)


def test_decode_reads_the_payload_back(impl: ModuleType) -> None:
    created = impl.Event("users", "created", UserCreated)
    data = created.data(UserCreated(7, "a@example.com"))
    assert created.decode(data) == UserCreated(7, "a@example.com")
    assert created.decode(data) == eventbus.decode(data, UserCreated)
    bad = impl.new_data("users", "created", {"id": "7", "email": "x"})
    with pytest.raises(eventbus.DecodeError, match="'users'/'created' into UserCreated at id"):
        created.decode(bad)


def test_decode_refuses_a_data_of_another_pair_naming_both(impl: ModuleType) -> None:
    created = impl.Event("users", "created", UserCreated)
    other = impl.new_data("users", "deleted", {"id": 7, "email": "x"})
    with pytest.raises(
        ValueError, match=r"event 'users'/'created' cannot decode a Data of 'users'/'deleted'"
    ) as caught:
        created.decode(other)
    assert not isinstance(caught.value, eventbus.DecodeError)


# -- register(event, handler) and @bus.on(event) -------------------------------------


@pytest.mark.parametrize("method", ["call", "publish", "acall", "apublish"])
def test_event_handlers_get_the_payload_decoded_afresh_for_each(impl: ModuleType, method: str) -> None:
    bus: eventbus.Bus = impl.Bus()
    created = impl.Event("users", "created", UserCreated)
    seen: list[tuple[object, UserCreated]] = []

    def mutating(ctx: object, user: UserCreated) -> None:
        seen.append((ctx, user))
        user.tags.append("changed")

    @bus.on(created)
    def second(ctx: object, user: UserCreated) -> None:
        seen.append((ctx, user))

    bus.register(created, mutating)
    ctx = object()
    result = getattr(bus, method)(ctx, created.data(UserCreated(7, "a@example.com")))
    if method.startswith("a"):
        asyncio.run(result)
    assert [c for c, _ in seen] == [ctx, ctx]
    assert seen[0][1] == UserCreated(7, "a@example.com", [])  # the second handler's copy is its own
    assert seen[1][1] == UserCreated(7, "a@example.com", ["changed"])
    assert seen[0][1] is not seen[1][1]


def test_on_event_returns_the_function_unchanged(impl: ModuleType) -> None:
    bus = impl.Bus()
    created = impl.Event("users", "created", UserCreated)

    def handler(ctx: object, user: UserCreated) -> None:
        pass

    assert bus.on(created)(handler) is handler
    assert bus.handlers(created) == (handler,)


def test_a_decode_error_is_that_handlers_failure(impl: ModuleType) -> None:
    bus = impl.Bus(quiet_logger())
    created = impl.Event("users", "created", UserCreated)
    log: list[str] = []
    bus.register("users", "created", lambda ctx, data: log.append("plain"))
    bus.register(created, lambda ctx, user: log.append("typed"))
    bus.register("users", "created", lambda ctx, data: log.append("after"))
    bad = impl.new_data("users", "created", {"id": "not an int"})
    with pytest.raises(eventbus.DecodeError, match="into UserCreated at id"):
        bus.call(None, bad)
    assert log == ["plain"]
    log.clear()
    with pytest.raises(ExceptionGroup) as group:
        bus.publish(None, bad)
    assert log == ["plain", "after"]
    assert [type(e) for e in group.value.exceptions] == [eventbus.DecodeError]
    assert group.value.message == "1 of 3 handlers failed for event 'users'/'created'"


def test_register_event_returns_unregister_and_shares_the_pairs_order(impl: ModuleType) -> None:
    bus = impl.Bus()
    created = impl.Event("users", "created", dict)
    log: list[str] = []
    first = bus.register("users", "created", lambda ctx, data: log.append("plain 1"))
    typed = bus.register(created, lambda ctx, payload: log.append(f"typed {payload['id']}"))
    bus.register("users", "created", lambda ctx, data: log.append("plain 2"))
    bus.call(None, created.data({"id": 1}))
    assert log == ["plain 1", "typed 1", "plain 2"]
    assert typed() is True
    assert typed() is False
    assert first() is True
    log.clear()
    bus.call(None, created.data({"id": 2}))
    assert log == ["plain 2"]


def test_two_events_of_one_pair_decode_each_with_its_own_type(impl: ModuleType) -> None:
    bus = impl.Bus()
    as_dict = impl.Event("users", "created", dict)
    as_user = impl.Event("users", "created", Person)
    seen: list[object] = []
    bus.register(as_dict, lambda ctx, payload: seen.append(payload))
    bus.register(as_user, lambda ctx, payload: seen.append(payload))
    bus.call(None, as_user.data(Person(3)))
    assert seen == [{"id": 3}, Person(3)]


class Slotted:
    """A callable without __weakref__: it cannot be held weakly."""

    __slots__ = ()

    def __call__(self, ctx: object, payload: object) -> None:
        pass


def test_a_failed_register_of_an_event_registers_nothing(impl: ModuleType) -> None:
    bus = impl.Bus()
    created = impl.Event("users", "created", dict)
    with pytest.raises(TypeError, match="handler must be callable, not int"):
        bus.register(created, 7)
    with pytest.raises(TypeError, match="takes no action"):
        bus.register(created, "created", print)
    with pytest.raises(TypeError, match="needs a handler"):
        bus.register(created)
    with pytest.raises(TypeError, match="weak must be a bool"):
        bus.register(created, print, weak=1)
    with pytest.raises(
        TypeError, match="cannot hold handler .*Slotted.* weakly: Slotted objects do not support weak"
    ):
        bus.register(created, Slotted(), weak=True)
    assert bus.handlers(created) == ()
    assert bus.pairs() == ()


# -- Everywhere a pair is accepted, an Event is too ----------------------------------


def test_handlers_of_an_event_are_the_callables_as_registered(impl: ModuleType) -> None:
    bus = impl.Bus()
    created = impl.Event("users", "created", dict)

    def typed(ctx: object, payload: dict[str, Any]) -> None:
        pass

    def plain(ctx: object, data: object) -> None:
        pass

    bus.register(created, typed)
    bus.register("users", "created", plain)
    bus.register(created, typed, weak=True)
    assert bus.handlers(created) == (typed, plain, typed)
    assert bus.handlers("users", "created") == (typed, plain, typed)
    assert all(h is typed or h is plain for h in bus.handlers(created))


def test_unregister_record_and_muted_accept_events(impl: ModuleType) -> None:
    bus = impl.Bus()
    created = impl.Event("users", "created", UserCreated)
    log: list[str] = []

    def consumer(ctx: object, user: UserCreated) -> None:
        log.append(user.email)

    bus.register(created, consumer)
    with record(bus, created) as recorded:
        bus.call(None, created.data(UserCreated(1, "a@example.com")))
    assert recorded.one() == UserCreated(1, "a@example.com")  # decoded with the event's type
    assert recorded.decode() == [UserCreated(1, "a@example.com")]
    assert recorded.one(dict) == {"id": 1, "email": "a@example.com", "tags": []}
    with muted(bus, created):
        bus.call(None, created.data(UserCreated(2, "b@example.com")))
    assert log == ["a@example.com"]
    with record(bus, created, ("users", "deleted"), mute=True) as both:
        bus.call(None, created.data(UserCreated(3, "c@example.com")))
        bus.call(None, impl.new_data("users", "deleted", {"id": 3}))
    assert both.decode() == [UserCreated(3, "c@example.com"), {"id": 3}]
    assert log == ["a@example.com"]
    assert bus.unregister(created, consumer) is True
    assert bus.unregister(created, consumer) is False
    assert bus.handlers(created) == ()


# -- pairs() --------------------------------------------------------------------------


def test_pairs_lists_every_pair_with_a_handler_now_sorted(impl: ModuleType) -> None:
    bus = impl.Bus()
    assert bus.pairs() == ()
    removers = [
        bus.register("users", "deleted", print),
        bus.register("billing", "opened", print),
        bus.register("users", "created", print),
        bus.register("users", "created", len),
    ]
    assert bus.pairs() == (("billing", "opened"), ("users", "created"), ("users", "deleted"))
    assert removers[2]() is True
    assert bus.pairs() == (("billing", "opened"), ("users", "created"), ("users", "deleted"))
    assert removers[3]() is True
    assert removers[1]() is True
    assert bus.pairs() == (("users", "deleted"),)
    with muted(bus, ("users", "deleted")):
        assert bus.pairs() == ()  # as handlers() says: nothing runs there now
    assert bus.pairs() == (("users", "deleted"),)
    assert type(bus.pairs()) is tuple and all(type(p) is tuple for p in bus.pairs())


# -- unregister(pair_or_event, handler) ----------------------------------------------


class Service:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def handle(self, ctx: object, data: object) -> None:
        self.log.append("service")


def test_unregister_removes_the_earliest_equal_registration(impl: ModuleType) -> None:
    bus = impl.Bus()
    log: list[str] = []
    service = Service(log)
    bus.register("d", "a", service.handle)
    bus.register("d", "a", print)
    bus.register("d", "a", service.handle)
    assert service.handle is not service.handle  # a new bound method each time: equality finds it
    assert bus.unregister("d", "a", service.handle) is True
    assert bus.handlers("d", "a") == (print, service.handle)
    assert bus.unregister("d", "a", service.handle) is True
    assert bus.unregister("d", "a", service.handle) is False
    assert bus.unregister("d", "a", len) is False
    assert bus.unregister("never", "registered", print) is False
    assert bus.handlers("d", "a") == (print,)


def test_unregister_finds_a_decorated_function(impl: ModuleType) -> None:
    bus: eventbus.Bus = impl.Bus()

    @bus.on("d", "a")
    def handler(ctx: object, data: object) -> None:
        pass

    assert bus.unregister("d", "a", handler) is True
    assert bus.handlers("d", "a") == ()


def test_unregister_compares_outside_the_lock(impl: ModuleType) -> None:
    """A handler whose __eq__ uses the bus (here: registers) does not deadlock."""
    bus = impl.Bus()

    class Reentrant:
        def __call__(self, ctx: object, data: object) -> None:
            pass

        def __eq__(self, other: object) -> bool:
            bus.register("other", "pair", print)
            return other is self

        __hash__ = object.__hash__

    handler = Reentrant()
    bus.register("d", "a", handler)
    assert bus.unregister("d", "a", handler) is True
    assert bus.handlers("other", "pair") == (print,)


def _numbered(i: int) -> Any:
    def handler(ctx: object, data: object) -> None:
        pass

    handler.__qualname__ = f"h{i}"
    return handler


def test_unregister_by_handler_matches_a_model_through_every_kind_of_change(impl: ModuleType) -> None:
    """Removal by handler (an index once the pair has had one) interleaved with removal by
    token, registrations of the same handler again and new registrations: the pair's
    handlers always equal a plain list model, removal always takes the earliest equal."""
    import random

    rng = random.Random(13)
    bus = impl.Bus()
    pool = [_numbered(i) for i in range(30)]
    model: list[tuple[Any, Any]] = []  # (handler, unregister), in registration order
    for step in range(2000):
        choice = rng.random()
        if choice < 0.45 or not model:
            handler = rng.choice(pool)
            model.append((handler, bus.register("d", "a", handler)))
        elif choice < 0.8:
            handler = rng.choice(pool)
            expected = next((i for i, (h, _) in enumerate(model) if h is handler), None)
            assert bus.unregister("d", "a", handler) is (expected is not None), step
            if expected is not None:
                del model[expected]
        else:
            _, unregister = model.pop(rng.randrange(len(model)))
            assert unregister() is True
        assert bus.handlers("d", "a") == tuple(h for h, _ in model), step
    for _handler, unregister in model:
        assert unregister() is True
    assert bus.handlers("d", "a") == ()


class _EqualToAll:
    """A handler equal to everything and unhashable."""

    def __call__(self, ctx: object, data: object) -> None:
        pass

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = None  # type: ignore[assignment]


def test_unregister_by_handler_follows_a_lying_eq_registered_or_given(impl: ModuleType) -> None:
    bus = impl.Bus()
    first, second = _numbered(1), _numbered(2)
    bus.register("d", "a", first)
    assert bus.unregister("d", "a", _numbered(3)) is False  # (the pair has its index now)
    liar = _EqualToAll()
    bus.register("d", "a", liar)
    bus.register("d", "a", second)
    # registered == given: first == second is False, liar == second is True.
    assert bus.unregister("d", "a", second) is True
    assert [h is first or h is second for h in bus.handlers("d", "a")] == [True, True]
    # A given handler equal to everything removes the earliest registration.
    assert bus.unregister("d", "a", _EqualToAll()) is True
    assert len(bus.handlers("d", "a")) == 1 and bus.handlers("d", "a")[0] is second


def test_unregister_by_handler_ignores_a_lying_hash(impl: ModuleType) -> None:
    import itertools

    counter = itertools.count()

    class NewHashEachTime:
        def __call__(self, ctx: object, data: object) -> None:
            pass

        def __hash__(self) -> int:
            return next(counter)

    bus = impl.Bus()
    shifty = NewHashEachTime()
    bus.register("d", "a", shifty)
    bus.register("d", "a", _numbered(1))
    assert bus.unregister("d", "a", shifty) is True
    bus.register("d", "a", ByName("x"))
    assert bus.unregister("d", "a", ByName("x")) is True  # equal, not the same object
    assert bus.unregister("d", "a", ByName("x")) is False
    assert len(bus.handlers("d", "a")) == 1


def test_unregister_by_handler_lets_a_failing_eq_propagate_and_removes_nothing(impl: ModuleType) -> None:
    class Broken:
        def __call__(self, ctx: object, data: object) -> None:
            pass

        def __eq__(self, other: object) -> bool:
            raise ValueError("no comparing")

        __hash__ = object.__hash__

    bus = impl.Bus()
    broken, handler = Broken(), _numbered(1)
    bus.register("d", "a", broken)
    bus.register("d", "a", handler)
    with pytest.raises(ValueError, match="no comparing"):
        bus.unregister("d", "a", handler)
    with pytest.raises(ValueError, match="no comparing"):
        bus.unregister("d", "a", Broken())
    assert bus.handlers("d", "a") == (broken, handler)


def test_unregister_by_handler_sees_an_eq_added_to_a_class_later(impl: ModuleType) -> None:
    class Plain:
        def __call__(self, ctx: object, data: object) -> None:
            pass

    bus = impl.Bus()
    plain, handler = Plain(), _numbered(1)
    bus.register("d", "a", plain)
    bus.register("d", "a", handler)
    assert bus.unregister("d", "a", _numbered(2)) is False  # the index, built while == was identity
    Plain.__eq__ = lambda self, other: True  # type: ignore[method-assign]
    Plain.__hash__ = object.__hash__  # type: ignore[method-assign]
    assert bus.unregister("d", "a", handler) is True  # plain == handler now: the earliest equal
    assert [h is handler for h in bus.handlers("d", "a")] == [True]  # (not ==: plain lies)


def test_unregister_by_handler_of_weak_bound_methods(impl: ModuleType) -> None:
    bus = impl.Bus()
    log: list[str] = []
    one, two = Service(log), Service(log)
    bus.register("d", "a", one.handle, weak=True)
    bus.register("d", "a", two.handle, weak=True)
    bus.register("d", "a", one.handle, weak=True)
    assert bus.unregister("d", "a", one.handle) is True
    assert bus.handlers("d", "a") == (two.handle, one.handle)
    ref = weakref.ref(two)
    del two
    gc.collect()
    assert ref() is None
    assert bus.handlers("d", "a") == (one.handle,)
    assert bus.unregister("d", "a", one.handle) is True
    assert bus.unregister("d", "a", one.handle) is False
    assert bus.handlers("d", "a") == ()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("d",), r"needs a \(domain, action\) pair or an eventbus.Event"),
        (("d", "a"), "needs the handler to remove"),
        (("", "a", print), "domain must be a non-empty str"),
    ],
)
def test_unregister_bad_arguments(impl: ModuleType, args: tuple[object, ...], message: str) -> None:
    bus = impl.Bus()
    bus.register("d", "a", print)
    with pytest.raises((TypeError, ValueError), match=message):
        bus.unregister(*args)
    assert bus.handlers("d", "a") == (print,)


# -- register(..., weak=True) --------------------------------------------------------


def test_a_weak_bound_method_goes_with_its_object(impl: ModuleType) -> None:
    bus = impl.Bus()
    log: list[str] = []
    service = Service(log)
    unregister = bus.register("d", "a", service.handle, weak=True)
    bus.call(None, impl.Data("d", "a"))
    assert log == ["service"]
    assert bus.handlers("d", "a") == (service.handle,)
    ref = weakref.ref(service)
    del service
    gc.collect()
    assert ref() is None  # the bus did not keep it alive
    assert bus.handlers("d", "a") == ()
    assert bus.pairs() == ()
    bus.call(None, impl.Data("d", "a"))
    assert log == ["service"]
    assert unregister() is False


def test_a_weak_function_and_a_typed_weak_handler(impl: ModuleType) -> None:
    bus = impl.Bus()
    created = impl.Event("users", "created", Person)
    seen: list[object] = []

    def plain(ctx: object, data: object) -> None:
        seen.append("plain")

    def typed(ctx: object, person: Person) -> None:
        seen.append(person)

    bus.register("users", "created", plain, weak=True)
    bus.register(created, typed, weak=True)
    bus.call(None, created.data(Person(1)))
    assert seen == ["plain", Person(1)]
    del plain, typed
    gc.collect()
    assert bus.pairs() == ()


def test_dispatch_never_calls_a_dead_weak_handler(impl: ModuleType) -> None:
    """A snapshot taken before the object died holds the handler weakly too."""
    bus = impl.Bus()
    log: list[str] = []
    victim = Service(log)
    ref = weakref.ref(victim)

    def kill(ctx: object, data: object) -> None:
        nonlocal victim
        del victim  # the last reference, in the middle of the dispatch
        gc.collect()
        assert ref() is None

    bus.register("d", "a", kill)
    bus.register("d", "a", victim.handle, weak=True)
    bus.call(None, impl.Data("d", "a"))
    assert log == []
    assert bus.handlers("d", "a") == (kill,)


def test_a_strong_bound_method_keeps_its_object(impl: ModuleType) -> None:
    bus = impl.Bus()
    service = Service([])
    bus.register("d", "a", service.handle)
    ref = weakref.ref(service)
    del service
    gc.collect()
    assert ref() is not None
    assert len(bus.handlers("d", "a")) == 1


# -- PEP 678 notes -------------------------------------------------------------------


def failing(ctx: object, data: object) -> None:
    raise KeyError("boom")


@pytest.mark.parametrize("method", ["call", "publish", "acall", "apublish"])
def test_a_handlers_exception_carries_a_note_naming_handler_and_event(impl: ModuleType, method: str) -> None:
    bus = impl.Bus(quiet_logger())
    bus.register("users", "created", failing)
    with pytest.raises((KeyError, ExceptionGroup)) as caught:
        result = getattr(bus, method)(None, impl.Data("users", "created"))
        if method.startswith("a"):
            asyncio.run(result)
    error = caught.value.exceptions[0] if isinstance(caught.value, ExceptionGroup) else caught.value
    assert type(error) is KeyError
    assert error.__notes__ == ["eventbus: handler test_events.failing failed for event 'users'/'created'"]


def test_a_note_names_the_handler_as_registered_and_comes_after_its_own(impl: ModuleType) -> None:
    bus = impl.Bus(quiet_logger())
    created = impl.Event("users", "created", Person)

    def typed(ctx: object, person: Person) -> None:
        error = ValueError("bad person")
        error.add_note("the handler's own note")
        raise error

    bus.register(created, typed, weak=True)
    with pytest.raises(ValueError, match="bad person") as caught:
        bus.call(None, created.data(Person(1)))
    assert caught.value.__notes__ == [
        "the handler's own note",
        "eventbus: handler test_events.test_a_note_names_the_handler_as_registered_and_comes_after_its_own"
        ".<locals>.typed failed for event 'users'/'created'",
    ]
    del typed


def test_the_noted_exception_is_the_same_object_and_is_logged(impl: ModuleType) -> None:
    logger, records = collecting_logger()
    bus = impl.Bus(logger)
    raised: list[BaseException] = []

    def fails(ctx: object, data: object) -> None:
        error = RuntimeError("x")
        raised.append(error)
        raise error

    bus.register("d", "a", fails)
    with pytest.raises(RuntimeError) as direct:
        bus.call(None, impl.Data("d", "a"))
    assert direct.value is raised[0]
    with pytest.raises(ExceptionGroup) as group:
        bus.publish(None, impl.Data("d", "a"))
    assert group.value.exceptions[0] is raised[1]
    assert len(raised[1].__notes__) == 1
    assert records[0].exc_info is not None and records[0].exc_info[1] is raised[1]


def test_base_exceptions_get_their_note_too(impl: ModuleType) -> None:
    bus = impl.Bus()

    def interrupts(ctx: object, data: object) -> None:
        raise KeyboardInterrupt

    bus.register("d", "a", interrupts)
    for method in ("call", "publish"):
        with pytest.raises(KeyboardInterrupt) as caught:
            getattr(bus, method)(None, impl.Data("d", "a"))
        assert len(caught.value.__notes__) == 1 and "interrupts" in caught.value.__notes__[0]


@pytest.mark.parametrize("outer", ["call", "publish"])
def test_nested_dispatches_add_one_note_per_handler_left(impl: ModuleType, outer: str) -> None:
    bus = impl.Bus(quiet_logger())

    def inner_handler(ctx: object, data: object) -> None:
        raise LookupError("deep")

    def outer_handler(ctx: object, data: object) -> None:
        bus.call(ctx, impl.Data("inner", "event"))

    bus.register("inner", "event", inner_handler)
    bus.register("outer", "event", outer_handler)
    with pytest.raises((LookupError, ExceptionGroup)) as caught:
        getattr(bus, outer)(None, impl.Data("outer", "event"))
    error = caught.value.exceptions[0] if isinstance(caught.value, ExceptionGroup) else caught.value
    assert type(error) is LookupError
    assert [note.split(" failed")[0].rsplit(".", 1)[1] for note in error.__notes__] == [
        "inner_handler",
        "outer_handler",
    ]
    assert error.__notes__[0].endswith("'inner'/'event'") and error.__notes__[1].endswith("'outer'/'event'")


# -- call refuses a coroutine-function handler up front ------------------------------


def test_call_refuses_a_coroutine_function_before_running_any_handler(impl: ModuleType) -> None:
    bus = impl.Bus(quiet_logger())
    created = impl.Event("users", "created", Person, asynchronous=True)
    log: list[str] = []

    async def notify(ctx: object, person: Person) -> None:
        log.append("notify")

    bus.register("users", "created", lambda ctx, data: log.append("side effect"))
    bus.register(created, notify)
    with pytest.raises(TypeError) as caught:
        bus.call(None, created.data(Person(1)))
    assert log == []
    assert str(caught.value) == (
        "handler test_events.test_call_refuses_a_coroutine_function_before_running_any_handler"
        ".<locals>.notify is a coroutine function, which call() cannot run: dispatch with acall() instead"
    )
    # publish keeps grouping the refusal with the other failures, after running the rest.
    with pytest.raises(ExceptionGroup) as group:
        bus.publish(None, created.data(Person(1)))
    assert log == ["side effect"]
    assert [type(e) for e in group.value.exceptions] == [TypeError]
    assert "apublish" in str(group.value.exceptions[0])
    asyncio.run(bus.acall(None, created.data(Person(1))))
    assert log == ["side effect", "side effect", "notify"]
    # Once the coroutine function is gone, call runs the pair again.
    assert bus.unregister(created, notify) is True
    bus.call(None, created.data(Person(1)))
    assert log[-1] == "side effect"


def test_many_removals_keep_the_order_exact(impl: ModuleType) -> None:
    """Removing most of a large pair, by token and by handler, in registration order and
    out of it: the rest keeps its order (the pair's dict is compacted along the way)."""
    bus = impl.Bus()

    def make(number: int) -> Any:
        def handler(ctx: object, data: object) -> None:
            pass

        handler.__qualname__ = f"h{number}"
        return handler

    handlers = [make(n) for n in range(1200)]
    removers = [bus.register("d", "a", h) for h in handlers]
    kept = list(handlers)
    for number in range(0, 900, 3):  # by token
        assert removers[number]() is True
        kept.remove(handlers[number])
    for number in range(1, 900, 3):  # by handler, earliest first
        assert bus.unregister("d", "a", handlers[number]) is True
        kept.remove(handlers[number])
    for number in range(1199, 1000, -2):  # by handler, latest first
        assert bus.unregister("d", "a", handlers[number]) is True
        kept.remove(handlers[number])
    assert bus.handlers("d", "a") == tuple(kept)
    seen: list[str] = []
    bus.register("d", "a", lambda ctx, data: seen.append("last"))
    bus.call(None, impl.Data("d", "a"))
    assert seen == ["last"]
    assert all(remove() is False for remove in removers[0:900:3])


def test_events_encode_and_decode_on_their_implementations_codec_engine(impl: ModuleType) -> None:
    """event.data, event.decode and typed handlers run what must_data and decode run there:
    the compiled engine beside the compiled core (when it is active), the reference otherwise."""
    from eventbus._codec import decode as _decode
    from eventbus._codec import engine as _engine

    engine = getattr(impl, "codec_engine", "python")
    expected_decode = _engine.decode_on(engine) if engine == "cython" else _decode.decode
    assert impl.Event._decoder() is expected_decode
    if engine == "cython":
        assert impl.Event._encode_params is impl._encode_payload
    else:
        assert impl.Event._encode_params is impl.encode_params
    event = impl.Event("users", "created", UserCreated)
    payload = UserCreated(7, "a@example.com", ["new"])
    data = event.data(payload)
    assert data == impl.must_data("users", "created", payload)
    assert event.decode(data) == payload
