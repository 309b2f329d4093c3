"""What the codec tests compare: a decode's outcome, with the type of every part of a value."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable


def typed(value: object) -> object:
    """The value with the type of every part, so that 1, 1.0 and True differ, and a float by
    its repr, so that 0.0 and -0.0 differ and NaN equals NaN."""
    if isinstance(value, dict):
        return ("dict", [(typed(key), typed(item)) for key, item in value.items()])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [typed(item) for item in value])
    if isinstance(value, float):
        return ("float", repr(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {field.name: getattr(value, field.name, "<unset>") for field in dataclasses.fields(value)}
        return (type(value).__qualname__, typed(fields))
    return (type(value).__qualname__, value)


def outcome(run: Callable[[], object]) -> tuple[str, object]:
    """What a decode gave: its typed value, or its exception, message and type of cause."""
    try:
        value = run()
    except Exception as exc:  # noqa: BLE001  # compared whole, type and words
        cause = exc.__cause__
        return "error", (type(exc), str(exc), type(cause) if cause is not None else None)
    return "value", typed(value)
