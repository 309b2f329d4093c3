"""Wiring an application (API.md, added 2026-12-06), on both implementations.

One test (or a few) per sentence of the section, in its order: ``unhandled=``, the library
logger's NullHandler, synchronous and asynchronous events, ``Event.data``'s payload check,
``registrations()`` and their sites, the errors about a pair, and ``python -m eventbus catalog``.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import gc
import importlib
import json
import logging
import os
import pickle
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypedDict, cast

import pytest
from helpers_core import collecting_logger, quiet_logger, run_python

import eventbus
from eventbus.testing import muted, record

METHODS = ["call", "publish", "acall", "apublish"]


@dataclasses.dataclass
class UserCreated:
    id: int


@dataclasses.dataclass
class AdminCreated(UserCreated):
    level: int = 0


@dataclasses.dataclass
class OrderPlaced:
    number: int


class Point(TypedDict):
    x: int


def dispatch(bus: Any, method: str, data: Any, ctx: object = None) -> None:
    result = getattr(bus, method)(ctx, data)
    if asyncio.iscoroutine(result):
        asyncio.run(result)


def _line_of(marker: str) -> int:
    """The line of this file that ends with ``# <marker>``."""
    lines = Path(__file__).read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if line.endswith(f"# {marker}"))


# -- Bus(..., unhandled=...) ------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_unhandled_is_ignored_by_default(impl: ModuleType, method: str) -> None:
    logger, records = collecting_logger()
    bus = impl.Bus(logger)
    dispatch(bus, method, impl.Data("users", "created"))
    assert records == []
    assert impl.Bus(logger, unhandled="ignore").pairs() == ()


@pytest.mark.parametrize("method", METHODS)
def test_warn_logs_the_first_unhandled_dispatch_of_each_pair(impl: ModuleType, method: str) -> None:
    logger, records = collecting_logger()
    bus = impl.Bus(logger, unhandled="warn")
    bus.register("users", "created", lambda ctx, data: None)
    dispatch(bus, method, impl.Data("users", "craeted"))
    dispatch(bus, method, impl.Data("users", "craeted"))  # once per pair
    dispatch(bus, method, impl.Data("billing", "paid"))
    dispatch(bus, method, impl.Data("users", "created"))  # handled: nothing
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (
            logging.WARNING,
            "eventbus: no handler for event 'users'/'craeted': did you mean 'users'/'created'?",
        ),
        (logging.WARNING, "eventbus: no handler for event 'billing'/'paid'"),
    ]


@pytest.mark.parametrize("method", METHODS)
def test_raise_refuses_an_unhandled_dispatch_naming_the_closest_pair(impl: ModuleType, method: str) -> None:
    bus = impl.Bus(unhandled="raise")
    ran: list[object] = []
    bus.register("users", "created", lambda ctx, data: ran.append(data))
    bus.register("orders", "placed", lambda ctx, data: ran.append(data))
    with pytest.raises(eventbus.UnhandledEventError) as caught:
        dispatch(bus, method, impl.Data("users", "craeted"))
    assert str(caught.value) == "no handler for event 'users'/'craeted': did you mean 'users'/'created'?"
    assert (caught.value.domain, caught.value.action) == ("users", "craeted")
    assert caught.value.suggestion == ("users", "created")
    assert isinstance(caught.value, eventbus.EventBusError)
    with pytest.raises(eventbus.UnhandledEventError) as caught:
        dispatch(bus, method, impl.Data("weather", "changed"))
    assert str(caught.value) == "no handler for event 'weather'/'changed'"  # nothing close
    assert caught.value.suggestion is None
    assert ran == []
    dispatch(bus, method, impl.Data("users", "created"))  # the handled path as before
    assert len(ran) == 1


def test_an_unhandled_error_pickles() -> None:
    error = eventbus.UnhandledEventError("users", "craeted", ("users", "created"))
    loaded = pickle.loads(pickle.dumps(error))
    assert type(loaded) is eventbus.UnhandledEventError
    assert str(loaded) == str(error)
    assert loaded.suggestion == ("users", "created")


