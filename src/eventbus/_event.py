"""``Event``: a declared event, shared by both implementations.

An ``Event`` binds a ``(domain, action)`` pair to its payload type, once, in a contract
module that producers and consumers both import.  Everything about it but the ``Data``
class it builds is here, so the twins cannot disagree about what an event is; each twin
subclasses it only to name its own ``Data`` (``_core.Event``, ``_core_py.Event``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar

from ._errors import DecodeError

if TYPE_CHECKING:
    from ._core_py import Data

__all__ = ["Event"]

T = TypeVar("T")
_S = TypeVar("_S")


class _Probe:
    """A payload-less event to ask the codec whether it can decode into a type."""

    __slots__ = ("domain", "action", "raw_params")

    def __init__(self, domain: str, action: str) -> None:
        self.domain = domain
        self.action = action
        self.raw_params = None


def _instance_of(payload_type: object) -> Any:
    """What ``Event.data`` checks a payload against: ``payload_type`` when it is a class that
    ``isinstance`` can test (``float`` also takes an ``int``, as for type checkers), else None."""
    import typing  # noqa: PLC0415 - loaded with this module already

    if not isinstance(payload_type, type) or payload_type is typing.Any or typing.is_typeddict(payload_type):
        return None  # list[int], X | None, Literal[...], a TypedDict (a plain dict at run time)
    try:
        isinstance(None, payload_type)
    except TypeError:  # a Protocol that is not runtime-checkable, and the like
        return None
    return (float, int) if payload_type is float else payload_type


def _type_repr(tp: object) -> str:
    if isinstance(tp, type) and not getattr(tp, "__args__", None):
        module = tp.__module__
        return tp.__qualname__ if module == "builtins" else f"{module}.{tp.__qualname__}"
    return repr(tp)


def wrong_payload(event: Event[Any], payload: object) -> TypeError:
    """What ``Event.data`` raises for a payload that is not an instance of its type (both
    implementations' ``data``)."""
    return TypeError(
        f"event {event.domain!r}/{event.action!r} takes a {_type_repr(event.payload_type)} payload, "
        f"not {_type_repr(type(payload))}"
    )


class Event(Generic[T]):
    """A declared event: a ``(domain, action)`` pair and the type of its payload."""

    __slots__ = ("domain", "action", "payload_type", "asynchronous", "_instance_of")
    # The Data class of the implementation this Event class belongs to, and the codec its
    # must_data and typed handlers run (the active engine: the compiled one or the reference).
    _Data: ClassVar[Any]
    _encode_params: ClassVar[Any]
    _decoder: ClassVar[Any]

    domain: str
    action: str
    payload_type: Any
    asynchronous: bool
    _instance_of: Any

    # __new__ rather than __init__: the implementations' Event classes overload it, for type
    # checkers, to return their own Event or, with asynchronous=True, AsyncEvent.
    def __new__(cls, domain: str, action: str, payload_type: Any, *, asynchronous: bool = False) -> Self:
        # Data validates the names exactly as it does for a dispatch (and keeps plain str).
        probe = cls._Data(domain, action)
        domain, action = probe.domain, probe.action
        if asynchronous is not False and asynchronous is not True:
            raise TypeError(f"asynchronous must be a bool, not {type(asynchronous).__qualname__}")
        from ._codec.decode import decode  # noqa: PLC0415 - on first use: import eventbus stays cheap

        try:
            # The codec's own check of a target type (and its converter, built once here).
            decode(_Probe(domain, action), payload_type)
        except DecodeError:
            pass  # supported; it only refuses "no payload"
        except TypeError as exc:
            raise TypeError(
                f"payload_type of event {domain!r}/{action!r} is not a type decode() accepts: {exc}"
            ) from None
        self = object.__new__(cls)
        object.__setattr__(self, "domain", domain)
        object.__setattr__(self, "action", action)
        object.__setattr__(self, "payload_type", payload_type)
        object.__setattr__(self, "asynchronous", asynchronous)
        object.__setattr__(self, "_instance_of", _instance_of(payload_type))
        return self

    def data(self, payload: T) -> Data:
        """This event with ``payload`` encoded exactly as `must_data` encodes it.

        Type checkers refuse a ``payload`` that is not a ``payload_type``; at run time,
        when ``payload_type`` is a class (a dataclass, a pydantic model, a msgspec Struct,
        `int`, `str`...), a payload that is not an instance of it is refused before
        anything is encoded.

        Returns:
            Data: The event, ready to dispatch (of the active implementation).

        Raises:
            TypeError: ``payload`` is not an instance of ``payload_type`` (the message
                names the event and both types).
            EncodeError: ``payload`` cannot be encoded.
        """
        instance_of = self._instance_of
        if instance_of is not None and not isinstance(payload, instance_of):
            raise wrong_payload(self, payload)
        return self._Data(  # type: ignore[no-any-return]
            self.domain, self.action, self._encode_params(payload, self.domain, self.action)
        )

    def decode(self, data: Data) -> T:
        """The payload of ``data``, a dispatch of this event, as ``payload_type``.

        ``decode(data, event.payload_type)``, after checking that ``data`` is of this
        event's pair.

        Raises:
            ValueError: ``data`` is of another pair (the message names both).
            DecodeError: The payload does not fit ``payload_type``.
        """
        domain = getattr(data, "domain", None)
        action = getattr(data, "action", None)
        if (domain, action) != (self.domain, self.action) and hasattr(data, "raw_params"):
            raise ValueError(
                f"event {self.domain!r}/{self.action!r} cannot decode a Data of {domain!r}/{action!r}"
            )
        return self._decoder()(data, self.payload_type)  # type: ignore[no-any-return]

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Event is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Event is immutable: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return (
            self.domain == other.domain
            and self.action == other.action
            and self.payload_type == other.payload_type
            and self.asynchronous == other.asynchronous
        )

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return not self == other

    def __hash__(self) -> int:
        return hash((self.domain, self.action, self.payload_type, self.asynchronous))

    def __repr__(self) -> str:
        return (
            f"Event(domain={self.domain!r}, action={self.action!r}, "
            f"payload_type={_type_repr(self.payload_type)}"
            f"{', asynchronous=True' if self.asynchronous else ''})"
        )

    # Pickles name eventbus's own reconstructor, not an implementation's module: they load
    # under either implementation, as the Event of the one active there.  A copy is the
    # Event itself.
    def __reduce__(self) -> tuple[object, ...]:
        from eventbus import _restore_event  # noqa: PLC0415  # pyright: ignore[reportPrivateUsage]

        return (_restore_event, (self.domain, self.action, self.payload_type, self.asynchronous))

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: object) -> Self:
        return self
