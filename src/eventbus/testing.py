"""Helpers for testing code that dispatches or handles events.

Plain context managers: they work from pytest (or unittest, or a script) without a
plugin, and with either implementation's ``Bus``.

- ``record(bus, pairs...)`` registers a recorder for the pairs and removes it on
  exit; the recorder keeps every ``Data`` dispatched to them, in order.
- ``muted(bus, pairs...)`` runs a block in which dispatches of the pairs run none
  of their handlers; they are back on exit.
- ``record(bus, pairs..., mute=True)`` does both: only the recorder sees the pairs.

A declared ``eventbus.Event`` is accepted wherever a ``(domain, action)`` pair is;
``record(bus, event).one()`` and ``.decode()`` then decode with its payload type.
"""

from __future__ import annotations

import sys
import threading
import typing
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any, Generic, TypeVar, cast

from ._codec.decode import decode as _decode
from ._event import Event

if typing.TYPE_CHECKING:
    from . import Bus, Data

__all__ = ["Recorded", "muted", "record"]

T = TypeVar("T")
_T_co = TypeVar("_T_co", covariant=True)
_U = TypeVar("_U")
Pair = tuple[str, str]
_NO_TYPE: Any = object()


class Recorded(Generic[_T_co]):
    """What the recorded pairs were dispatched, in dispatch order (across all of them).

    Recording happens on the dispatching thread, as a handler; dispatches from
    several threads are all kept, in the order they reached the recorder.  It is a
    ``Recorded[T]`` for ``record(bus, event)`` of an ``Event[T]`` (`one` is a ``T``,
    `decode` a ``list[T]``), a ``Recorded[object]`` for pairs.
    """

    def __init__(self, payload_types: dict[Pair, object] | None = None) -> None:
        # (domain, action) -> payload type, for the pairs named by an Event.
        self._payload_types = payload_types or {}
        self._lock = threading.Lock()
        self._events: list[tuple[object, Data]] = []

    def __call__(self, ctx: object, data: Data) -> None:
        """The recorder is itself a handler: ``bus.register(domain, action, recorded)``."""
        with self._lock:
            self._events.append((ctx, data))

    @property
    def data(self) -> list[Data]:
        """The recorded events, oldest first (a copy)."""
        with self._lock:
            return [data for _, data in self._events]

    @property
    def contexts(self) -> list[object]:
        """The ``ctx`` each recorded dispatch passed, parallel to ``data``."""
        with self._lock:
            return [ctx for ctx, _ in self._events]

    @property
    def pairs(self) -> list[Pair]:
        """``(domain, action)`` of each recorded event, parallel to ``data``."""
        return [(data.domain, data.action) for data in self.data]

    @typing.overload
    def decode(self) -> list[_T_co]: ...
    @typing.overload
    def decode(self, cls: type[_U]) -> list[_U]: ...
    @typing.overload
    def decode(self, cls: object) -> list[Any]: ...
    def decode(self, cls: Any = None) -> list[Any]:
        """Every recorded payload decoded, as ``eventbus.decode(data[, cls])`` would."""
        if cls is None:
            return [self._decode_own(data) for data in self.data]
        return [_decode(data, cls) for data in self.data]

    def _decode_own(self, data: Data) -> object:
        payload_type = self._payload_types.get((data.domain, data.action), _NO_TYPE)
        return _decode(data) if payload_type is _NO_TYPE else _decode(data, payload_type)

    @typing.overload
    def one(self) -> _T_co: ...
    @typing.overload
    def one(self, cls: type[_U]) -> _U: ...
    @typing.overload
    def one(self, cls: object) -> Any: ...
    def one(self, cls: Any = None) -> Any:
        """The payload of the only recorded event; ``AssertionError`` unless exactly one."""
        events = self.data
        if len(events) != 1:
            raise AssertionError(f"expected exactly one recorded event, got {len(events)}: {events!r}")
        return self._decode_own(events[0]) if cls is None else _decode(events[0], cls)

    def clear(self) -> None:
        """Forget what was recorded so far; recording goes on."""
        with self._lock:
            self._events.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    def __iter__(self) -> Iterator[Data]:
        return iter(self.data)

    def __getitem__(self, index: int) -> Data:
        with self._lock:
            return self._events[index][1]

    def __repr__(self) -> str:
        return f"<Recorded {self.pairs!r}>"


def _checked_pairs(pairs: tuple[object, ...]) -> list[Pair]:
    if not pairs:
        raise TypeError("name at least one (domain, action) pair or eventbus.Event")
    checked: list[Pair] = []
    for pair in pairs:
        if isinstance(pair, Event):
            event: Event[Any] = pair  # pyright: ignore[reportUnknownVariableType]
            key = (event.domain, event.action)
        else:
            key = _checked_pair(pair)
        # A pair named twice (as a tuple or an Event) is recorded (or muted) once: each
        # dispatch is recorded once.
        if key not in checked:
            checked.append(key)
    return checked