@pytest.mark.parametrize("method", METHODS)
def test_a_pair_whose_handlers_all_left_is_unhandled(impl: ModuleType, method: str) -> None:
    bus = impl.Bus(unhandled="raise")
    unregister = bus.register("users", "created", lambda ctx, data: None)
    dispatch(bus, method, impl.Data("users", "created"))
    unregister()
    with pytest.raises(eventbus.UnhandledEventError, match="'users'/'created'"):
        dispatch(bus, method, impl.Data("users", "created"))


@pytest.mark.parametrize("method", METHODS)
def test_an_observed_bus_refuses_alike(impl: ModuleType, method: str) -> None:
    seen: list[tuple[str, object]] = []

    class Watch:
        def dispatch(self, method: str, data: object, handlers: tuple[object, ...]) -> None:
            seen.append((method, data))

    bus = impl.Bus(unhandled="raise", observer=Watch())
    with pytest.raises(eventbus.UnhandledEventError):
        dispatch(bus, method, impl.Data("users", "created"))
    logger, records = collecting_logger()
    warned = impl.Bus(logger, unhandled="warn", observer=Watch())
    dispatch(warned, method, impl.Data("users", "created"))
    assert [r.getMessage() for r in records] == ["eventbus: no handler for event 'users'/'created'"]


@pytest.mark.parametrize("method", METHODS)
def test_a_pair_muted_by_eventbus_testing_is_not_unhandled(impl: ModuleType, method: str) -> None:
    logger, records = collecting_logger()
    for mode in ("raise", "warn"):
        bus = impl.Bus(logger, unhandled=mode)
        bus.register("users", "created", lambda ctx, data: None)
        with muted(bus, ("users", "created")):
            dispatch(bus, method, impl.Data("users", "created"))
        with muted(bus, ("users", "nobody")):  # muted with no handler at all: still not unhandled
            dispatch(bus, method, impl.Data("users", "nobody"))
        with record(bus, ("users", "gone"), mute=True) as recorded:
            dispatch(bus, method, impl.Data("users", "gone"))
        assert len(recorded) == 1
    assert records == []


@pytest.mark.parametrize("value", ["error", "RAISE", "", None, True, 1, ("raise",)])
def test_any_other_unhandled_value_is_refused(impl: ModuleType, value: object) -> None:
    with pytest.raises(ValueError, match="unhandled must be 'ignore', 'warn' or 'raise', not ") as caught:
        impl.Bus(unhandled=value)
    assert repr(value) in str(caught.value)


def test_the_warning_is_logged_once_whatever_the_threads(impl: ModuleType) -> None:
    import threading  # noqa: PLC0415

    logger, records = collecting_logger()
    bus = impl.Bus(logger, unhandled="warn")
    data = impl.Data("users", "created")
    start = threading.Barrier(4)

    def worker() -> None:
        start.wait()
        for _ in range(200):
            bus.call(None, data)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(records) == 1


# -- The library's logger carries a NullHandler ---------------------------------------------


def test_the_library_logger_has_a_null_handler(impl: ModuleType) -> None:
    impl.Bus()
    impl.Bus()
    handlers = logging.getLogger("eventbus").handlers
    assert [type(h) for h in handlers if type(h) is logging.NullHandler] == [logging.NullHandler]


@pytest.mark.parametrize("pure", [False, True], ids=["default", "pure"])
def test_a_publish_failure_is_not_printed_by_unconfigured_logging(pure: bool) -> None:
    script = textwrap.dedent(
        """
        import eventbus

        bus = eventbus.Bus()

        def fails(ctx, data):
            raise KeyError("boom")

        bus.register("users", "created", fails)
        try:
            bus.publish(None, eventbus.Data("users", "created"))
        except ExceptionGroup as group:
            print(type(group.exceptions[0]).__name__)
        """
    )
    result = run_python("-c", script, pure=pure)
    assert (result.returncode, result.stdout, result.stderr) == (0, "KeyError\n", "")


# -- Event(..., asynchronous=False) ----------------------------------------------------------


