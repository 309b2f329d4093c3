"""Types of the compiled core: exactly what the pure twin ``_core_py.py`` declares."""

import logging
from collections.abc import Callable
from typing import Any, ClassVar, Literal, TypeVar, final, overload

from . import _event
from ._observe import Observer
from ._registration import Registration
from ._transactions import Transaction

__all__ = ["Bus", "Data", "Event", "must_data", "new_data"]

_F = TypeVar("_F", bound=Callable[[Any, Data], object])
_T = TypeVar("_T")
_S = TypeVar("_S")
_C = TypeVar("_C")
_R = TypeVar("_R")

@final
class Data:
    """An event: ``(domain, action)`` and an optional JSON payload, immutable."""

    __match_args__ = ("domain", "action", "raw_params")

    domain: str
    action: str
    raw_params: bytes | None

    # __new__ rather than __init__, so that no later call can change a Data.
    def __new__(cls, domain: str, action: str, raw_params: bytes | None = None) -> Data: ...
    def __setattr__(self, name: str, value: object, /) -> None: ...
    def __delattr__(self, name: str, /) -> None: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[object, ...]: ...
    def __copy__(self) -> Data: ...
    def __deepcopy__(self, memo: object, /) -> Data: ...

def new_data(domain: str, action: str, params: object = None) -> Data:
    """An event whose payload is ``params`` encoded as compact UTF-8 JSON."""

def must_data(domain: str, action: str, params: object = None) -> Data:
    """``new_data`` for payload types that cannot fail to encode."""

class Event(_event.Event[_T]):
    """A declared event: a ``(domain, action)`` pair and the type of its payload."""

    _Data: ClassVar[Any]
    @overload
    def __new__(
        cls, domain: str, action: str, payload_type: type[_S], *, asynchronous: Literal[False] = False
    ) -> Event[_S]: ...
    @overload
    def __new__(
        cls, domain: str, action: str, payload_type: type[_S], *, asynchronous: Literal[True]
    ) -> AsyncEvent[_S]: ...
    @overload
    def __new__(
        cls, domain: str, action: str, payload_type: object, *, asynchronous: Literal[False] = False
    ) -> Event[Any]: ...
    @overload
    def __new__(
        cls, domain: str, action: str, payload_type: object, *, asynchronous: Literal[True]
    ) -> AsyncEvent[Any]: ...
    def data(self, payload: _T) -> Data:  # type: ignore[override]
        """This event with ``payload`` encoded exactly as ``must_data`` encodes it."""
    def decode(self, data: Data) -> _T:  # type: ignore[override]
        """The payload of ``data``, a dispatch of this event, as ``payload_type``."""

class AsyncEvent(Event[_T]):
    """For type checkers: an ``Event(..., asynchronous=True)``, whose handlers may be coroutine functions."""

codec_engine: str

def _must_data_with(
    encode: Callable[[object, str, str], bytes | None],
) -> Callable[[str, str, object], Data]:
    """``must_data`` on another engine's ``encode_params`` (benchmarks and differential tests)."""

class Bus:
    """Synchronous, in-process dispatch of events to the handlers of their pair."""

    def __init__(
        self,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
        *,
        unhandled: Literal["ignore", "warn", "raise"] = "ignore",
        observer: Observer | None = None,
    ) -> None: ...
    def __reduce__(self) -> tuple[object, ...]: ...
    @property
    def observer(self) -> Observer | None:
        """What sees every dispatch of this bus (see ``eventbus.Observer``); ``None``: nothing."""
    @observer.setter
    def observer(self, observer: Observer | None) -> None: ...
    @observer.deleter
    def observer(self) -> None: ...
    @overload
    def register(
        self, domain: str, action: str, handler: Callable[[Any, Data], object], *, weak: bool = False
    ) -> Callable[[], bool]: ...
    @overload
    def register(
        self, event: AsyncEvent[_T], handler: Callable[[Any, _T], object], /, *, weak: bool = False
    ) -> Callable[[], bool]: ...
    @overload
    def register(
        self, event: Event[_T], handler: Callable[[Any, _T], None], /, *, weak: bool = False
    ) -> Callable[[], bool]: ...
    @overload
    def unregister(self, domain: str, action: str, handler: object) -> bool: ...
    @overload
    def unregister(self, event: Event[Any], handler: object, /) -> bool: ...
    @overload
    def on(self, domain: str, action: str) -> Callable[[_F], _F]: ...
    @overload
    def on(self, event: AsyncEvent[_T], /) -> Callable[[Callable[[_C, _T], _R]], Callable[[_C, _T], _R]]: ...
    @overload
    def on(self, event: Event[_T], /) -> Callable[[Callable[[_C, _T], None]], Callable[[_C, _T], None]]: ...
    @overload
    def handlers(self, domain: str, action: str) -> tuple[Callable[[Any, Data], object], ...]: ...
    @overload
    def handlers(self, event: Event[Any], /) -> tuple[Callable[[Any, Any], object], ...]: ...
    def pairs(self) -> tuple[tuple[str, str], ...]:
        """Every pair that has at least one handler now (as ``handlers`` says), sorted."""
    @overload
    def registrations(self) -> tuple[Registration, ...]: ...
    @overload
    def registrations(self, domain: str, action: str, /) -> tuple[Registration, ...]: ...
    @overload
    def registrations(self, event: Event[Any], /) -> tuple[Registration, ...]: ...
    def call(self, ctx: object, data: Data) -> None:
        """Run the handlers in order; the first exception stops the dispatch and propagates."""
    def publish(self, ctx: object, data: Data) -> None:
        """Run every handler; raise an ExceptionGroup of all the Exceptions they raised."""
    async def acall(self, ctx: object, data: Data) -> None:
        """``call`` for async handlers: each result that is awaitable is awaited in turn."""
    async def apublish(self, ctx: object, data: Data) -> None:
        """``publish`` for async handlers: each result that is awaitable is awaited in turn."""
    def call_after_commit(self, ctx: object, data: Data, tx: Transaction) -> None:
        """`call` once ``tx`` commits: at once if no transaction is open, never if it rolls back."""
    def publish_after_commit(self, ctx: object, data: Data, tx: Transaction) -> None:
        """`publish` once ``tx`` commits: at once if no transaction is open, never if it rolls back."""
    def _mute(
        self, domain: str, action: str, replacement: tuple[Callable[[Any, Data], object], ...] = ()
    ) -> Callable[[], None]:
        """For ``eventbus.testing``: dispatches of the pair run ``replacement`` until unmuted."""
