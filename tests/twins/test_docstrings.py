"""What tools see: the public docstrings are the same text on both twins (issue 13).

Collected only where both implementations exist (tests/conftest.py), like everything in twins/.
"""

from __future__ import annotations

import importlib
import inspect

PUBLIC = ["Data", "Bus", "new_data", "must_data"]
METHODS = ["register", "on", "handlers", "call", "publish", "acall", "apublish"]


def test_public_docstrings_are_the_same_on_both_twins() -> None:
    compiled = importlib.import_module("eventbus._core")
    pure = importlib.import_module("eventbus._core_py")
    for name in PUBLIC:
        assert inspect.getdoc(getattr(compiled, name)) == inspect.getdoc(getattr(pure, name)), name
    for name in METHODS:
        assert inspect.getdoc(getattr(compiled.Bus, name)) == inspect.getdoc(getattr(pure.Bus, name)), name
