"""Decoding: a payload's JSON into the requested type, checked on the way.

Speed: one converter per target type in a cache; for a dataclass the converter is
generated source (compiled once per class) with one ``get`` and one type check per
field.  Paths for error messages are built only when something failed.
"""

from __future__ import annotations

import enum
import functools
import json
import json.scanner
import threading
import types
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

if TYPE_CHECKING:
    import decimal

from .._errors import DecodeError, Located, describe
from .types import (
    SUPPORTED,
    cache_key,
    compile_source,
    field_types,
    inline_check,
    is_msgspec_struct,
    is_pydantic_model,
    module_if_imported,
    type_name,
    unsupported,
)

__all__ = ["EventLike", "decode"]

T = TypeVar("T")


class EventLike(Protocol):
    """What the codec reads from an event: both ``Data`` classes fit."""

    @property
    def domain(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def raw_params(self) -> bytes | None: ...


_MISSING: Any = object()
MISSING: Any = _MISSING  # decode(data): no target type; what the engine module passes on


def _same(value: object) -> object:
    return value


_Converter = Callable[[Any], object]


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if number - number != 0.0:  # inf (nan never gets here: json has no literal for it)
        raise ValueError(f"number {text} is beyond the range of float")
    return number


def ascii_int(text: str) -> int:
    if not text.isascii():
        raise ValueError(f"number {text} has a digit that is not ASCII")
    return int(text)


def ascii_finite_float(text: str) -> float:
    if not text.isascii():
        raise ValueError(f"number {text} has a digit that is not ASCII")
    return _finite_float(text)


# NaN, Infinity, -Infinity and 1e999 are not JSON (and could never be encoded again).
_STRICT: dict[str, Any] = {"parse_constant": _refuse_constant, "parse_float": _finite_float}
if json.scanner.c_make_scanner is None:  # type: ignore[attr-defined]  # pragma: no cover - not CPython
    # json's pure-Python scanner (PyPy's) matched numbers with \d, which takes any Unicode
    # digit ("1\u0663" read as 13) until CPython 3.13.5; JSON's digits are ASCII.
    _STRICT.update(parse_int=ascii_int, parse_float=ascii_finite_float)
_scan_once: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(json.JSONDecoder(**_STRICT))  # type: ignore[arg-type]  # noqa: E501


class _Mismatch(Located):
    """A value did not fit its target type."""


@typing.overload
def decode(data: EventLike) -> object: ...
@typing.overload
def decode(data: EventLike, cls: type[T]) -> T: ...
@typing.overload
def decode(data: EventLike, cls: object) -> Any: ...  # int | None, Literal[...]: not a type[T]
def decode(data: EventLike, cls: Any = _MISSING) -> Any:
    """Decode ``data``'s payload: the JSON value, or an instance of ``cls``.

    Without ``cls``, the value as `json.loads` gives it (`None` for an event without
    payload).  With ``cls``, the value converted to and validated as ``cls``: `dict`,
    `list`, `str`, `int`, `float`, `bool`, a dataclass, ``list[X]``, ``dict[str, X]``,
    ``X | None``, and the other payload types (`datetime`, `uuid.UUID`,
    `decimal.Decimal`, enums, ``tuple[...]``, ``Literal[...]``, `TypedDict`, pydantic
    models, msgspec Structs, `typing.Any`), nested freely.  Unknown keys are ignored
    and defaults honoured; `bool` is not an `int`, and an `int` is accepted (and
    converted) for a `float`.  Type checkers see ``decode(data, User)`` as a ``User``.

    Args:
        data: The event (a `Data` of either implementation).
        cls: The type to decode into; leave it out for the plain JSON value.

    Returns:
        The payload, as ``cls`` when one is given.

    Raises:
        DecodeError: The payload is not valid JSON, does not fit ``cls``, or is
            missing while ``cls`` does not accept `None`; the message names the event,
            the target type and the path to what did not fit (``at address.zip``).
        TypeError: ``cls`` is not a type ``decode`` supports.

    Example:
        >>> eventbus.decode(eventbus.new_data("orders", "paid", {"order": 42}), dict[str, int])
        {'order': 42}
    """
    raw = _raw_params_of(data)
    if cls is _MISSING:
        return None if raw is None else loads(data, raw, "object")
    try:
        convert = _converters[cls if type(cls) is type else cache_key(cls)]
    except (KeyError, TypeError):
        convert = converter_for(cls)
    try:
        if type(convert) is ModelConverter and raw is not None:
            # A library model as the whole payload: the library reads the bytes itself.
            return convert.read(data, raw, cls)  # pyright: ignore[reportFunctionMemberAccess]
        value = None if raw is None else loads(data, raw, cls)
        return convert(value)
    except RecursionError:
        raise DecodeError(
            f"cannot decode event {data.domain!r}/{data.action!r} into "
            f"{type_name(cls)}: the payload is nested too deeply"
        ) from None
    except _Mismatch as mismatch:
        raise mismatched(data, cls, raw, mismatch) from mismatch.cause


def mismatched(data: EventLike, cls: Any, raw: bytes | None, mismatch: _Mismatch) -> DecodeError:
    """The DecodeError of a value that did not fit ``cls`` (raised ``from mismatch.cause``)."""
    path = mismatch.path
    where = f" at {path}" if path else ""
    what = "no payload" if raw is None and not path else mismatch.message
    error = DecodeError(
        f"cannot decode event {data.domain!r}/{data.action!r} into {type_name(cls)}{where}: {what}"
    )
    error.__cause__ = mismatch.cause
    return error


def _raw_params_of(data: object) -> bytes | None:
    try:
        raw = data.raw_params  # type: ignore[attr-defined]
        data.domain  # type: ignore[attr-defined]  # noqa: B018
        data.action  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError:
        raise TypeError(f"decode() needs an eventbus.Data, not {type(data).__qualname__}") from None
    return raw  # type: ignore[no-any-return]


def loads(data: EventLike, raw: bytes, target: object) -> object:
    # json.loads without its Python-level detours for the common case: UTF-8 text
    # holding exactly one JSON value.  Anything else (whitespace, an error) goes
    # through json.loads itself, so results and error messages are json's own.
    # The payload is UTF-8 (RFC 8259): not json.loads(bytes), which also reads
    # UTF-16 and UTF-32 and skips a BOM; a BOM is refused, as msgspec and pydantic
    # refuse it, so every reader agrees.
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        name = target if isinstance(target, str) else type_name(target)
        raise DecodeError(
            f"cannot decode event {data.domain!r}/{data.action!r} into {name}: "
            f"invalid JSON (the payload is not UTF-8: {exc.reason} at byte {exc.start})"
        ) from exc
    try:
        value, end = _scan_once(text, 0)
        if end == len(text):
            return value
    except (ValueError, StopIteration, RecursionError):
        pass
    try:
        return json.loads(text, **_STRICT)
    except RecursionError:
        name = target if isinstance(target, str) else type_name(target)
        raise DecodeError(
            f"cannot decode event {data.domain!r}/{data.action!r} into {name}: "
            "the payload is nested too deeply"
        ) from None
    except ValueError as exc:
        name = target if isinstance(target, str) else type_name(target)
        raise DecodeError(
            f"cannot decode event {data.domain!r}/{data.action!r} into {name}: invalid JSON ({exc})"
        ) from exc


_converters: dict[object, _Converter] = {}
# The field types each dataclass converter was built from (read once per class; plans.py reads it).
field_hints: dict[type, dict[str, Any]] = {}
# Converters of one build in progress (a dataclass and what it contains), published to
# _converters only once all of them are complete: a forwarder that another thread could
# call before its target exists never leaves the building thread.
_building: dict[object, _Converter] = {}
_build_lock = threading.RLock()


def converter_for(tp: Any) -> _Converter:
    """The (cached) function that checks and converts a JSON value into ``tp``."""
    key = cache_key(tp)
    try:
        return _converters[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable "type" cannot be a supported one
        raise TypeError(f"decode() cannot decode into {tp!r}: {SUPPORTED}") from None
    with _build_lock:
        found = _converters.get(key) or _building.get(key)
        if found is not None:
            return found
        outermost = not _building
        try:
            converter = _build_cached(tp, key)
        except BaseException:
            if outermost:
                _building.clear()
            raise
        if outermost:
            _converters.update(_building)
            _building.clear()
        return converter


def _build_cached(tp: Any, key: object) -> _Converter:
    is_typeddict = typing.is_typeddict(tp)
    dataclasses = module_if_imported("dataclasses")  # no dataclass exists before it is imported
    if is_typeddict or (isinstance(tp, type) and dataclasses is not None and dataclasses.is_dataclass(tp)):
        # A dataclass may contain itself (a tree): its fields find this forwarder
        # while the real converter is still being built.
        built: list[_Converter] = []
        _building[key] = lambda value: built[0](value)
        built.append(_typeddict_converter(tp) if is_typeddict else _dataclass_converter(tp))
        converter = built[0]
    else:
        converter = _build_converter(tp)
    _building[key] = converter
    return converter


_EXACT_NAMES = {bool: "bool", str: "str", dict: "dict", list: "list", int: "int"}


def _build_converter(tp: Any) -> _Converter:
    if tp is float:
        return _float
    if tp in _EXACT_NAMES:
        return _exact(tp, _EXACT_NAMES[tp])
    if tp is type(None) or tp is None:
        return _none
    if tp is Any:
        return _same
    if tp is tuple:
        return _bare_tuple
    if getattr(tp, "__module__", None) in _STRING_MODULES and tp in _string_types():
        return _string_types()[tp]
    if isinstance(tp, type):
        if issubclass(tp, enum.Enum):
            return _enum_converter(tp)
        if is_pydantic_model(tp):
            return _pydantic_converter(tp)
        if is_msgspec_struct(tp):
            return _msgspec_converter(tp)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return converter_for(args[0])
    if origin is list and len(args) == 1:
        return _list_converter(args[0])
    if origin is dict and len(args) == 2 and args[0] is str:
        return _dict_converter(args[1])
    if origin is tuple:
        return _tuple_converter(tp, args)
    if origin is typing.Literal:
        return _literal_converter(tp, args)
    if origin is typing.Union or origin is types.UnionType:
        return _union_converter(tp, args)
    raise unsupported(tp)


def _exact(kind: type, name: str) -> _Converter:
    def convert(value: Any) -> object:
        if type(value) is not kind:
            raise _Mismatch(f"expected {name}, got {describe(value)}")
        return value

    return convert


def _float(value: Any) -> object:
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    raise _Mismatch(f"expected float, got {describe(value)}")


def _none(value: Any) -> object:
    if value is not None:
        raise _Mismatch(f"expected null, got {describe(value)}")
    return None


def _bare_tuple(value: Any) -> object:
    if type(value) is not list:
        raise _Mismatch(f"expected tuple (a JSON array), got {describe(value)}")
    return tuple(cast("list[Any]", value))  # type: ignore[redundant-cast]


def _from_string(name: str, parse: Callable[[str], object], described: str) -> _Converter:
    """datetime, date, time, UUID and Decimal: a JSON string parsed by the type."""

    def convert(value: Any) -> object:
        if type(value) is not str:
            raise _Mismatch(f"expected {name} (a string), got {describe(value)}")
        try:
            return parse(value)
        except (ValueError, ArithmeticError) as exc:  # InvalidOperation is an ArithmeticError
            raise _Mismatch(f"expected {described}, got {value!r}", exc) from exc

    return convert


def _finite_decimal(text: str) -> decimal.Decimal:
    import decimal  # noqa: PLC0415  # imported already: the target type is its

    number = decimal.Decimal(text)
    if not number.is_finite():
        raise ValueError("not a finite number")
    return number


_STRING_MODULES = frozenset({"datetime", "uuid", "decimal"})


@functools.cache
def _string_types() -> dict[object, _Converter]:
    """Built when a target type is one of them (import eventbus does not import their modules)."""
    import datetime  # noqa: PLC0415
    import decimal  # noqa: PLC0415
    import uuid  # noqa: PLC0415

    return {
        datetime.datetime: _from_string("datetime", datetime.datetime.fromisoformat, "an ISO 8601 datetime"),
        datetime.date: _from_string("date", datetime.date.fromisoformat, "an ISO 8601 date"),
        datetime.time: _from_string("time", datetime.time.fromisoformat, "an ISO 8601 time"),
        uuid.UUID: _from_string("UUID", uuid.UUID, "a UUID"),
        decimal.Decimal: _from_string("Decimal", _finite_decimal, "a finite decimal number"),
    }


def _frozen(value: object) -> object:
    """A JSON value as a hashable key, its types kept: True must not find 1, nor 1.0 find 1."""
    kind = type(value)
    if kind is list:
        return (list, tuple(_frozen(item) for item in cast("list[object]", value)))
    if kind is dict:
        items = cast("dict[str, object]", value).items()
        return (dict, frozenset((key, _frozen(item)) for key, item in items))
    return (kind, value)


def _member_key(member: enum.Enum) -> object | None:
    """A member's value as it reads back from JSON (tuples are arrays); None if it cannot encode."""
    from .encode import json_form  # noqa: PLC0415  # decoding an Enum needs its encoded form

    try:
        return _frozen(json_form(member.value))
    except (ValueError, TypeError):
        return None


def _enum_converter(cls: type[enum.Enum]) -> _Converter:
    # Keyed by the JSON form the member encodes to, its types kept.
    members: dict[object, enum.Enum] = {}
    for member in cls.__members__.values():
        key = _member_key(member)
        if key is not None:
            members.setdefault(key, member)
    name = cls.__qualname__
    values = [member.value for member in cls]
    # A Flag value is any combination of its members, none included.
    flag = cls if issubclass(cls, enum.Flag) else None

    def convert(value: Any) -> object:
        try:
            return members[_frozen(value)]
        except (KeyError, TypeError):
            pass
        if flag is not None and type(value) is int:
            try:
                return flag(value)
            except ValueError:
                pass
        raise _Mismatch(f"expected a value of {name} (one of {values!r}), got {value!r}")

    return convert


def _literal_converter(tp: Any, args: tuple[Any, ...]) -> _Converter:
    allowed: dict[object, object] = {}
    for arg in args:
        if isinstance(arg, enum.Enum):
            key = _member_key(arg)
            if key is None:
                raise unsupported(tp)
            allowed[key] = arg
        elif arg is None or type(arg) in (str, int, bool):
            allowed[type(arg), arg] = arg
        else:
            raise unsupported(tp)
    shown = [arg.value if isinstance(arg, enum.Enum) else arg for arg in args]

    def convert(value: Any) -> object:
        try:
            return allowed[_frozen(value)]
        except (KeyError, TypeError):
            raise _Mismatch(f"expected one of {shown!r}, got {value!r}") from None

    return convert


def _union_converter(tp: Any, args: tuple[Any, ...]) -> _Converter:
    members = [arg for arg in args if arg is not type(None)]
    accepts_none = len(members) < len(args)
    if len(members) == 1:
        inner = converter_for(members[0])

        def optional(value: Any) -> object:
            return None if value is None else inner(value)

        return optional if accepts_none else inner
    converters = [converter_for(member) for member in members]
    # A value whose type is exactly a member's is that member, whatever the order
    # (1 stays an int in float | int); only then are conversions tried, in order.
    exact = {member for member in members if member in (str, int, float, bool, list, dict)}
    name = type_name(tp)

    def convert(value: Any) -> object:
        if value is None and accepts_none:
            return None
        if type(value) in exact:
            return value
        failures: list[_Mismatch] = []
        for converter in converters:
            try:
                return converter(value)
            except _Mismatch as mismatch:
                failures.append(mismatch)
        # The member that got furthest into the value explains it best; one that
        # found a field of the wrong type beats one that missed a field at that depth.
        deepest = max(failures, key=lambda failure: (len(failure.steps), not failure.missing))
        if deepest.steps:
            raise deepest
        raise _Mismatch(f"expected {name}, got {describe(value)}")

    return convert


def _items_converter(item_tp: Any) -> tuple[str, _Converter]:
    """Source of one item's conversion, as an expression on ``item``, and its converter."""
    item = converter_for(item_tp)
    check = inline_check(item_tp)
    if check == "True":
        return "item", item
    if check is None:
        return "convert(item)", item
    return f"item if {check.format(v='item')} else convert(item)", item


def _list_converter(item_tp: Any) -> _Converter:
    expression, item = _items_converter(item_tp)
    source = f"""
def list_of(value):
    if type(value) is not list:
        raise Mismatch(f"expected list, got {{describe(value)}}")
    try:
        return [{expression} for item in value]
    except Mismatch:
        Mismatch.locate_item(value, convert)  # the slow path: which item failed
        raise
"""
    return compile_source(  # type: ignore[no-any-return]
        source,
        {"convert": item, "Mismatch": _Mismatch, "describe": describe},
        "list_of",
        "list converter",
    )


def _dict_converter(value_tp: Any) -> _Converter:
    item = converter_for(value_tp)

    def convert(value: Any) -> object:
        if type(value) is not dict:
            raise _Mismatch(f"expected dict, got {describe(value)}")
        converted: dict[str, object] = {}
        for key, element in cast("dict[str, Any]", value).items():
            try:
                converted[key] = item(element)
            except _Mismatch as mismatch:
                mismatch.within(f".{key}")
                raise
        return converted

    return convert


def _tuple_converter(tp: Any, args: tuple[Any, ...]) -> _Converter:
    if len(args) == 2 and args[1] is Ellipsis:
        as_list = _list_converter(args[0])

        def variadic(value: Any) -> object:
            if type(value) is not list:
                raise _Mismatch(f"expected {type_name(tp)} (a JSON array), got {describe(value)}")
            return tuple(as_list(value))  # type: ignore[arg-type]

        return variadic
    if args == ((),):  # tuple[()]: spelled so on 3.11
        args = ()
    converters = [converter_for(arg) for arg in args]
    size = len(converters)

    def fixed(value: Any) -> object:
        if type(value) is not list:
            raise _Mismatch(f"expected {type_name(tp)} (a JSON array), got {describe(value)}")
        items = cast("list[Any]", value)  # type: ignore[redundant-cast]
        if len(items) != size:
            raise _Mismatch(f"expected {size} items, got {len(items)}")
        converted: list[object] = []
        for index, (converter, element) in enumerate(zip(converters, items, strict=True)):
            try:
                converted.append(converter(element))
            except _Mismatch as mismatch:
                mismatch.within(f"[{index}]")
                raise
        return tuple(converted)

    return fixed


def _field_slow_path(name: str, convert: _Converter, default: Callable[[], object] | None) -> _Converter:
    """A field that is missing, needs converting or does not fit: the rare path."""
    step = f".{name}"

    def slow(value: Any) -> object:
        if value is _MISSING:
            if default is None:
                mismatch = _Mismatch("missing required field")
                mismatch.missing = True
                mismatch.within(step)
                raise mismatch
            return default()
        try:
            return convert(value)
        except _Mismatch as mismatch:
            mismatch.within(step)
            raise

    return slow


def _constant(value: Any) -> Callable[[], object]:
    return lambda: value


def _dataclass_converter(cls: Any) -> _Converter:
    """Generated: one ``get`` and one type check per field, then the class itself.

    A field whose value passes the inline check (an ``int`` for an ``int``) costs
    what hand-written code costs; anything else (missing, to convert, nested,
    wrong) goes through the field's slow path, which also adds the field to the
    error path.  The source holds no user text: the class's and the fields' names
    are globals of the generated function (``n0`` is the first field's name).
    """
    hints = field_hints[cls] = field_types(cls)
    namespace: dict[str, Any] = {
        "cls": cls,
        "name": cls.__qualname__,
        "MISSING": _MISSING,
        "Mismatch": _Mismatch,
        "describe": describe,
    }
    lines = [
        "def convert(value):",
        "    if type(value) is not dict:",
        "        raise Mismatch(f'expected {name} (a JSON object), got {describe(value)}')",
        "    get = value.get",
    ]
    names: list[str] = []
    variables: list[str] = []
    dataclasses = module_if_imported("dataclasses")
    for index, field in enumerate(dataclasses.fields(cls)):
        if not field.init:
            continue
        field_tp = hints[field.name]
        default: Callable[[], object] | None = None
        if field.default is not dataclasses.MISSING:
            default = _constant(field.default)
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory
        namespace[f"slow{index}"] = _field_slow_path(field.name, converter_for(field_tp), default)
        namespace[f"n{index}"] = field.name
        variable = f"v{index}"
        lines.append(f"    {variable} = get(n{index}, MISSING)")
        check = inline_check(field_tp)
        if check == "True":
            lines.append(f"    if {variable} is MISSING:")
        elif check is not None:
            lines.append(f"    if not ({check.format(v=variable)}):")
        if check is None:
            lines.append(f"    {variable} = slow{index}({variable})")
        else:
            lines.append(f"        {variable} = slow{index}({variable})")
        names.append(f"n{index}")
        variables.append(variable)
    if takes_in_order(cls, [namespace[name] for name in names]):
        call = f"cls({', '.join(variables)})"  # what the keywords would bind, faster
    else:
        pairs = ", ".join(f"{name}: {variable}" for name, variable in zip(names, variables, strict=True))
        call = f"cls(**{{{pairs}}})"
    lines += [
        "    try:",
        f"        return {call}",
        "    except RecursionError:",
        "        raise",
        "    except Exception as exc:",
        "        raise Mismatch(",
        "            f'{name}() refused the value: {type(exc).__name__}: {exc}', exc",
        "        ) from exc",
    ]
    converter: _Converter = compile_source("\n".join(lines), namespace, "convert", "dataclass converter")
    return converter


def takes_in_order(cls: Any, names: list[str]) -> bool:
    """Whether ``cls(*values)`` binds exactly as ``cls(**dict(zip(names, values)))`` does."""
    import inspect  # noqa: PLC0415  # only when a converter is built

    try:
        parameters = list(inspect.signature(cls).parameters.values())
    except (TypeError, ValueError):
        return False
    if len(parameters) < len(names):
        return False
    for parameter, name in zip(parameters, names, strict=False):
        if parameter.name != name or parameter.kind is not parameter.POSITIONAL_OR_KEYWORD:
            return False
    return all(
        parameter.default is not parameter.empty
        or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        for parameter in parameters[len(names) :]
    )


def _typeddict_converter(cls: Any) -> _Converter:
    hints = field_types(cls)
    # Under ``from __future__ import annotations`` Python 3.11 cannot see NotRequired
    # in __required_keys__: the annotations themselves say it.
    marked = typing.get_type_hints(cls, include_extras=True)
    required: set[str] = set(cls.__required_keys__)
    for name, hint in marked.items():
        origin = typing.get_origin(hint)
        if origin is typing.NotRequired:
            required.discard(name)
        elif origin is typing.Required:
            required.add(name)
    fields = [(name, converter_for(tp), name in required) for name, tp in hints.items()]
    name = cls.__qualname__

    def convert(value: Any) -> object:
        if type(value) is not dict:
            raise _Mismatch(f"expected {name} (a JSON object), got {describe(value)}")
        converted: dict[str, object] = {}
        present = cast("dict[str, Any]", value)
        for key, field_convert, is_required in fields:
            item = present.get(key, _MISSING)
            if item is _MISSING:
                if is_required:
                    mismatch = _Mismatch("missing required key")
                    mismatch.missing = True
                    mismatch.within(f".{key}")
                    raise mismatch
                continue
            try:
                converted[key] = field_convert(item)
            except _Mismatch as mismatch:
                mismatch.within(f".{key}")
                raise
        return converted

    return convert


def _steps_from_location(location: tuple[int | str, ...]) -> list[str]:
    return [f"[{step}]" if isinstance(step, int) else f".{step}" for step in reversed(location)]


def _refused(cls: Any, exc: Exception) -> _Mismatch:
    return _Mismatch(f"{cls.__qualname__}() refused the value: {type(exc).__name__}: {exc}", exc)


class ModelConverter:
    """A pydantic model or msgspec Struct as a target type.

    Called with a decoded JSON value, where the model is nested in another payload type (the
    library's Python-side validation); ``read`` takes the whole payload's bytes to the library's
    own JSON reader (``read_json``), at the library's speed.  Either way a failure is a
    ``_Mismatch`` at its path, and JSON that is not strict JSON is refused in json's words.
    """

    __slots__ = ("convert", "failure", "read_json", "reads_constants")

    def __init__(
        self,
        convert: _Converter,
        read_json: Callable[[bytes], object],
        failure: Callable[[Exception], _Mismatch],
        reads_constants: bool,
    ) -> None:
        self.convert = convert
        self.read_json = read_json
        self.failure = failure
        self.reads_constants = reads_constants  # the reader takes NaN and Infinity for floats

    def __call__(self, value: Any) -> object:
        return self.convert(value)

    def read(self, data: EventLike, raw: bytes, target: Any) -> object:
        try:
            value = self.read_json(raw)
        except RecursionError:
            raise
        except Exception as exc:
            raise self.refusal(data, raw, target, exc) from exc
        if maybe_not_strict(raw, self.reads_constants):
            loads(data, raw, target)
        return value

    def refusal(self, data: EventLike, raw: bytes, target: Any, exc: Exception) -> _Mismatch:
        """Why the library refused ``raw``; a DecodeError raised at once if json refuses it too."""
        loads(data, raw, target)
        return self.failure(exc)


# What the libraries' JSON readers accept and json (strict) does not: NaN and the infinities
# (pydantic reads them), and numbers past the range of float (both skip them in ignored keys,
# pydantic reads them as inf): an exponent of three digits or a run of 200 digits may be one.
# The compiled engine scans for exactly this too (``_fastcodec``'s ``_maybe_not_strict``).
_NOT_STRICT: dict[bool, Callable[[bytes], object]] = {}


def maybe_not_strict(raw: bytes, constants: bool) -> bool:
    """Whether ``raw`` may hold what a library reads and strict JSON refuses (then json checks
    it): a digit then an exponent of three digits, a run of 200 digits, and with ``constants``
    ``NaN`` or ``Infinity``."""
    try:
        search = _NOT_STRICT[constants]
    except KeyError:
        import re  # noqa: PLC0415  # with the first library model decoded

        pattern = rb"[0-9][eE][-+]?[0-9]{3}|[0-9]{200}"
        search = _NOT_STRICT[constants] = re.compile(
            rb"NaN|Infinity|" + pattern if constants else pattern
        ).search
    return search(raw) is not None


def _pydantic_mismatch(exc: Any) -> _Mismatch:
    first = exc.errors()[0]
    more = exc.error_count() - 1
    mismatch = _Mismatch(first["msg"] + (f" (and {more} more errors)" if more else ""), exc)
    mismatch.steps = _steps_from_location(tuple(first["loc"]))
    return mismatch


def _pydantic_converter(cls: Any) -> ModelConverter:
    pydantic = module_if_imported("pydantic")
    validate = cls.model_validate

    def convert(value: Any) -> object:
        try:
            return validate(value)
        except RecursionError:
            raise
        except Exception as exc:
            raise failure(exc) from exc

    def failure(exc: Exception) -> _Mismatch:
        if isinstance(exc, pydantic.ValidationError):
            return _pydantic_mismatch(exc)
        return _refused(cls, exc)  # a validator's own exception, as for a dataclass

    return ModelConverter(convert, cls.__pydantic_validator__.validate_json, failure, reads_constants=True)


def _msgspec_converter(cls: Any) -> ModelConverter:
    msgspec = module_if_imported("msgspec")
    # msgspec builds its tables for a Struct (and the types in it) on first use, and two
    # threads doing that at once can crash the interpreter (seen with msgspec 0.22).
    # Build them now, under _build_lock, before any decode can reach this converter.
    read_json = msgspec.json.Decoder(cls).decode

    def convert(value: Any) -> object:
        try:
            return msgspec.convert(value, cls)
        except RecursionError:
            raise
        except UnicodeEncodeError as exc:  # msgspec reads a lone surrogate ("\\ud800") as UTF-8
            raise _Mismatch(f"a str is not valid Unicode ({exc.reason})", exc) from exc
        except Exception as exc:
            raise failure(exc) from exc

    def failure(exc: Exception) -> _Mismatch:
        if isinstance(exc, msgspec.ValidationError):
            # "Expected `int`, got `str` - at `$.address.zip`"
            message, _, location = str(exc).partition(" - at `$")
            mismatch = _Mismatch(message, exc)
            if location:
                mismatch.steps = [location.rstrip("`")]
            return mismatch
        if isinstance(exc, msgspec.DecodeError):  # strict JSON its reader refuses ("\\ud800")
            return _Mismatch(f"msgspec cannot read the JSON ({exc})", exc)
        return _refused(cls, exc)  # __post_init__'s own, as for a dataclass

    return ModelConverter(convert, read_json, failure, reads_constants=False)
