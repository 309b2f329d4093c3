"""What every benchmark dispatches, so that the pytest files, compare.py and gate.py measure the same work.

Handlers are no-ops taking exactly the arguments their dispatcher passes; ``count`` handlers are
``count`` distinct function objects (blinker and Django register a function only once).  Every bus
also has one handler on a neighbouring pair of the same domain, so that dispatching to a pair
without handlers does the whole lookup instead of stopping at an unknown domain.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import platform
import timeit
from collections.abc import Callable
from json import dumps, loads
from types import ModuleType
from typing import Any

# The ``benchmark`` fixture: pytest-benchmark's or pytest-codspeed's, called as benchmark(fn, *args).
Benchmark = Callable[..., object]

HANDLER_COUNTS = (0, 1, 10)
DOMAIN = "bench"
ACTION = "event"
PAYLOAD = b'{"id":7}'

# As in tests/conftest.py: the compiled case imports the extension module directly, so a build that
# fell back to pure Python fails instead of being measured twice; only an explicit
# EVENTBUS_NO_EXTENSIONS (or another interpreter) leaves it out.
COMPILED_WANTED = (
    not os.environ.get("EVENTBUS_NO_EXTENSIONS") and platform.python_implementation() == "CPython"
)
IMPLEMENTATIONS = ("c", "py") if COMPILED_WANTED else ("py",)
MODULES = {"c": "eventbus._core", "py": "eventbus._core_py"}


def implementation(name: str) -> ModuleType:
    """``eventbus._core`` for ``"c"``, ``eventbus._core_py`` for ``"py"``."""
    return importlib.import_module(MODULES[name])


class Context:
    """The ``ctx`` every dispatch passes; handlers never look at it."""

    __slots__ = ()


CTX = Context()


def noop_handlers(count: int) -> tuple[Callable[[Any, Any], None], ...]:
    """``count`` distinct no-op ``(ctx, data)`` handlers: eventbus, the floor, psygnal, pyee."""

    def make() -> Callable[[Any, Any], None]:
        def noop(ctx: Any, data: Any) -> None:
            pass

        return noop

    return tuple(make() for _ in range(count))


def counting_handlers(count: int) -> tuple[tuple[Callable[[Any, Any], None], ...], list[int]]:
    """``count`` distinct handlers that each add one to ``runs[0]``, and ``runs``.

    The pytest benchmarks use them to check that the timed dispatches ran every handler (a
    dispatch that ran nothing would pass with no-op handlers); the increment is the only work.
    """
    runs = [0]

    def make() -> Callable[[Any, Any], None]:
        def handler(ctx: Any, data: Any) -> None:
            runs[0] += 1

        return handler

    return tuple(make() for _ in range(count)), runs


def assert_ran(runs: list[int], count: int) -> None:
    """The dispatches benchmarked with ``counting_handlers(count)`` each ran all ``count`` handlers."""
    if count == 0:
        assert runs[0] == 0, f"{runs[0]} handler runs on a pair without handlers"
    else:
        assert runs[0] > 0 and runs[0] % count == 0, (
            f"{runs[0]} handler runs, not whole dispatches of {count}"
        )


def failing_handler(ctx: object, data: object) -> None:
    raise LookupError("bench: this handler always fails")


def bus_with(
    impl: ModuleType,
    handlers: tuple[Callable[..., object], ...],
    logger: Any = None,
    domain: str = DOMAIN,
    action: str = ACTION,
) -> Any:
    """A bus of ``impl`` with ``handlers`` on ``(domain, action)`` and one on a neighbouring pair."""
    bus = impl.Bus(logger)
    bus.register(domain, action + "-neighbour", noop_handlers(1)[0])
    for handler in handlers:
        bus.register(domain, action, handler)
    return bus


def event(impl: ModuleType) -> Any:
    """The event every dispatch benchmark sends: a ``Data`` of ``impl`` with a small payload."""
    return impl.Data(DOMAIN, ACTION, PAYLOAD)


# The end-to-end event: encode a small dataclass, dispatch, decode it back in the handler;
# and the same by hand: json.dumps of a dict built from the fields, a call, json.loads and
# the dataclass built field by field.


@dataclasses.dataclass
class UserCreated:
    id: int
    email: str
    name: str


USER = UserCreated(id=7, email="a@example.com", name="Ann")
E2E_DOMAIN = "users"
E2E_ACTION = "created"


def json_handler(ctx: object, raw: str) -> None:
    fields = loads(raw)
    UserCreated(id=fields["id"], email=fields["email"], name=fields["name"])


def json_dispatch(handlers: tuple[Callable[[Any, str], None], ...], ctx: object, user: UserCreated) -> None:
    """The hand-written end-to-end baseline, as a function (compare.py inlines the same lines)."""
    raw = dumps({"id": user.id, "email": user.email, "name": user.name})
    for handler in handlers:
        handler(ctx, raw)


JSON_DISPATCH_STATEMENT = """\
raw = dumps({"id": user.id, "email": user.email, "name": user.name})
for handler in handlers: handler(ctx, raw)"""
FLOOR_STATEMENT = "for handler in handlers: handler(ctx, data)"


def timer(statement: str, prepare: str = "", **names: object) -> timeit.Timer:
    """A ``timeit.Timer`` of ``statement`` whose ``names`` are locals of the timed function.

    Locals are what a hand-written loop reads (LOAD_FAST), so every candidate pays the same for
    its names; ``prepare`` runs before each timing, untimed (after the names are bound).
    """
    setup = "\n".join([f"{name} = _names[{name!r}]" for name in names] + [prepare or "pass"])
    return timeit.Timer(statement, setup, globals={"_names": names})


def floor_timer(count: int) -> timeit.Timer:
    """The floor: ``for handler in handlers: handler(ctx, data)`` over a tuple, inline."""
    return timer(FLOOR_STATEMENT, handlers=noop_handlers(count), ctx=CTX, data=event(implementation("py")))


def call_timer(impl: ModuleType, count: int, method: str = "call") -> timeit.Timer:
    """``bus.call(ctx, data)`` (or ``publish``) with ``count`` no-op handlers."""
    bus = bus_with(impl, noop_handlers(count))
    return timer(f"bus.{method}(ctx, data)", bus=bus, ctx=CTX, data=event(impl))


def json_dispatch_timer() -> timeit.Timer:
    return timer(JSON_DISPATCH_STATEMENT, dumps=dumps, handlers=(json_handler,), ctx=CTX, user=USER)


def engines(name: str) -> tuple[str, ...]:
    """The codec engines an implementation can run: the compiled core has the compiled codec
    (eventbus._codec._fastcodec) when it is built, and the stdlib one (the reference) always."""
    if name == "c":
        from eventbus._codec import engine as _engine

        if _engine.available() is not None:
            return ("cython", "python")
    return ("python",)


def codec(impl: ModuleType, engine: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``must_data`` and ``decode`` of ``impl`` on ``engine``, whichever engine is active."""
    from eventbus._codec import engine as _engine

    return _engine.functions(impl, engine)


