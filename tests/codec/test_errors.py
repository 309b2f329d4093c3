"""The codec's public errors (``eventbus._errors``): their hierarchy, and how they are caught."""

from __future__ import annotations

from types import ModuleType

import pytest

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
