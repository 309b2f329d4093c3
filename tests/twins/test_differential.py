"""Differential fuzzing: the compiled and the pure ``Bus`` run the same random programs.

A hypothesis ``RuleBasedStateMachine`` drives ``eventbus._core.Bus`` and
``eventbus._core_py.Bus`` side by side.  Every handler exists as a pair of
functions, one per side, built from the same spec; every rule runs on both sides
and every observable outcome is normalised into plain data and compared: what the
call returned or raised (type, message, ``ExceptionGroup`` members in order, and
whether a raised exception is the very object a handler raised), the sequence of
handler invocations (with what each handler saw and did), the records logged on a
dedicated logger per bus, and ``handlers()`` snapshots mapped to handler pair ids.
Each side is also checked against a model of its registrations, so both agreeing
on a wrong answer fails too.

The codec is fuzzed the same way: random JSON-ish and dataclass payloads through
``new_data`` / ``must_data`` / ``decode`` on both sides give identical bytes,
identical values and identical errors.

Profiles (``helpers_core.hypothesis_profile``): ``ci`` (default; derandomized, fixed size, no database) and ``long``
(``EVENTBUS_HYPOTHESIS_PROFILE=long``) for runs by hand.  They apply to the tests
of this file only: loading a profile here would change every other file's
hypothesis settings depending on import order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import logging
import math
import types
import weakref
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from helpers_core import HYPOTHESIS_PROFILE, WeirdStr, hypothesis_profile
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from eventbus import DecodeError, EncodeError, decode

PROFILE = hypothesis_profile(stateful_step_count=(40, 100))
# The long run by hand takes longer than the suite's per-test timeout, on purpose.
pytestmark = [pytest.mark.timeout(0)] if HYPOTHESIS_PROFILE == "long" else []

SIDES = ("c", "py")


def _load(name: str) -> ModuleType:
    return importlib.import_module(name)


class Failure(Exception):
    """What a fuzzed handler raises: an ordinary ``Exception``."""


class Abort(BaseException):
    """What a fuzzed handler raises when it must not be caught (like KeyboardInterrupt)."""


DOMAINS = ("users", "billing")
ACTIONS = ("created", "deleted")
PAIRS = [(d, a) for d in DOMAINS for a in ACTIONS]
PAYLOADS = (None, b"", b'{"id":7}', b"\xff not json")
MAX_DEPTH = 3
ASYNC_METHODS = ("acall", "apublish")
MAX_REGISTRATIONS = 12  # bounds the fan-out of nested dispatches


# ---------------------------------------------------------------------------
# Handler specs: one spec, two functions (one per side).

Effect = tuple[Any, ...]
Ending = tuple[Any, ...]

effects = st.one_of(
    st.just(("none",)),
    st.tuples(st.just("register"), st.sampled_from(PAIRS), st.integers(0, 30)),
    st.tuples(st.just("unregister"), st.integers(0, 30)),
    st.tuples(
        st.just("dispatch"),
        st.sampled_from(("call", "publish")),
        st.sampled_from(PAIRS),
        st.booleans(),  # catch the Exception the nested dispatch raises?
    ),
    st.just(("snapshot",)),
)
endings = st.one_of(
    st.tuples(st.just("return"), st.sampled_from((None, 0, "value", False))),
    st.just(("raise",)),
    st.just(("abort",)),
    st.just(("coroutine",)),
)


class Side:
    """One implementation's bus and everything observable about it."""

    def __init__(self, module_name: str) -> None:
        self.module = _load(module_name)
        self.logger = logging.Logger(f"eventbus.differential.{module_name}")
        self.records: list[logging.LogRecord] = []
        self.logger.addHandler(_ListHandler(self.records))
        self.bus = self.module.Bus(self.logger)
        self.events: list[tuple[Any, ...]] = []  # what the handlers did, in order
        self.raised: list[BaseException] = []  # every exception a handler raised
        self.functions: list[Callable[[Any, Any], object]] = []  # index = pair id
        self.specs: list[tuple[Effect, Ending]] = []  # index = pair id
        # Every function a registration can hold (plain, typed, weak copies) -> its pair id;
        # weakly, so that a weak registration's copy can die.
        self.pair_id: weakref.WeakKeyDictionary[Callable[[Any, Any], object], int] = (
            weakref.WeakKeyDictionary()
        )
        self.typed: dict[tuple[int, tuple[str, str]], Callable[[Any, Any], object]] = {}
        self.events_by_pair = {pair: self.module.Event(pair[0], pair[1], dict) for pair in PAIRS}
        # The model: every registration, in order:
        # [pair, function id, unregister, live, what it holds (for unregister by handler), kind].
        self.registrations: list[list[Any]] = []
        # The only strong references to the functions of live weak registrations, by index.
        self.weak_holders: dict[int, Callable[[Any, Any], object]] = {}
        self.depth = 0

    def register(
        self, domain: object, action: object, function_id: int, kind: str = "plain"
    ) -> Callable[[], bool]:
        pair = (str.__str__(domain), str.__str__(action))  # pyright: ignore[reportArgumentType]
        if kind == "typed":
            function = self.typed_function(function_id, pair)
            unregister = self.bus.register(self.events_by_pair[pair], function)
        elif kind == "weak":
            original = self.functions[function_id]
            function = types.FunctionType(
                original.__code__, original.__globals__, original.__name__, None, original.__closure__
            )
            function.__qualname__ = original.__qualname__
            self.pair_id[function] = function_id
            unregister = self.bus.register(domain, action, function, weak=True)
            self.weak_holders[len(self.registrations)] = function
        else:
            function = self.functions[function_id]
            unregister = self.bus.register(domain, action, function)
        held = weakref.ref(function) if kind == "weak" else function
        self.registrations.append([pair, function_id, unregister, True, held, kind])
        return unregister  # type: ignore[no-any-return]

    def typed_function(self, number: int, pair: tuple[str, str]) -> Callable[[Any, Any], object]:
        """Handler ``number`` as a typed handler of ``pair``'s event (payload: a dict)."""
        function = self.typed.get((number, pair))
        if function is None:
            function = self.typed[number, pair] = make_handler(
                self, number, *self.specs[number], typed_pair=pair
            )
            self.pair_id[function] = number
        return function

    def held(self, registration: list[Any]) -> Any:
        return registration[4]() if registration[5] == "weak" else registration[4]

    def unregister(self, index: int) -> bool:
        registration = self.registrations[index]
        removed = registration[2]()
        if removed:
            registration[3] = False
        return bool(removed)

    def snapshot(self, domain: object, action: object) -> tuple[int, ...]:
        return tuple(self.pair_id[f] for f in self.bus.handlers(domain, action))

    def expected(self, pair: tuple[str, str]) -> tuple[int, ...]:
        return tuple(r[1] for r in self.registrations if r[0] == pair and r[3])

    def expected_to_run(self, pair: tuple[str, str], payload: bytes | None) -> tuple[int, ...]:
        """expected(), less the typed handlers whose payload does not decode (into a dict):
        their failure is the decoding's, before the handler runs."""
        decodes = payload == b'{"id":7}'
        return tuple(
            r[1] for r in self.registrations if r[0] == pair and r[3] and (r[5] != "typed" or decodes)
        )

    def data(self, pair: tuple[str, str], payload: bytes | None) -> Any:
        return self.module.Data(pair[0], pair[1], payload)

    def dispatch(self, method: str, ctx: object, data: Any) -> tuple[Any, ...]:
        try:
            result = getattr(self.bus, method)(ctx, data)
            if method in ASYNC_METHODS:
                result = asyncio.run(result)
        except BaseException as exc:  # noqa: BLE001 - Abort is part of what we compare
            return ("raised", self.describe(exc))
        return ("returned", result)

    def describe(self, exc: BaseException) -> tuple[Any, ...]:
        """An exception as plain data: type, message, identity, members, cause."""
        identity = next((i for i, r in enumerate(self.raised) if r is exc), None)
        # A message may name the other implementation's module (the one this side's bus
        # refused a Data of): the same words on both sides once that name is normalised.
        other = "eventbus._core_py" if self.module.__name__ == "eventbus._core" else "eventbus._core"
        message = str(exc).replace(other + ".", "<other>.")
        members: tuple[object, ...] = ()
        if isinstance(exc, BaseExceptionGroup):
            message = exc.message
            members = tuple(self.describe(e) for e in exc.exceptions)
        return (type(exc).__name__, message, identity, members)

    def log(self) -> list[tuple[Any, ...]]:
        out = []
        for record in self.records:
            exc_info = record.exc_info
            exc = exc_info[1] if exc_info else None
            out.append(
                (
                    record.levelname,
                    record.getMessage(),
                    None if exc is None else self.describe(exc),
                )
            )
        return out