def end_to_end_timer(impl: ModuleType, engine: str = "python") -> timeit.Timer:
    must_data, decode_with = codec(impl, engine)

    def handler(ctx: object, data: Any) -> None:
        decode_with(data, UserCreated)

    bus = bus_with(impl, (handler,), domain=E2E_DOMAIN, action=E2E_ACTION)
    return timer(
        f"bus.call(ctx, must_data({E2E_DOMAIN!r}, {E2E_ACTION!r}, user))",
        bus=bus,
        must_data=must_data,
        ctx=CTX,
        user=USER,
    )


# The same event as a msgspec Struct and as a pydantic model (the ``typed`` extra): eventbus
# encodes it, dispatches and decodes it back as for the dataclass; "by hand" is the library's
# own JSON round trip, with nothing dispatched.
MODEL_LIBRARIES = ("msgspec", "pydantic")


def model_payload(library: str) -> tuple[type, object]:
    """``(its type, the payload)``: UserCreated's three fields as ``library``'s model."""
    if library == "msgspec":
        import msgspec

        class StructUserCreated(msgspec.Struct):
            id: int
            email: str
            name: str

        return StructUserCreated, StructUserCreated(id=USER.id, email=USER.email, name=USER.name)
    import pydantic

    class ModelUserCreated(pydantic.BaseModel):
        id: int
        email: str
        name: str

    return ModelUserCreated, ModelUserCreated(id=USER.id, email=USER.email, name=USER.name)


def model_end_to_end_timer(impl: ModuleType, engine: str, library: str) -> timeit.Timer:
    """``bus.call(ctx, must_data(..., model))`` to one handler that decodes it back: the dataclass
    end to end with ``library``'s model as the payload."""
    must_data, decode_with = codec(impl, engine)
    cls, payload = model_payload(library)

    def handler(ctx: object, data: Any) -> None:
        decode_with(data, cls)

    bus = bus_with(impl, (handler,), domain=E2E_DOMAIN, action=E2E_ACTION)
    assert decode_with(must_data(E2E_DOMAIN, E2E_ACTION, payload), cls) == payload
    return timer(
        f"bus.call(ctx, must_data({E2E_DOMAIN!r}, {E2E_ACTION!r}, user))",
        bus=bus,
        must_data=must_data,
        ctx=CTX,
        user=payload,
    )


def declared_end_to_end_timer(impl: ModuleType, library: str | None) -> timeit.Timer:
    """``bus.call(ctx, EVENT.data(user))`` to one handler registered for ``EVENT``, which gets the
    payload decoded: what a declared event costs its users, the dataclass (``library`` None) or
    ``library``'s model, on the implementation's own codec engine."""
    cls, payload = (UserCreated, USER) if library is None else model_payload(library)
    declared = impl.Event(E2E_DOMAIN, E2E_ACTION, cls)
    got: list[object] = []

    def check(ctx: object, user: Any) -> None:
        got.append(user)

    checking = impl.Bus()
    checking.register(declared, check)
    checking.call(CTX, declared.data(payload))
    assert got == [payload]

    def handler(ctx: object, user: Any) -> None:
        pass

    bus = impl.Bus()
    bus.register(declared, handler)
    return timer("bus.call(ctx, event.data(user))", bus=bus, event=declared, ctx=CTX, user=payload)


def model_by_hand_timer(library: str) -> timeit.Timer:
    """The library's own round trip: msgspec ``json.encode`` and a ``json.Decoder(T).decode``;
    pydantic ``model_dump_json`` and ``model_validate_json``."""
    cls, payload = model_payload(library)
    if library == "msgspec":
        import msgspec

        return timer(
            "decode(encode(user))",
            encode=msgspec.json.encode,
            decode=msgspec.json.Decoder(cls).decode,
            user=payload,
        )
    return timer("cls.model_validate_json(user.model_dump_json())", cls=cls, user=payload)
