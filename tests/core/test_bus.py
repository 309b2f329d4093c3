"""``Bus`` registration: ``register``, ``on``, ``unregister`` and ``handlers``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import ModuleType

import pytest
from helpers_core import Handler, WeirdStr, recorder


def test_a_new_bus_has_no_handlers(impl: ModuleType) -> None:
    assert impl.Bus().handlers("users", "created") == ()


def test_handlers_in_registration_order(impl: ModuleType) -> None:
    bus = impl.Bus()
    log: list[str] = []
    first, second, third = (recorder(log, name) for name in ("first", "second", "third"))
    for handler in (first, second, third):
        bus.register("users", "created", handler)
    assert bus.handlers("users", "created") == (first, second, third)
    bus.call(None, impl.Data("users", "created"))
    assert log == ["first", "second", "third"]


def test_handlers_returns_a_tuple_snapshot(impl: ModuleType) -> None:
    bus = impl.Bus()
    first, second = recorder([], "first"), recorder([], "second")
    bus.register("users", "created", first)
    before = bus.handlers("users", "created")
    unregister = bus.register("users", "created", second)
    assert type(before) is tuple
    assert before == (first,)
    unregister()
    after_add_and_remove = bus.handlers("users", "created")
    assert after_add_and_remove == (first,)
    assert before == (first,)


def test_pairs_are_independent(impl: ModuleType) -> None:
    bus = impl.Bus()
    log: list[str] = []
    bus.register("users", "created", recorder(log, "users/created"))
    bus.register("users", "deleted", recorder(log, "users/deleted"))
    bus.register("orders", "created", recorder(log, "orders/created"))
    for domain, action in [
        ("users", "created"),
        ("orders", "created"),
        ("users", "deleted"),
        ("created", "users"),
        ("orders", "deleted"),
    ]:
        bus.call(None, impl.Data(domain, action))
    assert log == ["users/created", "orders/created", "users/deleted"]
    assert bus.handlers("orders", "deleted") == ()


def test_buses_are_independent(impl: ModuleType) -> None:
    one, other = impl.Bus(), impl.Bus()
    one.register("users", "created", recorder([], "h"))
    assert other.handlers("users", "created") == ()


def test_registering_twice_registers_twice(impl: ModuleType) -> None:
    bus = impl.Bus()
    log: list[str] = []
    handler = recorder(log, "twice")
    bus.register("users", "created", handler)
    bus.register("users", "created", handler)
    assert bus.handlers("users", "created") == (handler, handler)
    bus.call(None, impl.Data("users", "created"))
    bus.publish(None, impl.Data("users", "created"))
    assert log == ["twice"] * 4


def test_unregister_is_true_then_false(impl: ModuleType) -> None:
    bus = impl.Bus()
    unregister = bus.register("users", "created", recorder([], "h"))
    assert callable(unregister)
    assert unregister() is True
    assert unregister() is False
    assert unregister() is False
    assert bus.handlers("users", "created") == ()


@pytest.mark.parametrize("removed", [0, 1, 2, 3, 4])
def test_unregister_removes_exactly_that_registration(impl: ModuleType, removed: int) -> None:
    bus = impl.Bus()
    log: list[str] = []
    same = recorder(log, "same")
    other = recorder(log, "other")
    order = [same, other, same, other, same]
    unregisters = [bus.register("users", "created", handler) for handler in order]
    assert unregisters[removed]() is True
    expected = tuple(order[:removed] + order[removed + 1 :])
    assert bus.handlers("users", "created") == expected
    assert unregisters[removed]() is False
    assert bus.handlers("users", "created") == expected
    bus.call(None, impl.Data("users", "created"))
    assert log == [{same: "same", other: "other"}[handler] for handler in expected]


def test_unregister_every_registration_in_any_order(impl: ModuleType) -> None:
    bus = impl.Bus()
    handlers = [recorder([], f"h{index}") for index in range(6)]
    unregisters = [bus.register("users", "created", handler) for handler in handlers]
    remaining = list(handlers)
    for index in (3, 0, 5, 1, 4, 2):
        assert unregisters[index]() is True
        remaining.remove(handlers[index])
        assert bus.handlers("users", "created") == tuple(remaining)
    assert bus.handlers("users", "created") == ()
    assert [unregister() for unregister in unregisters] == [False] * 6


def test_unregister_then_register_again(impl: ModuleType) -> None:
    bus = impl.Bus()
    handler = recorder([], "h")
    first = bus.register("users", "created", handler)
    assert first() is True
    second = bus.register("users", "created", handler)
    assert bus.handlers("users", "created") == (handler,)
    assert first() is False
    assert bus.handlers("users", "created") == (handler,)
    assert second() is True
    assert bus.handlers("users", "created") == ()


def test_unregister_of_one_pair_leaves_other_pairs(impl: ModuleType) -> None:
    bus = impl.Bus()
    handler = recorder([], "h")
    unregister = bus.register("users", "created", handler)
    bus.register("users", "deleted", handler)
    bus.register("orders", "created", handler)
    assert unregister() is True
    assert bus.handlers("users", "created") == ()
    assert bus.handlers("users", "deleted") == (handler,)
    assert bus.handlers("orders", "created") == (handler,)


def test_on_registers_and_returns_the_function_unchanged(impl: ModuleType) -> None:
    bus = impl.Bus()
    log: list[object] = []

    def handler(ctx: object, data: object) -> None:
        log.append(ctx)

    decorated = bus.on("users", "created")(handler)
    assert decorated is handler
    assert bus.handlers("users", "created") == (handler,)
    bus.call("ctx", impl.Data("users", "created"))
    assert log == ["ctx"]


def test_on_as_a_decorator(impl: ModuleType) -> None:
    bus = impl.Bus()

    on_created: Callable[[Handler], Handler] = bus.on("users", "created")
    on_deleted: Callable[[Handler], Handler] = bus.on("users", "deleted")

    @on_created
    @on_deleted
    def handler(ctx: object, data: object) -> None:
        return None

    assert bus.handlers("users", "created") == (handler,)
    assert bus.handlers("users", "deleted") == (handler,)
    assert handler.__name__ == "handler"


class CallableObject:
    def __call__(self, ctx: object, data: object) -> None:
        return None

    def method(self, ctx: object, data: object) -> None:
        return None


@pytest.mark.parametrize(
    "handler",
    [print, CallableObject(), CallableObject().method, CallableObject, lambda ctx, data: None],
    ids=["builtin", "instance", "bound-method", "class", "lambda"],
)
def test_any_callable_is_a_handler(impl: ModuleType, handler: object) -> None:
    bus = impl.Bus()
    bus.register("users", "created", handler)
    assert bus.handlers("users", "created") == (handler,)


def _register(bus: object, domain: object, action: object, handler: object) -> None:
    bus.register(domain, action, handler)  # type: ignore[attr-defined]


def _on(bus: object, domain: object, action: object, handler: object) -> None:
    bus.on(domain, action)(handler)  # type: ignore[attr-defined]


INVALID = [
    pytest.param(1, "created", TypeError, "domain", id="domain-int"),
    pytest.param(None, "created", TypeError, "domain", id="domain-none"),
    pytest.param(b"users", "created", TypeError, "domain", id="domain-bytes"),
    pytest.param("", "created", ValueError, "domain", id="domain-empty"),
    pytest.param("users", 1.5, TypeError, "action", id="action-float"),
    pytest.param("users", ["created"], TypeError, "action", id="action-list"),
    pytest.param("users", "", ValueError, "action", id="action-empty"),
]


@pytest.mark.parametrize("how", [_register, _on], ids=["register", "on"])
@pytest.mark.parametrize("domain, action, error, names", INVALID)
def test_invalid_names_register_nothing(
    impl: ModuleType,
    how: Callable[..., None],
    domain: object,
    action: object,
    error: type[Exception],
    names: str,
) -> None:
    bus = impl.Bus()
    existing = recorder([], "existing")
    bus.register("users", "created", existing)
    with pytest.raises(error, match=names):
        how(bus, domain, action, recorder([], "new"))
    assert bus.handlers("users", "created") == (existing,)
    assert bus.handlers("users", "deleted") == ()
    # A later valid registration still goes through.
    bus.register("users", "deleted", existing)
    assert bus.handlers("users", "deleted") == (existing,)


@pytest.mark.parametrize("how", [_register, _on], ids=["register", "on"])
@pytest.mark.parametrize("handler", [None, 1, "handler", object()], ids=["None", "int", "str", "object"])
def test_non_callable_handler_registers_nothing(
    impl: ModuleType, how: Callable[..., None], handler: object
) -> None:
    bus = impl.Bus()
    with pytest.raises(TypeError):
        how(bus, "users", "created", handler)
    assert bus.handlers("users", "created") == ()


@pytest.mark.parametrize("domain, action, error, names", INVALID)
def test_handlers_validates_names(
    impl: ModuleType, domain: object, action: object, error: type[Exception], names: str
) -> None:
    with pytest.raises(error, match=names):
        impl.Bus().handlers(domain, action)


def test_str_subclass_names_are_registered_as_plain_str(impl: ModuleType) -> None:
    bus = impl.Bus()
    log: list[str] = []
    handler = recorder(log, "h")
    unregister = bus.register(WeirdStr("users"), WeirdStr("created"), handler)
    assert bus.handlers("users", "created") == (handler,)
    assert bus.handlers(WeirdStr("users"), WeirdStr("created")) == (handler,)
    bus.call(None, impl.Data("users", "created"))
    assert log == ["h"]
    assert unregister() is True
    assert bus.handlers("users", "created") == ()


@pytest.mark.parametrize("logger", ["eventbus", 1, object(), print], ids=["str", "int", "object", "print"])
def test_logger_must_be_a_logger(impl: ModuleType, logger: object) -> None:
    with pytest.raises(TypeError, match="logger"):
        impl.Bus(logger)


@pytest.mark.parametrize(
    "logger",
    [None, logging.getLogger("tests.bus"), logging.LoggerAdapter(logging.getLogger("tests.bus"))],
    ids=["default", "logger", "adapter"],
)
def test_bus_accepts_a_logger(impl: ModuleType, logger: object) -> None:
    assert impl.Bus(logger).handlers("users", "created") == ()
    assert impl.Bus(logger=logger).handlers("users", "created") == ()


def test_a_live_bus_cannot_be_initialised_again(impl: ModuleType) -> None:
    bus = impl.Bus()
    log: list[str] = []
    bus.register("users", "created", lambda ctx, data: log.append("kept"))
    with pytest.raises(TypeError, match=r"^Bus.__init__\(\) may be called only once$"):
        bus.__init__()
    bus.call(None, impl.Data("users", "created"))
    assert log == ["kept"]
