"""``new_data`` / ``must_data`` encoding and ``decode``, through both implementations."""

from __future__ import annotations

import dataclasses
import decimal
import enum
import json
import math
import typing
from types import ModuleType
from typing import Any

import pytest

import eventbus

Maker = typing.Callable[..., Any]


@pytest.fixture(params=["new_data", "must_data"])
def make(request: pytest.FixtureRequest, impl: ModuleType) -> Maker:
    """Both constructors: ``must_data`` raises the same errors as ``new_data``."""
    maker: Maker = getattr(impl, request.param)
    return maker


def type_name(cls: Any) -> str:
    """How an error message spells a target type: the class name, or the generic as written."""
    return cls.__qualname__ if type(cls) is type else repr(cls)


def compact(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


@dataclasses.dataclass
class Point:
    y: int
    x: int


@dataclasses.dataclass
class Shape:
    name: str
    points: list[Point]
    origin: Point | None = None
    tags: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Scalars:
    text: str
    count: int
    ratio: float
    flag: bool
    anything: dict  # type: ignore[type-arg]
    items: list  # type: ignore[type-arg]


@dataclasses.dataclass
class WithDefaults:
    required: int
    plain: str = "plain"
    factory: list[int] = dataclasses.field(default_factory=lambda: [1, 2])
    optional: int | None = None


@dataclasses.dataclass
class Tree:
    label: str
    children: list[Tree] = dataclasses.field(default_factory=list)


class Color(enum.IntEnum):
    RED = 1


# ---------------------------------------------------------------------------
# Encoding


@pytest.mark.parametrize(
    "params",
    [
        {"id": 7, "name": "é"},
        {"b": 1, "a": 2, "c": {"z": None, "y": [1, 2.5, True, False]}},
        [1, "two", 3.0, None, {"k": []}],
        "text with spaces, commas: and colons",
        "日本語 ✓ 🎉",
        0,
        -12345678901234567890,
        1.5,
        True,
        False,
        {},
        [],
        "",
    ],
    ids=repr,
)
def test_encodes_compact_utf8_json(make: Maker, params: object) -> None:
    data = make("users", "created", params)
    assert data.raw_params == compact(params)
    assert json.loads(data.raw_params) == params


def test_compact_separators_and_non_ascii_kept(make: Maker) -> None:
    raw = make("users", "created", {"id": 7, "name": "é", "list": [1, 2]}).raw_params
    assert raw == '{"id":7,"name":"é","list":[1,2]}'.encode()
    assert b"\\u" not in raw
    assert b" " not in raw


def test_keys_keep_insertion_order(make: Maker) -> None:
    params = {"zeta": 1, "alpha": 2, "mid": {"b": 1, "a": 2}}
    decoded = json.loads(make("d", "a", params).raw_params)
    assert list(decoded) == ["zeta", "alpha", "mid"]
    assert list(decoded["mid"]) == ["b", "a"]


def test_tuples_encode_as_arrays(make: Maker) -> None:
    data = make("d", "a", {"pair": (1, "x"), "nested": ((1, 2), [3, (4,)])})
    assert json.loads(data.raw_params) == {"pair": [1, "x"], "nested": [[1, 2], [3, [4]]]}


def test_dataclasses_encode_recursively_in_declaration_order(make: Maker) -> None:
    shape = Shape(
        name="tri",
        points=[Point(y=1, x=2), Point(y=3, x=4)],
        origin=Point(y=0, x=0),
        tags={"w": 1.5},
    )
    raw = make("shapes", "drawn", shape).raw_params
    assert raw == compact(
        {
            "name": "tri",
            "points": [{"y": 1, "x": 2}, {"y": 3, "x": 4}],
            "origin": {"y": 0, "x": 0},
            "tags": {"w": 1.5},
        }
    )
    assert list(json.loads(raw)) == ["name", "points", "origin", "tags"]
    assert list(json.loads(raw)["points"][0]) == ["y", "x"]


def test_dataclass_inside_containers(make: Maker) -> None:
    raw = make("d", "a", {"point": Point(1, 2), "points": (Point(3, 4),)}).raw_params
    assert json.loads(raw) == {"point": {"y": 1, "x": 2}, "points": [{"y": 3, "x": 4}]}


def test_json_scalar_subclasses_encode_as_their_base(make: Maker) -> None:
    assert make("d", "a", [Color.RED]).raw_params == b"[1]"


def test_none_gives_a_payload_less_event(make: Maker, impl: ModuleType) -> None:
    for data in (make("users", "created", None), make("users", "created")):
        assert type(data) is impl.Data
        assert data == impl.Data("users", "created")
        assert data.raw_params is None


def test_returns_a_data_of_the_implementation(make: Maker, impl: ModuleType) -> None:
    data = make("users", "created", {"id": 1})
    assert type(data) is impl.Data
    assert (data.domain, data.action) == ("users", "created")


def test_names_are_validated_as_for_data(make: Maker) -> None:
    with pytest.raises(TypeError, match="domain"):
        make(1, "created", {})
    with pytest.raises(ValueError, match="action"):
        make("users", "", {})


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=repr)
@pytest.mark.parametrize("where", ["top", "nested"])
def test_nan_and_infinities_are_encode_errors(
    make: Maker, value: float, where: str
) -> None:
    params = value if where == "top" else {"items": [1.0, {"price": value}]}
    with pytest.raises(eventbus.EncodeError, match="float") as error:
        make("d", "a", params)
    assert isinstance(error.value.__cause__, ValueError)


