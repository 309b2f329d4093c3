"""What a bus knows about the application wired on it, written once for both implementations.

The library's logger, the ``unhandled=`` policy (warn about or refuse a dispatch that no handler
takes), where each registration was made, the refusal of a coroutine handler for a synchronous
event, the words of every error about a pair, and the `Registration` values of
``Bus.registrations()``.  The twins call in here from their cold paths only: a dispatch that
finds handlers never does.
"""

from __future__ import annotations

import os
from _thread import allocate_lock

from ._errors import UnhandledEventError

# Not typing's: import eventbus imports no typing (see __init__.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from types import CodeType
    from typing import Any

__all__ = [
    "Unhandled",
    "coroutine_refused",
    "library_logger",
    "pair_error",
    "registrations",
    "site_beyond",
    "unhandled_policy",
]

LOGGER_NAME = "eventbus"
UNHANDLED_MODES = ("ignore", "warn", "raise")

# What each method accepts as a pair, for the errors about one.
_FORMS = {
    "register": "register(domain, action, handler) or register(event, handler)",
    "unregister": "unregister(domain, action, handler) or unregister(event, handler)",
    "handlers": "handlers(domain, action) or handlers(event)",
    "on": "on(domain, action) or on(event)",
    "registrations": "registrations(), registrations(domain, action) or registrations(event)",
}


def library_logger() -> logging.Logger:
    """``logging.getLogger("eventbus")``, with a `logging.NullHandler` the first time.

    As the logging docs ask of a library: with logging unconfigured, what the bus logs is
    not printed by logging's last-resort handler (``publish`` raises those failures anyway).
    """
    import logging  # noqa: PLC0415 - on first use: import eventbus stays cheap

    logger = logging.getLogger(LOGGER_NAME)
    with _LOGGER_LOCK:  # two threads building their first buses add one handler
        if not any(type(handler) is logging.NullHandler for handler in logger.handlers):
            logger.addHandler(logging.NullHandler())
    return logger


_LOGGER_LOCK = allocate_lock()


def pair_error(method: str, error: Exception, domain: object = None) -> Exception:
    """``error`` (a refused domain or action) in words that show the forms ``method`` accepts."""
    hint = ""
    if isinstance(domain, tuple):  # the pair as eventbus.testing takes it
        pair: tuple[object, ...] = domain  # pyright: ignore[reportUnknownVariableType]
        if len(pair) == 2:
            hint = f" (not a tuple: {method}({pair[0]!r}, {pair[1]!r}, ...))"
    return type(error)(f"{error}: the pair is given as {_FORMS[method]}{hint}")


def missing_pair(method: str) -> TypeError:
    return TypeError(f"{method}() needs a (domain, action) pair or an eventbus.Event: {_FORMS[method]}")


def coroutine_refused(handler_name: str, event: Any) -> TypeError:
    """``register(event, h)`` of a coroutine function ``h`` for a synchronous event."""
    return TypeError(
        f"handler {handler_name} is a coroutine function, and event {event.domain!r}/{event.action!r} "
        f"is synchronous (its producers dispatch with call() or publish()): declare it with "
        f"eventbus.Event(..., asynchronous=True) and dispatch it with acall() or apublish()"
    )


# -- Where a registration was made -----------------------------------------------------

# Frames passed over to find a registration's site: eventbus's own (the decorator of on(),
# eventbus.testing) and contextlib's (eventbus.testing registers from inside a context
# manager).  contextlib.py sits beside os.py: no import needed.
SKIPPED = (
    os.path.dirname(os.path.abspath(__file__)) + os.sep,
    os.path.join(os.path.dirname(os.__file__), "contextlib.py"),
)
_UNKNOWN_SITE = (None, -1)


def site_beyond(frame: Any, skipped: tuple[str, ...] = SKIPPED) -> tuple[Any, int]:
    """The site of a registration made for the caller of ``frame``: the first frame from
    ``frame`` up outside eventbus (and contextlib).  (``register()`` keeps its own caller's
    frame's site, the common case; on()'s decorator and eventbus.testing call this.)

    A site is the code object and the instruction offset of the registering call, the
    ``register(...)`` call or the ``@bus.on(...)`` line; the line is worked out only when
    ``registrations()`` asks (``f_lineno`` costs more than the rest).
    """
    while frame is not None and frame.f_code.co_filename.startswith(skipped):
        frame = frame.f_back
    return _UNKNOWN_SITE if frame is None else (frame.f_code, frame.f_lasti)