class _ListHandler(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def make_handler(
    side: Side, number: int, effect: Effect, ending: Ending, typed_pair: tuple[str, str] | None = None
) -> Callable[[Any, Any], object]:
    """The function of handler ``number`` on ``side``: does ``effect``, then ``ending``.

    With ``typed_pair``, a typed handler of that pair's event: it gets the payload (a dict).
    """

    def handler(ctx: object, data: Any) -> object:
        if typed_pair is not None:
            payload = data
            data = types.SimpleNamespace(domain=typed_pair[0], action=typed_pair[1], raw_params=None)
            seen: tuple[Any, ...] = (number, ctx, "typed", data.domain, data.action, payload, side.depth)
        else:
            seen = (
                number,
                ctx,
                type(data) is side.module.Data,
                data.domain,
                data.action,
                data.raw_params,
                side.depth,
            )
        kind = effect[0]
        if kind == "register" and len(side.registrations) >= MAX_REGISTRATIONS:
            side.events.append((*seen, "registry full"))
        elif kind == "register":
            _, pair, target = effect
            target %= len(side.functions)
            side.register(pair[0], pair[1], target)
            side.events.append((*seen, "registered", pair, target))
        elif kind == "unregister":
            if side.registrations:
                index = effect[1] % len(side.registrations)
                side.events.append((*seen, "unregistered", index, side.unregister(index)))
            else:
                side.events.append((*seen, "nothing to unregister"))
        elif kind == "dispatch":
            _, method, pair, catch = effect
            if side.depth >= MAX_DEPTH:
                side.events.append((*seen, "depth limit"))
            else:
                side.events.append((*seen, "dispatching", method, pair))
                side.depth += 1
                try:
                    getattr(side.bus, method)(("nested", number), side.data(pair, data.raw_params))
                except Exception as exc:
                    if not catch:
                        raise
                    side.events.append((number, "caught", side.describe(exc)))
                finally:
                    side.depth -= 1
        elif kind == "snapshot":
            side.events.append((*seen, "snapshot", side.snapshot(data.domain, data.action)))
        else:
            side.events.append(seen)
        outcome = ending[0]
        if outcome == "return":
            return ending[1]
        if outcome == "coroutine":
            return _coroutine(side, number)
        failure: BaseException = (
            Failure(f"handler {number} failed") if outcome == "raise" else Abort(f"handler {number} aborted")
        )
        side.raised.append(failure)
        raise failure

    handler.__qualname__ = f"handler_{number}" if typed_pair is None else f"typed_handler_{number}"
    return handler


def _stays_registered() -> bool:
    return False


async def _coroutine(side: Side, number: int) -> None:
    """What an async handler returns: call/publish must close it unrun, acall/apublish await it."""
    side.events.append((number, "awaited"))


# ---------------------------------------------------------------------------
# Bad arguments, each with the exception type every side must raise.

BAD_NAMES: list[tuple[object, type[Exception]]] = [
    ("", ValueError),
    (None, TypeError),
    (7, TypeError),
    (b"users", TypeError),
    (WeirdStr(""), ValueError),
    (("users",), TypeError),
]
BAD_HANDLERS: list[object] = [None, 7, "handler", b"x", object()]


class DifferentialBus(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.sides = {"c": Side("eventbus._core"), "py": Side("eventbus._core_py")}

    # -- helpers ----------------------------------------------------------

    def both(self, action: Callable[[Side], Any]) -> Any:
        """Run ``action`` on each side, compare outcomes and everything observable."""
        outcomes = {}
        for name, side in self.sides.items():
            try:
                outcomes[name] = ("ok", action(side))
            except BaseException as exc:  # noqa: BLE001
                outcomes[name] = ("error", side.describe(exc))
        assert outcomes["c"] == outcomes["py"]
        return outcomes["c"]

    def compare_observations(self) -> None:
        c, py = self.sides["c"], self.sides["py"]
        assert c.events == py.events
        assert c.log() == py.log()
        assert [(r[0], r[1], r[3], r[5]) for r in c.registrations] == [
            (r[0], r[1], r[3], r[5]) for r in py.registrations
        ]

    # -- rules ------------------------------------------------------------

    @initialize(specs=st.lists(st.tuples(effects, endings), min_size=1, max_size=4))
    def make_handlers(self, specs: list[tuple[Effect, Ending]]) -> None:
        for spec in specs:
            self._add_handler(*spec)

    @rule(effect=effects, ending=endings)
    def add_handler(self, effect: Effect, ending: Ending) -> None:
        self._add_handler(effect, ending)

    def _add_handler(self, effect: Effect, ending: Ending) -> None:
        for side in self.sides.values():
            number = len(side.functions)
            function = make_handler(side, number, effect, ending)
            side.functions.append(function)
            side.specs.append((effect, ending))
            side.pair_id[function] = number

    @precondition(lambda self: len(self.sides["c"].registrations) < MAX_REGISTRATIONS)
    @rule(
        pair=st.sampled_from(PAIRS),
        which=st.integers(0, 30),
        subclass=st.booleans(),
        decorator=st.booleans(),
        kind=st.sampled_from(("plain", "typed", "weak")),
    )
    def register(self, pair: tuple[str, str], which: int, subclass: bool, decorator: bool, kind: str) -> None:
        domain: str = pair[0]
        if subclass:
            # WeirdStr("users") compares unequal to everything, even itself: only a
            # plain copy makes the registration findable.
            domain = WeirdStr(pair[0])

        def go(side: Side) -> object:
            function_id = which % len(side.functions)
            if not decorator or kind == "weak":
                return callable(side.register(domain, pair[1], function_id, kind))
            # on() returns the function unchanged and no unregister: in the model
            # that registration's unregister removes nothing, and it stays live.
            if kind == "typed":
                function = side.typed_function(function_id, pair)
                returned = side.bus.on(side.events_by_pair[pair])(function)
            else:
                function = side.functions[function_id]
                returned = side.bus.on(domain, pair[1])(function)
            side.registrations.append([pair, function_id, _stays_registered, True, function, kind])
            return returned is function

        self.both(go)
        self.compare_observations()

    @rule(
        argument=st.sampled_from(("domain", "action", "handler")),
        bad=st.integers(0, 100),
        decorator=st.booleans(),
    )
    def register_bad(self, argument: str, bad: int, decorator: bool) -> None:
        before = {n: [s.snapshot(*p) for p in PAIRS] for n, s in self.sides.items()}
        args: list[object] = ["users", "created", None]
        expected: type[Exception] = TypeError
        if argument == "handler":
            args[2] = BAD_HANDLERS[bad % len(BAD_HANDLERS)]
        else:
            value, expected = BAD_NAMES[bad % len(BAD_NAMES)]
            args[0 if argument == "domain" else 1] = value

        def go(side: Side) -> object:
            handler = args[2] if argument == "handler" else side.functions[0]
            if decorator:
                return side.bus.on(args[0], args[1])(handler)
            return side.bus.register(args[0], args[1], handler)

        outcome = self.both(go)
        assert outcome[0] == "error" and outcome[1][0] == expected.__name__, outcome
        after = {n: [s.snapshot(*p) for p in PAIRS] for n, s in self.sides.items()}
        assert after == before

    @precondition(lambda self: self.sides["c"].registrations)
    @rule(index=st.integers(0, 100))
    def unregister(self, index: int) -> None:
        def go(side: Side) -> bool:
            return side.unregister(index % len(side.registrations))

        self.both(go)
        self.compare_observations()

    @precondition(lambda self: self.sides["c"].registrations)
    @rule(index=st.integers(0, 100), as_event=st.booleans())
    def unregister_by_handler(self, index: int, as_event: bool) -> None:
        """bus.unregister(pair_or_event, handler): the earliest live equal registration goes."""

        def go(side: Side) -> tuple[bool, int | None]:
            chosen = side.registrations[index % len(side.registrations)]
            pair, handler = chosen[0], side.held(chosen)
            if handler is None:  # a weak one whose function is gone
                return (False, None)
            earliest = next(
                (
                    i
                    for i, r in enumerate(side.registrations)
                    if r[0] == pair and r[3] and side.held(r) is handler
                ),
                None,
            )
            if as_event:
                removed = side.bus.unregister(side.events_by_pair[pair], handler)
            else:
                removed = side.bus.unregister(pair[0], pair[1], handler)
            if earliest is not None:
                side.registrations[earliest][3] = False
            return (removed, earliest)

        outcome = self.both(go)
        assert outcome[0] == "ok", outcome
        removed, earliest = outcome[1]
        assert removed is (earliest is not None)  # against the model, not only the other side
        self.compare_observations()

    @precondition(lambda self: self.sides["c"].weak_holders)
    @rule(index=st.integers(0, 100))
    def collect_weak(self, index: int) -> None:
        """A weak registration's function dies: its registration goes with it."""

        def go(side: Side) -> tuple[int, bool]:
            # The failures this side kept hold tracebacks, and a traceback through the pure
            # twin's frame keeps its locals (the handler among them) alive where a Cython
            # frame keeps none: drop them, so the function's life is the holder's alone.
            for failure in side.raised:
                failure.__traceback__ = None
            position = sorted(side.weak_holders)[index % len(side.weak_holders)]
            del side.weak_holders[position]  # the last reference
            registration = side.registrations[position]
            dead = registration[4]() is None
            if dead:
                registration[3] = False
            return (position, dead)

        outcome = self.both(go)
        assert outcome[0] == "ok", outcome
        self.compare_observations()  # and the invariant: registered exactly while alive

    @precondition(lambda self: self.sides["c"].registrations)
    @rule(index=st.integers(0, 100))
    def unregister_twice(self, index: int) -> None:
        def go(side: Side) -> tuple[bool, bool]:
            position = index % len(side.registrations)
            return side.unregister(position), side.unregister(position)

        outcome = self.both(go)
        assert outcome[1][1] is False  # the second call never removes anything
        self.compare_observations()

    @rule(
        method=st.sampled_from(("call", "publish", "acall", "apublish")),
        pair=st.sampled_from(PAIRS),
        payload=st.sampled_from(PAYLOADS),
        ctx=st.sampled_from((None, 0, "ctx", ("a", 1))),
    )
    def dispatch(self, method: str, pair: tuple[str, str], payload: bytes | None, ctx: object) -> None:
        expected = {name: side.expected(pair) for name, side in self.sides.items()}
        to_run = self.sides["c"].expected_to_run(pair, payload)
        records_before = len(self.sides["c"].records)
        for side in self.sides.values():
            side.events.append(("dispatch", method, pair, payload))
        outcome = self.both(lambda side: side.dispatch(method, ctx, side.data(pair, payload)))
        self.compare_observations()
        # Against the model: the outermost dispatch ran exactly its snapshot, in order.
        c = self.sides["c"]
        start = max(i for i, e in enumerate(c.events) if e == ("dispatch", method, pair, payload))
        outer = [e[0] for e in c.events[start + 1 :] if len(e) > 6 and e[6] == 0 and isinstance(e[0], int)]
        ran = expected["c"]
        fail_fast = method in ("call", "acall")
        if outcome[1][0] == "raised" and (fail_fast or outcome[1][1][0] == "Abort"):
            assert outer == list(to_run[: len(outer)])  # stopped early: a prefix
        else:
            assert outer == list(to_run)
            if not fail_fast and outcome[1][0] == "raised":
                name, message, _, members = outcome[1][1]
                assert name == "ExceptionGroup"
                assert message == (
                    f"{len(members)} of {len(ran)} handlers failed for event {pair[0]!r}/{pair[1]!r}"
                )
        # Logging: one ERROR record per failure of this publish, with that very
        # exception, and nothing for a call (when no handler dispatched again).
        if not any(len(e) > 7 and e[7] == "dispatching" for e in c.events[start + 1 :]):
            logged = c.log()[records_before:]
            if not fail_fast and outcome[1][0] == "raised" and outcome[1][1][0] == "ExceptionGroup":
                assert [r[2] for r in logged] == list(outcome[1][1][3])
                assert all(r[0] == "ERROR" and f"{pair[0]!r}/{pair[1]!r}" in r[1] for r in logged)
            elif fail_fast or outcome[1] == ("returned", None):
                assert logged == []

    @rule(pair=st.sampled_from(PAIRS), subclass=st.booleans())
    def snapshot(self, pair: tuple[str, str], subclass: bool) -> None:
        domain = WeirdStr(pair[0]) if subclass else pair[0]
        self.both(lambda side: side.snapshot(domain, pair[1]))

    @rule(
        method=st.sampled_from(("call", "publish", "acall", "apublish")),
        bad=st.sampled_from(("none", "str", "tuple", "other")),
    )
    def dispatch_bad(self, method: str, bad: str) -> None:
        def go(side: Side) -> object:
            if bad == "other":
                other = self.sides["py" if side is self.sides["c"] else "c"]
                data: object = other.data(PAIRS[0], None)
            else:
                data = {"none": None, "str": "users", "tuple": ("users", "created")}[bad]
            result = getattr(side.bus, method)(None, data)
            if method.startswith("a"):
                return asyncio.run(result)
            return result

        events_before = [list(s.events) for s in self.sides.values()]
        outcome = self.both(go)
        assert outcome[0] == "error" and outcome[1][0] == "TypeError"
        assert [list(s.events) for s in self.sides.values()] == events_before

    # -- invariants -------------------------------------------------------

    @invariant()
    def snapshots_agree_with_the_model(self) -> None:
        for pair in PAIRS:
            snapshots = {name: side.snapshot(*pair) for name, side in self.sides.items()}
            assert snapshots["c"] == snapshots["py"]
            for name, side in self.sides.items():
                assert snapshots[name] == side.expected(pair), (name, pair)


DifferentialBus.TestCase.settings = PROFILE
TestDifferentialBus = DifferentialBus.TestCase


# ---------------------------------------------------------------------------
# The codec, through both Data classes.

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=5), children, max_size=4),
    ),
    max_leaves=20,
)