@pytest.mark.parametrize(
    "params, named",
    [
        ({1, 2}, "set"),
        (frozenset(), "frozenset"),
        (b"bytes", "bytes"),
        (bytearray(b"x"), "bytearray"),
        (1 + 2j, "complex"),
        (decimal.Decimal("NaN"), "Decimal"),
        (object(), "object"),
        (lambda: None, "function"),
        (range(3), "range"),
    ],
    ids=lambda value: type(value).__name__ if not isinstance(value, str) else value,
)
def test_unencodable_values_name_their_type(
    make: Maker, params: object, named: str
) -> None:
    with pytest.raises(eventbus.EncodeError, match=rf"\b{named}\b"):
        make("d", "a", params)


def test_unencodable_nested_value_names_type_and_place(make: Maker) -> None:
    with pytest.raises(eventbus.EncodeError) as error:
        make("d", "a", {"items": [1, 2, {"price": 1 + 2j}]})
    message = str(error.value)
    assert "complex" in message
    assert "items[2].price" in message


def test_unencodable_dataclass_field(make: Maker) -> None:
    with pytest.raises(eventbus.EncodeError, match="set") as error:
        make("d", "a", Point(y=typing.cast(Any, {1}), x=2))
    assert "y" in str(error.value)


@pytest.mark.parametrize(
    "key", [1, 1.5, None, True, ("a", "b"), b"k"], ids=lambda key: type(key).__name__
)
def test_non_str_dict_keys_are_encode_errors(make: Maker, key: object) -> None:
    with pytest.raises(eventbus.EncodeError, match=type(key).__name__):
        make("d", "a", {"outer": {key: "value"}})


def test_self_containing_payload_is_an_encode_error(make: Maker) -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(eventbus.EncodeError, match="list") as error:
        make("d", "a", loop)
    assert isinstance(error.value.__cause__, RecursionError)


# ---------------------------------------------------------------------------
# Decoding


@pytest.mark.parametrize(
    "params",
    [{"id": 7, "name": "é", "tags": ["a"]}, [1, 2.5, None], "text", 3, 2.5, True, False, {}, []],
    ids=repr,
)
def test_decode_without_cls_gives_the_json_value(impl: ModuleType, params: object) -> None:
    data = impl.new_data("d", "a", params)
    value = eventbus.decode(data)
    assert value == json.loads(data.raw_params)
    assert type(value) is type(params)


def test_decode_without_payload_gives_none(impl: ModuleType) -> None:
    assert eventbus.decode(impl.Data("d", "a")) is None


