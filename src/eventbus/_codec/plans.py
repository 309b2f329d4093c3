"""What the compiled engine (``eventbus._codec._fastcodec``) asks of the reference decoder.

The engine decodes a dataclass itself only along a plan that the reference describes here
(which fields, which inline check each one passes on), builds the instance without its
``__init__`` only where ``direct_init`` proves that ``__init__`` does nothing else, and raises
the reference's own error (``refused_error``) when the class refuses its values.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Any

from .._errors import DecodeError
from .decode import EventLike, ModelConverter, converter_for, field_hints, loads, mismatched, takes_in_order
from .types import module_if_imported, type_name

__all__ = ["check_strict", "describe_plan", "direct_init", "model_error", "model_reader", "refused_error"]

_PLAN_KINDS: dict[object, str] = {
    int: "int",
    str: "str",
    bool: "bool",
    float: "float",
    dict: "dict",
    list: "list",
    Any: "any",
}


def describe_plan(cls: Any) -> tuple[Any, bool, tuple[tuple[str, str, bool], ...], Any] | None:
    """``(cls, positional, ((field, kind, optional), ...), direct)`` when every init field of
    the dataclass ``cls`` passes on its inline check alone, else None; ``direct`` is
    ``direct_init(cls)``.

    The engine's plan then does what the generated converter does on its fast path, and gives
    every other case (a field missing, of another type, to convert) to the reference.
    """
    dataclasses = module_if_imported("dataclasses")
    if dataclasses is None or not isinstance(cls, type) or not dataclasses.is_dataclass(cls):
        return None
    try:
        converter_for(cls)  # what the reference would refuse, it refuses itself
    except Exception:  # noqa: BLE001 - whatever it refuses, and however
        return None
    hints = field_hints.get(cls)
    if hints is None:
        return None
    fields: list[tuple[str, str, bool]] = []
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        tp = hints[field.name]
        optional = False
        origin = typing.get_origin(tp)
        if origin is typing.Union or origin is types.UnionType:
            args = typing.get_args(tp)
            if len(args) != 2 or type(None) not in args:
                return None
            tp = args[0] if args[1] is type(None) else args[1]
            optional = tp is not Any
        try:
            kind = _PLAN_KINDS.get(tp)
        except TypeError:
            return None
        if kind is None:
            return None
        fields.append((field.name, kind, optional))
    names = [name for name, _, _ in fields]
    return cls, takes_in_order(cls, names), tuple(fields), direct_init(cls)


# What the bytecode of a dataclass's generated __init__ may do (checked on the one
# dataclasses generates here, see direct_init): read its arguments and the closure's
# ``object``, set attributes, return None.  No global, no call but object.__setattr__.
_INIT_OPS = frozenset(
    {
        "RESUME",
        "COPY_FREE_VARS",
        "NOP",
        "CACHE",
        "LOAD_FAST",
        "LOAD_FAST_LOAD_FAST",
        "LOAD_FAST_BORROW",
        "LOAD_FAST_BORROW_LOAD_FAST_BORROW",
        "LOAD_DEREF",
        "LOAD_CONST",
        "LOAD_SMALL_INT",
        "STORE_ATTR",
        "LOAD_METHOD",
        "LOAD_ATTR",
        "PRECALL",
        "CALL",
        "PUSH_NULL",
        "POP_TOP",
        "RETURN_VALUE",
        "RETURN_CONST",
    }
)
_CODE_FIELDS = (
    "co_code",
    "co_consts",
    "co_names",
    "co_varnames",
    "co_freevars",
    "co_cellvars",
    "co_argcount",
    "co_posonlyargcount",
    "co_kwonlyargcount",
    "co_nlocals",
    "co_flags",
)


def direct_init(cls: Any) -> tuple[bool, Any, tuple[Any, ...], tuple[Any, ...]] | None:
    """``(frozen, __init__, its closure's cells, their contents)`` when constructing ``cls`` from
    all of its fields is exactly: ``object.__new__(cls)``, then each field set in field order
    (``setattr``, or ``object.__setattr__`` when frozen); else None.

    That holds when the class's ``__init__`` is the one ``dataclasses`` generated for these
    fields and nothing more: its code (bytecode, constants, names, arguments) equal to the code
    ``dataclasses`` generates for the same fields now, its closure holding the same objects, and
    that code doing nothing but set attributes (so no ``__post_init__``, no ``InitVar``, no
    default factory); every field an init field; ``type`` the metaclass, ``object.__new__`` its
    ``__new__``, and every class of its MRO but ``object`` a Python class (so that
    ``object.__setattr__`` applies).  The compiled engine then builds the instance without
    running that ``__init__``, and checks on every use that calling the class would still run it.
    """
    import dataclasses  # noqa: PLC0415  # imported already: cls is a dataclass
    import dis  # noqa: PLC0415  # once per class, for the compiled engine only

    new: object = getattr(cls, "__new__", None)
    if type(cls) is not type or new is not object.__new__:
        return None
    if any(base is not object and not (base.__flags__ & _HEAPTYPE) for base in cls.__mro__):
        return None
    fields = dataclasses.fields(cls)
    declared = getattr(cls, "__dataclass_fields__", {})
    if len(declared) != len(fields) or any(
        not field.init or field.default_factory is not dataclasses.MISSING for field in fields
    ):
        return None  # InitVar and ClassVar pseudo-fields, init=False, factories: its __init__'s
    init = cls.__dict__.get("__init__")
    params = getattr(cls, "__dataclass_params__", None)
    if not isinstance(init, types.FunctionType) or params is None:
        return None
    try:
        template = vars(
            dataclasses.make_dataclass(
                "Template",
                [(field.name, object, dataclasses.field(kw_only=field.kw_only)) for field in fields],
                frozen=bool(params.frozen),
            )
        )["__init__"]
    except Exception:  # noqa: BLE001  # a field name make_dataclass refuses: no fast path
        return None
    mine, theirs = init.__code__, template.__code__
    if any(getattr(mine, name) != getattr(theirs, name) for name in _CODE_FIELDS):
        return None
    # A field named like a name of dataclasses' own in that code (``__dataclass_builtins_object__``,
    # which a frozen class's __init__ calls to set each field) shadows it: then the code is the
    # same and does something else (the class refuses every value), so no fast path.
    if any(field.name.startswith("__dataclass_") for field in fields):
        return None
    if params.frozen and "__dataclass_builtins_object__" not in theirs.co_freevars:
        return None
    if not {instruction.opname for instruction in dis.get_instructions(theirs)} <= _INIT_OPS:
        return None
    cells = init.__closure__ or ()
    contents = tuple(cell.cell_contents for cell in cells)
    expected = tuple(cell.cell_contents for cell in template.__closure__ or ())
    if len(contents) != len(expected) or any(a is not b for a, b in zip(contents, expected, strict=True)):
        return None
    return bool(params.frozen), init, tuple(cells), contents


_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE


def refused_error(data: EventLike, cls: Any, exc: Exception) -> DecodeError:
    """The reference's error when ``cls(...)`` raised ``exc`` on the decoded fields."""
    if isinstance(exc, RecursionError):
        error = DecodeError(
            f"cannot decode event {data.domain!r}/{data.action!r} into "
            f"{type_name(cls)}: the payload is nested too deeply"
        )
        error.__cause__ = None  # as "from None"
        return error
    error = DecodeError(
        f"cannot decode event {data.domain!r}/{data.action!r} into {type_name(cls)}: "
        f"{cls.__qualname__}() refused the value: {type(exc).__name__}: {exc}"
    )
    error.__cause__ = exc
    return error


def model_reader(cls: Any) -> tuple[Callable[[bytes], object], bool] | None:
    """``(read_json, constants)`` when ``cls`` is a library model, else None: its library's own
    JSON reader (``bytes -> instance``), and whether that reader takes ``NaN`` and ``Infinity``.

    The engine returns what ``read_json`` returns, as the reference does, after ``check_strict``
    where ``maybe_not_strict(raw, constants)`` says so; a failure is ``model_error``'s.
    """
    try:
        convert = converter_for(cls)
    except Exception:  # noqa: BLE001 - whatever the reference refuses, it refuses itself
        return None
    if not isinstance(convert, ModelConverter):
        return None
    return convert.read_json, convert.reads_constants


def model_error(data: EventLike, cls: Any, raw: bytes, exc: Exception) -> DecodeError:
    """The reference's error when ``cls``'s library refused ``raw`` with ``exc``."""
    convert = converter_for(cls)
    try:
        mismatch = convert.refusal(data, raw, cls, exc)  # type: ignore[attr-defined]
    except DecodeError as error:  # not JSON to json either: in json's words
        return error
    return mismatched(data, cls, raw, mismatch)


def check_strict(data: EventLike, raw: bytes, cls: Any) -> None:
    """Raise the reference's DecodeError if ``raw`` is not strict JSON."""
    loads(data, raw, cls)