def test_a_synchronous_event_refuses_a_coroutine_handler(impl: ModuleType) -> None:
    bus = impl.Bus()
    created = impl.Event("users", "created", UserCreated)

    async def welcome(ctx: object, user: UserCreated) -> None:
        pass

    expected = (
        f"handler {__name__}.test_a_synchronous_event_refuses_a_coroutine_handler.<locals>.welcome "
        "is a coroutine function, and event 'users'/'created' is synchronous (its producers dispatch "
        "with call() or publish()): declare it with eventbus.Event(..., asynchronous=True) and "
        "dispatch it with acall() or apublish()"
    )
    attempts: tuple[Callable[[], object], ...] = (
        lambda: bus.register(created, welcome),
        lambda: bus.register(created, welcome, weak=True),
        lambda: bus.on(created)(welcome),
    )
    for register in attempts:
        with pytest.raises(TypeError) as caught:
            register()
        assert str(caught.value) == expected
    assert bus.handlers(created) == ()  # nothing registered
    assert bus.registrations() == ()
    assert bus.pairs() == ()


def test_an_asynchronous_event_takes_both_kinds(impl: ModuleType) -> None:
    bus: eventbus.Bus = impl.Bus()
    created = impl.Event("users", "created", UserCreated, asynchronous=True)
    seen: list[str] = []

    @bus.on(created)
    async def welcome(ctx: object, user: UserCreated) -> None:
        seen.append(f"welcome {user.id}")

    @bus.on(created)
    def count(ctx: object, user: UserCreated) -> None:
        seen.append(f"count {user.id}")

    asyncio.run(bus.acall(None, created.data(UserCreated(1))))
    asyncio.run(bus.apublish(None, created.data(UserCreated(2))))
    assert seen == ["welcome 1", "count 1", "welcome 2", "count 2"]
    with pytest.raises(TypeError, match="dispatch with acall"):  # its producers use acall/apublish
        bus.call(None, created.data(UserCreated(3)))


def test_a_plain_pair_still_takes_a_coroutine_handler(impl: ModuleType) -> None:
    bus = impl.Bus()

    async def later(ctx: object, data: object) -> None:
        pass

    bus.register("users", "created", later)
    assert bus.handlers("users", "created") == (later,)


def test_asynchronous_is_an_attribute_in_equality_hash_repr_and_pickles(impl: ModuleType) -> None:
    sync = impl.Event("users", "created", UserCreated)
    both = impl.Event("users", "created", UserCreated, asynchronous=True)
    assert sync.asynchronous is False
    assert both.asynchronous is True
    assert sync != both
    assert sync == impl.Event("users", "created", UserCreated, asynchronous=False)
    assert len({sync, both, impl.Event("users", "created", UserCreated)}) == 2
    assert repr(both) == (
        f"Event(domain='users', action='created', payload_type={__name__}.UserCreated, asynchronous=True)"
    )
    assert "asynchronous" not in repr(sync)
    for event in (sync, both):
        loaded = pickle.loads(pickle.dumps(event))
        assert loaded == event
        assert loaded.asynchronous is event.asynchronous
        assert copy.deepcopy(event) is event
    with pytest.raises(AttributeError, match="immutable"):
        both.asynchronous = False


@pytest.mark.parametrize("value", [1, 0, "yes", None])
def test_asynchronous_must_be_a_bool(impl: ModuleType, value: object) -> None:
    with pytest.raises(TypeError, match="asynchronous must be a bool, not "):
        impl.Event("users", "created", UserCreated, asynchronous=value)


# -- Event.data checks the payload's class --------------------------------------------------


def test_data_refuses_a_payload_of_another_class(impl: ModuleType) -> None:
    created = impl.Event("users", "created", UserCreated)
    with pytest.raises(TypeError) as caught:
        created.data(OrderPlaced(1))
    assert str(caught.value) == (
        f"event 'users'/'created' takes a {__name__}.UserCreated payload, not {__name__}.OrderPlaced"
    )
    with pytest.raises(TypeError, match="takes a .*UserCreated payload, not str"):
        created.data("hello")
    with pytest.raises(TypeError, match="not dict"):
        created.data({"id": 1})


def test_data_refuses_before_anything_is_encoded(impl: ModuleType) -> None:
    class Unencodable:  # encoding it would raise EncodeError: the class check comes first
        pass

    with pytest.raises(TypeError, match="takes a int payload, not .*Unencodable"):
        impl.Event("d", "a", int).data(Unencodable())


