"""Decoding (``eventbus._decode``) against hostile inputs and targets, through both implementations."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import sys
import typing
from types import ModuleType
from typing import Any, Literal, Union

import pytest

import eventbus
from eventbus import decode


def decode_error(data: Any, cls: object) -> str:
    with pytest.raises(eventbus.DecodeError) as error:
        decode(data, cls)
    return str(error.value)


@dataclasses.dataclass
class Cat:
    name: str


@dataclasses.dataclass
class Dog:
    name: str


# 1. The converter cache keyed unions by ==, and Cat | Dog == Dog | Cat.


@pytest.mark.parametrize(
    ("first", "then", "expected"),
    [
        (Cat | Dog, Dog | Cat, Dog),
        (Dog | Cat, Cat | Dog, Cat),
        (Cat | Dog, Union[Dog, Cat], Dog),  # noqa: UP007  # the spelling is the point
        (list[Cat | Dog], list[Dog | Cat], Dog),
        (Cat | Dog | None, Dog | Cat | None, Dog),
    ],
    ids=repr,
)
def test_union_order_decides_whatever_was_decoded_first(
    impl: ModuleType, first: object, then: object, expected: type
) -> None:
    raw = b'{"name":"Rex"}'
    wrapped = typing.get_origin(first) is list
    data = impl.Data("pets", "adopted", b"[" + raw + b"]" if wrapped else raw)
    decode(data, first)
    result = decode(data, then)
    assert type(result[0] if wrapped else result) is expected


def test_datetime_or_date_in_either_order(impl: ModuleType) -> None:
    data = impl.Data("d", "a", b'"2024-05-06"')
    assert type(decode(data, datetime.datetime | datetime.date)) is datetime.datetime
    assert type(decode(data, datetime.date | datetime.datetime)) is datetime.date
    assert type(decode(data, datetime.datetime | datetime.date)) is datetime.datetime


def test_literal_order_shows_in_its_message_whatever_came_first(impl: ModuleType) -> None:
    data = impl.Data("d", "a", b'"c"')
    assert decode_error(data, Literal["a", "b"]).endswith("expected one of ['a', 'b'], got 'c'")
    assert decode_error(data, Literal["b", "a"]).endswith("expected one of ['b', 'a'], got 'c'")


# 2. Deep payloads: DecodeError, not RecursionError.


@dataclasses.dataclass
class Tree:
    children: list[Tree]


@pytest.mark.parametrize("depth", [300, 2000])
def test_deeply_nested_valid_json_is_a_decode_error(impl: ModuleType, depth: int) -> None:
    raw = b'{"children":[' * depth + b'{"children":[]}' + b"]}" * depth
    assert len(raw) > 0 and sys.getrecursionlimit() < depth * 10
    message = decode_error(impl.Data("d", "a", raw), Tree)
    assert message == "cannot decode event 'd'/'a' into Tree: the payload is nested too deeply"


def test_a_tree_within_the_limit_still_decodes(impl: ModuleType) -> None:
    raw = b'{"children":[' * 20 + b'{"children":[]}' + b"]}" * 20
    tree = decode(impl.Data("d", "a", raw), Tree)
    for _ in range(20):
        tree = tree.children[0]
    assert tree == Tree([])


# 3. Generated code never holds user text.

HOSTILE_NAMES = [
    "Q'",
    'Q"',
    "Q{__import__('os')._exit(3)}",
    "Q'{__import__('os')._exit(3)}'",
    "Q\\",
    "Q\n",
]


@pytest.mark.parametrize("qualname", HOSTILE_NAMES, ids=repr)
def test_class_names_are_never_pasted_into_generated_source(impl: ModuleType, qualname: str) -> None:
    cls = dataclasses.make_dataclass("Hostile", [("x", int)])
    cls.__qualname__ = qualname
    assert decode(impl.Data("d", "a", b'{"x":1}'), cls) == cls(1)
    assert decode_error(impl.Data("d", "a", b"[]"), cls) == (
        f"cannot decode event 'd'/'a' into {qualname}: expected {qualname} (a JSON object), got list"
    )

    def refuse(self: Any) -> None:
        raise ValueError("{no}")

    fresh = dataclasses.make_dataclass("Hostile", [("x", int)], namespace={"__post_init__": refuse})
    fresh.__qualname__ = qualname
    assert decode_error(impl.Data("d", "a", b'{"x":1}'), fresh) == (
        f"cannot decode event 'd'/'a' into {qualname}: {qualname}() refused the value: ValueError: {{no}}"
    )


def test_keyword_only_fields_and_custom_init_still_bind_by_name(impl: ModuleType) -> None:
    @dataclasses.dataclass(kw_only=True)
    class Late:
        b: int
        a: int

    @dataclasses.dataclass(init=False)
    class Custom:
        a: int
        b: int

        def __init__(self, b: int, a: int) -> None:  # the other order
            self.a, self.b = a, b

    data = impl.Data("d", "a", b'{"a":1,"b":2}')
    assert decode(data, Late) == Late(a=1, b=2)
    assert (decode(data, Custom).a, decode(data, Custom).b) == (1, 2)


# 4. Whatever encodes decodes to an equal value.


class Perm(enum.Flag):
    READ = 1
    WRITE = 2


class Bits(enum.IntFlag):
    LOW = 1
    HIGH = 2


class Shape(enum.Enum):
    PAIR = (1, 2)
    LIST = [3, 4]  # noqa: RUF012  # an unhashable value on purpose
    MAP = {"k": [1]}  # noqa: RUF012


MEMBERS = [
    (Perm.READ | Perm.WRITE, Perm),
    (Perm(0), Perm),
    (Perm.WRITE, Perm),
    (Bits.LOW | Bits.HIGH, Bits),
    (Bits(0), Bits),
    (Shape.PAIR, Shape),
    (Shape.LIST, Shape),
    (Shape.MAP, Shape),
]


@pytest.mark.parametrize(("member", "cls"), MEMBERS, ids=repr)
def test_every_member_that_encodes_decodes_back(impl: ModuleType, member: enum.Enum, cls: Any) -> None:
    data = impl.new_data("d", "a", member)
    assert decode(data, cls) == member
    assert decode(impl.new_data("d", "a", [member]), list[cls]) == [member]


def test_flags_refuse_what_is_not_theirs(impl: ModuleType) -> None:
    assert decode_error(impl.Data("d", "a", b"4"), Perm).endswith("expected a value of Perm (one of [1, 2]), got 4")
    assert decode_error(impl.Data("d", "a", b"true"), Perm).endswith("got True")


def test_literal_of_members_with_list_values(impl: ModuleType) -> None:
    assert decode(impl.Data("d", "a", b"[3,4]"), Literal[Shape.LIST]) is Shape.LIST
    assert decode_error(impl.Data("d", "a", b"[4,3]"), Literal[Shape.LIST]).endswith("got [4, 3]")


# 8. NaN, Infinity and 1e999 are not JSON.


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"NaN", "NaN is not a JSON number"),
        (b"Infinity", "Infinity is not a JSON number"),
        (b"-Infinity", "-Infinity is not a JSON number"),
        (b"1e999", "number 1e999 is beyond the range of float"),
        (b"-1E+400", "number -1E+400 is beyond the range of float"),
        (b"[1.5, 1" + b"0" * 400 + b".0]", "is beyond the range of float"),
    ],
    ids=["nan", "inf", "-inf", "1e999", "-1E+400", "long"],
)
@pytest.mark.parametrize("cls", [float, list[float], Any, None], ids=["float", "list", "Any", "no-cls"])
def test_non_finite_numbers_are_refused(impl: ModuleType, raw: bytes, why: str, cls: object) -> None:
    is_list = raw.startswith(b"[")
    if cls is float and is_list:
        cls = list[float]
    data = impl.Data("d", "a", raw if is_list or cls in (float, Any, None) else b"[" + raw + b"]")
    with pytest.raises(eventbus.DecodeError) as error:
        decode(data) if cls is None else decode(data, cls)
    assert "invalid JSON (" in str(error.value)
    assert why in str(error.value)


def test_large_but_finite_floats_decode(impl: ModuleType) -> None:
    assert decode(impl.Data("d", "a", b"[1e308,-1e-400,1E+2]"), list[float]) == [1e308, -0.0, 100.0]
