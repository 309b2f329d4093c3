"""The public docstrings are the API reference: complete, runnable, and clean in ``help()``.

docs/reference/ is generated from them (from the pure twin), and ``help()`` shows them on
either twin, so: every public name has more than a summary line; their examples run as
doctests on each implementation; and the compiled ``help()`` shows none of Cython's
artefacts.  (That both twins carry the same text: tests/twins/test_docstrings.py.)
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pydoc
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from conftest import COMPILED_WANTED, IMPLEMENTATIONS
from helpers_core import MODULES

import eventbus
import eventbus.testing
from eventbus._codec import decode as _decode
from eventbus._codec import engine as _engine  # decode's reference text

# Every public name of a twin, and the public members of Bus.
TWIN_NAMES = ["Data", "Bus", "new_data", "must_data", "Event"]
BUS_MEMBERS = [
    "register",
    "on",
    "unregister",
    "handlers",
    "pairs",
    "registrations",
    "call",
    "publish",
    "acall",
    "apublish",
    "call_after_commit",
    "publish_after_commit",
    "observer",
]
# Shared by both implementations (one module each, so one text by construction).
SHARED: dict[str, Callable[[], object]] = {
    "decode": lambda: _decode.decode,
    "EventBusError": lambda: eventbus.EventBusError,
    "EncodeError": lambda: eventbus.EncodeError,
    "DecodeError": lambda: eventbus.DecodeError,
    "UnhandledEventError": lambda: eventbus.UnhandledEventError,
    "Registration": lambda: eventbus.Registration,
    "Event.data": lambda: eventbus.Event.data,
    "Event.decode": lambda: eventbus.Event.decode,
    "Observer": lambda: eventbus.Observer,
    "Observer.dispatch": lambda: eventbus.Observer.dispatch,
    "Observation": lambda: eventbus.Observation,
    "testing.record": lambda: eventbus.testing.record,
    "testing.muted": lambda: eventbus.testing.muted,
    "testing.Recorded": lambda: eventbus.testing.Recorded,
    "otel.OpenTelemetryObserver": lambda: importlib.import_module("eventbus.otel").OpenTelemetryObserver,
    "Transaction": lambda: eventbus.Transaction,
    "Transaction.active": lambda: eventbus.Transaction.active,
    "Transaction.on_commit": lambda: eventbus.Transaction.on_commit,
    "sqlalchemy.transaction": lambda: importlib.import_module("eventbus.sqlalchemy").transaction,
    "django.transaction": lambda: importlib.import_module("eventbus.django").transaction,
}
# The sections a reference entry has (napoleon's Google style), at least one of them.
_SECTIONS = re.compile(r"^(Args|Returns|Raises|Yields|Example|Attributes):$", re.MULTILINE)


def _twin_objects(impl: ModuleType) -> dict[str, Any]:
    found = {name: getattr(impl, name) for name in TWIN_NAMES}
    found.update({f"Bus.{name}": getattr(impl.Bus, name) for name in BUS_MEMBERS})
    return found


def _doc(obj: object) -> str:
    doc = inspect.getdoc(obj)
    assert doc is not None, obj
    return doc


@pytest.mark.parametrize("name", [*TWIN_NAMES, *(f"Bus.{m}" for m in BUS_MEMBERS)])
def test_each_public_name_of_the_twins_has_a_reference_docstring(impl: ModuleType, name: str) -> None:
    doc = _doc(_twin_objects(impl)[name])
    summary, _, rest = doc.partition("\n\n")
    assert "\n" not in summary and summary.endswith("."), summary
    assert rest.strip(), f"{name}: a summary line alone is no reference"
    if name not in ("Bus.on", "Bus.handlers", "Bus.observer"):
        assert _SECTIONS.search(doc), f"{name}: no Args/Returns/Raises/Example section"


@pytest.mark.parametrize("name", sorted(SHARED))
def test_each_shared_public_name_has_a_docstring(name: str) -> None:
    doc = _doc(SHARED[name]())
    assert len(doc.splitlines()) >= 2, f"{name}: {doc!r}"


@pytest.mark.parametrize("engine", ["cython", "python"] if COMPILED_WANTED else ["python"])
def test_decode_has_the_reference_docstring_on_both_codec_engines(engine: str) -> None:
    if engine == "cython" and _engine.available() is None:
        pytest.fail("the compiled codec engine is not built")
    decode = _engine.decode_on(engine)
    assert decode.__doc__ == _decode.decode.__doc__
    assert decode.__name__ == "decode"


def _namespace(impl: ModuleType) -> ModuleType:
    """``eventbus`` as the doctests see it, with ``impl``'s twin names."""
    namespace = ModuleType("eventbus")
    namespace.__dict__.update({name: getattr(eventbus, name) for name in eventbus.__all__})
    namespace.__dict__.update({name: getattr(impl, name) for name in TWIN_NAMES})
    return namespace


