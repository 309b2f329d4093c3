"""Every codec engine against the reference, on every input: same bytes, same values, same errors.

The compiled engine (``eventbus._codec._fastcodec``) must be indistinguishable from the stdlib codec it
falls back to: identical payload bytes (Data equality and hashing depend on them), identical
decoded values (types included), identical exceptions (type, message, type of the cause), through
both implementations' ``must_data``.  Hostile inputs included: non-finite and huge numbers, lone
surrogates and control characters, non-str keys, subclasses, enums, deep nesting, invalid and
non-strict JSON, whitespace, escapes, and dataclasses whose fields do not fit or refuse.

The ``ci`` profile runs in CI; ``EVENTBUS_HYPOTHESIS_PROFILE=long`` is the long run by hand.
Collected only where the compiled engine is built (conftest), like the other compare-the-twins tests.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import typing
from collections.abc import Callable
from typing import Any

import pytest
from helpers_codec import outcome, typed
from helpers_core import hypothesis_profile, run_workers, tiny_switch_interval
from hypothesis import given
from hypothesis import strategies as st

from eventbus import _core, _core_py  # pyright: ignore[reportPrivateUsage]  # the implementations themselves
from eventbus._codec import engine as _engine

PROFILE = hypothesis_profile()

REFERENCE_ENCODE = _engine.encode_params_on("python")
FAST_ENCODE = _engine.encode_params_on("cython")
REFERENCE_DECODE = _engine.decode_on("python")
FAST_DECODE = _engine.decode_on("cython")


class Color(enum.Enum):
    RED = "red"
    PAIR = (1, 2)


class Level(enum.IntEnum):
    LOW = 1


class Text(str):
    pass


class Number(int):
    pass


@dataclasses.dataclass
class User:
    id: int
    email: str
    name: str


@dataclasses.dataclass
class Mixed:
    flag: bool
    ratio: float
    extra: Any
    tags: list  # type: ignore[type-arg]
    meta: dict  # type: ignore[type-arg]
    note: str | None = None
    count: int = 3


@dataclasses.dataclass(kw_only=True)
class KeywordOnly:
    b: int
    a: str


@dataclasses.dataclass
class Refusing:
    value: int

    def __post_init__(self) -> None:
        if self.value < 0:
            raise ValueError(f"negative: {self.value}")


@dataclasses.dataclass
class Nested:
    user: User
    items: list[int]


@dataclasses.dataclass
class Unset:
    x: int
    later: int = dataclasses.field(init=False)


# ---------------------------------------------------------------------------
# Encoding

_text = st.text(st.characters(codec=None), max_size=12) | st.sampled_from(
    ["", "\ud800", "a\udfffb", '"', "\\", "\n\r\t\b\f", "\x00\x1f\x7f", "é✓🎉", "\u2028"]
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**63 - 1, -(2**63), 2**63, -(2**63) - 1, 10**30, 0, -0])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([1e16, 1e-7, 1.5e300, -0.0, 5e-324, 1e22, 123456789012345678.0])
    | _text
    | st.sampled_from([Color.RED, Color.PAIR, Level.LOW, Text("sub"), Number(5), {1, 2}, b"bytes", object])
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keys = _text | st.sampled_from([1, None, 2.5, Text("k"), ("t",)])
    return (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(keys, children, max_size=4)
        | st.builds(User, st.integers(), _text, _text)
        | st.builds(Mixed, st.booleans(), st.floats(), children, st.lists(children, max_size=2), st.just({}))
    )


_payloads = st.recursive(_scalars, _containers, max_leaves=12) | st.sampled_from([Unset(1)])


@PROFILE
@given(_payloads)
def test_encoders_write_the_same_bytes_and_raise_the_same_errors(payload: object) -> None:
    reference = outcome(lambda: REFERENCE_ENCODE(payload, "d", "a"))
    assert outcome(lambda: FAST_ENCODE(payload, "d", "a")) == reference
    # and through each implementation's must_data (the compiled one runs the engine)
    must_data = _core._must_data_with(FAST_ENCODE)  # pyright: ignore[reportPrivateUsage]
    assert outcome(lambda: must_data("d", "a", payload).raw_params) == reference
    assert outcome(lambda: _core_py.must_data("d", "a", payload).raw_params) == reference


def test_deep_and_self_containing_payloads() -> None:
    deep: list[Any] = []
    for _ in range(3000):
        deep = [deep]
    looping: list[Any] = []
    looping.append(looping)
    for payload in (deep, looping, {"a": deep}):
        assert outcome(lambda: FAST_ENCODE(payload, "d", "a")) == outcome(
            lambda: REFERENCE_ENCODE(payload, "d", "a")
        )


# ---------------------------------------------------------------------------
# Decoding

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children, max_size=4),
    max_leaves=12,
)


def _json_texts(value: object) -> st.SearchStrategy[bytes]:
    try:
        compact = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", "surrogatepass"
        )
    except (ValueError, UnicodeEncodeError):
        compact = b"null"
    spaced = json.dumps(value, ensure_ascii=True, indent=1).encode()
    return st.sampled_from([compact, spaced, b" " + compact, compact + b"\n"])


def _mutated(raw: bytes) -> st.SearchStrategy[bytes]:
    return st.integers(0, max(len(raw) - 1, 0)).flatmap(
        lambda at: st.binary(max_size=2).map(lambda junk: raw[:at] + junk + raw[at + 1 :])
    )


_raws = (
    _json_values.flatmap(_json_texts)
    | _json_values.flatmap(_json_texts).flatmap(_mutated)
    | st.sampled_from(
        [
            b"NaN",
            b"Infinity",
            b"-Infinity",
            b"1e999",
            b"-1e400",
            b"1E+2",
            b"-0",
            b"-0.0",
            b"01",
            b"1.",
            b".5",
            b"+1",
            b"1e",
            b"9" * 19,
            b"9" * 18,
            b"-" + b"9" * 18,
            b"1" * 5000,
            b'"\\ud800"',
            b'"\\u00e9"',
            b'"\x01"',
            b'"\xff"',
            b'"\xed\xa0\x80"',
            b"\xef\xbb\xbf{}",
            b'{"a":1,"a":2}',
            b"[1,]",
            b"{,}",
            b'{"a"}',
            b"",
            b"tru",
            b"nul",
            b"[" * 100 + b"]" * 100,
            b"\x00\x00\x00[",
            b'{"id":1,"email":"e","name":"n"}',
            b'{"id":true,"email":"e","name":"n"}',
            b'{"id":1.0,"email":"e","name":"n"}',
            b'{"id":1,"email":"e"}',
            b'{"id":1,"email":null,"name":"n"}',
            b'{"value":-1}',
            b'{"value":1}',
            b'{"b":1,"a":"x"}',
            b'{"user":{"id":1,"email":"e","name":"n"},"items":[1]}',
            b'{"flag":true,"ratio":1,"extra":[],"tags":[],"meta":{}}',
            b'{"flag":true,"ratio":1.5,"extra":null,"tags":[1],"meta":{"k":2},"note":null,"count":4}',
            b'{"x":1}',
            b'{"x":1,"later":2}',
            b'{"id":1,"name":"refuse"}',
            b'{"id":1,"name":"n"}',
            b'{"id":1,"tags":[]}',
            b'{"name":"n","id":1,"name":"m"}',
        ]
    )
)
_targets = st.sampled_from(
    [
        None,
        typing.Any,
        int,
        str,
        float,
        bool,
        dict,
        list,
        type(None),
        list[int],
        dict[str, float],
        int | None,
        User,
        Mixed,
        KeywordOnly,
        Refusing,
        Nested,
        Unset,
        Color,
        tuple[int, ...],
        "FrozenUser",
        "SlottedUser",
        "Watched",
        "WithFactory",
        "WithInitVar",
        "ReplacedInit",
    ]
)
NO_TARGET = object()


@PROFILE
@given(_raws, _targets | st.just(NO_TARGET))
def test_decoders_give_the_same_values_and_errors(raw: bytes, target: object) -> None:
    if isinstance(target, str):  # the dataclasses defined further down
        target = globals()[target]
    for impl in (_core, _core_py):
        data = impl.Data("d", "a", raw)
        if target is NO_TARGET:
            assert outcome(lambda: FAST_DECODE(data)) == outcome(lambda: REFERENCE_DECODE(data))
        else:
            assert outcome(lambda: FAST_DECODE(data, target)) == outcome(
                lambda: REFERENCE_DECODE(data, target)
            )


@pytest.mark.parametrize("target", [User, Mixed, Refusing, KeywordOnly, None, int])
def test_payload_less_events_and_non_events(target: object) -> None:
    for data in (_core.Data("d", "a"), _core_py.Data("d", "a"), object(), None):
        assert outcome(lambda: FAST_DECODE(data, target)) == outcome(lambda: REFERENCE_DECODE(data, target))


_plain_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**18) + 1, 10**18 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(blacklist_categories=["Cs"]), max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(st.characters(blacklist_categories=["Cs"]), max_size=4), children, max_size=4
        )
    ),
    max_leaves=12,
)


@PROFILE
@given(_plain_json.filter(lambda value: value is not None))
def test_the_engine_itself_handles_json_native_payloads(payload: object) -> None:
    """Not a fallback in disguise: the engine writes and reads these itself, as the reference does."""
    fast = _engine.available()
    assert fast is not None
    written = fast.encoded_here(payload)
    assert written is not None
    assert written == REFERENCE_ENCODE(payload, "d", "a")
    handled, value = fast.parsed_here(written)
    if b"\\" not in written:  # escapes are the reference's to read
        assert handled
        assert typed(value) == typed(json.loads(written))


def test_what_the_engine_reads_itself_it_reads_alike() -> None:
    """A direct check that the fast path is taken (and right) for the common case."""
    user = User(7, 'a"\\\n\x01é', "Ann")
    raw = FAST_ENCODE(user, "d", "a")
    assert raw == REFERENCE_ENCODE(user, "d", "a")
    assert raw is not None
    data = _core.Data("d", "a", raw)
    assert FAST_DECODE(data, User) == REFERENCE_DECODE(data, User) == user
    refused = _core.Data("d", "a", b'{"value":-5}')
    assert outcome(lambda: FAST_DECODE(refused, Refusing)) == outcome(
        lambda: REFERENCE_DECODE(refused, Refusing)
    )
    assert outcome(lambda: FAST_DECODE(refused, Refusing))[1] == (
        __import__("eventbus").DecodeError,
        "cannot decode event 'd'/'a' into Refusing: Refusing() refused the value: ValueError: negative: -5",
        ValueError,
    )


@pytest.mark.parametrize("size", [0, 100, 511, 512, 513, 5000, 100_000])
def test_payloads_past_the_first_buffer(size: int) -> None:
    """The writer starts in a fixed buffer and moves to the heap as it grows: same bytes."""
    payload = {
        "text": "é\n" * size,
        "items": [User(index, "x" * (index % 7), '"') for index in range(size // 50)],
    }
    fast = _engine.available()
    assert fast is not None
    written = fast.encoded_here(payload)
    assert written is not None
    assert written == REFERENCE_ENCODE(payload, "d", "a")
    data = _core.Data("d", "a", written)
    assert outcome(lambda: FAST_DECODE(data)) == outcome(lambda: REFERENCE_DECODE(data))


# ---------------------------------------------------------------------------
# Dataclasses built without running their generated __init__ (the engine's ASSIGN plans)


@dataclasses.dataclass(frozen=True)
class FrozenUser:
    id: int
    email: str
    name: str = "?"


@dataclasses.dataclass(slots=True)
class SlottedUser:
    id: int
    name: str


@dataclasses.dataclass
class Watched:
    """A dataclass whose __setattr__ runs for every field its __init__ sets (and may refuse)."""

    id: int
    name: str

    def __setattr__(self, name: str, value: object) -> None:
        if value == "refuse":
            raise ValueError(f"{name} refused")
        object.__setattr__(self, "seen", [*getattr(self, "seen", []), name])
        object.__setattr__(self, name, value)


@dataclasses.dataclass
class WithFactory:
    id: int
    tags: list = dataclasses.field(default_factory=list)  # type: ignore[type-arg]


@dataclasses.dataclass
class WithInitVar:
    id: int
    scale: dataclasses.InitVar[int] = 1


def _custom_init(self: Any, id: int, name: str) -> None:  # noqa: A002  # a field's name
    self.id = id * 2
    self.name = name.upper()


@dataclasses.dataclass
class ReplacedInit:
    id: int
    name: str


ReplacedInit.__init__ = _custom_init  # type: ignore[method-assign]


def _both(raw: bytes, target: object) -> tuple[tuple[str, object], tuple[str, object]]:
    data = _core.Data("d", "a", raw)
    fast = outcome(lambda: FAST_DECODE(data, target))
    return fast, outcome(lambda: REFERENCE_DECODE(data, target))


def test_which_dataclasses_are_built_without_their_init() -> None:
    from eventbus._codec import plans

    for built in (User, FrozenUser, SlottedUser, Watched, KeywordOnly, Mixed):
        assert plans.direct_init(built) is not None, built
    for called in (Refusing, WithFactory, WithInitVar, ReplacedInit, Unset):
        assert plans.direct_init(called) is None, called


@pytest.mark.parametrize(
    ("target", "raw"),
    [
        (FrozenUser, b'{"id":1,"email":"e","name":"n"}'),
        (SlottedUser, b'{"id":1,"name":"n"}'),
        (Watched, b'{"name":"n","id":1}'),
        (Watched, b'{"id":1,"name":"refuse"}'),
        (WithFactory, b'{"id":1,"tags":[2]}'),
        (WithInitVar, b'{"id":1}'),
        (ReplacedInit, b'{"id":1,"name":"n"}'),
        (KeywordOnly, b'{"a":"x","b":2}'),
    ],
)
def test_dataclasses_built_alike_on_both_engines(target: Any, raw: bytes) -> None:
    fast, reference = _both(raw, target)
    assert fast == reference
    if fast[0] == "value":
        data = _core.Data("d", "a", raw)
        mine, theirs = FAST_DECODE(data, target), REFERENCE_DECODE(data, target)
        # the same attributes, set in the same order (vars() keeps it), through the same __setattr__
        assert [*getattr(mine, "__dict__", {})] == [*getattr(theirs, "__dict__", {})]
        assert getattr(mine, "seen", None) == getattr(theirs, "seen", None)
        if dataclasses.is_dataclass(target) and target.__dataclass_params__.frozen:  # type: ignore[union-attr]
            with pytest.raises(dataclasses.FrozenInstanceError):
                mine.id = 5


def test_a_class_changed_after_its_first_decode_is_called_again() -> None:
    """The engine checks on every decode that calling the class would still run the __init__ it
    verified: a replaced __init__ or __new__, or a changed closure, sends it back to the call."""

    @dataclasses.dataclass
    class Changing:
        id: int
        name: str

    @dataclasses.dataclass(frozen=True)
    class FrozenChanging:
        id: int

    raw = b'{"id":1,"name":"n"}'
    assert _both(raw, Changing)[0] == _both(raw, Changing)[1]  # the plan is made and cached
    Changing.__init__ = _custom_init  # type: ignore[method-assign]
    fast, reference = _both(raw, Changing)
    assert fast == reference
    data = _core.Data("d", "a", raw)
    assert (FAST_DECODE(data, Changing).id, FAST_DECODE(data, Changing).name) == (2, "N")

    def new(cls: type, *args: object, **kwargs: object) -> object:
        instance: object = object.__new__(cls)
        object.__setattr__(instance, "made_by", "new")
        return instance

    Changing.__new__ = new  # type: ignore[assignment]
    assert FAST_DECODE(data, Changing).made_by == REFERENCE_DECODE(data, Changing).made_by == "new"

    frozen_raw = b'{"id":3}'
    assert _both(frozen_raw, FrozenChanging)[0] == _both(frozen_raw, FrozenChanging)[1]
    calls: list[str] = []

    class Recording:  # read as the class: Recording.__setattr__(instance, name, value)
        def __setattr__(self, name: str, value: object) -> None:
            calls.append(name)
            object.__setattr__(self, name, value)

    cell = FrozenChanging.__init__.__closure__[0]  # type: ignore[index]  # __dataclass_builtins_object__
    assert cell.cell_contents is object
    cell.cell_contents = Recording
    try:
        fast, reference = _both(frozen_raw, FrozenChanging)
    finally:
        cell.cell_contents = object
    assert fast == reference
    assert calls == ["id", "id"]  # both engines ran the __init__, with what the closure holds now


def test_first_decodes_from_many_threads_build_alike() -> None:
    """Plans are built on first use without a lock: many threads at once get equal results."""
    import threading

    results: list[object] = []
    barrier = threading.Barrier(8)

    @dataclasses.dataclass(frozen=True)
    class Fresh:
        id: int
        name: str

    data = _core.Data("d", "a", b'{"id":1,"name":"n"}')

    def decode_once() -> None:
        barrier.wait()
        results.append(FAST_DECODE(data, Fresh))

    threads = [threading.Thread(target=decode_once) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [Fresh(1, "n")] * 8


def test_threads_first_asking_for_the_compiled_decode_at_once_make_one_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The compiled engine's decoding state is one per process, and a new one replaces the one
    other threads may be decoding with: threads that first ask for it at once make it once."""
    fast = _engine.available()
    assert fast is not None
    made: list[object] = []
    real = fast.make_decode

    def counting(*args: object) -> object:
        made.append(args)
        return real(*args)

    monkeypatch.setattr(fast, "make_decode", counting)
    monkeypatch.setattr(_engine, "_decoders", {})
    count = 8
    found: list[object] = []

    def first_ask() -> None:
        found.append(_engine.decode_on("cython"))

    with tiny_switch_interval():
        run_workers([first_ask] * count)
    assert found == [FAST_DECODE] * count
    assert len(made) == 1


