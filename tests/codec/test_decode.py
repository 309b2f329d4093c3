"""Decoding (``eventbus._codec.decode``), through both implementations: plain JSON values and
targets, and hostile inputs and targets.  (Typed payloads, both ways: test_types.py.)"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import sys
import typing
from types import ModuleType
from typing import Any, Literal, Union

import pytest
from codec_models import LabelledTree, Point, Polygon, Scalars, WithDefaults

import eventbus
from eventbus import decode


def type_name(cls: Any) -> str:
    """How an error message spells a target type: the class name, or the generic as written."""
    return cls.__qualname__ if type(cls) is type else repr(cls)


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
    assert decode_error(impl.Data("d", "a", b"4"), Perm).endswith(
        "expected a value of Perm (one of [1, 2]), got 4"
    )
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


# ---------------------------------------------------------------------------
# Plain targets: JSON values, builtins, generics, dataclasses


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
    nested = eventbus.decode(impl.new_data("d", "a", {"name": "n", "points": [], "tags": {"w": 2}}), Polygon)
    assert type(nested.tags["w"]) is float


@pytest.mark.parametrize(
    "cls, params, got",
    [
        (int, True, "bool"),
        (int, False, "bool"),
        (bool, 1, "int"),
        (bool, 0, "int"),
        (int, 2.5, "float"),
        (int, 3.0, "float"),
        (float, True, "bool"),
        (float, "1", "str"),
        (str, 1, "int"),
        (list, {}, "dict"),
        (dict, [], "list"),
        (list[int], [1, True], "bool"),
        (list[int], [1, "2"], "str"),
        (dict[str, int], {"a": "1"}, "str"),
        (int | None, "x", "str"),
        (str, None, "null"),
    ],
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
    shape = Polygon(
        name="tri", points=[Point(y=1, x=2), Point(y=3, x=4)], origin=Point(0, 0), tags={"w": 1.5}
    )
    decoded = eventbus.decode(impl.must_data("shapes", "drawn", shape), Polygon)
    assert decoded == shape
    assert type(decoded.points[0]) is Point
    assert type(decoded.origin) is Point


def test_decode_recursive_dataclass(impl: ModuleType) -> None:
    tree = LabelledTree("root", [LabelledTree("a"), LabelledTree("b", [LabelledTree("c")])])
    assert eventbus.decode(impl.must_data("d", "a", tree), LabelledTree) == tree


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
        eventbus.decode(impl.new_data("shapes", "drawn", params), Polygon)
    message = str(error.value)
    assert "'shapes'/'drawn'" in message
    assert "Polygon" in message
    assert "points[1].y" in message
    assert "int" in message and "str" in message


def test_decode_dataclass_from_a_non_object(impl: ModuleType) -> None:
    with pytest.raises(eventbus.DecodeError, match="Point"):
        eventbus.decode(impl.new_data("d", "a", [1, 2]), Point)


@pytest.mark.parametrize("raw", [b"{not json", b'{"a":', b"", b"\xff\xfe", b"[1,]", b"NaN1"], ids=repr)
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
    [
        set,
        bytes,
        object,
        complex,
        NotADataclass,
        set[int],
        dict[int, str],
        frozenset[str],
        int | bytes,
        list[int | complex],
        tuple[int, set[int]],
        42,
        "int",
        Point(1, 2),
    ],
    ids=repr,
)
def test_decode_into_unsupported_cls_is_a_type_error(impl: ModuleType, cls: Any) -> None:
    with pytest.raises(TypeError):
        eventbus.decode(impl.new_data("d", "a", {"x": 1}), cls)


def test_decode_rejects_non_events(impl: ModuleType) -> None:
    with pytest.raises(TypeError):
        eventbus.decode(typing.cast(Any, {"raw_params": b"1"}))


UTF8_ONLY = [
    (b"\xef\xbb\xbf{}", "Unexpected UTF-8 BOM (decode using utf-8-sig)"),
    ("{}".encode("utf-16"), "the payload is not UTF-8: invalid start byte at byte 0"),
    ("{}".encode("utf-16-le"), "Expecting property name enclosed in double quotes"),
    ("[1]".encode("utf-32"), "the payload is not UTF-8: invalid start byte at byte 0"),
    (b'"\xed\xa0\x80"', "the payload is not UTF-8: invalid continuation byte at byte 1"),
    (b'"\xc3"', "the payload is not UTF-8: invalid continuation byte at byte 1"),
]


@pytest.mark.parametrize(("raw", "why"), UTF8_ONLY, ids=repr)
@pytest.mark.parametrize("cls", [None, dict, list[int], Point], ids=["no-cls", "dict", "list", "dataclass"])
def test_the_payload_is_utf8_json_without_a_bom(impl: ModuleType, raw: bytes, why: str, cls: Any) -> None:
    """RFC 8259: JSON between systems is UTF-8, never written with a BOM, which a reader may skip:
    eventbus refuses both (json.loads(bytes) would read UTF-16 and UTF-32 and skip the BOM), as the
    libraries' readers do, so that every reader of a payload agrees."""
    data = impl.Data("d", "a", raw)
    with pytest.raises(eventbus.DecodeError) as error:
        eventbus.decode(data) if cls is None else eventbus.decode(data, cls)
    assert f"invalid JSON ({why}" in str(error.value)
    assert str(error.value).startswith("cannot decode event 'd'/'a' into ")


# json's pure-Python scanner (what PyPy runs: it has no _json) reads numbers with \d, which
# matches every Unicode digit; the reference decoder then checks that a number's digits are ASCII.
PURE_SCANNER = """
import json, json.scanner
json.scanner.make_scanner = json.scanner.py_make_scanner
json.scanner.c_make_scanner = None
import json.decoder
json.decoder.scanstring = json.decoder.py_scanstring
import eventbus
from eventbus._codec import decode as reference
out = []
for raw in (b"1\\xd9\\xa3", b"[1.\\xd9\\xa3]", b"{\\"a\\": 1e\\xd9\\xa3}", b"[13, 1.5, -2e3]"):
    try:
        out.append(repr(reference.decode(eventbus.Data("d", "a", raw))))
    except eventbus.DecodeError as exc:
        out.append(str(exc))
print(json.dumps(out))
"""


def test_digits_beyond_ascii_are_refused_by_a_pure_python_json_scanner(tmp_path: Any) -> None:
    from helpers_core import run_python

    result = run_python("-c", PURE_SCANNER, pure=True, cwd=tmp_path, switches={})
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    # Refused: by the decoder's own check, or, where json's pure scanner reads ASCII digits only
    # (CPython 3.13.5 and later), by that scanner.
    for message in found[:3]:
        assert message.startswith("cannot decode event 'd'/'a' into object: invalid JSON ("), message
    assert found[3] == "[13, 1.5, -2000.0]"


def test_the_ascii_number_checks_pass_ascii_and_refuse_other_digits() -> None:
    from eventbus._codec import decode as reference

    assert reference.ascii_int("-13") == -13
    assert reference.ascii_finite_float("1.5e3") == 1500.0
    for check, text in ((reference.ascii_int, "1\u0663"), (reference.ascii_finite_float, "1.\u0663")):
        with pytest.raises(ValueError, match="not ASCII"):
            check(text)
    with pytest.raises(ValueError, match="beyond the range"):
        reference.ascii_finite_float("1e999")
