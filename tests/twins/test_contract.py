"""The twin contract: what the module docstrings of ``_core.pyx`` and ``_core_py.py`` say
about which functions are written identically, checked against the sources.

Both sources are parsed as Python: the Cython one after a line-by-line rewrite that drops
what only Cython has (``cdef extern`` blocks, ``cimport``, ``@cython.*`` decorators, C
attribute declarations) and turns ``cdef``/``cpdef`` functions, typed parameters and
locals, casts (``<Data>x``) and address-of (``&x``) into plain Python.  The pure source
loses its annotations, ``typing.cast`` calls, ``@overload`` stubs and ``if TYPE_CHECKING:``
blocks.  Two functions are identical when their syntax trees are (so comments and layout
do not count; docstrings, names and every statement do).

This reads the sources of the tree the tests come from (``src/eventbus`` beside ``tests``),
whichever implementation is installed: it checks the code, not an import.
"""

from __future__ import annotations

import ast
import functools
import re
import threading
from pathlib import Path

import pytest

SOURCES = Path(__file__).resolve().parents[2] / "src" / "eventbus"
COMPILED = SOURCES / "_core.pyx"
PURE = SOURCES / "_core_py.py"

SECTIONS = {
    "Identical in both twins:": "identical",
    "Different on purpose:": "different",
    "Only in the compiled twin:": "compiled",
    "Only in the pure twin:": "pure",
}

# -- The Cython source as Python -------------------------------------------------------

_FUNCTION = re.compile(
    r"^(\s*)c?p?def\s+(?:inline\s+)?(?:[A-Za-z_][\w.]*\s*\*?\s+)?([A-Za-z_]\w*)\((.*)\)"
    r"\s*(?:except\s*\??\s*-?\d+|noexcept)?\s*:(.*)$"
)
_DECLARATION = re.compile(
    r"^(\s*)cdef\s+(?:readonly\s+|public\s+)?[A-Za-z_][\w.]*\s*\*?\s+([A-Za-z_]\w*)\s*(=.*)?$"
)
_CAST = re.compile(r"<[A-Za-z_]\w*(?: \*)?>(?=[\w(])")


def _untyped_parameters(text: str) -> str:
    """``str what, object value=None`` -> ``what, value=None`` (top-level commas only)."""
    parameters, depth, current = [], 0, ""
    for char in text:
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            parameters.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parameters.append(current)
    untyped = []
    for parameter in parameters:
        head, equals, default = parameter.partition("=")
        words = head.split()
        if len(words) == 2 and not words[0].startswith("*"):
            head = words[1]
        untyped.append(head.strip() + equals + default)
    return ", ".join(untyped)


def cython_as_python(text: str) -> str:
    """The ``.pyx`` source rewritten as Python, line by line (see the module docstring)."""
    lines: list[str] = []
    skipping_below: int | None = None
    for line in text.splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if skipping_below is not None:
            if not stripped or indent > skipping_below:
                continue
            skipping_below = None
        if stripped.startswith("cdef extern from"):
            skipping_below = indent
            continue
        if re.match(r"(from\s+\S+\s+)?cimport\b", stripped) or stripped.startswith("@cython."):
            continue
        line = re.sub(r"^(\s*)cdef class ", r"\1class ", line)
        function = _FUNCTION.match(line)
        if function and "=" not in line.split("(", 1)[0]:
            indent_text, name, parameters, rest = function.groups()
            line = f"{indent_text}def {name}({_untyped_parameters(parameters)}):{rest}"
        else:
            declaration = _DECLARATION.match(line.split("#", 1)[0].rstrip())
            if declaration:
                indent_text, name, value = declaration.groups()
                if value is None:
                    continue  # a C attribute or local declared without a value
                line = f"{indent_text}{name} {value}"
        line = _CAST.sub("", line)
        line = re.sub(r"([(,]\s*)&", r"\1", line)
        lines.append(line)
    return "\n".join(lines) + "\n"


# -- Both as comparable functions ------------------------------------------------------


class _Untyped(ast.NodeTransformer):
    """Drops what only type checkers read: annotations and ``typing.cast``."""

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.annotation = None
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        node.returns = None
        self.generic_visit(node)
        return node

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AsyncFunctionDef:
        node.returns = None
        self.generic_visit(node)
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.Assign | None:
        if node.value is None:
            return None
        return ast.copy_location(ast.Assign(targets=[node.target], value=self.visit(node.value)), node)

    def visit_Call(self, node: ast.Call) -> ast.expr:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == "cast" and len(node.args) == 2:
            return node.args[1]
        return node


def _typing_only(node: ast.stmt) -> bool:
    if isinstance(node, ast.If):
        return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return any(isinstance(d, ast.Name) and d.id == "overload" for d in node.decorator_list)
    return False