unencodable = st.one_of(
    st.just(float("nan")),
    st.just(float("inf")),
    st.just(-float("inf")),
    st.just({1: "a"}),
    st.just({("a",): 1}),
    st.just({1, 2}),
    st.just(b"bytes"),
    st.just(bytearray(b"x")),
    st.just(object()),
    st.just(1j),
    st.just(range(3)),
)
maybe_bad_values = st.recursive(
    st.one_of(json_scalars, unencodable),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.text(max_size=3), children, max_size=3),
    ),
    max_leaves=8,
)


@dataclasses.dataclass
class Line:
    sku: str
    quantity: int
    price: float


@dataclasses.dataclass
class Order:
    id: int
    lines: list[Line]
    notes: dict[str, str]
    coupon: str | None = None
    paid: bool = False


lines = st.builds(
    Line,
    sku=st.text(max_size=6),
    quantity=st.integers(-(2**40), 2**40),
    price=st.floats(allow_nan=False, allow_infinity=False),
)
orders = st.builds(
    Order,
    id=st.integers(),
    lines=st.lists(lines, max_size=3),
    notes=st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=3),
    coupon=st.none() | st.text(max_size=4),
    paid=st.booleans(),
)

DECODE_TARGETS: list[object] = [
    dict,
    list,
    str,
    int,
    float,
    bool,
    Order,
    Line,
    list[int],
    dict[str, int],
    int | None,
    list[Line],
    set,
    tuple,
]


