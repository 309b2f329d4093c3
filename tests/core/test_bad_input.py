"""Bad input, table-driven, on every implementation there is.

Every public entry point (``Data``, ``new_data``, ``must_data``, ``decode``,
``Bus``, ``register``, ``on``, ``handlers``, ``call``, ``publish``, ``acall``,
``apublish``, ``call_after_commit``, ``publish_after_commit``) gets wrong types, ``None``, empty strings, non-callables, events
that are not ``Data`` (the other implementation's ``Data`` among them),
unencodable payloads, malformed JSON and subclasses of ``str`` / ``bytes``.  Each
case runs on each implementation the suite tests (conftest.IMPLEMENTATIONS: the
compiled and the pure one, or the pure one alone where the compiled core is not built,
as on PyPy and from the pure wheel), each on a bus preloaded with handlers, and must give:

- the documented exception type (or, for the inputs that are accepted, the same
  normalised result on both sides),
- where both implementations are there, the identical message (and the same type of
  chained ``__cause__``) on both,
- a bus exactly as it was: ``handlers()`` of every pair the table touches, before
  and after, mapped to handler indexes, and a dispatch that still runs exactly
  the preloaded handlers.

The rows that hand one implementation the other's ``Data`` exist only where both do.
The tests build their own buses and loggers, so they are safe to run under
pytest-run-parallel.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import importlib
import logging
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
from conftest import IMPLEMENTATIONS
from helpers_core import MODULES, WeirdBytes, WeirdStr

from eventbus import DecodeError, EncodeError

# Compare the twins where both are tested; otherwise check the one there is on its own.
BOTH = set(IMPLEMENTATIONS) == set(MODULES)


class NotCallable:
    """Has a ``__call__`` attribute on the instance only, which calling ignores."""

    def __init__(self) -> None:
        self.__call__ = lambda ctx, data: None


class DataLike(NamedTuple):
    domain: str
    action: str
    raw_params: bytes | None


@dataclasses.dataclass
class WithSet:
    tags: set[str]


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Env:
    """What a case runs against: one implementation, the other one, a preloaded bus."""

    def __init__(self, name: str) -> None:
        self.m = importlib.import_module(MODULES[name])
        # Only the rows marked `crossing` use it, and they exist only where both do.
        self.other: Any = importlib.import_module(MODULES["py" if name == "c" else "c"]) if BOTH else None
        self.calls: list[int] = []
        self.handlers = [self._handler(index) for index in range(3)]
        self.bus = self.m.Bus(logging.Logger(f"bad-input-{name}"))
        for domain, action, index in PRELOADED:
            self.bus.register(domain, action, self.handlers[index])

    def _handler(self, index: int) -> Callable[[object, object], None]:
        def handler(ctx: object, data: object) -> None:
            self.calls.append(index)

        handler.__qualname__ = f"handler_{index}"
        return handler

    def snapshot(self) -> dict[tuple[str, str], tuple[object, ...]]:
        ids = {id(h): i for i, h in enumerate(self.handlers)}
        return {pair: tuple(ids.get(id(h), "foreign") for h in self.bus.handlers(*pair)) for pair in WATCHED}

    def dispatch_all(self) -> list[int]:
        """Run every preloaded pair once: the handlers that ran, in order."""
        self.calls.clear()
        for pair in WATCHED:
            self.bus.publish(None, self.m.Data(*pair))
        return list(self.calls)


PRELOADED = [("users", "created", 0), ("users", "created", 1), ("users", "deleted", 2)]
WATCHED = [("users", "created"), ("users", "deleted"), ("a", "b"), ("lie", "lie"), ("billing", "paid")]


def _recursive() -> list[object]:
    loop: list[object] = []
    loop.append(loop)
    return loop


def _run(coroutine_function: Callable[..., Any], *args: object) -> object:
    return asyncio.run(coroutine_function(*args))


class Case(NamedTuple):
    id: str
    run: Callable[..., object]  # lambdas binding loop values as defaults take two parameters
    error: type[BaseException] | None  # None: accepted
    match: str = ""  # a part of the message that names what was wrong
    crossing: bool = False  # hands the implementation the other one's Data: needs both


def _data_cases() -> list[Case]:
    cases = []
    names: list[tuple[str, object, type[Exception], str]] = [
        ("none", None, TypeError, "must be str, not NoneType"),
        ("int", 7, TypeError, "must be str, not int"),
        ("bytes", b"users", TypeError, "must be str, not bytes"),
        ("empty", "", ValueError, "must be a non-empty str"),
        ("empty-subclass", WeirdStr(""), ValueError, "must be a non-empty str"),
        ("tuple", ("users",), TypeError, "must be str, not tuple"),
    ]
    for label, bad, error, match in names:
        cases += [
            Case(f"Data-domain-{label}", lambda e, b=bad: e.m.Data(b, "created"), error, "domain " + match),
            Case(f"Data-action-{label}", lambda e, b=bad: e.m.Data("users", b), error, "action " + match),
            Case(
                f"new_data-domain-{label}",
                lambda e, b=bad: e.m.new_data(b, "created"),
                error,
                "domain " + match,
            ),
            Case(
                f"must_data-action-{label}",
                lambda e, b=bad: e.m.must_data("users", b, {"x": 1}),
                error,
                "action " + match,
            ),
            Case(
                f"register-domain-{label}",
                lambda e, b=bad: e.bus.register(b, "created", e.handlers[0]),
                error,
                "domain " + match,
            ),
            Case(
                f"register-action-{label}",
                lambda e, b=bad: e.bus.register("users", b, e.handlers[0]),
                error,
                "action " + match,
            ),
            Case(f"on-domain-{label}", lambda e, b=bad: e.bus.on(b, "created"), error, "domain " + match),
            Case(
                f"on-action-{label}",
                lambda e, b=bad: e.bus.on("users", b)(e.handlers[0]),
                error,
                "action " + match,
            ),
            Case(
                f"handlers-domain-{label}",
                lambda e, b=bad: e.bus.handlers(b, "created"),
                error,
                "domain " + match,
            ),
            Case(
                f"handlers-action-{label}",
                lambda e, b=bad: e.bus.handlers("users", b),
                error,
                "action " + match,
            ),
        ]
    for label, raw in [
        ("str", "{}"),
        ("int", 1),
        ("bytearray", bytearray(b"{}")),
        ("memoryview", memoryview(b"{}")),
        ("list", [1]),
    ]:
        cases.append(
            Case(
                f"Data-raw_params-{label}",
                lambda e, r=raw: e.m.Data("users", "created", r),
                TypeError,
                "raw_params must be bytes or None",
            )
        )
    cases += [
        Case(
            "Data-subclasses-stored-plain",
            lambda e: _plain(e.m.Data(WeirdStr("users"), WeirdStr("created"), WeirdBytes(b"{}"))),
            None,
        ),
        Case(
            "Data-set-attribute",
            lambda e: setattr(e.m.Data("users", "created"), "domain", "x"),
            AttributeError,
            "immutable",
        ),
        Case(
            "Data-delete-attribute",
            lambda e: delattr(e.m.Data("users", "created"), "raw_params"),
            AttributeError,
            "immutable",
        ),
        Case(
            "Data-new-attribute",
            lambda e: setattr(e.m.Data("users", "created"), "extra", 1),
            AttributeError,
            "immutable",
        ),
        Case("Data-both-bad-domain-first", lambda e: e.m.Data(None, ""), TypeError, "domain"),
        Case("Data-init-again-changes-nothing", lambda e: _init_again(e.m.Data("users", "created")), None),
    ]
    return cases


def _init_again(data: Any) -> object:
    data.__init__("billing", "paid", b"1")
    return _plain(data)


def _plain(data: Any) -> object:
    return (
        type(data.domain),
        data.domain,
        type(data.action),
        data.action,
        type(data.raw_params),
        data.raw_params,
    )


def _payload_cases() -> list[Case]:
    unencodable: list[tuple[str, Callable[[], object], str]] = [
        ("set", lambda: {1, 2}, "set"),
        ("frozenset", lambda: frozenset(), "frozenset"),
        ("object", object, "object"),
        ("bytes", lambda: b"x", "bytes"),
        ("bytearray", lambda: bytearray(b"x"), "bytearray"),
        ("complex", lambda: 1j, "complex"),
        ("int-key", lambda: {1: "a"}, "key"),
        ("tuple-key", lambda: {("a",): 1}, "key"),
        ("nan", lambda: float("nan"), "out of JSON range"),
        ("inf-nested", lambda: {"a": [1.0, float("-inf")]}, "out of JSON range"),
        ("lone-surrogate", lambda: {"a": "\ud800"}, "UTF-8"),
        ("dataclass-with-set", lambda: WithSet({"x"}), "set"),
        ("dataclass-class", lambda: Point, "type"),
        ("recursive", _recursive, "nested too deeply"),
        ("function", lambda: print, "builtin_function_or_method"),
    ]
    cases = []
    for label, make, match in unencodable:
        cases += [
            Case(
                f"new_data-payload-{label}",
                lambda e, mk=make: e.m.new_data("users", "created", mk()),
                EncodeError,
                match,
            ),
            Case(
                f"must_data-payload-{label}",
                lambda e, mk=make: e.m.must_data("users", "created", mk()),
                EncodeError,
                match,
            ),
        ]
    cases += [
        Case(
            "new_data-str-subclass-payload",
            lambda e: e.m.new_data("users", "created", WeirdStr("x")).raw_params,
            None,
        ),
        Case(
            "new_data-subclass-names",
            lambda e: _plain(e.m.new_data(WeirdStr("users"), WeirdStr("created"), [1])),
            None,
        ),
        Case(
            "new_data-bad-domain-and-payload",
            lambda e: e.m.new_data(None, "created", {1, 2}),
            EncodeError,
            "set",
        ),
    ]
    malformed = [b"{", b"[1,", b'{"a":}', b"nul", b"\xff\xfe\x00", b'{"a":1}x', b""]
    for raw in malformed:
        cases += [
            Case(
                f"decode-malformed-{raw!r}",
                lambda e, r=raw: _decode(e.m.Data("users", "created", r)),
                DecodeError,
                "invalid JSON",
            ),
            Case(
                f"decode-malformed-into-dict-{raw!r}",
                lambda e, r=raw: _decode(e.m.Data("users", "created", r), dict),
                DecodeError,
                "invalid JSON",
            ),
        ]
    cases += [
        Case("decode-none", lambda e: _decode(None), TypeError, "NoneType"),
        Case("decode-str", lambda e: _decode("users"), TypeError, "str"),
        Case("decode-bytes", lambda e: _decode(b"{}"), TypeError, "bytes"),
        Case(
            "decode-other-implementations-data",
            lambda e: _decode(e.other.Data("users", "created", b'{"x":1}')),
            None,
            crossing=True,
        ),
        Case("decode-data-like", lambda e: _decode(DataLike("users", "created", b"[1]")), None),
        Case(
            "decode-bytes-subclass-payload",
            lambda e: _decode(e.m.Data("users", "created", WeirdBytes(b"[1]"))),
            None,
        ),
        Case(
            "decode-no-payload-into-int",
            lambda e: _decode(e.m.Data("users", "created"), int),
            DecodeError,
            "no payload",
        ),
        Case(
            "decode-wrong-type",
            lambda e: _decode(e.m.Data("users", "created", b'"x"'), int),
            DecodeError,
            "expected int",
        ),
        Case(
            "decode-bool-is-not-int",
            lambda e: _decode(e.m.Data("users", "created", b"true"), int),
            DecodeError,
            "users",
        ),
        Case(
            "decode-missing-field",
            lambda e: _decode(e.m.Data("users", "created", b'{"x":1}'), Point),
            DecodeError,
            "y",
        ),
        Case(
            "decode-unsupported-cls",
            lambda e: _decode(e.m.Data("users", "created", b"[1]"), NOT_A_TYPE),
            TypeError,
            "cannot decode into",
        ),
        Case(
            "decode-unsupported-cls-complex",
            lambda e: _decode(e.m.Data("users", "created", b"1"), complex),
            TypeError,
            "complex",
        ),
    ]
    return cases


# One object for both implementations: the message shows its address.
NOT_A_TYPE = object()


def _decode(*args: Any) -> object:
    from eventbus import decode

    return decode(*args)


def _bus_cases() -> list[Case]:
    cases = [
        Case(
            "Bus-logger-str",
            lambda e: e.m.Bus("eventbus"),
            TypeError,
            "logger must be a logging.Logger or None, not str",
        ),
        Case("Bus-logger-int", lambda e: e.m.Bus(0), TypeError, "not int"),
        Case("Bus-logger-module", lambda e: e.m.Bus(logging), TypeError, "not module"),
        Case("Bus-logger-getLogger", lambda e: e.m.Bus(logging.getLogger), TypeError, "not function"),
        Case("Bus-logger-handler", lambda e: e.m.Bus(logging.Handler()), TypeError, "not Handler"),
        Case(
            "Bus-logger-adapter-accepted",
            lambda e: type(e.m.Bus(logging.LoggerAdapter(logging.Logger("x"), {}))).__name__,
            None,
        ),
    ]
    non_callables: list[tuple[str, object]] = [
        ("none", None),
        ("int", 1),
        ("str", "handler"),
        ("data", None),  # replaced below by a Data instance
        ("list", []),
        ("none-call", NotCallable()),
    ]
    for label, bad in non_callables:

        def pick(e: Env, b: object = bad, lab: str = label) -> object:
            return e.m.Data("users", "created") if lab == "data" else b

        cases += [
            Case(
                f"register-handler-{label}",
                lambda e, p=pick: e.bus.register("users", "created", p(e)),
                TypeError,
                "handler must be callable",
            ),
            Case(
                f"on-handler-{label}",
                lambda e, p=pick: e.bus.on("users", "created")(p(e)),
                TypeError,
                "handler must be callable",
            ),
        ]
    cases += [
        Case("register-all-bad-domain-first", lambda e: e.bus.register(None, "", None), TypeError, "domain"),
        Case(
            "register-name-bad-handler-checked",
            lambda e: e.bus.register("", "created", None),
            ValueError,
            "domain",
        ),
        Case(
            "register-subclass-names",
            lambda e: e.bus.register(WeirdStr("a"), WeirdStr("b"), e.handlers[2]) and None,
            None,
        ),
        Case(
            "handlers-subclass-names",
            lambda e: e.bus.handlers(WeirdStr("users"), WeirdStr("created")) == tuple(e.handlers[:2]),
            None,
        ),
    ]
    events: list[tuple[str, Callable[[Env], object], str]] = [
        ("none", lambda e: None, "NoneType"),
        ("str", lambda e: "users", "str"),
        ("tuple", lambda e: ("users", "created"), "tuple"),
        ("dict", lambda e: {"domain": "users", "action": "created"}, "dict"),
        ("data-like", lambda e: DataLike("users", "created", None), "DataLike"),
        ("data-class", lambda e: e.m.Data, "type"),
        # The message names the other implementation's module (normalised in _outcome).
        (
            "other-implementations-data",
            lambda e: e.other.Data("users", "created"),
            "<other>.Data (the other implementation's: use eventbus.Data)",
        ),
    ]
    for label, make, match in events:
        message = f"data must be an eventbus.Data, not {match}"
        crossing = label == "other-implementations-data"
        cases += [
            Case(f"call-{label}", lambda e, mk=make: e.bus.call(None, mk(e)), TypeError, message, crossing),
            Case(
                f"publish-{label}",
                lambda e, mk=make: e.bus.publish(None, mk(e)),
                TypeError,
                message,
                crossing,
            ),
            Case(
                f"acall-{label}",
                lambda e, mk=make: _run(e.bus.acall, None, mk(e)),
                TypeError,
                message,
                crossing,
            ),
            Case(
                f"apublish-{label}",
                lambda e, mk=make: _run(e.bus.apublish, None, mk(e)),
                TypeError,
                message,
                crossing,
            ),
            # Staged on an open transaction: refused at once, nothing staged.
            Case(
                f"call_after_commit-{label}",
                lambda e, mk=make: e.bus.call_after_commit(None, mk(e), OpenTransaction()),
                TypeError,
                message,
                crossing,
            ),
            Case(
                f"publish_after_commit-{label}",
                lambda e, mk=make: e.bus.publish_after_commit(None, mk(e), OpenTransaction()),
                TypeError,
                message,
                crossing,
            ),
        ]
    for label, tx in [("none", None), ("object", object()), ("str", "tx")]:
        cases += [
            Case(
                f"{method}-tx-{label}",
                lambda e, m=method, t=tx: getattr(e.bus, m)(None, e.m.Data("users", "created"), t),
                TypeError,
                "tx must be an eventbus.Transaction (with active() and on_commit() methods), not ",
            )
            for method in ("call_after_commit", "publish_after_commit")
        ]
    return cases


class OpenTransaction:
    """A transaction that is open, and refuses anything staged on it: none of the rows may stage."""

    def active(self) -> bool:
        return True

    def on_commit(self, callback: Callable[[], object], /) -> None:
        raise AssertionError("a refused event was staged")


ALL_CASES = _data_cases() + _payload_cases() + _bus_cases()
CASES = [case for case in ALL_CASES if BOTH or not case.crossing]


def _outcome(env: Env, case: Case) -> tuple[Any, ...]:
    try:
        result = case.run(env)
    except Exception as exc:
        cause = exc.__cause__
        # A message may name the other implementation's module: the same words on both sides.
        message = str(exc)
        if env.other is not None:
            message = message.replace(env.other.__name__ + ".", "<other>.")
        return ("error", type(exc), message, type(cause) if cause is not None else None)
    return ("ok", result)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input(case: Case) -> None:
    envs = {name: Env(name) for name in IMPLEMENTATIONS}
    before = {name: env.snapshot() for name, env in envs.items()}
    outcomes = {name: _outcome(env, case) for name, env in envs.items()}

    # The documented error, on each side.
    for name, outcome in outcomes.items():
        if case.error is None:
            assert outcome[0] == "ok", (name, outcome)
        else:
            assert outcome[0] == "error", (name, outcome)
            assert outcome[1] is case.error, (name, outcome)
            assert case.match in outcome[2], (name, outcome)
    # Identical between the implementations: type, message, cause; or result.
    if BOTH:
        assert outcomes["c"] == outcomes["py"]

    # The bus is exactly as it was (an accepted registration changes both alike).
    after = {name: env.snapshot() for name, env in envs.items()}
    if BOTH:
        assert after["c"] == after["py"]
    if case.error is not None:
        assert after == before
        for env in envs.values():
            assert env.dispatch_all() == [0, 1, 2]


def test_the_table_covers_every_entry_point() -> None:
    covered = {case.id.split("-")[0] for case in CASES}  # without the crossing rows too
    assert covered >= {
        "Data",
        "new_data",
        "must_data",
        "decode",
        "Bus",
        "register",
        "on",
        "handlers",
        "call",
        "publish",
        "acall",
        "apublish",
        "call_after_commit",
        "publish_after_commit",
    }


def test_accepted_subclasses_are_stored_as_plain_types() -> None:
    """The rows above compare the two sides; this pins what both must say."""
    for name in IMPLEMENTATIONS:
        env = Env(name)
        data = env.m.Data(WeirdStr("users"), WeirdStr("created"), WeirdBytes(b"{}"))
        assert _plain(data) == (str, "users", str, "created", bytes, b"{}")
        env.bus.register(WeirdStr("a"), WeirdStr("b"), env.handlers[0])
        assert env.bus.handlers("a", "b") == (env.handlers[0],)


def test_a_counter_proves_dispatch_all_can_fail() -> None:
    """dispatch_all sees a registration the table would have to undo."""
    env = Env("py")
    env.bus.register("billing", "paid", env.handlers[1])
    assert env.dispatch_all() == [0, 1, 2, 1]
    assert collections.Counter(env.snapshot()[("billing", "paid")]) == {1: 1}


@pytest.mark.parametrize("name", IMPLEMENTATIONS)
def test_wrong_arity_and_subclassing_raise_type_error(name: str) -> None:
    """Both raise TypeError; the messages are the interpreter's and Cython's own and differ."""
    env = Env(name)
    calls: list[Callable[[], object]] = [
        lambda: env.m.Data("users"),
        lambda: env.m.Data("users", "created", None, None),
        lambda: env.m.new_data("users"),
        lambda: env.m.Bus(None, None),
        lambda: env.bus.register("users", "created"),
        lambda: env.bus.on("users"),
        lambda: env.bus.handlers("users"),
        lambda: env.bus.call(None),
        lambda: env.bus.publish(),
    ]
    before = env.snapshot()
    for call in calls:
        with pytest.raises(TypeError):
            call()
    with pytest.raises(TypeError):
        type("Sub", (env.m.Data,), {})
    assert env.snapshot() == before
