"""The public errors of the codec, and the located failure the codec unwinds with.

The public classes say ``__module__ == "eventbus"``: they are raised to users as
``eventbus.DecodeError`` etc., whichever module of the codec raised them.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: import eventbus imports nothing more for this
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

__all__ = ["DecodeError", "EncodeError", "EventBusError", "UnhandledEventError"]


class EventBusError(ValueError):
    """Base class of the errors eventbus raises for payloads: a `ValueError`.

    ``except eventbus.EventBusError`` catches both `EncodeError` and `DecodeError`.
    """


class EncodeError(EventBusError):
    """A payload could not be encoded as JSON (`new_data`, `must_data`, `Event.data`).

    The message names the event, where in the payload the value was and its type
    (``cannot encode payload of event 'orders'/'placed': at items[2].price: ...``);
    the original error, if there was one, is chained as ``__cause__``.
    """


class DecodeError(EventBusError):
    """An event's payload could not be decoded into the requested type (`decode`).

    The message names the event, the target type, the path to the value that did
    not fit and why (``cannot decode event 'users'/'created' into UserCreated at id:
    expected int, got str``).  Raised for invalid JSON too, and for an event
    without payload decoded into a type that does not accept `None`.
    """


class UnhandledEventError(EventBusError):
    """A dispatch found no handler for its pair, on a bus built with ``unhandled="raise"``.

    The message names the pair and, where one is registered, the closest registered pair
    (``no handler for event 'users'/'craeted': did you mean 'users'/'created'?``).

    Attributes:
        domain (str): The domain of the event nobody handles.
        action (str): Its action.
        suggestion (tuple[str, str] | None): The closest registered pair, if any.
    """

    def __init__(self, domain: str, action: str, suggestion: tuple[str, str] | None = None) -> None:
        message = f"no handler for event {domain!r}/{action!r}"
        if suggestion is not None:
            message += f": did you mean {suggestion[0]!r}/{suggestion[1]!r}?"
        super().__init__(message)
        self.domain = domain
        self.action = action
        self.suggestion = suggestion

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.domain, self.action, self.suggestion))


class Located(Exception):
    """A failure somewhere inside a payload.

    Each container the failure unwinds through adds its own step (``.name``,
    ``[3]``), innermost first, so the path costs nothing unless something failed.
    """

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.cause = cause
        self.steps: list[str] = []
        self.missing = False  # a required field or key was absent

    def within(self, step: str) -> None:
        self.steps.append(step)

    @classmethod
    def locate_item(cls, items: Iterable[Any], convert: Callable[[Any], object]) -> None:
        """Slow path, after converting ``items`` failed: convert them again, counting, and
        raise the first failure of this class with its index as its step."""
        for index, item in enumerate(items):
            try:
                convert(item)
            except cls as failure:
                failure.within(f"[{index}]")
                raise

    @property
    def path(self) -> str:
        path = "".join(reversed(self.steps))
        return path[1:] if path.startswith(".") else path


def where(path: str) -> str:
    return f"at {path}: " if path else ""


def describe(value: object) -> str:
    return "null" if value is None else type(value).__name__


for _public in (EventBusError, EncodeError, DecodeError, UnhandledEventError):
    _public.__module__ = "eventbus"
del _public