def test_data_takes_instances_and_what_type_checkers_take(impl: ModuleType) -> None:
    assert (
        impl.Event("users", "created", UserCreated).data(AdminCreated(1, 2)).raw_params
        == b'{"id":1,"level":2}'
    )
    assert impl.Event("d", "a", float).data(3).raw_params == b"3"  # an int is a float to type checkers
    assert impl.Event("d", "a", int).data(True).raw_params == b"true"
    assert impl.Event("d", "a", str).data("x").raw_params == b'"x"'
    with pytest.raises(TypeError, match="takes a str payload, not int"):
        impl.Event("d", "a", str).data(1)
    # Not classes: no run-time check beyond the codec's.
    assert impl.Event("d", "a", list[int]).data([1]).raw_params == b"[1]"
    assert impl.Event("d", "a", Point).data({"x": 1}).raw_params == b'{"x":1}'
    assert impl.Event("d", "a", int | None).data(None).raw_params is None


def _typed_library(name: str) -> Any:
    """pydantic or msgspec (the typed extra): skip without it, except where CI requires it."""
    if os.environ.get("EVENTBUS_TYPED_DEPS_REQUIRED"):
        return importlib.import_module(name)
    return pytest.importorskip(name, reason="needs the typed extra (pydantic, msgspec)")


def test_data_checks_a_pydantic_model(impl: ModuleType) -> None:
    pydantic: Any = _typed_library("pydantic")

    class Signup(pydantic.BaseModel):  # type: ignore[misc]
        email: str

    signed = impl.Event("users", "signed", Signup)
    assert signed.data(Signup(email="a@example.com")).raw_params == b'{"email":"a@example.com"}'
    with pytest.raises(TypeError, match="takes a .*Signup payload, not dict"):
        signed.data({"email": "a@example.com"})


def test_data_checks_a_msgspec_struct(impl: ModuleType) -> None:
    msgspec: Any = _typed_library("msgspec")

    class Shipped(msgspec.Struct):  # type: ignore[misc]
        order: int

    shipped = impl.Event("orders", "shipped", Shipped)
    assert shipped.data(Shipped(order=3)).raw_params == b'{"order":3}'
    with pytest.raises(TypeError, match="takes a .*Shipped payload, not dict"):
        shipped.data({"order": 3})


# -- bus.registrations() and Registration -----------------------------------------------------


def _handler(ctx: object, data: object) -> None:
    pass


class _Service:
    def on_created(self, ctx: object, user: UserCreated) -> None:
        pass


def test_registrations_lists_every_live_registration_sorted_by_pair(impl: ModuleType) -> None:
    bus: eventbus.Bus = impl.Bus()
    created = impl.Event("users", "created", UserCreated)
    service = _Service()
    bus.register("users", "deleted", _handler)  # site: deleted
    bus.register(created, service.on_created, weak=True)  # site: weak

    @bus.on(created)  # site: decorated
    def welcome(ctx: object, user: UserCreated) -> None:
        pass

    bus.register("billing", "paid", _handler)  # site: paid
    here = os.path.relpath(__file__).replace(os.sep, "/")
    assert bus.registrations() == (
        eventbus.Registration("billing", "paid", _handler, None, False, f"{here}:{_line_of('site: paid')}"),
        eventbus.Registration(
            "users", "created", service.on_created, created, True, f"{here}:{_line_of('site: weak')}"
        ),
        eventbus.Registration(
            "users", "created", welcome, created, False, f"{here}:{_line_of('site: decorated')}"
        ),
        eventbus.Registration(
            "users", "deleted", _handler, None, False, f"{here}:{_line_of('site: deleted')}"
        ),
    )
    assert [r.handler for r in bus.registrations(created)] == [service.on_created, welcome]
    assert [r.handler for r in bus.registrations("users", "created")] == [service.on_created, welcome]
    assert bus.registrations("users", "nobody") == ()
    del service
    gc.collect()
    assert [r.handler for r in bus.registrations(created)] == [welcome]  # collected: gone
    assert bus.unregister(created, welcome)
    assert [r.action for r in bus.registrations()] == ["paid", "deleted"]


def test_registrations_of_a_muted_pair_are_still_listed(impl: ModuleType) -> None:
    bus = impl.Bus()
    bus.register("users", "created", _handler)
    with muted(bus, ("users", "created")), record(bus, ("users", "deleted"), mute=True):
        assert [r.handler for r in bus.registrations()] == [_handler]


