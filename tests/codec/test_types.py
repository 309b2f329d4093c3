"""Typed payloads beyond JSON-native values: encode, decode, validate, name the path on failure.

Every test runs on both implementations (``impl``); the codec is shared, but the
events come from each implementation's ``new_data`` / ``must_data``.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import importlib
import json
import os
import subprocess
import sys
import threading
import typing
import uuid
from types import ModuleType
from typing import Any, Literal, NotRequired, Optional, TypedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eventbus
from eventbus import DecodeError, EncodeError, decode


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Flag(enum.Enum):
    ON = True
    ONE = 1


class Zip(TypedDict):
    code: str
    plus4: NotRequired[int]


class Partial(TypedDict, total=False):
    note: str
    count: int


@dataclasses.dataclass
class Address:
    street: str
    zip: Zip
    kind: Literal["home", "work"] = "home"


@dataclasses.dataclass
class Person:
    id: uuid.UUID
    name: str
    born: datetime.date
    wakes: datetime.time
    joined: datetime.datetime
    balance: decimal.Decimal
    color: Color
    level: Level
    address: Address
    location: tuple[float, float]
    history: tuple[int, ...] = ()
    nickname: Optional[str] = None  # noqa: UP045  # the typing spelling on purpose
    backup: Address | None = None
    meta: dict[str, Level] = dataclasses.field(default_factory=dict[str, Level])


PERSON = Person(
    id=uuid.UUID("12345678-1234-5678-1234-567812345678"),
    name="Ann",
    born=datetime.date(1990, 2, 3),
    wakes=datetime.time(6, 30, 15, 250000),
    joined=datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone(datetime.timedelta(hours=12))),
    balance=decimal.Decimal("1234.50"),
    color=Color.GREEN,
    level=Level.HIGH,
    address=Address(street="1 Main St", zip={"code": "6011", "plus4": 42}, kind="work"),
    location=(-41.29, 174.78),
    history=(1, 2, 3),
    nickname=None,
    backup=Address(street="PO Box 1", zip={"code": "6140"}),
    meta={"a": Level.LOW},
)

PERSON_JSON = {
    "id": "12345678-1234-5678-1234-567812345678",
    "name": "Ann",
    "born": "1990-02-03",
    "wakes": "06:30:15.250000",
    "joined": "2024-05-06T07:08:09+12:00",
    "balance": "1234.50",
    "color": "green",
    "level": 2,
    "address": {"street": "1 Main St", "zip": {"code": "6011", "plus4": 42}, "kind": "work"},
    "location": [-41.29, 174.78],
    "history": [1, 2, 3],
    "nickname": None,
    "backup": {"street": "PO Box 1", "zip": {"code": "6140"}, "kind": "home"},
    "meta": {"a": 1},
}


@pytest.fixture(params=["new_data", "must_data"])
def make(request: pytest.FixtureRequest, impl: ModuleType) -> typing.Callable[..., Any]:
    maker: typing.Callable[..., Any] = getattr(impl, request.param)
    return maker


def raw(impl: ModuleType, value: object) -> Any:
    """An event carrying exactly this JSON (not made by our encoder)."""
    return impl.Data("people", "joined", json.dumps(value).encode())


def decode_error(impl: ModuleType, value: object, cls: object) -> str:
    with pytest.raises(DecodeError) as error:
        decode(raw(impl, value), cls)
    message = str(error.value)
    assert message.startswith("cannot decode event 'people'/'joined' into ")
    return message


# ---------------------------------------------------------------------------
# Round trips


def test_nested_dataclass_of_every_type_round_trips(make: typing.Callable[..., Any]) -> None:
    data = make("people", "joined", PERSON)
    assert json.loads(data.raw_params) == PERSON_JSON
    decoded = decode(data, Person)
    assert decoded == PERSON
    assert type(decoded.id) is uuid.UUID
    assert decoded.color is Color.GREEN
    assert decoded.level is Level.HIGH
    assert type(decoded.location) is tuple
    assert decoded.joined.utcoffset() == datetime.timedelta(hours=12)
    assert decoded.balance.as_tuple() == decimal.Decimal("1234.50").as_tuple()  # exact digits
    assert decoded.meta["a"] is Level.LOW


def test_encoding_is_compact_and_in_field_order(make: typing.Callable[..., Any]) -> None:
    data = make("d", "a", Address(street="é", zip={"code": "1"}))
    assert data.raw_params == '{"street":"é","zip":{"code":"1"},"kind":"home"}'.encode()


@pytest.mark.parametrize(
    "value, cls",
    [
        (Color.RED, Color),
        (Level.LOW, Level),
        (datetime.datetime(2020, 1, 2, 3, 4, 5), datetime.datetime),
        (datetime.date(2020, 1, 2), datetime.date),
        (datetime.time(23, 59), datetime.time),
        (uuid.UUID(int=1), uuid.UUID),
        (decimal.Decimal("-0.000001"), decimal.Decimal),
        ((1, "a", None), tuple[int, str, None]),
        ((1, 2), tuple[int, ...]),
        ((), tuple[()]),
        ("work", Literal["home", "work"]),
        ({"code": "1"}, Zip),
        ({}, Partial),
        ([Color.RED, None], list[Color | None]),
        ({"k": (1.5, Level.HIGH)}, dict[str, tuple[float, Level]]),
    ],
    ids=repr,
)
def test_top_level_values_round_trip(make: typing.Callable[..., Any], value: object, cls: object) -> None:
    assert decode(make("d", "a", value), cls) == value


def test_bare_tuple_and_any(impl: ModuleType) -> None:
    assert decode(raw(impl, [1, "a"]), tuple) == (1, "a")
    anything: object = decode(raw(impl, {"x": [1]}), Any)
    assert anything == {"x": [1]}


def test_typeddict_ignores_unknown_keys_and_keeps_optional_ones_out(impl: ModuleType) -> None:
    assert decode(raw(impl, {"code": "1", "extra": True}), Zip) == {"code": "1"}
    assert decode(raw(impl, {"count": 2}), Partial) == {"count": 2}


# ---------------------------------------------------------------------------
# Strictness: every type accepts only its own JSON form


@pytest.mark.parametrize(
    "value, cls, expected",
    [
        ("blue", Color, "one of ['red', 'green']"),
        (True, Level, "expected a value of Level"),  # bool is not int
        (1.0, Level, "expected a value of Level"),
        (1, Flag, "Flag"),  # Flag.ONE's value is 1 but Flag.ON's is True: exact types only
        ("2020-13-01", datetime.date, "ISO 8601 date"),
        ("2020-01-01T10:00", datetime.date, "ISO 8601 date"),
        (20200101, datetime.datetime, "expected datetime (a string), got int"),
        ("25:00", datetime.time, "ISO 8601 time"),
        ("not-a-uuid", uuid.UUID, "UUID"),
        (1.5, decimal.Decimal, "expected Decimal (a string), got float"),
        ("NaN", decimal.Decimal, "finite decimal"),
        ("Infinity", decimal.Decimal, "finite decimal"),
        ("1,5", decimal.Decimal, "decimal"),
        ([1, 2, 3], tuple[int, int], "expected 2 items, got 3"),
        ({"a": 1}, tuple[int, ...], "a JSON array"),
        ("office", Literal["home", "work"], "one of ['home', 'work']"),
        (True, Literal[1, 2], "one of [1, 2]"),
        (1, Literal[True], "one of [True]"),
        ([], Zip, "expected Zip (a JSON object), got list"),
        (True, int | str, "expected int | str, got bool"),
        ([1], Optional[str], "expected str, got list"),  # noqa: UP045
    ],
    ids=repr,
)
def test_values_that_do_not_fit_are_decode_errors(
    impl: ModuleType, value: object, cls: object, expected: str
) -> None:
    assert expected in decode_error(impl, value, cls)


def test_literal_of_enum_members_decodes_to_the_member(impl: ModuleType) -> None:
    assert decode(raw(impl, "red"), Literal[Color.RED]) is Color.RED
    assert "one of ['red']" in decode_error(impl, "green", Literal[Color.RED])


def test_unions_prefer_the_exact_type_then_try_members_in_order(impl: ModuleType) -> None:
    assert type(decode(raw(impl, 1), float | int)) is int
    assert type(decode(raw(impl, 1.5), int | float)) is float
    assert type(decode(raw(impl, 1), float | str)) is float  # int is accepted for float
    assert decode(raw(impl, "2020-01-02"), int | datetime.date) == datetime.date(2020, 1, 2)
    assert decode(raw(impl, None), Color | None) is None


@dataclasses.dataclass
class Cat:
    meows: bool


@dataclasses.dataclass
class Dog:
    barks: bool
    name: str


def test_union_of_dataclasses(impl: ModuleType) -> None:
    assert decode(raw(impl, {"barks": True, "name": "Rex"}), Cat | Dog) == Dog(True, "Rex")
    assert decode(raw(impl, {"meows": False}), Cat | Dog) == Cat(False)
    # The member that got furthest explains the failure: Dog fit up to its name.
    message = decode_error(impl, {"barks": True, "name": 3}, Cat | Dog)
    assert "into Cat | Dog at name: expected str, got int" in message


# ---------------------------------------------------------------------------
# Paths: every failure says where


DELETE = object()


@pytest.mark.parametrize(
    "where, new, path, what",
    [
        (("address", "zip", "code"), 6011, "address.zip.code", "expected str, got int"),
        (("address", "zip", "code"), DELETE, "address.zip.code", "missing required key"),
        (("address", "kind"), "mars", "address.kind", "one of ['home', 'work']"),
        (("backup", "street"), None, "backup.street", "expected str, got null"),
        (("location",), [1.0], "location", "expected 2 items, got 1"),
        (("location",), [1.0, "x"], "location[1]", "expected float, got str"),
        (("history",), [1, 2, True], "history[2]", "expected int, got bool"),
        (("meta",), {"a": 1, "b": 7}, "meta.b", "Level"),
        (("joined",), "yesterday", "joined", "ISO 8601 datetime"),
        (("id",), 7, "id", "expected UUID (a string), got int"),
        (("name",), DELETE, "name", "missing required field"),
    ],
    ids=lambda value: value if isinstance(value, str) and "." in value else None,
)
def test_nested_failures_name_event_type_and_path(
    impl: ModuleType, where: tuple[str, ...], new: object, path: str, what: str
) -> None:
    payload: dict[str, Any] = json.loads(json.dumps(PERSON_JSON))
    parent = payload
    for key in where[:-1]:
        parent = parent[key]
    if new is DELETE:
        del parent[where[-1]]
    else:
        parent[where[-1]] = new
    message = decode_error(impl, payload, Person)
    assert f"into Person at {path}: " in message
    assert what in message


def test_failures_inside_lists_of_dataclasses_name_the_index(impl: ModuleType) -> None:
    payload = [{"street": "a", "zip": {"code": "1"}}, {"street": "b", "zip": {"code": 2}}]
    message = decode_error(impl, payload, list[Address])
    assert "into list[Address] at [1].zip.code: expected str, got int" in message


@dataclasses.dataclass
class Checked:
    percent: int

    def __post_init__(self) -> None:
        if not 0 <= self.percent <= 100:
            raise ValueError(f"percent out of range: {self.percent}")


@dataclasses.dataclass
class Wrapper:
    checked: Checked


def test_a_dataclass_refusing_its_values_is_a_decode_error(impl: ModuleType) -> None:
    with pytest.raises(DecodeError) as error:
        decode(raw(impl, {"checked": {"percent": 101}}), Wrapper)
    assert "into Wrapper at checked: Checked() refused the value: ValueError: percent out of range" in str(
        error.value
    )
    assert isinstance(error.value.__cause__, ValueError)


# ---------------------------------------------------------------------------
# Encoding failures name the event and the path


@dataclasses.dataclass
class Basket:
    items: list[Any]


@pytest.mark.parametrize(
    "params, path, what",
    [
        (Basket([1, {"price": decimal.Decimal("NaN")}]), "items[1].price", "Decimal value NaN is not finite"),
        (Basket([{"tags": {"a", "b"}}]), "items[0].tags", "value of type set is not JSON-encodable"),
        (Basket([{"t": (1, float("inf"))}]), "items[0].t[1]", "float value out of JSON range"),
        ({"s": "\ud800"}, "s", "not encodable as UTF-8"),
        (Basket([{1: "a"}]), "items[0]", "dict key 1 of type int is not a str"),
    ],
    ids=["decimal-nan", "set", "inf-in-tuple", "lone-surrogate", "int-key"],
)
def test_encode_errors_name_the_event_and_the_path(
    make: typing.Callable[..., Any], params: object, path: str, what: str
) -> None:
    with pytest.raises(EncodeError) as error:
        make("orders", "placed", params)
    message = str(error.value)
    assert message.startswith("cannot encode payload of event 'orders'/'placed': ")
    assert f"at {path}: " in message
    assert what in message


def test_enum_values_are_encoded_as_their_value(make: typing.Callable[..., Any]) -> None:
    class Nested(enum.Enum):
        PAIR = (1, Color.RED)

    assert make("d", "a", [Nested.PAIR, Level.LOW]).raw_params == b'[[1,"red"],1]'


# ---------------------------------------------------------------------------
# Generated converters: names that could collide, dataclass flavours, caching


@dataclasses.dataclass
class Awkward:
    value: int
    cls: str
    get: float
    type: list[int]
    MISSING: bool = False


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Frozen:
    a: int
    b: str = "b"
    c: int = dataclasses.field(default=0, init=False)


def test_field_names_that_shadow_the_generated_code(make: typing.Callable[..., Any]) -> None:
    value = Awkward(value=1, cls="c", get=2.0, type=[3], MISSING=True)
    assert decode(make("d", "a", value), Awkward) == value


def test_frozen_slotted_keyword_only_dataclass(make: typing.Callable[..., Any]) -> None:
    data = make("d", "a", Frozen(a=1))
    assert json.loads(data.raw_params) == {"a": 1, "b": "b", "c": 0}
    assert decode(data, Frozen) == Frozen(a=1)


def test_type_hints_are_read_once_per_class(impl: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    @dataclasses.dataclass
    class Fresh:
        x: int

    calls: list[object] = []
    real = typing.get_type_hints

    def counting(obj: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(obj)
        return real(obj, *args, **kwargs)

    monkeypatch.setattr(typing, "get_type_hints", counting)
    for number in range(3):
        assert decode(impl.new_data("d", "a", {"x": number}), Fresh) == Fresh(number)
    assert calls == [Fresh]


# ---------------------------------------------------------------------------
# pydantic and msgspec: used only when the payload type is theirs


def _typed_models() -> ModuleType:
    if os.environ.get("EVENTBUS_TYPED_DEPS_REQUIRED"):
        return importlib.import_module("payload_models")
    module: ModuleType = pytest.importorskip(
        "payload_models", reason="needs the typed extra (pydantic, msgspec)"
    )
    return module


@pytest.fixture
def models() -> ModuleType:
    return _typed_models()


_MSGSPEC_FIRST_USE_RACE = """
import datetime, sys, threading
import msgspec
import eventbus

