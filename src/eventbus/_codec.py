"""The payload codec and the error types, shared by both implementations.

Encoding and decoding are not on the dispatch path, and one definition here means
the compiled and the pure ``Data`` can never disagree about what a payload is.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

__all__ = [
    "DecodeError",
    "EncodeError",
    "EventBusError",
    "EventLike",
    "decode",
    "encode_params",
]

T = TypeVar("T")


class EventBusError(ValueError):
    """Base class of the errors the codec raises."""


class EncodeError(EventBusError):
    """A payload could not be encoded as JSON."""


class DecodeError(EventBusError):
    """An event's payload could not be decoded into the requested type."""


class EventLike(Protocol):
    """What the codec reads from an event: both ``Data`` classes fit."""

    @property
    def domain(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def raw_params(self) -> bytes | None: ...


# ---------------------------------------------------------------------------
# Encoding

_SCALARS = (str, int, float, bool, type(None))
_dumps = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":")
).encode


def encode_params(params: object) -> bytes | None:
    """Encode ``params`` as compact UTF-8 JSON; ``None`` means no payload."""
    if params is None:
        return None
    try:
        text = _dumps(_to_json(params))
    except EncodeError:
        raise
    except ValueError as exc:
        # json refuses NaN and the infinities only when it meets them.
        raise EncodeError(
            f"cannot encode payload: float value out of JSON range ({exc})"
        ) from exc
    except RecursionError as exc:
        raise EncodeError(
            f"cannot encode payload of type {type(params).__qualname__}: "
            "nested too deeply (or it contains itself)"
        ) from exc
    return text.encode("utf-8")


def _to_json(value: object, path: str = "") -> object:
    """The JSON-native form of ``value``: dataclasses become dicts, keys are checked.

    ``json`` alone would silently turn ``{1: "a"}`` into ``{"1": "a"}`` and
    cannot encode dataclasses, so containers are walked here first.
    """
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        return _dict_to_json(value, path)  # type: ignore[arg-type]
    if kind is list or kind is tuple:
        return [_to_json(item, f"{path}[{index}]") for index, item in enumerate(value)]  # type: ignore[attr-defined]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: _to_json(getattr(value, field.name), _join(path, field.name))
            for field in dataclasses.fields(value)
        }
    if isinstance(value, _SCALARS):
        # Subclasses of the JSON scalars (IntEnum, str subclasses): json writes
        # them as their base type, and so do we.
        return value
    if isinstance(value, dict):
        return _dict_to_json(value, path)
    if isinstance(value, (list, tuple)):
        return [_to_json(item, f"{path}[{index}]") for index, item in enumerate(value)]
    raise EncodeError(
        f"cannot encode payload: {_where(path)}value of type "
        f"{kind.__qualname__} is not JSON-encodable"
    )


def _dict_to_json(value: dict[Any, Any], path: str) -> dict[str, object]:
    encoded: dict[str, object] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise EncodeError(
                f"cannot encode payload: {_where(path)}dict key {key!r} "
                f"of type {type(key).__qualname__} is not a str"
            )
        encoded[key] = _to_json(item, _join(path, key))
    return encoded


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _where(path: str) -> str:
    return f"at {path}: " if path else ""


# ---------------------------------------------------------------------------
# Decoding

_MISSING = object()
_Converter = Callable[[object, str], object]


class _Mismatch(Exception):
    """A value did not fit its target type; ``path`` says where."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


@typing.overload
def decode(data: EventLike) -> object: ...
@typing.overload
def decode(data: EventLike, cls: type[T]) -> T: ...
@typing.overload
def decode(data: EventLike, cls: object) -> Any: ...  # int | None, Literal[...]: not a type[T]
def decode(data: EventLike, cls: Any = _MISSING) -> Any:
    """Decode ``data``'s payload: the JSON value, or an instance of ``cls``."""
    raw = _raw_params_of(data)
    if cls is _MISSING:
        return None if raw is None else _loads(data, raw, "object")
    convert = _converter_for(cls)
    value = None if raw is None else _loads(data, raw, _type_name(cls))
    try:
        return convert(value, "")
    except _Mismatch as mismatch:
        where = f" at {mismatch.path}" if mismatch.path else ""
        what = "no payload" if raw is None and not mismatch.path else mismatch.message
        raise DecodeError(
            f"cannot decode event {data.domain!r}/{data.action!r} into "
            f"{_type_name(cls)}{where}: {what}"
        ) from None


def _raw_params_of(data: object) -> bytes | None:
    try:
        raw = data.raw_params  # type: ignore[attr-defined]
        data.domain  # type: ignore[attr-defined]  # noqa: B018
        data.action  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError:
        raise TypeError(
            f"decode() needs an eventbus.Data, not {type(data).__qualname__}"
        ) from None
    return raw  # type: ignore[no-any-return]