@pytest.mark.parametrize(
    "cls, params",
    [
        (dict, {"a": [1, {"b": None}]}),
        (list, [1, "x", {"y": 2}]),
        (str, "é"),
        (int, -5),
        (float, 2.5),
        (bool, True),
        (bool, False),
        (list[int], [1, 2, 3]),
        (dict[str, int], {"a": 1, "b": 2}),
        (int | None, 5),
        (typing.Optional[str], "x"),  # noqa: UP045
        (list[dict[str, list[int]]], [{"a": [1]}, {}]),
    ],
    ids=repr,
)
def test_decode_into_supported_types(impl: ModuleType, cls: Any, params: object) -> None:
    value = eventbus.decode(impl.new_data("d", "a", params), cls)
    assert value == params
    assert type(value) is type(params)


def test_int_is_accepted_and_converted_for_float(impl: ModuleType) -> None:
    value = eventbus.decode(impl.new_data("d", "a", 3), float)
    assert value == 3.0
    assert type(value) is float
    nested = eventbus.decode(impl.new_data("d", "a", {"name": "n", "points": [], "tags": {"w": 2}}), Shape)
    assert type(nested.tags["w"]) is float


@pytest.mark.parametrize(
    "cls, params, got",
    [(int, True, "bool"), (int, False, "bool"), (bool, 1, "int"), (bool, 0, "int"),
     (int, 2.5, "float"), (int, 3.0, "float"), (float, True, "bool"), (float, "1", "str"),
     (str, 1, "int"), (list, {}, "dict"), (dict, [], "list"), (list[int], [1, True], "bool"),
     (list[int], [1, "2"], "str"), (dict[str, int], {"a": "1"}, "str"), (int | None, "x", "str"),
     (str, None, "null")],
    ids=repr,
)
def test_decode_rejects_values_of_the_wrong_type(
    impl: ModuleType, cls: Any, params: object, got: str
) -> None:
    raw = json.dumps(params, separators=(",", ":")).encode()
    with pytest.raises(eventbus.DecodeError) as error:
        eventbus.decode(impl.Data("users", "created", raw), cls)
    message = str(error.value)
    assert "'users'/'created'" in message
    assert type_name(cls) in message
    assert got in message


def test_decode_optional_accepts_null(impl: ModuleType) -> None:
    assert eventbus.decode(impl.new_data("d", "a", [None, 1]), list[int | None]) == [None, 1]
    assert eventbus.decode(impl.Data("d", "a", b"null"), int | None) is None


def test_decode_nested_dataclasses(impl: ModuleType) -> None:
    shape = Shape(
        name="tri", points=[Point(y=1, x=2), Point(y=3, x=4)], origin=Point(0, 0), tags={"w": 1.5}
    )
    decoded = eventbus.decode(impl.must_data("shapes", "drawn", shape), Shape)
    assert decoded == shape
    assert type(decoded.points[0]) is Point
    assert type(decoded.origin) is Point


def test_decode_recursive_dataclass(impl: ModuleType) -> None:
    tree = Tree("root", [Tree("a"), Tree("b", [Tree("c")])])
    assert eventbus.decode(impl.must_data("d", "a", tree), Tree) == tree


def test_decode_dataclass_of_plain_types(impl: ModuleType) -> None:
    value = Scalars(text="t", count=1, ratio=0.5, flag=True, anything={"x": 1}, items=[None])
    assert eventbus.decode(impl.must_data("d", "a", value), Scalars) == value


def test_decode_ignores_unknown_keys(impl: ModuleType) -> None:
    data = impl.new_data("d", "a", {"x": 1, "y": 2, "z": 3, "extra": {"deep": [1]}})
    assert eventbus.decode(data, Point) == Point(y=2, x=1)


def test_decode_honours_defaults(impl: ModuleType) -> None:
    assert eventbus.decode(impl.new_data("d", "a", {"required": 1}), WithDefaults) == WithDefaults(
        required=1, plain="plain", factory=[1, 2], optional=None
    )
    first = eventbus.decode(impl.new_data("d", "a", {"required": 1}), WithDefaults)
    second = eventbus.decode(impl.new_data("d", "a", {"required": 1}), WithDefaults)
    assert first.factory is not second.factory
    given: dict[str, Any] = {"required": 2, "plain": "p", "factory": [], "optional": 4}
    assert eventbus.decode(impl.new_data("d", "a", given), WithDefaults) == WithDefaults(**given)


