"""Encoding: a payload into compact UTF-8 JSON, checked on the way.

Speed: one function per type in a cache; for a dataclass that function is
generated source (compiled once per class) reading every field with the few
operations a hand-written converter would use.  Paths for error messages
(``items[2].price``) are built only when something failed, while the exception
unwinds, so the success path never formats a string.
"""

from __future__ import annotations

import sys

from .._errors import EncodeError, Located, where

TYPE_CHECKING = False  # not typing's: import eventbus imports nothing more than sys for this
if TYPE_CHECKING:
    import datetime
    import decimal
    import enum
    from collections.abc import Callable
    from typing import Any, TypeAlias

    _Encoder: TypeAlias = Callable[[Any], object]

__all__ = ["encode_params"]


# Written by json exactly as they are (floats are checked for NaN by json itself).
_PLAIN = frozenset({str, int, float, bool, type(None)})


def _json_writer() -> Callable[[object], str]:
    """``_dumps`` without building json's C encoder again on every call.

    ``JSONEncoder.encode`` makes a new C encoder per call, which costs more than
    encoding a small payload.  One made here, without circular-reference markers,
    writes exactly the same text: the walk in ``_to_json`` has already built fresh
    containers (so there is no cycle left to detect) and only JSON-native values.
    """
    import json.encoder  # noqa: PLC0415  # on first use: import eventbus stays cheap

    make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if make_encoder is None:  # no C accelerator (PyPy): json's own path
        return json.JSONEncoder(
            ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_refuse
        ).encode

    encode = make_encoder(None, _refuse, json.encoder.encode_basestring, None, ":", ",", False, False, False)

    def write(native: object) -> str:
        return "".join(encode(native, 0))

    return write


class _Raw:
    """A library model's own JSON, written into the payload's as it is."""

    __slots__ = ("json",)

    def __init__(self, json: bytes) -> None:
        self.json = json


class _HoldsRaw(Exception):  # noqa: N818  # a signal, not an error
    """json met a ``_Raw``: the payload is written by ``_write_spliced`` instead."""


def _refuse(value: object) -> object:
    if type(value) is _Raw:
        raise _HoldsRaw
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _write_spliced(native: object) -> bytes:
    """``native`` as UTF-8 JSON, each ``_Raw`` in it written as its bytes (nested models only)."""
    kind = type(native)
    if kind is _Raw:
        return native.json  # type: ignore[attr-defined,no-any-return]
    if kind is dict:
        from typing import cast  # noqa: PLC0415  # nested library models only

        items = cast("dict[str, object]", native).items()
        return (
            b"{"
            + b",".join(_write_json(key).encode("utf-8") + b":" + _write_spliced(item) for key, item in items)
            + b"}"
        )
    if kind is list:
        return b"[" + b",".join(_write_spliced(item) for item in native) + b"]"  # type: ignore[attr-defined]
    return _write_json(native).encode("utf-8")


def _first_write(native: object) -> str:
    """Builds the writer on first use, then steps aside for it."""
    global _write_json  # noqa: PLW0603
    _write_json = _json_writer()
    return _write_json(native)


_write_json: Callable[[object], str] = _first_write


class _Unencodable(Located):
    """A value has no JSON form."""


def encode_params(params: object, domain: str | None = None, action: str | None = None) -> bytes | None:
    """Encode ``params`` as compact UTF-8 JSON; ``None`` means no payload."""
    if params is None:
        return None
    try:
        native = params if type(params) in _PLAIN else _to_json(params)
        if type(native) is _Raw:  # a library model as the whole payload: its own bytes
            return native.json
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
        try:
            text = _write_json(native)
        except _HoldsRaw:
            return _write_spliced(native)
        return text.encode("utf-8")
    except RecursionError as exc:
        raise EncodeError(
            f"{_encode_prefix(domain, action)}: payload of type "
            f"{type(params).__qualname__} is nested too deeply"
        ) from exc
    except ValueError as exc:  # UnicodeEncodeError is a ValueError
        # json refuses NaN, the infinities and ints past the digit limit only when it
        # meets them, and UTF-8 refuses a lone surrogate only after json wrote it: the
        # first such leaf in writing order is the one to name, with its own words.
        found = _first_bad_leaf(native)
        what = str(exc) if found is None else f"{where(found[0])}{found[1]}"
        raise EncodeError(f"{_encode_prefix(domain, action)}: {what}") from exc


