"""What the registry, both dispatch twins and the observer share about handlers: one source.

Leaf helpers only (this module imports nothing of eventbus at import time): checking names,
a handler's name for messages, the typed and weak wrappers dispatch calls and the way back
to the handler as registered, the PEP 678 note, the refusals of coroutines and awaitables,
and the markers the registry leaves for dispatch.  None of it is on the success path of a
dispatch; the compiled core calls it only on its slow and failing paths.
"""

from __future__ import annotations

import sys
from types import FunctionType

# Not typing's: import eventbus loads neither typing nor collections.abc.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from typing import Any

    from typing_extensions import TypeIs

    from ._observe import Method, Observer


def check_name(what: str, value: object) -> str:
    """``value`` as a plain non-empty ``str``, else ``TypeError`` / ``ValueError`` naming ``what``."""
    if type(value) is str:
        if value:
            return value
        raise ValueError(f"{what} must be a non-empty str")
    if isinstance(value, str) and issubclass(type(value), str):
        # A str subclass may redefine hashing or equality: keep a plain copy.  (The real
        # type, not isinstance alone: Mock(spec=str) fakes __class__.)
        return check_name(what, str.__str__(value))
    raise TypeError(f"{what} must be str, not {type(value).__qualname__}")


def check_raw_params(value: object) -> bytes | None:
    """``value`` as ``bytes`` or ``None``, else ``TypeError``."""
    if value is None or type(value) is bytes:
        return value
    if isinstance(value, bytes) and issubclass(type(value), bytes):  # (as for str above)
        return bytes(memoryview(value))
    raise TypeError(f"raw_params must be bytes or None, not {type(value).__qualname__}")


def _first_isawaitable(value: object) -> bool:
    """``inspect.isawaitable``, importing inspect on first use (import eventbus stays cheap)."""
    global _isawaitable  # noqa: PLW0603
    from inspect import isawaitable as found  # noqa: PLC0415

    _isawaitable = found
    return found(value)


_isawaitable: Callable[[object], bool] = _first_isawaitable


def isawaitable(value: object) -> TypeIs[Awaitable[Any]]:
    """``inspect.isawaitable`` (inspect loads on first use)."""
    return _isawaitable(value)


def inspect_module() -> Any:
    """The inspect module, imported on first use (import eventbus stays cheap)."""
    import inspect  # noqa: PLC0415

    return inspect


def handler_name(handler: object) -> str:
    """``module.qualname`` of a handler for messages; never raises (a proxy used outside its
    context may raise anything from its attributes, even from its repr)."""
    try:
        name = getattr(handler, "__qualname__", None)
        module = getattr(handler, "__module__", None)
        if isinstance(name, str):
            return f"{module}.{name}" if isinstance(module, str) else name
        return repr(handler)
    except Exception:  # noqa: BLE001 - the handler's own failure is what the message is about
        return f"<{type(handler).__module__}.{type(handler).__qualname__} object at {id(handler):#x}>"


def registered_name(target: object) -> str:
    """The name of the handler as registered behind what dispatch calls."""
    return handler_name(registered_handler(target))


def refuse_awaitable(handler: object, result: object, method: str) -> None:
    """``call`` and ``publish`` refuse a handler's awaitable: closed, then ``TypeError``."""
    if not _isawaitable(result):
        return
    close = getattr(result, "close", None)
    if close is not None:
        close()  # a coroutine that is never awaited warns when collected
    raise TypeError(
        f"handler {registered_name(handler)} returned an awaitable, which {method}() "
        f"cannot run: dispatch with a{method}() instead"
    )


def refuse_in_call(handler: object, result: object) -> None:
    """``refuse_awaitable`` for ``call`` (the compiled loop's ``on_result``)."""
    refuse_awaitable(handler, result, "call")


def refuse_in_publish(handler: object, result: object) -> None:
    """``refuse_awaitable`` for ``publish`` (the compiled loop's ``on_result``)."""
    refuse_awaitable(handler, result, "publish")


def coroutine_refused(name: str, method: str) -> TypeError:
    return TypeError(
        f"handler {name} is a coroutine function, which {method}() cannot run: dispatch with a{method}() instead"
    )


def refuse_coroutines(handlers: tuple[Any, ...]) -> None:
    """``call``'s refusal of a snapshot holding a coroutine-function handler (observed path)."""
    for handler in handlers:
        registered = registered_handler(handler)
        if is_coroutine_function(registered):
            raise coroutine_refused(handler_name(registered), "call")


def failures(data: Any, handlers: tuple[object, ...], errors: list[Exception]) -> ExceptionGroup[Exception]:
    return ExceptionGroup(
        f"{len(errors)} of {len(handlers)} handlers failed for event {data.domain!r}/{data.action!r}",
        errors,
    )


def add_note(exc: BaseException, target: object, data: Any) -> None:
    """The PEP 678 note naming the handler behind ``target`` and the event."""
    exc.add_note(
        f"eventbus: handler {registered_name(target)} failed for event {data.domain!r}/{data.action!r}"
    )


def not_data(data: object) -> TypeError:
    cls = type(data)
    name: str = cls.__qualname__
    if name == "Data":
        # Another class called Data: say whose, most often the other implementation's.
        module = cls.__module__
        name = f"{module}.Data"
        if module in ("eventbus._core", "eventbus._core_py"):
            name += " (the other implementation's: use eventbus.Data)"
    return TypeError(f"data must be an eventbus.Data, not {name}")


