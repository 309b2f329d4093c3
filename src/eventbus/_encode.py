"""Encoding: a payload into compact UTF-8 JSON, checked on the way.

Speed: one function per type in a cache; for a dataclass that function is
generated source (compiled once per class) reading every field with the few
operations a hand-written converter would use.  Paths for error messages
(``items[2].price``) are built only when something failed, while the exception
unwinds, so the success path never formats a string.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import json.encoder
import math
import uuid
from collections.abc import Callable
from typing import Any, cast

from ._errors import EncodeError, Located, where
from ._types import attribute_access, compile_source, is_msgspec_struct, is_pydantic_model, module_if_imported

__all__ = ["encode_params"]


# Written by json exactly as they are (floats are checked for NaN by json itself).
_PLAIN = frozenset({str, int, float, bool, type(None)})
_dumps = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":")
).encode


def _json_writer() -> Callable[[object], str]:
    """``_dumps`` without building json's C encoder again on every call.

    ``JSONEncoder.encode`` makes a new C encoder per call, which costs more than
    encoding a small payload.  One made here, without circular-reference markers,
    writes exactly the same text: the walk in ``_to_json`` has already built fresh
    containers (so there is no cycle left to detect) and only JSON-native values.
    """
    make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if make_encoder is None:  # no C accelerator (PyPy): json's own path
        return _dumps

    def refuse(value: object) -> object:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    encode = make_encoder(
        None, refuse, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )

    def write(native: object) -> str:
        return "".join(encode(native, 0))

    return write


_write_json = _json_writer()
_Encoder = Callable[[Any], object]


class _Unencodable(Located):
    """A value has no JSON form."""


def encode_params(
    params: object, domain: str | None = None, action: str | None = None
) -> bytes | None:
    """Encode ``params`` as compact UTF-8 JSON; ``None`` means no payload."""
    if params is None:
        return None
    try:
        native = params if type(params) in _PLAIN else _to_json(params)
    except _Unencodable as failure:
        raise EncodeError(
            f"{_encode_prefix(domain, action)}: {where(failure.path)}{failure.message}"
        ) from failure.cause
    except RecursionError as exc:
        raise EncodeError(
            f"{_encode_prefix(domain, action)}: payload of type "
            f"{type(params).__qualname__} is nested too deeply (or it contains itself)"
        ) from exc
    try:
        return _write_json(native).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EncodeError(
            f"{_encode_prefix(domain, action)}: {where(_first_bad_leaf(native))}"
            f"str is not encodable as UTF-8 ({exc.reason})"
        ) from exc
    except ValueError as exc:
        # json refuses NaN and the infinities only when it meets them.
        raise EncodeError(
            f"{_encode_prefix(domain, action)}: {where(_first_bad_leaf(native))}"
            f"float value out of JSON range ({exc})"
        ) from exc
    except RecursionError as exc:
        raise EncodeError(
            f"{_encode_prefix(domain, action)}: payload of type "
            f"{type(params).__qualname__} is nested too deeply"
        ) from exc


def _encode_prefix(domain: str | None, action: str | None) -> str:
    if domain is None:
        return "cannot encode payload"
    return f"cannot encode payload of event {domain!r}/{action!r}"


def _first_bad_leaf(native: Any) -> str:
    """Where json met a non-finite float or a str that is not UTF-8 (slow path only)."""
    steps = _bad_leaf_steps(native, "")
    path = steps or ""
    return path[1:] if path.startswith(".") else path


def _bad_leaf_steps(native: Any, steps: str) -> str | None:
    if type(native) is dict:
        for key, item in cast("dict[str, Any]", native).items():
            found = _bad_leaf_steps(item, f"{steps}.{key}")
            if found is not None:
                return found
    elif type(native) is list:
        for index, item in enumerate(cast("list[Any]", native)):  # type: ignore[redundant-cast]
            found = _bad_leaf_steps(item, f"{steps}[{index}]")
            if found is not None:
                return found
    elif isinstance(native, float) and not math.isfinite(native):
        return steps
    elif isinstance(native, str):
        try:
            native.encode("utf-8")
        except UnicodeEncodeError:
            return steps
    return None


def _to_json(value: object) -> object:
    """The JSON-native form of ``value``: what json can write, dict keys checked."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    try:
        encoder = _encoders[kind]
    except KeyError:
        encoder = _encoders[kind] = _encoder_for(kind)
    return encoder(value)


