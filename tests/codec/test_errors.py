"""The codec's public errors (``eventbus._errors``): their hierarchy, how they are caught, and
that repr, tracebacks and pickles name them ``eventbus.*``."""

from __future__ import annotations

import pickle
import traceback
from types import ModuleType

import pytest
from helpers_core import public_errors

import eventbus


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


PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_public_errors_report_eventbus_in_repr_traceback_and_pickle(impl: ModuleType, protocol: int) -> None:
    for error in public_errors(impl):
        name = type(error).__qualname__
        assert type(error) is getattr(eventbus, name)
        assert type(error).__module__ == "eventbus"
        assert repr(error) == f"{name}({str(error)!r})"
        assert traceback.format_exception_only(error) == [f"eventbus.{name}: {error}\n", "a note\n"]
        blob = pickle.dumps(error, protocol=protocol)
        assert b"_errors" not in blob
        restored = pickle.loads(blob)
        assert type(restored) is type(error)
        assert restored.args == error.args and restored.__notes__ == ["a note"]