def test_decode_missing_required_field(impl: ModuleType) -> None:
    with pytest.raises(eventbus.DecodeError) as error:
        eventbus.decode(impl.new_data("users", "created", {"plain": "p"}), WithDefaults)
    message = str(error.value)
    assert "'users'/'created'" in message
    assert "WithDefaults" in message
    assert "required" in message


def test_decode_wrong_type_in_nested_field_names_the_path(impl: ModuleType) -> None:
    params = {"name": "tri", "points": [{"y": 1, "x": 2}, {"y": "3", "x": 4}]}
    with pytest.raises(eventbus.DecodeError) as error:
        eventbus.decode(impl.new_data("shapes", "drawn", params), Shape)
    message = str(error.value)
    assert "'shapes'/'drawn'" in message
    assert "Shape" in message
    assert "points[1].y" in message
    assert "int" in message and "str" in message


def test_decode_dataclass_from_a_non_object(impl: ModuleType) -> None:
    with pytest.raises(eventbus.DecodeError, match="Point"):
        eventbus.decode(impl.new_data("d", "a", [1, 2]), Point)


@pytest.mark.parametrize(
    "raw", [b"{not json", b'{"a":', b"", b"\xff\xfe", b"[1,]", b"NaN1"], ids=repr
)
@pytest.mark.parametrize("cls", [None, dict], ids=["no-cls", "dict"])
def test_decode_invalid_json(impl: ModuleType, raw: bytes, cls: type | None) -> None:
    data = impl.Data("users", "created", raw)
    with pytest.raises(eventbus.DecodeError) as error:
        if cls is None:
            eventbus.decode(data)
        else:
            eventbus.decode(data, cls)
    assert "'users'/'created'" in str(error.value)
    assert isinstance(error.value.__cause__, ValueError)


@pytest.mark.parametrize("cls", [int, str, dict, list, bool, float, list[int], Point], ids=repr)
def test_decode_payload_less_event_into_non_optional(impl: ModuleType, cls: Any) -> None:
    with pytest.raises(eventbus.DecodeError) as error:
        eventbus.decode(impl.Data("users", "deleted"), cls)
    message = str(error.value)
    assert "'users'/'deleted'" in message
    assert type_name(cls) in message


def test_decode_payload_less_event_into_optional(impl: ModuleType) -> None:
    assert eventbus.decode(impl.Data("d", "a"), int | None) is None
    assert eventbus.decode(impl.Data("d", "a"), Point | None) is None


class NotADataclass:
    x: int


@pytest.mark.parametrize(
    "cls",
    [set, bytes, object, complex, NotADataclass, set[int], dict[int, str], frozenset[str],
     int | bytes, list[int | complex], tuple[int, set[int]], 42, "int", Point(1, 2)],
    ids=repr,
)
def test_decode_into_unsupported_cls_is_a_type_error(impl: ModuleType, cls: Any) -> None:
    with pytest.raises(TypeError):
        eventbus.decode(impl.new_data("d", "a", {"x": 1}), cls)


def test_decode_rejects_non_events(impl: ModuleType) -> None:
    with pytest.raises(TypeError):
        eventbus.decode(typing.cast(Any, {"raw_params": b"1"}))


def test_error_hierarchy() -> None:
    assert issubclass(eventbus.EventBusError, ValueError)
    assert issubclass(eventbus.EncodeError, eventbus.EventBusError)
    assert issubclass(eventbus.DecodeError, eventbus.EventBusError)
    assert not issubclass(eventbus.EncodeError, eventbus.DecodeError)
    assert not issubclass(eventbus.DecodeError, eventbus.EncodeError)


def test_errors_are_caught_as_value_errors(impl: ModuleType) -> None:
    with pytest.raises(ValueError):
        impl.new_data("d", "a", {1: 2})
    with pytest.raises(ValueError):
        eventbus.decode(impl.Data("d", "a", b"{"))


def test_round_trip_through_the_other_constructor(impl: ModuleType) -> None:
    for params in ({"id": 1, "nested": {"k": [1.5, None]}}, Point(1, 2)):
        assert impl.new_data("d", "a", params) == impl.must_data("d", "a", params)
