"""One implementation's objects handed to the other: the other twin's ``Data`` is refused by name.

Collected only where both implementations exist (tests/conftest.py), like everything in twins/.
"""

from __future__ import annotations

from types import ModuleType

import pytest
from helpers_core import other_data_classes


@pytest.mark.parametrize("method", ["call", "publish"])
def test_the_other_implementations_data_is_named_by_its_module(impl: ModuleType, method: str) -> None:
    classes = other_data_classes(impl)
    assert classes  # twins/ is collected only with both implementations
    bus = impl.Bus()
    for cls in classes:
        with pytest.raises(TypeError) as caught:
            getattr(bus, method)(None, cls("users", "created"))
        assert str(caught.value) == (
            f"data must be an eventbus.Data, not {cls.__module__}.Data "
            "(the other implementation's: use eventbus.Data)"
        )