def _loads(data: EventLike, raw: bytes, target: str) -> object:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise DecodeError(
            f"cannot decode event {data.domain!r}/{data.action!r} into {target}: "
            f"invalid JSON ({exc})"
        ) from exc


def _type_name(tp: object) -> str:
    if isinstance(tp, type) and not isinstance(tp, types.GenericAlias):
        return tp.__qualname__
    return repr(tp).replace("typing.", "")


_converters: dict[object, _Converter] = {}


def _converter_for(tp: object) -> _Converter:
    """The (cached) function that checks and converts a JSON value into ``tp``."""
    try:
        return _converters[tp]
    except KeyError:
        pass
    except TypeError:  # an unhashable "type" cannot be a supported one
        raise TypeError(f"decode() cannot decode into {tp!r}") from None
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        # A dataclass may contain itself (a tree): its fields find this forwarder
        # in the cache while the real converter is still being built.
        built: list[_Converter] = []
        cached_before = set(_converters)
        _converters[tp] = lambda value, path: built[0](value, path)
        try:
            built.append(_dataclass_converter(tp))
        except BaseException:
            # Converters cached while building refer to the forwarder: drop them.
            for key in set(_converters) - cached_before:
                _converters.pop(key, None)
            raise
        converter = built[0]
    else:
        converter = _build_converter(tp)
    _converters[tp] = converter
    return converter


def _build_converter(tp: object) -> _Converter:
    if tp is bool:
        return _exact(bool, "bool")
    if tp is str:
        return _exact(str, "str")
    if tp is int:
        return _int
    if tp is float:
        return _float
    if tp is dict or tp is list:
        return _exact(tp, tp.__name__)  # type: ignore[attr-defined]
    if tp is type(None) or tp is None:
        return _none
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is list and len(args) == 1:
        return _list_converter(args[0])
    if origin is dict and len(args) == 2 and args[0] is str:
        return _dict_converter(args[1])
    if origin is typing.Union or origin is types.UnionType:
        members = [arg for arg in args if arg is not type(None)]
        if len(members) == 1 and len(args) == 2:
            return _optional_converter(members[0])
    raise TypeError(
        f"decode() cannot decode into {_type_name(tp)}: supported are dict, list, "
        "str, int, float, bool, dataclasses, list[X], dict[str, X] and X | None"
    )


def _describe(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _exact(kind: type, name: str) -> _Converter:
    def convert(value: object, path: str) -> object:
        if type(value) is not kind:
            raise _Mismatch(path, f"expected {name}, got {_describe(value)}")
        return value

    return convert


def _int(value: object, path: str) -> object:
    if type(value) is not int:
        raise _Mismatch(path, f"expected int, got {_describe(value)}")
    return value


def _float(value: object, path: str) -> object:
    kind = type(value)
    if kind is float:
        return value
    if kind is int:
        return float(value)  # type: ignore[arg-type]
    raise _Mismatch(path, f"expected float, got {_describe(value)}")


def _none(value: object, path: str) -> object:
    if value is not None:
        raise _Mismatch(path, f"expected null, got {_describe(value)}")
    return None


def _optional_converter(inner_tp: object) -> _Converter:
    inner = _converter_for(inner_tp)

    def convert(value: object, path: str) -> object:
        return None if value is None else inner(value, path)

    return convert


def _list_converter(item_tp: object) -> _Converter:
    item = _converter_for(item_tp)

    def convert(value: object, path: str) -> object:
        if type(value) is not list:
            raise _Mismatch(path, f"expected list, got {_describe(value)}")
        return [item(element, f"{path}[{index}]") for index, element in enumerate(value)]

    return convert


def _dict_converter(value_tp: object) -> _Converter:
    item = _converter_for(value_tp)

    def convert(value: object, path: str) -> object:
        if type(value) is not dict:
            raise _Mismatch(path, f"expected dict, got {_describe(value)}")
        return {key: item(element, _join(path, key)) for key, element in value.items()}

    return convert


def _dataclass_converter(cls: type) -> _Converter:
    try:
        hints = typing.get_type_hints(cls)
    except Exception as exc:
        raise TypeError(
            f"decode() cannot resolve the field types of {cls.__qualname__}: {exc}"
        ) from exc
    fields: list[tuple[str, _Converter, bool]] = []
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        required = (
            field.default is dataclasses.MISSING
            and field.default_factory is dataclasses.MISSING
        )
        fields.append((field.name, _converter_for(hints[field.name]), required))
    name = cls.__qualname__

    def convert(value: object, path: str) -> object:
        if type(value) is not dict:
            raise _Mismatch(path, f"expected {name} (a JSON object), got {_describe(value)}")
        kwargs: dict[str, object] = {}
        for field_name, field_convert, required in fields:
            item = value.get(field_name, _MISSING)
            if item is _MISSING:
                if required:
                    raise _Mismatch(
                        _join(path, field_name), "missing required field"
                    )
                continue
            kwargs[field_name] = field_convert(item, _join(path, field_name))
        return cls(**kwargs)

    return convert