def test_first_decodes_of_both_cores_data_from_many_threads_agree_and_leak_nothing() -> None:
    """A fresh compiled decoding state learns the cores' Data classes on its first decodes, without
    a lock: threads racing on both cores' Data at once all decode alike, each class is held once
    (a thread that loses a race gives its reference back) and released with the state."""
    import sys
    import sysconfig

    from eventbus._codec import decode as reference
    from eventbus._codec import plans

    fast = _engine.available()
    assert fast is not None

    def fresh_state() -> Callable[..., Any]:
        # The engine's one state replaced: the old one (and what it learnt) is freed.
        return fast.make_decode(reference.decode, plans, reference.MISSING, fresh=True)  # type: ignore[no-any-return]

    @dataclasses.dataclass(frozen=True)
    class Fresh:
        id: int
        name: str

    raw = b'{"id":1,"name":"n"}'
    datas = (_core.Data("d", "a", raw), _core_py.Data("d", "a", raw))
    decode = fresh_state()
    assert decode is FAST_DECODE  # one function, reading the state of the moment
    before = [sys.getrefcount(impl.Data) for impl in (_core, _core_py)]
    count = 8
    results: list[object] = []

    def first_decodes(first: object, second: object) -> None:
        for data in (first, second):
            results.append((decode(data), decode(data, Fresh)))

    # Half the threads start with the compiled core's Data, half with the pure one's.
    run_workers([functools.partial(first_decodes, *order) for order in (datas, datas[::-1]) * (count // 2)])
    assert results == [({"id": 1, "name": "n"}, Fresh(1, "n"))] * 2 * count
    held = [sys.getrefcount(impl.Data) - was for impl, was in zip((_core, _core_py), before, strict=True)]
    fresh_state()
    after = [sys.getrefcount(impl.Data) for impl in (_core, _core_py)]
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        # Free-threaded 3.13 makes every class immortal once a thread starts: its reference
        # count stays fixed and says nothing (what the threads decoded is checked above).
        return

    def counted(kind: type) -> bool:
        # 3.13 makes the compiled core's static Data type immortal: its count stays fixed.
        was = sys.getrefcount(kind)
        holder = [kind]
        return sys.getrefcount(holder[0]) != was

    # Learnt once each (the compiled Data also by its raw_params reader), then all given back.
    expected = [2 if counted(_core.Data) else 0, 1]
    assert held == expected
    assert after == before


# ---------------------------------------------------------------------------
# Reads that run code: the compiled engine leaves them to the reference


@dataclasses.dataclass
class Inner:
    x: int


@dataclasses.dataclass
class Outer:
    first: Inner
    second: int


def _reading(log: list[str], name: str, values: Any) -> property:
    """A property for a field, logging each read and giving the next value each time."""

    def read(self: object) -> object:
        log.append(name)
        return next(values)

    return property(read)


def test_fields_read_by_code_are_read_as_the_reference_reads_them() -> None:
    """A field read through a property: the reference reads every field of a dataclass first and
    converts after (Outer.first, Outer.second, then Inner.x); the engine must not read in its own
    order, nor read a field the reference reads again: same bytes, same reads."""
    import itertools

    outcomes = []
    for encode in (REFERENCE_ENCODE, FAST_ENCODE):
        log: list[str] = []
        inner, outer = Inner(0), Outer(Inner(0), 0)
        saved = (Inner.__dict__.get("x"), Outer.__dict__.get("second"))
        Inner.x = _reading(log, "Inner.x", itertools.count(10))  # type: ignore[assignment]
        Outer.second = _reading(log, "Outer.second", itertools.count(20))  # type: ignore[assignment]
        try:
            object.__setattr__(outer, "first", inner)
            outcomes.append((encode(outer, "d", "a"), encode({"a": inner, "b": [outer]}, "d", "a"), log))
        finally:
            for cls, name, value in ((Inner, "x", saved[0]), (Outer, "second", saved[1])):
                delattr(cls, name)
                if value is not None:
                    setattr(cls, name, value)
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == b'{"first":{"x":10},"second":20}'
    assert outcomes[0][1] == b'{"a":{"x":11},"b":[{"first":{"x":12},"second":21}]}'
    assert outcomes[0][2] == ["Outer.second", "Inner.x", "Inner.x", "Outer.second", "Inner.x"]
    # once the class reads plainly again, the engine writes it itself
    fast = _engine.available()
    assert fast is not None
    assert fast.encoded_here(Outer(Inner(1), 2)) == b'{"first":{"x":1},"second":2}'


class _Meddling(type):
    """A metaclass whose instances change the payload the first time anyone looks at them."""

    payload: typing.ClassVar[dict[str, object]] = {}

    def __getattribute__(cls, name: str) -> Any:
        if name == "__dataclass_fields__":
            type.__getattribute__(cls, "payload")["added"] = 1
        return type.__getattribute__(cls, name)


def test_a_payload_dict_changed_while_it_is_encoded_is_an_encode_error() -> None:
    for encode in (REFERENCE_ENCODE, FAST_ENCODE):

        @dataclasses.dataclass
        class Looked(metaclass=_Meddling):
            x: int

        @dataclasses.dataclass
        class Meddler:
            value: int

        payload: dict[str, object] = {"a": Looked(1), "b": 2}
        Looked.payload = payload  # type: ignore[misc]  # the metaclass's, set on its instance
        with pytest.raises(__import__("eventbus").EncodeError) as error:
            encode(payload, "d", "a")
        assert "dictionary changed size during iteration" in str(error.value)
        by_property: dict[str, object] = {}
        meddler = Meddler(1)

        def meddle(self: object) -> int:
            by_property["more"] = 1
            return 5

        Meddler.value = property(meddle)  # type: ignore[assignment]
        by_property.update(a=meddler, b=2)
        with pytest.raises(__import__("eventbus").EncodeError) as error:
            encode(by_property, "d", "a")
        assert "dictionary changed size during iteration" in str(error.value)


# A frozen dataclass whose field shadows the name its generated __init__ sets fields through: the
# class refuses every value (its __init__ calls the field's value), and so must the engine.
Shadowing = dataclasses.make_dataclass("Shadowing", [("__dataclass_builtins_object__", int)], frozen=True)
ShadowingToo = dataclasses.make_dataclass(
    "ShadowingToo", [("id", int), ("__dataclass_builtins_object__", int)], frozen=True
)


@pytest.mark.parametrize("target", [Shadowing, ShadowingToo], ids=lambda cls: cls.__name__)
def test_the_fast_path_never_builds_what_the_class_refuses(target: Any) -> None:
    from eventbus._codec import plans

    with pytest.raises(TypeError):
        target(*range(len(dataclasses.fields(target))))
    assert plans.direct_init(target) is None
    raw = b'{"id":1,"__dataclass_builtins_object__":2}'
    fast, reference = _both(raw, target)
    assert fast == reference
    assert fast[0] == "error"
    error = typing.cast("tuple[type, str, type]", fast[1])
    assert error[1].startswith(
        f"cannot decode event 'd'/'a' into {target.__name__}: {target.__name__}() refused"
    )


def test_many_payload_classes_met_in_turn_keep_their_own_fields() -> None:
    # The compiled engine caches what it knows of a class in a few slots shared by many
    # classes: each class, met in any order, is written and read as its own.
    classes = [dataclasses.make_dataclass(f"Kind{index}", [(f"f{index}", int)]) for index in range(300)]
    for _ in range(2):
        for index, cls in enumerate(reversed(classes)):
            payload = cls(index)
            raw = FAST_ENCODE(payload, "d", "a")
            assert (
                raw
                == REFERENCE_ENCODE(payload, "d", "a")
                == f'{{"{cls.__name__.replace("Kind", "f")}":{index}}}'.encode()
            )
            for impl in (_core, _core_py):
                data = impl.Data("d", "a", raw)
                assert FAST_DECODE(data, cls) == REFERENCE_DECODE(data, cls) == payload


def test_reading_the_payload_keeps_its_reference_count() -> None:
    # The compiled engine reads the compiled Data's raw_params through its getter: a reference
    # taken there and not given back would leak every payload it decodes.
    import sys

    for impl in (_core, _core_py, _core):
        data = impl.Data("d", "a", b'{"id":7}')
        before = sys.getrefcount(data.raw_params)
        values = [FAST_DECODE(data, dict) for _ in range(100)]
        after = sys.getrefcount(data.raw_params)  # outside the assert: pytest's rewriting holds one
        assert after == before
        assert values == [{"id": 7}] * 100