def _list_to_json(value: list[Any] | tuple[Any, ...]) -> list[object]:
    plain = _PLAIN
    try:
        return [item if type(item) in plain else _to_json(item) for item in value]
    except _Unencodable:
        # Find the index again: the success path never counts.
        for index, item in enumerate(value):
            try:
                _to_json(item)
            except _Unencodable as failure:
                failure.within(f"[{index}]")
                raise
        raise


def _dict_to_json(value: dict[Any, Any]) -> dict[str, object]:
    plain = _PLAIN
    encoded: dict[str, object] = {}
    for key, item in value.items():
        if type(key) is not str and not isinstance(key, str):
            # json would silently write {1: "a"} as {"1": "a"}.
            raise _Unencodable(
                f"dict key {key!r} of type {type(key).__qualname__} is not a str"
            )
        if type(item) in plain:
            encoded[key] = item
        else:
            try:
                encoded[key] = _to_json(item)
            except _Unencodable as failure:
                failure.within(f".{key}")
                raise
    return encoded


def _unencodable(kind: type) -> _Encoder:
    def refuse(value: object) -> object:
        raise _Unencodable(f"value of type {kind.__qualname__} is not JSON-encodable")

    return refuse


def _iso_format(value: datetime.date | datetime.time) -> str:
    return value.isoformat()


def _decimal_to_json(value: decimal.Decimal) -> str:
    if not value.is_finite():
        raise _Unencodable(f"Decimal value {value} is not finite")
    return str(value)


def _enum_to_json(value: enum.Enum) -> object:
    return _to_json(value.value)


def _same(value: object) -> object:
    return value


def _library_encoder(what: str, to_builtins: Callable[[Any], object]) -> _Encoder:
    """pydantic and msgspec values: their own serialiser first, then our checks."""

    def encode(value: object) -> object:
        try:
            built = to_builtins(value)
        except Exception as exc:
            raise _Unencodable(
                f"{what} {type(value).__qualname__} cannot be serialised: {exc}", exc
            ) from exc
        return _to_json(built)

    return encode


def _pydantic_dump(value: Any) -> object:
    # by_alias: what the model's own validation expects back.
    return value.model_dump(mode="json", by_alias=True)


def _encoder_for(kind: Any) -> _Encoder:
    """The function that turns a value of exactly ``kind`` into its JSON form."""
    if kind is dict:
        return _dict_to_json
    if kind is list or kind is tuple:
        return _list_to_json
    if dataclasses.is_dataclass(kind):
        return _dataclass_encoder(kind)
    if issubclass(kind, enum.Enum):
        return _enum_to_json
    if issubclass(kind, (datetime.date, datetime.time)):
        return _iso_format
    if issubclass(kind, uuid.UUID):
        return str
    if issubclass(kind, decimal.Decimal):
        return _decimal_to_json
    if is_pydantic_model(kind):
        return _library_encoder("pydantic model", _pydantic_dump)
    if is_msgspec_struct(kind):
        return _library_encoder("msgspec Struct", module_if_imported("msgspec").to_builtins)
    if issubclass(kind, (str, int, float)):
        # Subclasses of the JSON scalars: json writes them as their base type.
        return _same
    if issubclass(kind, dict):
        return _dict_to_json
    if issubclass(kind, (list, tuple)):
        return _list_to_json
    return _unencodable(kind)


def _dataclass_encoder(cls: Any) -> _Encoder:
    """Generated: read each field, convert only what json cannot write as it is."""
    names = [field.name for field in dataclasses.fields(cls)]
    lines = ["def encode(value):"]
    for index, name in enumerate(names):
        lines += [
            f"    v{index} = {attribute_access('value', name)}",
            f"    if type(v{index}) not in plain:",
            "        try:",
            f"            v{index} = to_json(v{index})",
            "        except Unencodable as failure:",
            f"            failure.within({'.' + name!r})",
            "            raise",
        ]
    items = ", ".join(f"{name!r}: v{index}" for index, name in enumerate(names))
    lines.append(f"    return {{{items}}}")
    namespace = {"plain": _PLAIN, "to_json": _to_json, "Unencodable": _Unencodable}
    encoder: _Encoder = compile_source("\n".join(lines), namespace, "encode", f"encoder of {cls!r}")
    return encoder


_encoders: dict[type, _Encoder] = {}