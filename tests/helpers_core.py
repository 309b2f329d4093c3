"""Small helpers shared by the behaviour tests of the core (not a test module)."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

Handler = Callable[[object, object], object]


class WeirdStr(str):
    """A str subclass that redefines equality and hashing: the core must keep a plain copy."""

    def __eq__(self, other: object) -> bool:
        return False

    def __ne__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 42


def recorder(log: list[Any], name: str, raises: BaseException | None = None) -> Handler:
    """A handler named ``name`` that appends ``name`` to ``log``, then raises ``raises`` if given."""

    def handler(ctx: object, data: object) -> None:
        log.append(name)
        if raises is not None:
            raise raises

    handler.__qualname__ = f"recorder.{name}"
    return handler


def other_data_classes(impl: ModuleType) -> list[type]:
    """The ``Data`` classes of the implementations other than ``impl`` that import here."""
    classes = []
    for name in ("eventbus._core", "eventbus._core_py"):
        if name != impl.__name__:
            try:
                classes.append(importlib.import_module(name).Data)
            except ImportError:  # not built: the pure case has no other implementation
                pass
    return classes


def quiet_logger() -> logging.Logger:
    """A logger that records nothing and formats nothing: for runs that fail on purpose.

    (pytest attaches its capture handlers even to loggers that do not propagate, and a
    captured record keeps its traceback, and so the failing frames, alive.)
    """
    logger = logging.getLogger("tests.quiet")
    logger.setLevel(logging.CRITICAL + 1)
    return logger


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def collecting_logger(name: str = "tests.collect") -> tuple[logging.Logger, list[logging.LogRecord]]:
    """A fresh logger and the list its records land in.

    Outside the logging registry, so neither pytest's capture nor a test running
    beside this one in another thread (pytest-run-parallel) sees its records.
    """
    logger = logging.Logger(name)  # noqa: LOG001 (kept out of the registry on purpose)
    collector = _Collector()
    logger.addHandler(collector)
    logger.propagate = False
    return logger, collector.records