def test_a_registration_is_an_immutable_value() -> None:
    one = eventbus.Registration("users", "created", _handler, None, False, "app.py:3")
    same = eventbus.Registration("users", "created", _handler, None, False, "app.py:3")
    assert one == same
    assert hash(one) == hash(same)
    assert one != eventbus.Registration("users", "created", _handler, None, True, "app.py:3")
    assert (one.domain, one.action, one.handler, one.event, one.weak, one.site) == (
        "users",
        "created",
        _handler,
        None,
        False,
        "app.py:3",
    )
    assert repr(one).startswith("Registration(domain='users', action='created', handler=<function _handler")
    with pytest.raises(AttributeError, match="immutable"):
        one.site = "elsewhere.py:1"
    with pytest.raises(AttributeError, match="immutable"):
        del one.weak
    match one:
        case eventbus.Registration("users", action):
            assert action == "created"
        case _:
            pytest.fail("a Registration matches by its fields in order")


def test_the_site_is_the_line_of_the_registering_call(impl: ModuleType) -> None:
    bus = impl.Bus()
    register: Callable[..., object] = bus.register
    register("users", "created", _handler)  # site: through a reference
    with record(bus, ("users", "recorded")):  # site: recorder
        recorded = bus.registrations("users", "recorded")
    sites = [r.site.rsplit(":", 1)[1] for r in (*bus.registrations("users", "created"), *recorded)]
    assert sites == [str(_line_of("site: through a reference")), str(_line_of("site: recorder"))]


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (("users",), TypeError, r"registrations\(\) needs a \(domain, action\) pair or an eventbus.Event"),
        (("users", "created", "x"), TypeError, r"registrations\(\), registrations\(domain, action\)"),
        ((("users", "created"),), TypeError, r"not a tuple: registrations\('users', 'created', \.\.\.\)"),
        (
            ("", "created"),
            ValueError,
            r"domain must be a non-empty str: the pair is given as registrations\(\)",
        ),
    ],
)
def test_registrations_refuses_what_is_not_a_pair(
    impl: ModuleType, args: tuple[object, ...], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        impl.Bus().registrations(*args)


def test_registrations_of_an_event_takes_no_action(impl: ModuleType) -> None:
    created = impl.Event("users", "created", UserCreated)
    with pytest.raises(TypeError, match="registrations"):
        impl.Bus().registrations(created, "created")


# -- Every error about a pair shows the accepted forms ------------------------------------


@pytest.mark.parametrize(
    ("call", "forms"),
    [
        (
            lambda bus: bus.unregister(("users", "created"), _handler),
            "unregister(domain, action, handler) or unregister(event, handler)",
        ),
        (
            lambda bus: bus.register(("users", "created"), _handler),
            "register(domain, action, handler) or register(event, handler)",
        ),
        (lambda bus: bus.handlers(("users", "created")), "handlers(domain, action) or handlers(event)"),
        (lambda bus: bus.on(("users", "created")), "on(domain, action) or on(event)"),
        (lambda bus: bus.handlers(("users", "created"), "x"), "handlers(domain, action) or handlers(event)"),
        (
            lambda bus: bus.register("users", 7, _handler),
            "register(domain, action, handler) or register(event, handler)",
        ),
        (lambda bus: bus.on("", "created"), "on(domain, action) or on(event)"),
    ],
)
def test_an_error_about_a_pair_shows_the_accepted_forms(
    impl: ModuleType, call: Callable[[Any], object], forms: str
) -> None:
    bus = impl.Bus()
    with pytest.raises((TypeError, ValueError)) as caught:
        call(bus)
    assert forms in str(caught.value)
    assert bus.pairs() == ()


def test_unregister_with_a_tuple_says_how_to_pass_it(impl: ModuleType) -> None:
    with pytest.raises(TypeError) as caught:
        impl.Bus().unregister(("users", "created"), _handler)
    assert str(caught.value) == (
        "domain must be str, not tuple: the pair is given as unregister(domain, action, handler) or "
        "unregister(event, handler) (not a tuple: unregister('users', 'created', ...))"
    )


@pytest.mark.parametrize(
    ("pair", "error"), [(("users", 7), TypeError), (("users", ""), ValueError), ("users", TypeError)]
)
def test_eventbus_testing_says_what_a_pair_is(impl: ModuleType, pair: object, error: type[Exception]) -> None:
    with (
        pytest.raises(error, match=r"a pair is a \(domain, action\) tuple"),
        record(impl.Bus(), cast(Any, pair)),
    ):
        pass


# -- python -m eventbus catalog MODULE:ATTR ----------------------------------------------------

SHOP = {
    "shop/__init__.py": "",
    "shop/contracts.py": """
        import dataclasses

        import eventbus


        @dataclasses.dataclass
        class UserCreated:
            id: int


        USER_CREATED = eventbus.Event("users", "created", UserCreated)
        bus = eventbus.Bus()
    """,
    "shop/billing.py": """
        from shop.contracts import USER_CREATED, UserCreated, bus


        @bus.on(USER_CREATED)
        def open_account(ctx: object, user: UserCreated) -> None:
            pass
    """,
    "shop/notifications.py": """
        from shop.contracts import USER_CREATED, UserCreated, bus


        class Mailer:
            def welcome(self, ctx: object, user: UserCreated) -> None:
                pass


        MAILER = Mailer()
        bus.register(USER_CREATED, MAILER.welcome, weak=True)
        bus.register("users", "deleted", lambda ctx, data: None)
    """,
    "shop/wiring.py": """
        from shop import billing, notifications
        from shop.contracts import bus

        NOT_A_BUS = 7
    """,
}


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    for name, text in SHOP.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return tmp_path


def catalog(impl: ModuleType, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    pure = impl.__name__ == "eventbus._core_py"
    # python -m eventbus, after checking that the implementation is the one under test.
    check = f"import eventbus; assert eventbus.implementation == {'python' if pure else 'cython'!r}; "
    check += "import runpy, sys; sys.argv[0] = 'eventbus'; runpy.run_module('eventbus', run_name='__main__')"
    return run_python("-c", check, "catalog", *args, pure=pure, cwd=cwd)


def test_catalog_prints_a_table_by_default(impl: ModuleType, shop: Path) -> None:
    result = catalog(impl, shop, "shop.wiring:bus")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "PAIR           HANDLER                            VIA          SITE",
        "users/created  shop.billing.open_account          event        shop/billing.py:4",
        "users/created  shop.notifications.Mailer.welcome  event, weak  shop/notifications.py:10",
        "users/deleted  shop.notifications.<lambda>        pair         shop/notifications.py:11",
    ]
    assert catalog(impl, shop, "shop.wiring:bus", "--format", "text").stdout == result.stdout


def test_catalog_prints_json(impl: ModuleType, shop: Path) -> None:
    result = catalog(impl, shop, "shop.wiring:bus", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {
            "domain": "users",
            "action": "created",
            "handler": "shop.billing.open_account",
            "event": "users/created",
            "weak": False,
            "site": "shop/billing.py:4",
        },
        {
            "domain": "users",
            "action": "created",
            "handler": "shop.notifications.Mailer.welcome",
            "event": "users/created",
            "weak": True,
            "site": "shop/notifications.py:10",
        },
        {
            "domain": "users",
            "action": "deleted",
            "handler": "shop.notifications.<lambda>",
            "event": None,
            "weak": False,
            "site": "shop/notifications.py:11",
        },
    ]


def test_catalog_prints_a_mermaid_flowchart(impl: ModuleType, shop: Path) -> None:
    result = catalog(impl, shop, "shop.wiring:bus", "--format", "mermaid")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "flowchart LR",
        '    p0(["users/created"])',
        '    p1(["users/deleted"])',
        '    m0["shop.billing"]',
        '    m1["shop.notifications"]',
        '    p0 -->|"open_account"| m0',
        '    p0 -->|"Mailer.welcome"| m1',
        '    p1 -->|"#lt;lambda#gt;"| m1',
    ]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nowhere:bus", "no module named 'nowhere'"),
        ("shop.nowhere:bus", "no module named 'shop.nowhere'"),
        ("shop.wiring:nobody", "module 'shop.wiring' has no attribute 'nobody'"),
        ("shop.wiring:NOT_A_BUS", "shop.wiring:NOT_A_BUS is a int, not an eventbus.Bus"),
        ("shop.wiring", "'shop.wiring' is not MODULE:ATTR (for example myapp.wiring:bus)"),
    ],
)
def test_catalog_names_what_is_not_there(impl: ModuleType, shop: Path, target: str, message: str) -> None:
    result = catalog(impl, shop, target)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"python -m eventbus catalog: {message}\n"