_PARSING = threading.Lock()


def functions(source: str) -> dict[str, str]:
    """Module functions and class methods (``Bus.observer.setter`` for a property's), each
    as the dump of its untyped syntax tree.  Nested functions are part of their parent."""
    with _PARSING:  # CPython 3.11's parser fails when threads parse at once (stress rerun)
        tree = _Untyped().visit(ast.parse(source))
    found: dict[str, str] = {}

    def collect(prefix: str, body: list[ast.stmt]) -> None:
        for node in body:
            if _typing_only(node):
                continue
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + node.name
                for decorator in node.decorator_list:
                    if isinstance(decorator, ast.Attribute) and decorator.attr in ("setter", "deleter"):
                        name += "." + decorator.attr
                assert name not in found, f"{name} is defined twice"
                found[name] = ast.dump(node)
            elif isinstance(node, ast.ClassDef) and not prefix:
                collect(node.name + ".", node.body)

    collect("", tree.body)
    return found


@functools.cache
def _functions_of(text: str, cython: bool) -> dict[str, str]:
    return functions(cython_as_python(text) if cython else text)


def compiled_functions(text: str | None = None) -> dict[str, str]:
    return dict(_functions_of(COMPILED.read_text() if text is None else text, True))


def pure_functions(text: str | None = None) -> dict[str, str]:
    return dict(_functions_of(PURE.read_text() if text is None else text, False))


# -- The contract as the docstrings state it ------------------------------------------


def module_docstring(path: Path) -> str:
    text = path.read_text()
    if path.suffix == ".pyx":
        text = cython_as_python(text)
    with _PARSING:
        tree = ast.parse(text)
    docstring = ast.get_docstring(tree, clean=False)
    assert docstring, f"{path.name} has no module docstring"
    return docstring


def contract_text(path: Path) -> str:
    docstring = module_docstring(path)
    start = docstring.find("The twin contract")
    assert start >= 0, f"{path.name}'s docstring states no twin contract"
    return docstring[start:]


def contract(text: str) -> dict[str, list[str]]:
    """Section -> the names it classifies.  In the bullet sections a bullet's names are the
    ````name```` before its first ": "; what follows is the reason."""
    classified: dict[str, list[str]] = {section: [] for section in SECTIONS.values()}
    section: str | None = None
    for line in text.splitlines():
        if line.strip() in SECTIONS:
            section = SECTIONS[line.strip()]
            continue
        if section is None or not line.strip():
            if not line.strip() and section == "identical":
                section = None  # the list ends at a blank line
            continue
        if section == "identical":
            classified[section] += re.findall(r"``([\w.]+)``", line)
        elif line.startswith("- "):
            head, colon, _ = line.partition(": ")
            assert colon, f"bullet without a reason: {line!r}"
            classified[section] += re.findall(r"``([\w.]+)``", head)
    return classified


def violations(compiled: dict[str, str], pure: dict[str, str], stated: dict[str, list[str]]) -> list[str]:
    """Every way the sources break the stated contract, one line each."""
    problems: list[str] = []
    everything = [name for names in stated.values() for name in names]
    for name in sorted({n for n in everything if everything.count(n) > 1}):
        problems.append(f"{name} is classified more than once")
    for name in sorted((set(compiled) | set(pure)) - set(everything)):
        where = (
            "both twins" if name in compiled and name in pure else "compiled" if name in compiled else "pure"
        )
        problems.append(f"{name} ({where}) is not classified in the twin contract")
    for name in stated["identical"] + stated["different"]:
        missing = [twin for twin, found in (("compiled", compiled), ("pure", pure)) if name not in found]
        if missing:
            problems.append(f"{name} is said to be in both twins but is missing from {', '.join(missing)}")
        elif name in stated["identical"] and compiled[name] != pure[name]:
            problems.append(f"{name} is said to be identical but differs between the twins")
        elif name in stated["different"] and compiled[name] == pure[name]:
            problems.append(f"{name} is said to differ but is identical: list it as identical")
    for section, own, other in (("compiled", compiled, pure), ("pure", pure, compiled)):
        for name in stated[section]:
            if name not in own:
                problems.append(f"{name} is said to be only in the {section} twin but is not there")
            elif name in other:
                problems.append(f"{name} is said to be only in the {section} twin but both have it")
    return problems


# -- Tests -----------------------------------------------------------------------------


def test_both_module_docstrings_state_the_same_contract() -> None:
    assert contract_text(COMPILED) == contract_text(PURE)


def test_the_docstrings_claim_no_more_than_the_contract() -> None:
    for path in (COMPILED, PURE):
        assert "line for line" not in module_docstring(path), path.name