sys.setswitchinterval(1e-6)
for attempt in range(600):
    class Point(msgspec.Struct):
        x: int
        y: int

    class Route(msgspec.Struct, rename="camel"):
        route_name: str
        points: list[Point]
        started: datetime.date | None = None

    data = eventbus.new_data("d", "a", {"routeName": "r", "points": [{"x": 1, "y": 2}], "started": None})
    barrier = threading.Barrier(4)

    def decode_once() -> None:
        barrier.wait()
        assert eventbus.decode(data, Route).route_name == "r"

    threads = [threading.Thread(target=decode_once) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
print("ok")
"""


def test_first_msgspec_decodes_from_many_threads_do_not_crash(models: ModuleType, impl: ModuleType) -> None:
    # msgspec builds a Struct's tables on first use, and threads doing that at once
    # crash the interpreter (msgspec 0.22); the codec builds them under its lock first.
    # In a subprocess, so that a regression is a failed test rather than a dead run.
    env = {**os.environ, "EVENTBUS_NO_EXTENSIONS": "1" if impl.__name__.endswith("_py") else "0"}
    run = subprocess.run(
        [sys.executable, "-c", _MSGSPEC_FIRST_USE_RACE], capture_output=True, text=True, env=env, timeout=120
    )
    assert (run.returncode, run.stdout.strip()) == (0, "ok"), run.stderr[-2000:]


def test_pydantic_model_nested_in_a_dataclass(make: typing.Callable[..., Any], models: ModuleType) -> None:
    order = models.Order(
        id=1,
        customer=models.Customer(fullName="Ann", address=models.Address(street="Main", zip=6011)),
        placed=datetime.datetime(2024, 1, 2, 3, 4, 5),
        total=decimal.Decimal("9.90"),
    )
    data = make("orders", "placed", order)
    assert json.loads(data.raw_params) == {
        "id": 1,
        "customer": {
            "fullName": "Ann",  # by alias: what the model validates
            "address": {"street": "Main", "zip": 6011, "country": "NZ"},
            "tags": [],
        },
        "placed": "2024-01-02T03:04:05",
        "total": "9.90",
    }
    assert decode(data, models.Order) == order


def test_pydantic_model_at_top_level_and_in_lists(
    make: typing.Callable[..., Any], models: ModuleType
) -> None:
    address = models.Address(street="Main", zip=1)
    assert decode(make("d", "a", address), models.Address) == address
    generic_list: Any = list
    assert decode(make("d", "a", [address]), generic_list[models.Address]) == [address]


def test_pydantic_errors_name_the_path(impl: ModuleType, models: ModuleType) -> None:
    payload = {
        "id": 1,
        "customer": {"fullName": "Ann", "address": {"street": "Main", "zip": "not a number"}},
        "placed": "2024-01-02T03:04:05",
        "total": "1",
    }
    with pytest.raises(DecodeError) as error:
        decode(raw(impl, payload), models.Order)
    message = str(error.value)
    assert "cannot decode event 'people'/'joined' into Order at customer.address.zip: " in message
    assert "valid integer" in message
    assert isinstance(error.value.__cause__, models.pydantic.ValidationError)


def test_pydantic_model_config_decides_strictness(impl: ModuleType, models: ModuleType) -> None:
    assert decode(raw(impl, {"street": "s", "zip": "12"}), models.Address).zip == 12  # pydantic's lax mode
    message = decode_error(impl, {"count": "12"}, models.Strict)
    assert "into Strict at count: " in message


def test_msgspec_struct_nested_in_a_dataclass(make: typing.Callable[..., Any], models: ModuleType) -> None:
    trip = models.Trip(
        driver="Bo",
        route=models.Route(route_name="r1", points=[models.Point(1, 2)], started=datetime.date(2024, 1, 1)),
    )
    data = make("trips", "started", trip)
    assert json.loads(data.raw_params) == {
        "driver": "Bo",
        "route": {"routeName": "r1", "points": [{"x": 1, "y": 2}], "started": "2024-01-01"},
    }
    assert decode(data, models.Trip) == trip


def test_msgspec_errors_name_the_path(impl: ModuleType, models: ModuleType) -> None:
    payload = {"driver": "Bo", "route": {"routeName": "r1", "points": [{"x": 1, "y": "2"}]}}
    with pytest.raises(DecodeError) as error:
        decode(raw(impl, payload), models.Trip)
    message = str(error.value)
    assert "into Trip at route.points[0].y: Expected `int`, got `str`" in message
    assert isinstance(error.value.__cause__, models.msgspec.ValidationError)


def test_pydantic_and_msgspec_are_never_imported_by_eventbus() -> None:
    code = (
        "import dataclasses, sys, eventbus\n"
        "from eventbus import _core_py\n"
        "@dataclasses.dataclass\n"
        "class P:\n"
        "    x: int\n"
        "data = _core_py.must_data('d', 'a', P(1))\n"
        "assert eventbus.decode(data, P) == P(1)\n"
        "import eventbus.testing\n"
        "print(sorted(name for name in ('pydantic', 'msgspec', 'orjson') if name in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_unsupported_types_stay_type_errors(impl: ModuleType) -> None:
    for cls in (set[int], bytes, complex, dict[int, int], Literal[1.5], Color | bytes):
        with pytest.raises(TypeError, match="cannot decode into"):
            decode(raw(impl, 1), cls)
    assert isinstance(eventbus.EncodeError("x"), ValueError)


def test_first_decodes_from_many_threads_at_once(impl: ModuleType) -> None:
    """Converters are built once per type under a lock and published complete."""

    @dataclasses.dataclass
    class Node:
        name: str
        children: list[Node] = dataclasses.field(default_factory=list[Any])

    globals()["Node"] = Node  # the annotations name it: let get_type_hints find it
    data = impl.must_data("d", "a", Node("root", [Node("a", [Node("b")]), Node("c")]))
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def decode_once() -> None:
        barrier.wait()
        try:
            assert decode(data, list[Node] | Node) == Node("root", [Node("a", [Node("b")]), Node("c")])
        except BaseException as exc:  # noqa: BLE001  # reported below, on the test's thread
            errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=decode_once) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []


def test_nothing_half_built_is_published(impl: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """While a dataclass's converter is being built, other threads cannot find it (or parts)."""
    from eventbus._codec import decode as _decode  # white box on purpose

    @dataclasses.dataclass
    class Branch:
        leaves: list[Branch]

    globals()["Branch"] = Branch
    seen_while_building: list[bool] = []
    real = typing.get_type_hints

    def spying(obj: Any, *args: Any, **kwargs: Any) -> Any:
        if obj is Branch:
            published = _decode._converters  # pyright: ignore[reportPrivateUsage]
            seen_while_building.append(Branch in published or list[Branch] in published)
        return real(obj, *args, **kwargs)

    monkeypatch.setattr(typing, "get_type_hints", spying)
    assert decode(impl.must_data("d", "a", Branch([Branch([])])), Branch) == Branch([Branch([])])
    assert seen_while_building and not any(seen_while_building)


# A named function, not a lambda: hypothesis describes a lambda by parsing its source, and
# 3.11's parser fails when threads parse at once (the stress run's 4 threads).
def _json_containers(children: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(), _json_containers, max_leaves=20
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(_json_values)
def test_the_cached_json_writer_writes_what_json_writes(value: object) -> None:
    """The codec keeps one C encoder instead of json's one per call: same text, same errors."""
    from eventbus._codec import encode as _encode  # white box on purpose

    write = _encode._write_json  # pyright: ignore[reportPrivateUsage]
    reference = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
    try:
        expected: str | BaseException = reference(value)
    except ValueError as exc:
        expected = exc
    if isinstance(expected, str):
        assert write(value) == expected
    else:
        with pytest.raises(ValueError) as error:
            write(value)
        assert str(error.value) == str(expected)


def test_msgspec_struct_refuses_lone_surrogates_as_a_decode_error(
    impl: ModuleType, models: ModuleType
) -> None:
    """json reads a lone surrogate escape, msgspec's reader does not: a DecodeError in its words;
    nested in a dataclass (msgspec.convert on the decoded value), a str that is not Unicode."""
    data = impl.Data("d", "a", b'{"labels":{},"\\ud800":1}')
    with pytest.raises(DecodeError) as error:
        decode(data, models.Tagged)
    assert str(error.value) == (
        "cannot decode event 'd'/'a' into Tagged: msgspec cannot read the JSON (Input data was truncated)"
    )
    assert isinstance(error.value.__cause__, models.msgspec.DecodeError)
    nested = impl.Data("d", "a", b'[{"labels":{},"\\ud800":1}]')
    generic_list: Any = list
    with pytest.raises(DecodeError) as error:
        decode(nested, generic_list[models.Tagged])
    assert str(error.value) == (
        "cannot decode event 'd'/'a' into list[Tagged] at [0]: a str is not valid Unicode (surrogates not allowed)"
    )
    assert isinstance(error.value.__cause__, UnicodeEncodeError)


@pytest.mark.parametrize("target", ["CheckedStruct", "CheckedModel", "CheckedDataclass"])
def test_validators_raising_their_own_exceptions_agree(
    impl: ModuleType, models: ModuleType, target: str
) -> None:
    """A __post_init__ or field_validator raising: one DecodeError, the same words for each library."""
    cls = getattr(models, target)
    assert decode(impl.Data("d", "a", b'{"count":1}'), cls).count == 1
    with pytest.raises(DecodeError) as error:
        decode(impl.Data("d", "a", b'{"count":-1}'), cls)
    assert str(error.value) == (
        f"cannot decode event 'd'/'a' into {target}: {target}() refused the value: "
        "RuntimeError: count -1 is negative"
    )
    assert isinstance(error.value.__cause__, RuntimeError)


# ---------------------------------------------------------------------------
# pydantic and msgspec models through their library's own JSON writer and reader


def test_a_library_model_is_written_by_its_library(
    make: typing.Callable[..., Any], models: ModuleType
) -> None:
    """The bytes are the library's own (compact, UTF-8, in field order); where a library writes a
    float unlike json (1e16, 0.00001), its way is kept, and reads back to the same float."""
    reading = models.Reading(1e16, "é")
    data = make("d", "a", reading)
    assert data.raw_params == models.msgspec.json.encode(reading) == b'{"value":1e16,"note":"\xc3\xa9"}'
    assert decode(data, models.Reading) == reading
    assert make("d", "a", models.Reading(1e-05)).raw_params == b'{"value":0.00001,"note":null}'
    sample = models.Sample(value=1e16, note="é")
    data = make("d", "a", sample)
    assert data.raw_params == sample.model_dump_json().encode() == b'{"value":1e+16,"note":"\xc3\xa9"}'
    assert decode(data, models.Sample) == sample
    assert make("d", "a", models.Sample(value=1e-05)).raw_params == b'{"value":0.00001,"note":null}'
    # json's way everywhere else: the same floats in a dict
    assert make("d", "a", {"value": 1e16, "small": 1e-05}).raw_params == b'{"value":1e+16,"small":1e-05}'


def test_library_models_nested_in_other_payloads_keep_their_bytes(
    make: typing.Callable[..., Any], models: ModuleType
) -> None:
    reading, sample = models.Reading(1e16), models.Sample(value=0.5, note="n")
    own_reading = models.msgspec.json.encode(reading)
    own_sample = sample.model_dump_json().encode()
    batch = models.Batch(readings=[reading, reading], by_name={"s": sample}, first=reading)
    data = make("d", "a", batch)
    assert data.raw_params == (
        b'{"readings":['
        + own_reading
        + b","
        + own_reading
        + b'],"by_name":{"s":'
        + own_sample
        + b'},"first":'
        + own_reading
        + b"}"
    )
    assert decode(data, models.Batch) == batch
    assert make("d", "a", [sample, {"r": reading}]).raw_params == (
        b"[" + own_sample + b',{"r":' + own_reading + b"}]"
    )


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("kind", ["Reading", "Sample", "SampleAsStrings", "SampleAsConstants"])
def test_nan_and_infinities_in_library_models_are_refused(
    make: typing.Callable[..., Any], models: ModuleType, kind: str, number: float
) -> None:
    """The libraries write them as null (or, as a pydantic model's config says, NaN or "NaN")."""
    cls = getattr(models, kind)
    payload = cls(number) if kind == "Reading" else cls(value=number)
    with pytest.raises(EncodeError) as error:
        make("d", "a", payload)
    assert str(error.value) == (
        f"cannot encode payload of event 'd'/'a': at value: float value out of JSON range ({number!r})"
    )
    with pytest.raises(EncodeError) as error:
        make("d", "a", {"batch": [payload]})
    assert "at batch[0].value: float value out of JSON range" in str(error.value)
    # null for None, and NaN inside a str, are no NaN
    fine = cls(0.5) if kind == "Reading" else cls(value=0.5)
    assert make("d", "a", fine).raw_params is not None
    assert make("d", "a", models.Reading(0.5, "NaN null Infinity")).raw_params == (
        b'{"value":0.5,"note":"NaN null Infinity"}'
    )


def test_a_library_model_that_cannot_be_written_names_the_path(
    make: typing.Callable[..., Any], models: ModuleType
) -> None:
    with pytest.raises(EncodeError) as error:
        make("d", "a", models.Reading(0.5, "\ud800"))
    assert str(error.value) == (
        "cannot encode payload of event 'd'/'a': at note: str is not encodable as UTF-8 (surrogates not allowed)"
    )
    with pytest.raises(EncodeError) as error:
        make("d", "a", [models.Sample(value=0.5, note="\ud800")])
    assert str(error.value).startswith(
        "cannot encode payload of event 'd'/'a': at [0].note: str is not encodable"
    )


@pytest.mark.parametrize(
    "payload",
    [
        b'{"value":NaN}',
        b'{"value":Infinity}',
        b'{"value":-Infinity}',
        b'{"value":1e999}',
        b'{"value":1,"x":1e999}',
        b'{"value":1,"x":[NaN]}',
        b'{"value":' + b"1" * 400 + b".5}",
        b'{"value":1,"x":' + b"9" * 250 + b"e99}",
    ],
)
@pytest.mark.parametrize("kind", ["Reading", "Sample"])
def test_libraries_read_only_strict_json(
    impl: ModuleType, models: ModuleType, kind: str, payload: bytes
) -> None:
    """pydantic reads NaN, Infinity and 1e999 (as inf), msgspec skips 1e999 in an ignored key: JSON
    that json refuses is refused for a library model too, in json's words."""
    with pytest.raises(DecodeError) as error:
        decode(impl.Data("d", "a", payload), getattr(models, kind))
    assert str(error.value).startswith(f"cannot decode event 'd'/'a' into {kind}: invalid JSON (")


@pytest.mark.parametrize("kind", ["Reading", "Sample"])
def test_strict_json_that_looks_suspicious_reads_normally(
    impl: ModuleType, models: ModuleType, kind: str
) -> None:
    payload = b'{"value":1e-400,"note":"NaN Infinity 1e999","x":1E+300}'
    assert decode(impl.Data("d", "a", payload), getattr(models, kind)).note == "NaN Infinity 1e999"


def test_library_models_are_read_in_their_json_mode(impl: ModuleType, models: ModuleType) -> None:
    """A strict pydantic model takes a datetime from JSON's ISO string, as model_validate_json does."""
    stamp = models.StrictStamp(at=datetime.datetime(2024, 1, 2, 3, 4, 5))
    data = impl.must_data("d", "a", stamp)
    assert data.raw_params == b'{"at":"2024-01-02T03:04:05"}'
    assert decode(data, models.StrictStamp) == stamp
    message = decode_error(impl, {"at": 5}, models.StrictStamp)
    assert message.startswith("cannot decode event 'people'/'joined' into StrictStamp at at: ")


def json_error(payload: bytes) -> str:
    """What ``json.loads`` says of ``payload``, without the position."""
    try:
        json.loads(payload)
    except json.JSONDecodeError as exc:
        return exc.msg
    raise AssertionError(f"{payload!r} is valid JSON")


@pytest.mark.parametrize("kind", ["Point", "Address"])
def test_library_model_payloads_refuse_what_is_not_utf8_json(
    impl: ModuleType, models: ModuleType, kind: str
) -> None:
    for payload, why in [
        (b"\xef\xbb\xbf{}", "Unexpected UTF-8 BOM"),
        ('{"x":1}'.encode("utf-16"), "the payload is not UTF-8"),
        (b'{"x":"\xff"}', "the payload is not UTF-8: invalid start byte at byte 6"),
        # In json's own words, which change between Python versions.
        (b'{"x":1,}', json_error(b'{"x":1,}')),
    ]:
        with pytest.raises(DecodeError) as error:
            decode(impl.Data("d", "a", payload), getattr(models, kind))
        assert str(error.value).startswith(f"cannot decode event 'd'/'a' into {kind}: invalid JSON ("), (
            payload
        )
        assert why in str(error.value)
