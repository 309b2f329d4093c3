"""Encoding (``eventbus._codec.encode``): ``new_data`` / ``must_data``, through both implementations.

Plain payloads become compact UTF-8 JSON; every failure is an ``EncodeError`` naming the
event, the place in the payload and what is wrong there; nothing else gets out of
``new_data``/``must_data``.  (Typed payloads, both ways: test_types.py.)
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import math
import sys
import typing
from collections.abc import Iterator
from types import ModuleType
from typing import Any
from unittest import mock

import pytest
from codec_models import Point, Polygon

import eventbus

Maker = typing.Callable[..., Any]


@pytest.fixture(params=["new_data", "must_data"])
def make(request: pytest.FixtureRequest, impl: ModuleType) -> Maker:
    maker: Maker = getattr(impl, request.param)
    return maker


def compact(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


class Color(enum.IntEnum):
    RED = 1


def encode_error(make: Maker, params: object) -> str:
    with pytest.raises(eventbus.EncodeError) as error:
        make("users", "created", params)
    message = str(error.value)
    assert message.startswith("cannot encode payload of event 'users'/'created': ")
    return message.removeprefix("cannot encode payload of event 'users'/'created': ")


@dataclasses.dataclass
class Unset:
    id: int
    later: int = dataclasses.field(init=False)


@dataclasses.dataclass
class Holder:
    items: list[object]


class Offset(datetime.tzinfo):
    def tzname(self, dt: datetime.datetime | None) -> str:
        return "X"

    def dst(self, dt: datetime.datetime | None) -> None:
        return None


class RaisingOffset(Offset):
    def utcoffset(self, dt: datetime.datetime | None) -> datetime.timedelta:
        raise RuntimeError("no offset today")


class WrongOffset(Offset):
    def utcoffset(self, dt: datetime.datetime | None) -> datetime.timedelta:
        return "+01:00"  # type: ignore[return-value]  # misbehaving on purpose


class UnreadableDict(dict[str, int]):
    def items(self) -> Any:
        raise RuntimeError("items() is broken")


class UnreadableList(list[int]):
    def __iter__(self) -> Iterator[int]:
        raise RuntimeError("__iter__ is broken")


def test_a_field_never_set_names_the_field(make: Maker) -> None:
    assert encode_error(make, Unset(1)) == (
        "at later: field could not be read: AttributeError: 'Unset' object has no attribute 'later'"
    )
    assert encode_error(make, Holder([1, Unset(2)])).startswith("at items[1].later: field could not be read")


@pytest.mark.parametrize(
    ("tzinfo", "cause"),
    [(RaisingOffset(), "RuntimeError: no offset today"), (WrongOffset(), "TypeError: tzinfo.utcoffset()")],
    ids=["raises", "misbehaves"],
)
def test_a_datetime_whose_tzinfo_fails(make: Maker, tzinfo: datetime.tzinfo, cause: str) -> None:
    when = datetime.datetime(2024, 1, 2, tzinfo=tzinfo)
    message = encode_error(make, {"at": [when]})
    assert message.startswith(f"at at[0]: value of type datetime could not be encoded: {cause}")


def test_a_key_that_is_a_str_only_through_its_class_attribute(make: Maker) -> None:
    key = mock.Mock(spec=str)
    assert isinstance(key, str)  # what fooled the check before
    message = encode_error(make, {"outer": {key: 1}})
    assert message.startswith("at outer: dict key <Mock spec='str'")
    assert message.endswith("of type Mock is not a str")


@pytest.mark.parametrize(
    ("container", "cause"),
    [
        (UnreadableDict(a=1), "UnreadableDict could not be encoded: RuntimeError: items() is broken"),
        (UnreadableList([1]), "UnreadableList could not be encoded: RuntimeError: __iter__ is broken"),
    ],
    ids=["dict", "list"],
)
def test_a_container_that_cannot_be_read(make: Maker, container: object, cause: str) -> None:
    assert encode_error(make, {"a": [container]}) == f"at a[0]: value of type {cause}"


def test_an_int_past_the_digit_limit_is_named_an_int_with_its_path(make: Maker) -> None:
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(4300)
    try:
        message = encode_error(make, {"n": [1, 10**5000]})
    finally:
        sys.set_int_max_str_digits(limit)
    assert message.startswith("at n[1]: int value has too many digits to write (Exceeds the limit")
    assert "float" not in message


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (["\ud800", math.nan], "at [0]: str is not encodable as UTF-8 (surrogates not allowed)"),
        ([math.nan, "\ud800"], "at [0]: float value out of JSON range (nan)"),
        ({"a": 1.0, "b": {"c": "\udfff"}, "d": math.inf}, "at b.c: str is not encodable as UTF-8"),
        ({"a": [math.inf], "b": "\ud800"}, "at a[0]: float value out of JSON range (inf)"),
    ],
    ids=["surrogate-then-nan", "nan-then-surrogate", "nested-surrogate-first", "inf-first"],
)
def test_the_first_bad_leaf_is_named_with_its_own_kind(make: Maker, payload: object, expected: str) -> None:
    assert encode_error(make, payload).startswith(expected)


def test_a_lone_surrogate_in_a_dict_key_has_a_path(make: Maker) -> None:
    assert encode_error(make, {"outer": [{"ok": 1, "\ud800": 2}]}) == (
        "at outer[0]: dict key '\\ud800' is not encodable as UTF-8 (surrogates not allowed)"
    )


def test_generated_encoders_hold_no_user_text(make: Maker) -> None:
    """A class or field name is data for the generated encoder, never source."""
    hostile = "Q'\"{__import__('os')._exit(3)}"
    cls = dataclasses.make_dataclass(hostile.replace("'", "").replace('"', ""), [("x", int), ("y", str)])
    cls.__qualname__ = hostile
    assert make("d", "a", cls(1, "}")).raw_params == b'{"x":1,"y":"}"}'
    message = encode_error(make, cls(1, "\ud800"))
    assert message.startswith("at y: str is not encodable")


# ---------------------------------------------------------------------------
# Plain payloads (formerly test_codec.py): compact UTF-8 JSON, what cannot be encoded


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
    shape = Polygon(
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
def test_nan_and_infinities_are_encode_errors(make: Maker, value: float, where: str) -> None:
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
def test_unencodable_values_name_their_type(make: Maker, params: object, named: str) -> None:
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


@pytest.mark.parametrize("key", [1, 1.5, None, True, ("a", "b"), b"k"], ids=lambda key: type(key).__name__)
def test_non_str_dict_keys_are_encode_errors(make: Maker, key: object) -> None:
    with pytest.raises(eventbus.EncodeError, match=type(key).__name__):
        make("d", "a", {"outer": {key: "value"}})


def test_self_containing_payload_is_an_encode_error(make: Maker) -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(eventbus.EncodeError, match="list") as error:
        make("d", "a", loop)
    assert isinstance(error.value.__cause__, RecursionError)


def test_round_trip_through_the_other_constructor(impl: ModuleType) -> None:
    for params in ({"id": 1, "nested": {"k": [1.5, None]}}, Point(1, 2)):
        assert impl.new_data("d", "a", params) == impl.must_data("d", "a", params)