def test_catalog_of_an_empty_bus(impl: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "empty.py").write_text("import eventbus\nbus = eventbus.Bus()\n", encoding="utf-8")
    assert catalog(impl, tmp_path, "empty:bus").stdout == "no registrations\n"
    assert catalog(impl, tmp_path, "empty:bus", "--format", "json").stdout == "[]\n"
    assert catalog(impl, tmp_path, "empty:bus", "--format", "mermaid").stdout == "flowchart LR\n"


def test_a_given_logger_is_left_as_it_is(impl: ModuleType) -> None:
    # The NullHandler goes on the library's logger only, not on one the application passes.
    logger = quiet_logger()
    impl.Bus(logger)
    assert not any(type(h) is logging.NullHandler for h in logger.handlers)


# -- ... and staging after commit ------------------------------------------------------------


class _Transaction:
    """A transaction of the test's own (an eventbus.Transaction): open or not, commit by hand."""

    def __init__(self, open_: bool) -> None:
        self.open = open_
        self.callbacks: list[Callable[[], object]] = []

    def active(self) -> bool:
        return self.open

    def on_commit(self, callback: Callable[[], object]) -> None:
        self.callbacks.append(callback)


@pytest.mark.parametrize("method", ["call_after_commit", "publish_after_commit"])
def test_staging_an_unhandled_event_raises_and_stages_nothing(impl: ModuleType, method: str) -> None:
    bus = impl.Bus(unhandled="raise")
    ran: list[object] = []
    bus.register("users", "created", lambda ctx, data: ran.append(data))
    for open_ in (True, False):
        tx = _Transaction(open_)
        with pytest.raises(eventbus.UnhandledEventError, match="did you mean 'users'/'created'"):
            getattr(bus, method)(None, impl.Data("users", "craeted"), tx)
        assert tx.callbacks == []
    tx = _Transaction(True)
    with muted(bus, ("users", "gone")):  # muted: not unhandled, staged
        getattr(bus, method)(None, impl.Data("users", "gone"), tx)
    getattr(bus, method)(None, impl.Data("users", "created"), tx)
    assert len(tx.callbacks) == 2
    tx.callbacks[1]()
    assert len(ran) == 1