def _examples(impl: ModuleType) -> list[tuple[str, object]]:
    named = list(_twin_objects(impl).items())
    named += [(name, get()) for name, get in SHARED.items()]
    return named


def test_the_docstrings_have_examples() -> None:
    finder = doctest.DocTestFinder(recurse=False)
    with_examples = [
        name
        for name, obj in _examples(importlib.import_module(MODULES[IMPLEMENTATIONS[0]]))
        if any(test.examples for test in finder.find(obj, name, module=False, globs={}))
    ]
    assert {"Data", "Bus", "new_data", "Event", "decode", "testing.record"} <= set(with_examples)


def test_docstring_examples_run(impl: ModuleType) -> None:
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    ran = 0
    for name, obj in _examples(impl):
        for test in finder.find(obj, name, module=False, globs={"eventbus": _namespace(impl)}):
            ran += len(test.examples)
            runner.run(test)
    assert ran >= 20
    assert runner.failures == 0, f"{runner.failures} docstring examples failed (see the output above)"


# help() on the compiled classes: what Cython adds must not show.

_ARTEFACTS = [
    "__pyx_vtable__",  # the C method table's capsule
    "__signature__",  # a hand-made signature attribute, listed as data
    "object object at 0x",  # a sentinel default shown by its address
    "__reduce_cython__",
    "__setstate_cython__",
]
_UNSUPPORTED_COMPARISONS = ["__lt__", "__le__", "__gt__", "__ge__"]


def _public_classes(impl: ModuleType) -> list[type]:
    return [impl.Bus, impl.Data, impl.Event]


def _help(obj: object) -> str:
    return pydoc.render_doc(obj, renderer=pydoc.plaintext)  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue]  # not in typeshed


def test_help_of_each_public_class_shows_no_artefacts(impl: ModuleType) -> None:
    for cls in _public_classes(impl):
        text = _help(cls)
        assert [artefact for artefact in _ARTEFACTS if artefact in text] == [], cls
        # Data and Event support == and != only: help() lists no comparison that raises.
        listed = [name for name in _UNSUPPORTED_COMPARISONS if f"|  {name}(" in text]
        assert listed == [], cls


def test_help_shows_each_signature_once(impl: ModuleType) -> None:
    for cls in (impl.Bus, impl.Data):
        text = _help(cls)
        # The class's signature line under its header, and no second one from the docstring.
        # (3.13's pydoc spreads a long one over several lines, up to a line " |  )".)
        lines = re.findall(
            rf"^ \|  {cls.__name__}\((?:.+|\n(?: \|      .*\n)+ \|  \).*)$", text, re.MULTILINE
        )
        assert len(lines) == 1, lines
        for parameter in inspect.signature(cls).parameters:
            assert re.search(rf"[(, ]{parameter}\b", lines[0]), (parameter, lines[0])
    for member in BUS_MEMBERS[:-1]:
        text = _help(getattr(impl.Bus, member))
        # One signature (3.13's pydoc spreads a long one over several lines), no second one
        # from the docstring: its mentions of the method are quoted (``register(...)``).
        lines = [line.strip().removeprefix("async ") for line in text.splitlines()]
        starts = [line for line in lines if line.startswith(f"{member}(")]
        assert len(starts) == 1, f"help(Bus.{member}): {starts}"


def test_unsupported_comparisons_still_refuse(impl: ModuleType) -> None:
    data = impl.Data("users", "created")
    assert data == impl.Data("users", "created") and not data != impl.Data("users", "created")  # noqa: SIM202
    with pytest.raises(TypeError):
        _ = data < data  # pyright: ignore[reportOperatorIssue]
    assert impl.Data.__lt__(data, data) is NotImplemented


def test_signatures_read_cleanly_in_help(impl: ModuleType) -> None:
    text = _help(impl.Bus.register)
    assert re.search(r"action(: 'Any')? ?= ?<unset>,\s*handler(: 'Any')? ?= ?<unset>", text), text[:300]
