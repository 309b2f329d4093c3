"""``Data``: validation, immutability, value semantics, pickles and copies, ``must_data``, no subclasses.

(Pickles loaded under the other implementation: ``twins/test_pickling.py``.)
"""

from __future__ import annotations

import copy
import pickle
import re
from types import ModuleType

import pytest
from helpers_core import WeirdBytes, WeirdStr, value_id

import eventbus

PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)


def test_fields_positional_and_keyword(impl: ModuleType) -> None:
    positional = impl.Data("users", "created", b'{"id":7}')
    keyword = impl.Data(domain="users", action="created", raw_params=b'{"id":7}')
    for data in (positional, keyword):
        assert data.domain == "users"
        assert data.action == "created"
        assert data.raw_params == b'{"id":7}'


def test_raw_params_defaults_to_none(impl: ModuleType) -> None:
    assert impl.Data("users", "created").raw_params is None
    assert impl.Data("users", "created", None).raw_params is None


def test_empty_payload_is_kept_distinct_from_none(impl: ModuleType) -> None:
    data = impl.Data("users", "created", b"")
    assert data.raw_params == b""
    assert data != impl.Data("users", "created")


@pytest.mark.parametrize("field", ["domain", "action"])
@pytest.mark.parametrize("bad", [None, 1, 1.5, b"users", ["users"], object()], ids=value_id)
def test_non_str_name_is_a_type_error(impl: ModuleType, field: str, bad: object) -> None:
    arguments = {"domain": "users", "action": "created", field: bad}
    with pytest.raises(TypeError, match=field):
        impl.Data(**arguments)


@pytest.mark.parametrize("field", ["domain", "action"])
@pytest.mark.parametrize("empty", ["", WeirdStr("")], ids=["str", "str-subclass"])
def test_empty_name_is_a_value_error(impl: ModuleType, field: str, empty: str) -> None:
    arguments = {"domain": "users", "action": "created", field: empty}
    with pytest.raises(ValueError, match=field):
        impl.Data(**arguments)


@pytest.mark.parametrize("bad", ["{}", bytearray(b"{}"), memoryview(b"{}"), 0, [], {}], ids=value_id)
def test_raw_params_must_be_bytes_or_none(impl: ModuleType, bad: object) -> None:
    with pytest.raises(TypeError, match="raw_params"):
        impl.Data("users", "created", bad)


def test_name_errors_are_not_value_errors_and_vice_versa(impl: ModuleType) -> None:
    # The two failures are told apart by type, as the contract says.
    with pytest.raises(TypeError) as wrong_type:
        impl.Data(1, "created")
    assert not isinstance(wrong_type.value, ValueError)
    with pytest.raises(ValueError) as empty:
        impl.Data("users", "")
    assert not isinstance(empty.value, TypeError)


@pytest.mark.parametrize("field", ["domain", "action"])
def test_str_subclass_is_stored_as_plain_str(impl: ModuleType, field: str) -> None:
    arguments = {"domain": "users", "action": "created", field: WeirdStr("name")}
    data = impl.Data(**arguments)
    value = getattr(data, field)
    assert type(value) is str
    assert value == "name"
    assert data == impl.Data(**{**arguments, field: "name"})
    assert hash(data) == hash(impl.Data(**{**arguments, field: "name"}))


def test_bytes_subclass_is_stored_as_plain_bytes(impl: ModuleType) -> None:
    data = impl.Data("users", "created", WeirdBytes(b"[1]"))
    assert type(data.raw_params) is bytes
    assert data.raw_params == b"[1]"


@pytest.mark.parametrize("name", ["domain", "action", "raw_params", "other"])
def test_assigning_or_deleting_an_attribute_raises(impl: ModuleType, name: str) -> None:
    data = impl.Data("users", "created", b"1")
    with pytest.raises(AttributeError):
        setattr(data, name, "changed")
    with pytest.raises(AttributeError):
        delattr(data, name)
    assert (data.domain, data.action, data.raw_params) == ("users", "created", b"1")
    assert not hasattr(data, "other")


def test_init_cannot_be_called_again_to_mutate(impl: ModuleType) -> None:
    data = impl.Data("users", "created", b"1")
    try:
        data.__init__("other", "changed", b"2")
    except (TypeError, AttributeError):
        pass
    assert (data.domain, data.action, data.raw_params) == ("users", "created", b"1")


def test_cannot_be_subclassed(impl: ModuleType) -> None:
    expected = f"type '{impl.__name__}.Data' is not an acceptable base type"
    with pytest.raises(TypeError, match=f"^{re.escape(expected)}$"):

        class Sub(impl.Data):  # type: ignore[misc,name-defined]
            pass