@pytest.mark.parametrize("method", [*METHODS, "call_after_commit", "publish_after_commit"])
@pytest.mark.parametrize(
    ("domain", "action"), [("weather", "changed"), ("users", "deleted")], ids=["domain", "action"]
)
def test_an_unknown_domain_and_an_unknown_action_are_both_unhandled(
    impl: ModuleType, method: str, domain: str, action: str
) -> None:
    # Dispatch finds "no handler" at two places: no pair of the domain at all, or none of the
    # action in a known domain. Both reach unhandled=, whatever the method (staging: with a
    # transaction open and without).
    def staged(open_: bool) -> Callable[[Any], object]:
        return lambda bus: getattr(bus, method)(None, impl.Data(domain, action), _Transaction(open_))

    runs: list[Callable[[Any], object]] = [staged(True), staged(False)]
    if not method.endswith("_after_commit"):
        runs = [lambda bus: dispatch(bus, method, impl.Data(domain, action))]
    for run in runs:
        logger, records = collecting_logger()
        raising, warning = impl.Bus(unhandled="raise"), impl.Bus(logger, unhandled="warn")
        for bus in (raising, warning):
            bus.register("users", "created", lambda ctx, data: None)
        with pytest.raises(eventbus.UnhandledEventError) as caught:
            run(raising)
        assert (caught.value.domain, caught.value.action) == (domain, action)
        run(warning)
        assert [r.getMessage() for r in records] == [
            f"eventbus: no handler for event {domain!r}/{action!r}"
            + ("" if domain == "weather" else ": did you mean 'users'/'created'?")
        ]