def is_event(value: object) -> bool:
    """Whether ``value`` is an ``eventbus.Event`` (of either implementation); ``eventbus._event``
    is looked up only once loaded, so that ``import eventbus`` loads no typing."""
    module = sys.modules.get("eventbus._event")
    return module is not None and isinstance(value, module.Event)


CO_COROUTINE = 0x80  # inspect.CO_COROUTINE
# inspect.markcoroutinefunction (3.12+) marks a plain function as a coroutine function.
MARKABLE = sys.version_info >= (3, 12)


def is_coroutine_function(handler: object) -> bool:
    # inspect's own answer, without its detours for plain functions (registration
    # is measured against pyee's add_listener).
    if type(handler) is FunctionType:
        if handler.__code__.co_flags & CO_COROUTINE:
            return True
        if not MARKABLE or getattr(handler, "_is_coroutine_marker", None) is None:
            return False
    try:
        return bool(inspect_module().iscoroutinefunction(handler))
    except Exception:  # noqa: BLE001 - a proxy failing its own attributes: not a coroutine function
        return False


class _Missing:
    """The default of an argument a call may leave out (a pair's action, a handler)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<unset>"  # what help() shows, rather than <object object at 0x...>


MISSING: Any = _Missing()
NO_PAYLOAD_TYPE: Any = object()


# The compiled core's typed wrapper (a C type, eventbus._core.TypedHandler), added by its import.
WRAPPER_TYPES: set[type] = set()


def registered_handler(target: object) -> Any:
    """The handler as registered behind what dispatch calls (a typed or weak wrapper);
    ``None`` for a weak one already collected."""
    # Known by its code or type, not by an attribute: a Mock handler has every attribute.
    if type(target) is FunctionType:
        if target.__code__ in _WRAPPER_CODES:
            behind: Any = target._eventbus_handler  # type: ignore[attr-defined]
            return behind[0] if type(behind) is tuple else behind()  # pyright: ignore[reportUnknownVariableType]
    elif type(target) in WRAPPER_TYPES:
        return target.handler  # type: ignore[attr-defined]
    return target


def typed_handler(
    handler: Callable[[Any, Any], object], payload_type: object, decode: Any
) -> Callable[[Any, Any], object]:
    def typed_handler(ctx: object, data: Any, /) -> object:
        return handler(ctx, decode(data, payload_type))

    typed_handler._eventbus_handler = (handler,)  # type: ignore[attr-defined]
    return typed_handler


def weak_handler(ref: Callable[[], Any], payload_type: object, decode: Any) -> Callable[[Any, Any], object]:
    def weak_handler(ctx: object, data: Any, /) -> object:
        handler = ref()
        return None if handler is None else handler(ctx, data)

    def weak_typed_handler(ctx: object, data: Any, /) -> object:
        handler = ref()
        return None if handler is None else handler(ctx, decode(data, payload_type))

    wrapper = weak_handler if payload_type is NO_PAYLOAD_TYPE else weak_typed_handler
    wrapper._eventbus_handler = ref  # type: ignore[attr-defined]
    return wrapper


_WRAPPER_CODES = frozenset(
    {
        typed_handler(print, int, None).__code__,
        *(weak_handler(print, t, None).__code__ for t in (NO_PAYLOAD_TYPE, int)),
    }
)


def not_initialised() -> RuntimeError:
    return RuntimeError(
        "this Bus was never initialised: Bus.__init__() did not run "
        "(a subclass's __init__ must call super().__init__())"
    )


class _NotInitialised:
    """What a Bus whose __init__ never ran holds instead of its lock and registry: every use
    of it raises, with the same words on both implementations."""

    __slots__ = ()

    def _fail(self, *args: object, **kwargs: object) -> Any:
        raise not_initialised()

    __enter__ = __exit__ = __contains__ = __getitem__ = __iter__ = __len__ = __bool__ = _fail

    def __getattr__(self, name: str) -> Any:
        raise not_initialised()


NOT_INITIALISED: Any = _NotInitialised()


# -- What the registry leaves for dispatch ------------------------------------------------
#
# Dispatch reads ``_handlers[domain][action]``: a plain tuple (the snapshot) or, after a
# change, a marker that sends it to the slow path (``Registry._current``).


class _Stale:
    """In the registry, for "the snapshot must be rebuilt"; not iterable on purpose."""

    __slots__ = ()


STALE: Any = _Stale()


class Refused:
    """The snapshot of a pair with a coroutine-function handler: ``call`` refuses it
    before running any handler; the other methods run ``handlers``."""

    __slots__ = ("handlers", "refused")

    def __init__(self, handlers: tuple[Callable[[Any, Any], object], ...], refused: str) -> None:
        self.handlers = handlers
        self.refused = refused  # the name of the first coroutine function


def snapshot(targets: tuple[Callable[[Any, Any], object], ...], coroutines: list[Any]) -> Any:
    """What dispatch runs: the tuple, or a ``Refused`` naming the first of ``coroutines``
    (the coroutine-function handlers, as registered)."""
    if not coroutines:
        return targets
    return Refused(targets, handler_name(coroutines[0]))


def check_observer(observer: Observer | None) -> Observer | None:
    """``eventbus._observe.check_observer``; ``None`` needs no look (nor the import)."""
    if observer is None:
        return None
    from ._observe import check_observer as check  # noqa: PLC0415

    return check(observer)


def observed(bus: Any, observer: object, method: Method, ctx: object, data: Any) -> Any:
    """Dispatch on a bus that has an observer (``eventbus._observe``, loaded with the first)."""
    from ._observe import dispatch  # noqa: PLC0415

    return dispatch(bus, observer, method, ctx, data)