def _encode_prefix(domain: str | None, action: str | None) -> str:
    if domain is None:
        return "cannot encode payload"
    return f"cannot encode payload of event {domain!r}/{action!r}"


def _first_bad_leaf(native: Any) -> tuple[str, str] | None:
    """Where and why json or UTF-8 refuses ``native``, first in writing order (slow path only)."""
    found = _bad_leaf(native, "")
    if found is None:
        return None
    path, message = found
    return (path[1:] if path.startswith(".") else path), message


def _bad_str(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.reason
    return None


def _bad_leaf(native: Any, steps: str) -> tuple[str, str] | None:
    if type(native) is dict:
        from typing import cast  # noqa: PLC0415  # the error path only

        for key, item in cast("dict[str, Any]", native).items():
            reason = _bad_str(key)
            if reason is not None:
                return steps, f"dict key {key!r} is not encodable as UTF-8 ({reason})"
            found = _bad_leaf(item, f"{steps}.{key}")
            if found is not None:
                return found
    elif type(native) is list:
        from typing import cast  # noqa: PLC0415  # the error path only

        for index, item in enumerate(cast("list[Any]", native)):  # type: ignore[redundant-cast]
            found = _bad_leaf(item, f"{steps}[{index}]")
            if found is not None:
                return found
    elif isinstance(native, float):
        if native - native != 0.0:  # inf - inf and nan - nan are nan
            return steps, f"float value out of JSON range ({float.__repr__(native)})"
    elif isinstance(native, int) and not isinstance(native, bool):
        try:
            int.__repr__(native)
        except ValueError as exc:  # past sys.get_int_max_str_digits()
            return steps, f"int value has too many digits to write ({exc})"
    elif isinstance(native, str):
        reason = _bad_str(native)
        if reason is not None:
            return steps, f"str is not encodable as UTF-8 ({reason})"
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
    try:
        return encoder(value)
    except (_Unencodable, RecursionError, MemoryError):
        raise
    except Exception as exc:
        # A value that misbehaves while it is read (a dict subclass whose items() raises,
        # a datetime whose tzinfo does): an encode error at its place, like any other.
        raise _Unencodable(
            f"value of type {kind.__qualname__} could not be encoded: {type(exc).__name__}: {exc}",
            exc,
        ) from exc


def json_form(value: object) -> object:
    """``value`` as JSON reads it back (tuples as lists, ...); ValueError if it has none."""
    try:
        return _to_json(value)
    except _Unencodable as failure:
        raise ValueError(failure.message) from None


def _list_to_json(value: list[Any] | tuple[Any, ...]) -> list[object]:
    plain = _PLAIN
    try:
        return [item if type(item) in plain else _to_json(item) for item in value]
    except _Unencodable:
        _Unencodable.locate_item(value, _to_json)  # the success path never counts
        raise


def _dict_to_json(value: dict[Any, Any]) -> dict[str, object]:
    plain = _PLAIN
    encoded: dict[str, object] = {}
    for key, item in value.items():
        if type(key) is not str and not issubclass(type(key), str):
            # Not isinstance: a Mock(spec=str) passes it through __class__, and json refuses it.
            # json would silently write {1: "a"} as {"1": "a"}.
            raise _Unencodable(f"dict key {key!r} of type {type(key).__qualname__} is not a str")
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


def _non_finite(value: object, steps: str) -> tuple[str, float] | None:
    """The path and value of the first NaN or infinity in ``value`` (as a library dumps it)."""
    if type(value) is float:
        return None if value - value == 0.0 else (steps, value)
    from typing import cast  # noqa: PLC0415  # the slow path only

    if isinstance(value, dict):
        for key, item in cast("dict[object, object]", value).items():
            found = _non_finite(item, f"{steps}.{key}")
            if found is not None:
                return found
    elif isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(cast("list[object]", value)):
            found = _non_finite(item, f"{steps}[{index}]")
            if found is not None:
                return found
    return None


def _located(message: str, steps: str, cause: BaseException | None) -> _Unencodable:
    failure = _Unencodable(message, cause)
    if steps:
        failure.within(steps)
    return failure


def _model_writer(
    what: str, write: Callable[[Any], bytes], dump: Callable[[Any], object], suspects: tuple[bytes, ...]
) -> _Encoder:
    """A library model written by its library; NaN and the infinities refused all the same.

    The libraries write a non-finite float as ``null`` (or, as a pydantic model's config says,
    ``NaN`` or ``"NaN"``): only output holding one of ``suspects`` is looked at again, in the
    model's builtins (``dump``), for one.  A failure is located the same way, on the slow path.
    """

    def encode(value: object) -> object:
        try:
            written = write(value)
        except Exception as exc:
            raise _model_failure(what, value, dump, exc) from exc
        for suspect in suspects:
            if suspect in written:
                found = _non_finite(dump(value), "")
                if found is not None:
                    steps, number = found
                    raise _located(f"float value out of JSON range ({float.__repr__(number)})", steps, None)
                break
        return _Raw(written)

    model_writers[encode] = (write, suspects)
    return encode


# Each library model's encoder -> (its library's writer, the outputs it may hide a NaN in):
# what the compiled engine runs itself for a model that is the whole payload.
model_writers: dict[_Encoder, tuple[Callable[[Any], bytes], tuple[bytes, ...]]] = {}


def model_writer(kind: type) -> tuple[Callable[[Any], bytes], tuple[bytes, ...]] | None:
    """``(write, suspects)`` when values of exactly ``kind`` are a library's models, else None.

    ``write(value)`` is the library's own writer, and the reference returns its bytes as they
    are unless it raises or they hold one of ``suspects`` (then the reference looks closer).
    """
    try:
        encoder = _encoders[kind]
    except KeyError:
        encoder = _encoders[kind] = _encoder_for(kind)
    return model_writers.get(encoder)


def _model_failure(what: str, value: object, dump: Callable[[Any], object], exc: Exception) -> _Unencodable:
    """Where the library's writer failed, found with our own checks on its builtins."""
    try:
        native = _to_json(dump(value))
        found = _first_bad_leaf(native)
    except _Unencodable as failure:
        return failure
    except Exception:  # noqa: BLE001  # the library's own words say it best
        found = None
    if found is not None:
        return _located(found[1], f".{found[0]}" if found[0] and found[0][0] != "[" else found[0], exc)
    return _Unencodable(f"{what} {type(value).__qualname__} cannot be serialised: {exc}", exc)


def _pydantic_writer(kind: Any) -> _Encoder:
    import functools  # noqa: PLC0415  # with the first pydantic model

    # by_alias: what the model's own validation expects back.
    write = functools.partial(kind.__pydantic_serializer__.to_json, by_alias=True)

    def dump(value: Any) -> object:
        return value.model_dump(by_alias=True)

    return _model_writer("pydantic model", write, dump, (b"null", b"NaN", b"Infinity"))


def _msgspec_writer(msgspec: Any) -> _Encoder:
    return _model_writer("msgspec Struct", msgspec.json.encode, msgspec.to_builtins, (b"null",))


def _encoder_for(kind: Any) -> _Encoder:
    """The function that turns a value of exactly ``kind`` into its JSON form."""
    if kind is dict:
        return _dict_to_json
    if kind is list or kind is tuple:
        return _list_to_json
    # A value of a module's type exists only once the module is imported: those not
    # imported yet need no look (and import eventbus does not import them).
    from .types import is_msgspec_struct, is_pydantic_model, module_if_imported  # noqa: PLC0415

    dataclasses = module_if_imported("dataclasses")
    if dataclasses is not None and dataclasses.is_dataclass(kind):
        return _dataclass_encoder(kind)
    enum = module_if_imported("enum")
    if enum is not None and issubclass(kind, enum.Enum):
        return _enum_to_json
    datetime = module_if_imported("datetime")
    if datetime is not None and issubclass(kind, (datetime.date, datetime.time)):
        return _iso_format
    uuid = module_if_imported("uuid")
    if uuid is not None and issubclass(kind, uuid.UUID):
        return str
    decimal = module_if_imported("decimal")
    if decimal is not None and issubclass(kind, decimal.Decimal):
        return _decimal_to_json
    if is_pydantic_model(kind):
        return _pydantic_writer(kind)
    if is_msgspec_struct(kind):
        return _msgspec_writer(module_if_imported("msgspec"))
    if issubclass(kind, (str, int, float)):
        # Subclasses of the JSON scalars: json writes them as their base type.
        return _same
    if issubclass(kind, dict):
        return _dict_to_json
    if issubclass(kind, (list, tuple)):
        return _list_to_json
    return _unencodable(kind)


def _dataclass_encoder(cls: Any) -> _Encoder:
    """Generated: read the fields at once, convert only what json cannot write as it is.

    The source holds no user text (no class or field name): the names are globals of
    the generated function, ``n0`` for the first field's and so on.
    """
    import functools  # noqa: PLC0415  # once per dataclass
    import operator  # noqa: PLC0415

    from .types import compile_source  # noqa: PLC0415

    names = [field.name for field in sys.modules["dataclasses"].fields(cls)]
    namespace: dict[str, Any] = {
        "plain": _PLAIN,
        "to_json": _to_json,
        "Unencodable": _Unencodable,
        "unreadable": _unreadable(names),
    }
    if not names:
        return _empty_dataclass
    variables = [f"v{index}" for index in range(len(names))]
    if any("." in name for name in names):  # attrgetter would follow the dots
        namespace["fetch"] = functools.partial(_fields_of, names)
    else:
        namespace["fetch"] = operator.attrgetter(*names)
    # attrgetter of one name gives the value itself, of several a tuple.
    target = variables[0] if len(names) == 1 else ", ".join(variables)
    if len(names) == 1 and "." in names[0]:
        target += ","
    lines = [
        "def encode(value):",
        "    try:",
        f"        {target} = fetch(value)",
        "    except Exception as exc:",
        "        unreadable(value, exc)",
        "        raise",
    ]
    for index, (name, variable) in enumerate(zip(names, variables, strict=True)):
        namespace[f"n{index}"] = name
        namespace[f"s{index}"] = f".{name}"
        lines += [
            f"    if type({variable}) not in plain:",
            "        try:",
            f"            {variable} = to_json({variable})",
            "        except Unencodable as failure:",
            f"            failure.within(s{index})",
            "            raise",
        ]
    items = ", ".join(f"n{index}: {variable}" for index, variable in enumerate(variables))
    lines.append(f"    return {{{items}}}")
    encoder: _Encoder = compile_source("\n".join(lines), namespace, "encode", "dataclass encoder")
    return encoder


def _fields_of(names: list[str], value: object) -> tuple[object, ...]:
    return tuple(getattr(value, name) for name in names)


def _empty_dataclass(value: object) -> object:
    return {}


def _unreadable(names: list[str]) -> Callable[[object, Exception], None]:
    """Slow path: say which field could not be read (``init=False`` and never set, ...)."""

    def locate(value: object, exc: Exception) -> None:
        for name in names:
            try:
                getattr(value, name)
            except Exception as failed:
                failure = _Unencodable(f"field could not be read: {type(failed).__name__}: {failed}", failed)
                failure.within(f".{name}")
                raise failure from failed
        raise _Unencodable(
            f"value of type {type(value).__qualname__} could not be read: {type(exc).__name__}: {exc}",
            exc,
        ) from exc

    return locate


_encoders: dict[type, _Encoder] = {}
