"""OpenTelemetry spans for every dispatch of a bus (``pip install "eventbus[otel]"``).

    from eventbus.otel import OpenTelemetryObserver

    bus.observer = OpenTelemetryObserver()

One ``INTERNAL`` span per dispatch, named ``"<method> <domain>/<action>"`` (``"publish
users/created"``), with the attributes ``eventbus.method``, ``eventbus.domain``,
``eventbus.action`` and ``eventbus.handler_count``; and, unless ``handler_spans=False``, one
child ``INTERNAL`` span per handler, named and attributed ``code.function.name`` (the handler's
``module.qualname``).  A failure sets the span's status to ``ERROR`` and its ``error.type`` to
the exception's class; the handler's exception is recorded as an event on the span of the
handler (on the dispatch span without handler spans).  Spans are current while they run, so a
handler that dispatches again, or calls anything instrumented, nests under them.

These are not messaging spans: OpenTelemetry's messaging conventions are meant for clients of
an out-of-process broker (open-telemetry/semantic-conventions#1963), and a dispatch here is a
function call chosen at run time, in the caller's thread and trace.

Only ``opentelemetry-api`` is needed.  A dispatch whose span is not recorded (no SDK
configured, or sampled out) costs one ``start_span`` and no more: no handler spans, and the
caller's context stays current.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import Token
from typing import TYPE_CHECKING, Any

from opentelemetry import context, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from . import __version__
from ._observe import Method

if TYPE_CHECKING:
    from ._core_py import Data

__all__ = ["OpenTelemetryObserver"]


def _qualified_name(obj: object) -> str:
    """``module.qualname`` of a function or class (builtins: the qualname alone)."""
    name = getattr(obj, "__qualname__", None)
    if not isinstance(name, str):
        return _qualified_name(type(obj))
    module = getattr(obj, "__module__", None)
    return name if not isinstance(module, str) or module == "builtins" else f"{module}.{name}"


def _fail(span: Span, error: BaseException) -> None:
    error_type = _qualified_name(type(error))
    span.set_status(Status(StatusCode.ERROR, f"{error_type}: {error}"))
    span.set_attribute("error.type", error_type)


class OpenTelemetryObserver:
    """An `eventbus.Observer` that traces every dispatch as OpenTelemetry spans.

    One ``INTERNAL`` span per dispatch, named ``"<method> <domain>/<action>"``, with the
    attributes ``eventbus.method``, ``eventbus.domain``, ``eventbus.action`` and
    ``eventbus.handler_count``; and a child ``INTERNAL`` span per handler, named and
    attributed ``code.function.name`` (the handler's ``module.qualname``).  A failure sets
    ``ERROR`` status and ``error.type`` on the spans it passes through.  One observer may
    serve any number of buses and threads.

    Args:
        tracer_provider: Where the spans go; by default the global one (as set by
            ``opentelemetry.trace.set_tracer_provider``, also when set later).
        handler_spans: Whether each handler gets a span of its own.

    Example:
        >>> from eventbus.otel import OpenTelemetryObserver
        >>> bus = eventbus.Bus(observer=OpenTelemetryObserver())
    """

    def __init__(
        self, tracer_provider: trace.TracerProvider | None = None, *, handler_spans: bool = True
    ) -> None:
        self._tracer = trace.get_tracer("eventbus", __version__, tracer_provider)
        self._handler_spans = handler_spans

    def dispatch(
        self, method: Method, data: Data, handlers: tuple[Callable[[Any, Data], object], ...]
    ) -> _DispatchSpans | None:
        span = self._tracer.start_span(
            f"{method} {data.domain}/{data.action}",
            kind=SpanKind.INTERNAL,
            attributes={
                "eventbus.method": method,
                "eventbus.domain": data.domain,
                "eventbus.action": data.action,
                "eventbus.handler_count": len(handlers),
            },
        )
        if not span.is_recording():
            # No SDK, or sampled out: nothing of this dispatch is recorded, nor of its
            # handlers' spans (they would be its children).  The caller's context stays
            # current, so what the handlers trace still has a parent that exists.
            return None
        token = context.attach(trace.set_span_in_context(span))
        return _DispatchSpans(self._tracer if self._handler_spans else None, span, token)


class _DispatchSpans:
    """The spans of one dispatch: its own, current until ``finished``, and the running handler's."""

    __slots__ = ("_handler", "_handler_token", "_span", "_token", "_tracer")

    def __init__(self, tracer: trace.Tracer | None, span: Span, token: Token[context.Context]) -> None:
        self._tracer = tracer
        self._span = span
        self._token = token
        self._handler: Span | None = None
        self._handler_token: Token[context.Context] | None = None

    def handler_started(self, handler: Callable[[Any, Data], object]) -> None:
        if self._tracer is None:
            return
        name = _qualified_name(handler)
        span = self._tracer.start_span(name, kind=SpanKind.INTERNAL, attributes={"code.function.name": name})
        self._handler = span
        self._handler_token = context.attach(trace.set_span_in_context(span))

    def handler_finished(
        self, handler: Callable[[Any, Data], object], duration: float, error: BaseException | None
    ) -> None:
        span = self._handler if self._handler is not None else self._span
        if error is not None:
            span.record_exception(error)
            if span is not self._span:
                _fail(span, error)
        self._end_handler()

    def finished(self, error: BaseException | None) -> None:
        self._end_handler()  # normally ended already; not if its hook could not be called
        if error is not None:
            _fail(self._span, error)
        context.detach(self._token)
        self._span.end()

    def _end_handler(self) -> None:
        span, token = self._handler, self._handler_token
        if span is None or token is None:
            return
        self._handler = self._handler_token = None
        context.detach(token)
        span.end()
