"""What tools see: the public docstrings are the same text on both twins.

They are the API reference (docs/reference/ is generated from the pure twin's) and what
``help()`` shows on either.  Collected only where both implementations exist
(tests/conftest.py), like everything in twins/.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

# Every public name of a twin, and every public member of its Bus.
PUBLIC = ["Data", "Bus", "new_data", "must_data", "Event"]
MEMBERS = [
    "register",
    "on",
    "unregister",
    "handlers",
    "pairs",
    "call",
    "publish",
    "acall",
    "apublish",
    "call_after_commit",
    "publish_after_commit",
    "observer",
]


def _public(module_name: str, name: str) -> object:
    module = importlib.import_module(module_name)
    owner, _, member = name.partition(".")
    found: object = getattr(module, owner)
    return getattr(found, member) if member else found


@pytest.mark.parametrize("name", [*PUBLIC, *(f"Bus.{member}" for member in MEMBERS)])
def test_public_docstrings_are_the_same_on_both_twins(name: str) -> None:
    compiled = inspect.getdoc(_public("eventbus._core", name))
    pure = inspect.getdoc(_public("eventbus._core_py", name))
    assert compiled is not None and compiled.strip()
    assert compiled == pure
