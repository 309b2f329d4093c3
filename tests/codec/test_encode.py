"""Encoding (``eventbus._encode``) against hostile payloads, through both implementations.

Every failure is an ``EncodeError`` naming the event, the place in the payload and what is
wrong there; nothing else gets out of ``new_data``/``must_data``.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import sys
import typing
from collections.abc import Iterator
from types import ModuleType
from typing import Any
from unittest import mock

import pytest

import eventbus

Maker = typing.Callable[..., Any]


@pytest.fixture(params=["new_data", "must_data"])
def make(request: pytest.FixtureRequest, impl: ModuleType) -> Maker:
    maker: Maker = getattr(impl, request.param)
    return maker


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
    [(UnreadableDict(a=1), "UnreadableDict could not be encoded: RuntimeError: items() is broken"),
     (UnreadableList([1]), "UnreadableList could not be encoded: RuntimeError: __iter__ is broken")],
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
