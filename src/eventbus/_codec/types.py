"""Reading target types: their names in messages, what library they belong to, their fields.

pydantic and msgspec are never imported here: a payload or a target type can only
be theirs when the user has imported them already, so ``sys.modules`` says whether
to look.
"""

from __future__ import annotations

import sys
import types
import typing
from typing import Any


def type_name(tp: object) -> str:
    """A target type as people write it: ``list[Address]``, ``Cat | None``."""
    if tp is None or tp is type(None):
        return "None"
    origin = typing.get_origin(tp)
    if isinstance(tp, type) and origin is None:  # list[int] passes isinstance
        return tp.__qualname__
    args = typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(type_name(arg) for arg in args)
    if origin is typing.Literal:
        return f"Literal[{', '.join(map(repr, args))}]"
    if isinstance(origin, type) and args:
        shown = ", ".join("..." if arg is Ellipsis else type_name(arg) for arg in args)
        return f"{origin.__qualname__}[{shown}]"
    return repr(tp).replace("typing.", "")


def module_if_imported(name: str) -> Any:
    """The module ``name`` if the program imported it; a payload of its types needs it."""
    return sys.modules.get(name)


def is_pydantic_model(tp: Any) -> bool:
    pydantic = module_if_imported("pydantic")
    return pydantic is not None and isinstance(tp, type) and issubclass(tp, pydantic.BaseModel)


def is_msgspec_struct(tp: Any) -> bool:
    msgspec = module_if_imported("msgspec")
    return msgspec is not None and isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def compile_source(source: str, namespace: dict[str, Any], name: str, what: str) -> Any:
    """Compile generated source, which never holds user text: names come in ``namespace``."""
    code = compile(source, f"<eventbus generated {what}>", "exec")
    exec(code, namespace)  # noqa: S102  # our own source: no user text in it
    return namespace[name]


SUPPORTED = (
    "supported are dict, list, tuple, str, int, float, bool, None, dataclasses, "
    "TypedDicts, Enums, datetime, date, time, UUID, Decimal, Literal[...], "
    "list[X], dict[str, X], tuple[X, ...], unions (X | Y, Optional[X]), "
    "pydantic models and msgspec Structs"
)


def unsupported(tp: Any) -> TypeError:
    return TypeError(f"decode() cannot decode into {type_name(tp)}: {SUPPORTED}")


def field_types(cls: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception as exc:
        raise TypeError(f"decode() cannot resolve the field types of {cls.__qualname__}: {exc}") from exc


# Inline checks for the generated code: the value passes as it is when this holds.
INLINE_CHECKS: dict[object, str] = {
    int: "type({v}) is int",
    str: "type({v}) is str",
    bool: "type({v}) is bool",
    float: "type({v}) is float",
    dict: "type({v}) is dict",
    list: "type({v}) is list",
    Any: "True",
}


def inline_check(tp: Any) -> str | None:
    try:
        check = INLINE_CHECKS.get(tp)
    except TypeError:
        return None
    if check is not None:
        return check
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        args = typing.get_args(tp)
        if len(args) == 2 and type(None) in args:
            inner = inline_check(args[0] if args[1] is type(None) else args[1])
            if inner is not None and inner != "True":
                return f"({{v}} is None or {inner})"
    return None


def _typed(value: object) -> tuple[type[object], object]:
    return (type(value), value)


# Marks the keys built by cache_key: no type a user passes is such a tuple.
_GENERIC = object()


def cache_key(tp: Any) -> object:
    """What the converter cache keys ``tp`` by: ``tp`` itself, or for a generic its origin
    and the keys of its arguments, in order.

    Generics compare by ``==``, under which ``Cat | Dog == Dog | Cat`` (and
    ``Literal[1, 2] == Literal[2, 1]``): keyed by the type itself, the first of them
    decoded would decide what every later one returns.
    """
    args = typing.get_args(tp)
    if not args:
        return tp
    origin = typing.get_origin(tp)
    if origin is types.UnionType:  # X | Y and Union[X, Y] decode alike
        origin = typing.Union
    if origin is typing.Literal:  # Literal[1] == Literal[True] is False, but keep types apart
        return (_GENERIC, origin, tuple(map(_typed, args)))
    return (_GENERIC, origin, tuple(cache_key(arg) for arg in args))