def _both_outcomes(action: Callable[[ModuleType], object]) -> dict[str, tuple[Any, ...]]:
    outcomes: dict[str, tuple[Any, ...]] = {}
    for name, module_name in (("c", "eventbus._core"), ("py", "eventbus._core_py")):
        module = _load(module_name)
        try:
            outcomes[name] = ("ok", action(module))
        except Exception as exc:
            cause = exc.__cause__
            outcomes[name] = ("error", type(exc).__name__, str(exc), type(cause).__name__ if cause else None)
    return outcomes


def _same_value(a: object, b: object) -> bool:
    """Equality that also tells 1 from 1.0 and True from 1 and -0.0 from 0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))  # type: ignore[arg-type]
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))  # type: ignore[arg-type, call-overload]
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same_value(a[k], b[k]) for k in a)  # type: ignore[call-overload, index]
    if dataclasses.is_dataclass(a):
        return _same_value(dataclasses.asdict(a), dataclasses.asdict(b))  # type: ignore[arg-type, call-overload]
    return a == b


def _to_plain_json(value: object) -> object:
    """What json.loads gives back for ``value``: tuples become lists."""
    if isinstance(value, (list, tuple)):
        return [_to_plain_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_plain_json(v) for k, v in value.items()}
    return value


@PROFILE
@given(payload=json_values, maker=st.sampled_from(("new_data", "must_data")))
def test_codec_round_trips_identically(payload: object, maker: str) -> None:
    made = _both_outcomes(lambda m: getattr(m, maker)("users", "created", payload))
    assert made["c"][0] == made["py"][0] == "ok"
    c_data, py_data = made["c"][1], made["py"][1]
    assert type(c_data.raw_params) is bytes or payload is None
    assert c_data.raw_params == py_data.raw_params
    c_value, py_value = decode(c_data), decode(py_data)
    assert _same_value(c_value, py_value)
    if payload is not None:
        assert _same_value(c_value, _to_plain_json(payload))


@PROFILE
@given(payload=maybe_bad_values)
def test_codec_errors_identically(payload: object) -> None:
    made = _both_outcomes(lambda m: m.new_data("users", "created", payload).raw_params)
    must = _both_outcomes(lambda m: m.must_data("users", "created", payload).raw_params)
    assert made["c"] == made["py"] == must["c"] == must["py"]
    if made["c"][0] == "error":
        assert made["c"][1] == "EncodeError"


@PROFILE
@given(order=orders, target=st.sampled_from(DECODE_TARGETS))
def test_codec_dataclasses_identically(order: Order, target: object) -> None:
    made = _both_outcomes(lambda m: m.new_data("shop", "ordered", order))
    assert made["c"][0] == made["py"][0] == "ok"
    c_data, py_data = made["c"][1], made["py"][1]
    assert c_data.raw_params == py_data.raw_params
    c_outcome = _both_outcomes(lambda m: decode(c_data, Order))
    assert c_outcome["c"][0] == "ok" and _same_value(c_outcome["c"][1], order)
    decoded = {
        name: _both_outcomes(lambda m, d=d: decode(d, target))["c"]  # type: ignore[misc]
        for name, d in (("c", c_data), ("py", py_data))
    }
    if decoded["c"][0] == "ok":
        assert _same_value(decoded["c"][1], decoded["py"][1])
    else:
        assert decoded["c"] == decoded["py"]
        assert decoded["c"][1] in ("DecodeError", "TypeError")


@PROFILE
@given(
    raw=st.one_of(
        st.binary(max_size=24),
        json_values.map(lambda v: repr(v).encode()),
        st.sampled_from([b"{", b"[1,", b'{"id":}', b"nul", b"NaN", b"\xff\xfe", b'"\\ud800"', b"1e999"]),
    ),
    target=st.sampled_from([None, *DECODE_TARGETS]),
)
def test_decode_raw_bytes_identically(raw: bytes, target: object) -> None:
    def go(m: ModuleType) -> object:
        data = m.Data("users", "created", raw)
        return decode(data) if target is None else decode(data, target)

    outcomes = _both_outcomes(go)
    if outcomes["c"][0] == "ok":
        assert outcomes["py"][0] == "ok" and _same_value(outcomes["c"][1], outcomes["py"][1])
    else:
        assert outcomes["c"] == outcomes["py"]
        assert outcomes["c"][1] in ("DecodeError", "TypeError")


def test_codec_errors_are_the_documented_ones() -> None:
    """Guards the fuzzing above against comparing two wrong answers."""
    for name in ("c", "py"):
        module = _load({"c": "eventbus._core", "py": "eventbus._core_py"}[name])
        with pytest.raises(EncodeError) as nan:
            module.new_data("a", "b", {"x": [1, float("nan")]})
        assert isinstance(nan.value.__cause__, ValueError)
        with pytest.raises(EncodeError, match="set"):
            module.new_data("a", "b", {1, 2})
        with pytest.raises(DecodeError, match="'a'/'b'"):
            decode(module.Data("a", "b", b"{"), dict)