def _checked_pair(pair: object) -> Pair:
    if not (isinstance(pair, tuple) and len(pair) == 2):  # pyright: ignore[reportUnknownArgumentType]
        raise TypeError(f"a pair is a (domain, action) tuple or an eventbus.Event, not {pair!r}")
    domain, action = cast("tuple[object, object]", pair)
    if not (isinstance(domain, str) and isinstance(action, str)):
        raise TypeError(f"a pair is a (domain, action) tuple of two str or an eventbus.Event, not {pair!r}")
    if not (domain and action):
        raise ValueError(
            f"a pair is a (domain, action) tuple of two non-empty str or an eventbus.Event, not {pair!r}"
        )
    return (domain, action)


def _payload_types(pairs: tuple[object, ...]) -> dict[Pair, object]:
    """The payload type of each pair named by an Event (the first Event of a pair decides)."""
    found: dict[Pair, object] = {}
    for pair in pairs:
        if isinstance(pair, Event):
            event: Event[Any] = pair  # pyright: ignore[reportUnknownVariableType]
            found.setdefault((event.domain, event.action), event.payload_type)
    return found


def _mute(
    bus: Bus, domain: str, action: str, replacement: tuple[Callable[[Any, Data], object], ...]
) -> Callable[[], None]:
    # The bus's one test-support method: not public API, so it stays private there.
    return bus._mute(domain, action, replacement)  # pyright: ignore[reportPrivateUsage]


@typing.overload
def record(bus: Bus, event: Event[T], /, *, mute: bool = False) -> AbstractContextManager[Recorded[T]]: ...
@typing.overload
def record(
    bus: Bus, *pairs: Pair | Event[Any], mute: bool = False
) -> AbstractContextManager[Recorded[object]]: ...
def record(bus: Bus, *pairs: Pair | Event[Any], mute: bool = False) -> AbstractContextManager[Recorded[Any]]:
    """Record every `eventbus.Data` dispatched on ``bus`` to ``pairs`` while the block runs.

    The recorder is a handler registered after those already there, so a ``call``
    that an earlier handler stops never reaches it.  With ``mute=True`` the pairs'
    own handlers do not run inside the block and the recorder sees every dispatch.
    The recorder is removed (and the handlers are back) on exit, also on error.  A pair
    named more than once is recorded once.

    Args:
        bus: The bus to record on (either implementation's).
        *pairs: ``(domain, action)`` tuples or `eventbus.Event` objects; at least one.  For a
            pair named by an event, `Recorded.one` and `Recorded.decode` decode with
            its payload type when given no type.
        mute: Also mute the pairs' own handlers (see `muted`).

    Returns:
        A context manager whose ``with`` target is a `Recorded`: what was dispatched to
        the pairs, in dispatch order.  For one `eventbus.Event` ``[T]``, a
        ``Recorded[T]``: ``.one()`` is typed ``T`` and ``.decode()`` ``list[T]``.

    Raises:
        TypeError: No pair, or something that is neither a pair nor an `eventbus.Event`.

    Example:
        >>> from eventbus.testing import record
        >>> bus = eventbus.Bus()
        >>> with record(bus, ("users", "created")) as created:
        ...     bus.call(None, eventbus.new_data("users", "created", {"id": 7}))
        >>> created.one()
        {'id': 7}
    """
    return _record(bus, pairs, mute)


@contextmanager
def _record(
    bus: Bus, pairs: tuple[Pair | Event[Any], ...], mute: bool
) -> Generator[Recorded[Any], None, None]:
    checked = _checked_pairs(pairs)
    recorded: Recorded[Any] = Recorded(_payload_types(pairs))
    with ExitStack() as stack:
        for domain, action in checked:
            if mute:
                stack.callback(_mute(bus, domain, action, (recorded,)))
            else:
                unregister = bus.register(domain, action, recorded)
                stack.callback(unregister)
                # The site of the recorder: the line of the with statement, past this module.
                bus._registered_from(unregister, sys._getframe(0))  # noqa: SLF001  # pyright: ignore[reportPrivateUsage]
        yield recorded


@contextmanager
def muted(bus: Bus, *pairs: Pair | Event[Any]) -> Generator[None, None, None]:
    """Run the block with the handlers of ``pairs`` muted: dispatching them runs nothing.

    Handlers registered or unregistered inside the block take effect on exit; code
    outside the block (other threads included) sees the pairs muted while it runs.
    Mutes nest.

    Args:
        bus: The bus whose handlers to mute (either implementation's).
        *pairs: ``(domain, action)`` tuples or `eventbus.Event` objects; at least one.

    Raises:
        TypeError: No pair, or something that is neither a pair nor an `eventbus.Event`.

    Example:
        >>> from eventbus.testing import muted
        >>> bus = eventbus.Bus()
        >>> _ = bus.register("users", "created", lambda ctx, data: ctx.append(data))
        >>> seen = []
        >>> with muted(bus, ("users", "created")):
        ...     bus.call(seen, eventbus.Data("users", "created"))
        >>> seen
        []
    """
    with ExitStack() as stack:
        for domain, action in _checked_pairs(pairs):
            stack.callback(_mute(bus, domain, action, ()))
        yield