def test_the_sources_keep_the_stated_contract() -> None:
    stated = contract(contract_text(PURE))
    # Only the hot path is twinned: everything else is written once (_registry, _handlers).
    assert all(stated.values()) and sum(map(len, stated.values())) <= 40, stated
    assert violations(compiled_functions(), pure_functions(), stated) == []


def test_every_classified_name_is_a_real_function_name() -> None:
    """The parser found every name the text puts in a section (a typo would be unclassified)."""
    text = contract_text(PURE)
    stated = contract(text)
    listed = {name for names in stated.values() for name in names}
    mentioned = set(re.findall(r"``([\w.]+)``", text))
    # Everything else in backquotes is a reason's own words: never a function of the twins.
    assert not (mentioned - listed) & (set(compiled_functions()) | set(pure_functions()))


def test_the_compiled_core_keeps_its_c_in_the_headers() -> None:
    """C goes into headers, one per concern, where C tooling reads it, never into a ``cdef
    extern`` string: each block declares only what its own header defines."""
    externs = re.findall(r"^cdef extern from (.*):\n((?:[ \t]+.*\n|\n)*)", COMPILED.read_text(), re.M)
    assert [source for source, _ in externs] == ['"_dispatch.h"', '"_thread_copies.h"']
    for source, block in externs:
        header = SOURCES / source.strip('"')
        assert '"""' not in block and "'''" not in block
        declared = set(re.findall(r"\b(eventbus_\w+)\s*\(", block))
        defined = set(re.findall(r"^(?:static [^(]*?\b|#define )(eventbus_\w+)\(", header.read_text(), re.M))
        assert declared and declared <= defined, (source, declared - defined)


# The checker itself: it must see each kind of divergence (else the test above proves nothing).


def _stated() -> dict[str, list[str]]:
    return contract(contract_text(PURE))


def test_a_changed_statement_in_an_identical_function_is_reported() -> None:
    text = COMPILED.read_text()
    changed = text.replace("    return restore\n", "    return restore or None\n")
    assert changed != text
    assert violations(compiled_functions(changed), pure_functions(), _stated()) == [
        "_restore_data is said to be identical but differs between the twins"
    ]


def test_type_declarations_casts_and_annotations_do_not_count() -> None:
    text = PURE.read_text()
    retyped = text.replace(
        "def new_data(domain: str, action: str, params: object = None) -> Data:",
        "def new_data(domain: Any, action, params=None):",
    )
    assert retyped != text
    assert violations(compiled_functions(), pure_functions(retyped), _stated()) == []
    source = COMPILED.read_text().replace(
        "def new_data(domain, action, params=None):",
        "cpdef object new_data(str domain, str action, object params=None):",
    )
    assert source != COMPILED.read_text()
    assert violations(compiled_functions(source), pure_functions(), _stated()) == []


def test_a_function_added_to_one_twin_is_reported() -> None:
    added = PURE.read_text() + "\n\ndef _helper() -> None:\n    pass\n"
    assert violations(compiled_functions(), pure_functions(added), _stated()) == [
        "_helper (pure) is not classified in the twin contract"
    ]
    added = COMPILED.read_text() + "\n\ncdef int _helper(object x) except -1:\n    return 0\n"
    assert violations(compiled_functions(added), pure_functions(), _stated()) == [
        "_helper (compiled) is not classified in the twin contract"
    ]


def test_a_method_in_both_twins_left_unclassified_is_reported() -> None:
    stated = _stated()
    stated["different"].remove("Bus._snapshot")
    assert violations(compiled_functions(), pure_functions(), stated) == [
        "Bus._snapshot (both twins) is not classified in the twin contract"
    ]


def test_a_difference_that_went_away_is_reported() -> None:
    stated = _stated()
    stated["identical"].remove("_restore_data")
    stated["different"].append("_restore_data")
    assert violations(compiled_functions(), pure_functions(), stated) == [
        "_restore_data is said to differ but is identical: list it as identical"
    ]


@pytest.mark.parametrize(
    ("cython", "python"),
    [
        ("cdef inline object _lookup(self, Data data):", "def _lookup(self, data):"),
        ("cpdef object registered(self):", "def registered(self):"),
        ("cdef bint _is_event(object value) except -1:", "def _is_event(value):"),
        ("    cdef Py_ssize_t index = 0", "    index = 0"),
        ("    cdef readonly tuple handlers", None),
        ("x = (<_Registration>r).removed", "x = (r).removed"),
        ("f(<PyObject *>self._handlers, &index)", "f(self._handlers, index)"),
        ("if holes * holes > 2 * len(entries) + 256:", "if holes * holes > 2 * len(entries) + 256:"),
    ],
)
def test_the_cython_rewrite(cython: str, python: str | None) -> None:
    assert cython_as_python(cython) == ("" if python is None else python) + "\n"