@pytest.mark.parametrize(
    "other",
    [
        ("other", "created", b"1"),
        ("users", "other", b"1"),
        ("users", "created", b"2"),
        ("users", "created", None),
    ],
    ids=["domain", "action", "raw_params", "raw_params-none"],
)
def test_equal_by_all_three_fields(impl: ModuleType, other: tuple[str, str, bytes | None]) -> None:
    data = impl.Data("users", "created", b"1")
    same = impl.Data("users", "created", b"1")
    assert data == same
    assert not data != same  # noqa: SIM202 (__ne__ on its own)
    assert hash(data) == hash(same)
    different = impl.Data(*other)
    assert data != different
    assert not data == different  # noqa: SIM201 (__eq__ on its own)


def test_usable_as_dict_key_and_in_sets(impl: ModuleType) -> None:
    events = {impl.Data("a", "b"), impl.Data("a", "b"), impl.Data("a", "b", b"1")}
    assert len(events) == 2
    assert {impl.Data("a", "b"): 1}[impl.Data("a", "b")] == 1


@pytest.mark.parametrize("other", [("users", "created", None), "users", None, 1], ids=repr)
def test_not_equal_to_other_types(impl: ModuleType, other: object) -> None:
    data = impl.Data("users", "created")
    assert data != other
    assert not data == other  # noqa: SIM201 (__eq__ on its own)


@pytest.mark.parametrize("raw_params", [None, b'{"name":"\xc3\xa9"}'], ids=["none", "bytes"])
def test_repr_is_readable_and_evaluates_back(impl: ModuleType, raw_params: bytes | None) -> None:
    data = impl.Data("users", "created", raw_params)
    text = repr(data)
    assert text.startswith("Data(")
    assert "'users'" in text and "'created'" in text and repr(raw_params) in text
    assert eval(text, {"Data": impl.Data}) == data


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_pickled_data_loads_as_the_active_implementations_and_dispatches(
    impl: ModuleType, protocol: int
) -> None:
    data = impl.Data("users", "created", b"[1]")
    restored = pickle.loads(pickle.dumps(data, protocol=protocol))
    assert type(restored) is eventbus.Data  # the other twin's, when impl is not the active one
    assert (restored.domain, restored.action, restored.raw_params) == ("users", "created", b"[1]")
    seen: list[object] = []
    bus = eventbus.Bus()
    bus.register("users", "created", lambda ctx, d: seen.append(d))
    bus.call(None, restored)
    assert seen == [restored]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_pickle_names_eventbus_never_an_implementation_module(impl: ModuleType, protocol: int) -> None:
    for value in (impl.Data("users", "created"), impl.Event("users", "created", dict)):
        blob = pickle.dumps(value, protocol=protocol)
        assert b"_core" not in blob, blob
        assert b"eventbus" in blob, blob


def test_copies_of_data_and_events_are_themselves(impl: ModuleType) -> None:
    """Immutable values: a copy (shallow or deep) is the object itself, of its own implementation."""
    for value in (impl.Data("users", "created", b"1"), impl.Event("users", "created", list[int])):
        assert copy.copy(value) is value
        assert copy.deepcopy(value) is value
        assert copy.deepcopy([value, value]) == [value, value]


@pytest.mark.parametrize("params", [None, {"id": 1, "name": "é"}, [1, 2.5, True], "text"], ids=repr)
def test_must_data_encodes_as_new_data(impl: ModuleType, params: object) -> None:
    """``must_data`` and ``new_data`` differ only in what the call site says: same bytes."""
    assert impl.must_data("users", "created", params) == impl.new_data("users", "created", params)


@pytest.mark.parametrize("params", [{1, 2}, {"x": float("nan")}, {1: "a"}, object()], ids=value_id)
def test_must_data_raises_the_encode_error_new_data_raises(impl: ModuleType, params: object) -> None:
    with pytest.raises(eventbus.EncodeError) as must:
        impl.must_data("users", "created", params)
    with pytest.raises(eventbus.EncodeError) as new:
        impl.new_data("users", "created", params)
    assert str(must.value) == str(new.value)
    assert type(must.value.__cause__) is type(new.value.__cause__)


def test_pattern_matching(impl: ModuleType) -> None:
    match impl.Data("users", "created", b"1"):
        case impl.Data("users", action, raw):
            assert (action, raw) == ("created", b"1")
        case _:
            pytest.fail("Data did not match positionally")