def _shown_site(where: tuple[CodeType | None, int]) -> str:
    code, offset = where
    if code is None:
        return "<unknown>:0"
    line = next((line for start, end, line in code.co_lines() if start <= offset < end), None)
    filename: str = code.co_filename
    try:
        relative: str = os.path.relpath(filename)
    except ValueError:  # another drive (Windows)
        relative = filename
    if not relative.startswith(os.pardir):
        filename = relative
    return f"{filename.replace(os.sep, '/')}:{line or code.co_firstlineno}"


def registrations(rows: list[tuple[tuple[str, str], Any, Any, bool, tuple[Any, int]]]) -> tuple[Any, ...]:
    """The `Registration` values of ``rows`` ((pair, handler, event, weak, site), in registration
    order per pair), sorted by pair."""
    from ._registration import Registration  # noqa: PLC0415

    ordered = sorted(range(len(rows)), key=lambda index: (rows[index][0], index))
    return tuple(
        Registration(domain, action, handler, event, weak, _shown_site(where))
        for (domain, action), handler, event, weak, where in (rows[index] for index in ordered)
    )


def registrations_filter(
    pair: Any, missing: object, pair_or_event: tuple[object, ...]
) -> tuple[str, str] | None:
    """The pair ``registrations(*pair_or_event)`` asks for, or ``None`` for every pair.

    ``pair`` is the twin's ``Bus._pair``, ``missing`` its "not given" marker.
    """
    if len(pair_or_event) == 0:
        return None
    if len(pair_or_event) > 2:
        raise missing_pair("registrations")
    action = pair_or_event[1] if len(pair_or_event) == 2 else missing
    try:
        _, domain, action, rest = pair(pair_or_event[0], action, "registrations")
    except (TypeError, ValueError) as exc:
        raise pair_error("registrations", exc, pair_or_event[0]) from None
    if rest is not missing:
        raise missing_pair("registrations")
    return (domain, action)


# -- unhandled= --------------------------------------------------------------------------


def unhandled_policy(mode: object, logger: Any) -> Unhandled | None:
    """What a bus does with a dispatch that finds no handler; ``None`` for ``"ignore"``."""
    if mode == "ignore" and type(mode) is str:
        return None
    if type(mode) is not str or mode not in UNHANDLED_MODES:
        raise ValueError(f"unhandled must be 'ignore', 'warn' or 'raise', not {mode!r}")
    return Unhandled(mode, logger)


def closest_pair(pairs: tuple[tuple[str, str], ...], domain: str, action: str) -> tuple[str, str] | None:
    """The registered pair most like ``domain``/``action`` (a typo's intended pair), if any is close."""
    import difflib  # noqa: PLC0415 - only when something is unhandled

    names = {f"{d}/{a}": (d, a) for d, a in pairs}
    found = difflib.get_close_matches(f"{domain}/{action}", list(names), n=1, cutoff=0.6)
    return names[found[0]] if found else None


class Unhandled:
    """``unhandled="warn"`` or ``"raise"``: called by a dispatch that found no handler."""

    __slots__ = ("mode", "logger", "warned", "lock")

    def __init__(self, mode: str, logger: Any) -> None:
        self.mode = mode
        self.logger = logger
        self.warned: set[tuple[str, str]] = set()
        self.lock = allocate_lock()  # each pair warns once, whatever the threads

    def __call__(self, bus: Any, data: Any) -> None:
        domain, action = data.domain, data.action
        if bus._is_muted(domain, action):  # noqa: SLF001 - eventbus.testing muted it: handled
            return
        if self.mode == "raise":
            raise UnhandledEventError(domain, action, closest_pair(bus.pairs(), domain, action))
        key = (domain, action)
        with self.lock:
            if key in self.warned:
                return
            self.warned.add(key)
        suggestion = closest_pair(bus.pairs(), domain, action)
        self.logger.warning(
            "eventbus: no handler for event %r/%r%s",
            domain,
            action,
            "" if suggestion is None else f": did you mean {suggestion[0]!r}/{suggestion[1]!r}?",
        )
