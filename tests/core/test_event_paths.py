"""The declared event's hot path, on both implementations: ``Event.data`` and what dispatch
calls for a handler registered for an ``Event``.

The compiled core has its own of both (``Event.data`` reads an exact Event's slots in place;
the typed handler is a C type calling the codec engine's decode through its C entry): each
case it handles apart from the common one is here, with what the pure twin does there.
"""

from __future__ import annotations

import dataclasses
import gc
import weakref
from types import ModuleType
from typing import Any

import pytest

from eventbus import DecodeError, EncodeError
from eventbus._handlers import registered_handler


@dataclasses.dataclass
class Created:
    id: int
    name: str


def test_data_of_a_subclassed_event_is_the_events_own(impl: ModuleType) -> None:
    class Audited(impl.Event):  # type: ignore[misc, name-defined]
        __slots__ = ()

    exact = impl.Event("users", "created", Created)
    sub = Audited("users", "created", Created)
    assert sub.data(Created(1, "Ada")) == exact.data(Created(1, "Ada"))
    assert sub.data(Created(1, "Ada")).raw_params == b'{"id":1,"name":"Ada"}'
    with pytest.raises(TypeError, match=r"takes a .*Created payload, not int"):
        sub.data(1)


def test_data_of_an_event_never_made_raises_attribute_error(impl: ModuleType) -> None:
    hollow = object.__new__(impl.Event)  # __new__ skipped: its slots are unset
    with pytest.raises(AttributeError):
        hollow.data(Created(1, "Ada"))


def test_data_reads_the_pair_after_the_class_check_and_survives_it_changing_them(impl: ModuleType) -> None:
    """A class whose isinstance check rewrites the event's slots (what no event should see,
    and a compiled read must survive): both implementations read the pair after the check."""
    events: list[Any] = []

    class Meta(type):
        def __instancecheck__(cls, instance: object) -> bool:
            if not events:  # Event() itself asks, before the test arms it
                return type.__instancecheck__(cls, instance)
            event = events[0]
            # Fresh strings, so that the old ones can be freed while data() runs.
            object.__setattr__(event, "domain", "".join(["acc", "ounts"]))
            object.__setattr__(event, "action", "".join(["clo", "sed"]))
            return True

    @dataclasses.dataclass
    class Odd(metaclass=Meta):
        id: int
        name: str

    event = impl.Event("".join(["us", "ers"]), "".join(["cre", "ated"]), Odd)
    events.append(event)
    data = event.data(Created(1, "Ada"))
    assert (data.domain, data.action) == ("accounts", "closed")
    assert data.raw_params == b'{"id":1,"name":"Ada"}'


def test_data_of_an_event_whose_slot_was_deleted_raises_attribute_error(impl: ModuleType) -> None:
    event = impl.Event("users", "created", Created)
    object.__delattr__(event, "action")
    with pytest.raises(AttributeError, match="action"):
        event.data(Created(1, "Ada"))


def test_data_refuses_the_wrong_class_even_when_it_would_encode(impl: ModuleType) -> None:
    """A dict of the right fields encodes to the very bytes a Created does: only the class
    check, before anything is encoded, refuses it."""
    event = impl.Event("users", "created", Created)
    fields = {"id": 1, "name": "Ada"}
    assert impl.must_data("users", "created", fields) == event.data(Created(1, "Ada"))
    with pytest.raises(TypeError, match=r"event 'users'/'created' takes a .*Created payload, not dict"):
        event.data(fields)


def test_data_of_an_unencodable_payload_is_an_encode_error(impl: ModuleType) -> None:
    event = impl.Event("users", "created", Created)
    with pytest.raises(EncodeError, match=r"users.*created"):
        event.data(Created(1, float("nan")))  # type: ignore[arg-type]


def test_data_of_a_float_event_takes_an_int(impl: ModuleType) -> None:
    event = impl.Event("prices", "set", float)
    assert event.data(3).raw_params == b"3"
    assert event.data(2.5).raw_params == b"2.5"


def _typed(impl: ModuleType, handler: Any, payload_type: object) -> Any:
    """What the registry makes for ``handler`` registered for an Event of ``payload_type``."""
    return impl.Bus._typed_handler(handler, payload_type, impl.Bus()._decoder())


def test_the_typed_wrapper_decodes_then_calls_the_handler(impl: ModuleType) -> None:
    seen: list[tuple[object, object]] = []

    def handler(ctx: object, payload: object) -> str:
        seen.append((ctx, payload))
        return "result"

    typed = _typed(impl, handler, Created)
    assert typed("ctx", impl.must_data("users", "created", {"id": 1, "name": "Ada"})) == "result"
    assert seen == [("ctx", Created(1, "Ada"))]
    assert registered_handler(typed) is handler


def test_the_typed_wrapper_takes_exactly_ctx_and_data_in_pythons_words(impl: ModuleType) -> None:
    from eventbus._handlers import typed_handler

    typed = _typed(impl, lambda ctx, payload: None, Created)
    closure = typed_handler(lambda ctx, payload: None, Created, None)  # the pure twin's
    data = impl.must_data("users", "created", {"id": 1, "name": "Ada"})
    cases: list[tuple[tuple[object, ...], dict[str, object]]] = [
        ((), {}),
        (("ctx",), {}),
        (("ctx", data, 3), {}),
        (("ctx",), {"data": data}),
        (("ctx", data), {"extra": 1}),
        ((), {"ctx": "ctx", "data": data}),
    ]
    for args, kwargs in cases:
        with pytest.raises(TypeError) as expected:
            closure(*args, **kwargs)
        with pytest.raises(TypeError) as caught:
            typed(*args, **kwargs)
        assert str(caught.value) == str(expected.value), (args, kwargs)


def test_the_typed_wrapper_lets_decode_and_handler_errors_through(impl: ModuleType) -> None:
    def failing(ctx: object, payload: object) -> None:
        raise LookupError("handler's own")

    typed = _typed(impl, failing, Created)
    with pytest.raises(DecodeError):
        typed(None, impl.must_data("users", "created", {"id": "one", "name": "Ada"}))
    with pytest.raises(LookupError, match="handler's own"):
        typed(None, impl.must_data("users", "created", {"id": 1, "name": "Ada"}))


def test_a_bus_whose_typed_handler_holds_it_is_collected(impl: ModuleType) -> None:
    event = impl.Event("users", "created", Created)

    def make() -> weakref.ref[Any]:
        bus = impl.Bus()

        def handler(ctx: object, payload: object) -> None:
            bus.handlers("users", "created")  # the handler holds the bus: a reference cycle

        bus.register(event, handler)
        bus.call(None, event.data(Created(1, "Ada")))
        return weakref.ref(bus)

    gone = make()
    gc.collect()
    assert gone() is None
