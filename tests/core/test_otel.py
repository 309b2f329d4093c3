"""``eventbus.otel``: spans of every dispatch, with the real OpenTelemetry SDK and its in-memory
exporter, on both implementations, sync and async, nested and failing.

The SDK comes with the ``test`` extra; without it these tests skip in a plain run, and fail
where ``EVENTBUS_OTEL_SDK_REQUIRED`` is set (``.ci/run`` sets it).
"""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import pytest
from helpers_core import cancel_a_running_acall, quiet_logger

if os.environ.get("EVENTBUS_OTEL_SDK_REQUIRED"):
    importlib.import_module("opentelemetry.sdk.trace")  # missing: fail, do not skip
else:
    pytest.importorskip("opentelemetry.sdk.trace", reason="needs opentelemetry-sdk (the test extra)")

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode

from eventbus.otel import OpenTelemetryObserver


class Traced:
    """A tracer provider of its own (the global one is set once per process) and its spans.

    Each test makes its own, not a fixture: the stress step runs every test in 4 threads at
    once, which would share a fixture's spans.
    """

    def __init__(self, handler_spans: bool = True) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.observer = OpenTelemetryObserver(self.provider, handler_spans=handler_spans)
        self.tracer = self.provider.get_tracer("tests")

    def spans(self) -> list[ReadableSpan]:
        """The finished spans, in the order they ended."""
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> ReadableSpan:
        found = [span for span in self.spans() if span.name == name]
        assert len(found) == 1, [span.name for span in self.spans()]
        return found[0]


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    found: int = span.context.span_id
    return found


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def run(coroutine: Any) -> None:
    async def main() -> None:
        await coroutine

    asyncio.run(main())


def open_account(ctx: object, data: object) -> None:
    pass


def declines(ctx: object, data: object) -> None:
    raise KeyError("no account")


class PaymentDeclined(Exception):
    pass


def declines_payment(ctx: object, data: object) -> None:
    raise PaymentDeclined("card expired")


@pytest.mark.parametrize("method", ["call", "publish", "acall", "apublish"])
def test_otel_one_internal_span_per_dispatch_and_handler(impl: ModuleType, method: str) -> None:
    traced = Traced()
    bus = impl.Bus(observer=traced.observer)
    bus.register("users", "created", open_account)
    result = getattr(bus, method)(None, impl.Data("users", "created"))
    if method.startswith("a"):
        run(result)
    dispatch, handler = traced.named(f"{method} users/created"), traced.named("test_otel.open_account")
    assert traced.spans() == [handler, dispatch]
    assert dispatch.kind is SpanKind.INTERNAL and handler.kind is SpanKind.INTERNAL
    assert attributes(dispatch) == {
        "eventbus.method": method,
        "eventbus.domain": "users",
        "eventbus.action": "created",
        "eventbus.handler_count": 1,
    }
    assert attributes(handler) == {"code.function.name": "test_otel.open_account"}
    assert parent_of(handler) == span_id(dispatch)
    assert dispatch.parent is None
    assert dispatch.status.status_code is StatusCode.UNSET
    assert handler.status.status_code is StatusCode.UNSET
    assert not any(key.startswith("messaging.") for key in attributes(dispatch))
    assert dispatch.instrumentation_scope is not None
    assert dispatch.instrumentation_scope.name == "eventbus"


def test_otel_no_handlers_is_a_span_with_zero_handlers(impl: ModuleType) -> None:
    traced = Traced()
    bus = impl.Bus(observer=traced.observer)
    bus.publish(None, impl.Data("nobody", "listens"))
    (span,) = traced.spans()
    assert span.name == "publish nobody/listens"
    assert attributes(span)["eventbus.handler_count"] == 0


@pytest.mark.parametrize("method", ["call", "acall"])
def test_otel_call_failure_marks_the_handler_and_the_dispatch(impl: ModuleType, method: str) -> None:
    traced = Traced()
    bus = impl.Bus(observer=traced.observer)
    bus.register("users", "created", open_account)
    bus.register("users", "created", declines)
    with pytest.raises(KeyError):
        result = getattr(bus, method)(None, impl.Data("users", "created"))
        if method.startswith("a"):
            run(result)
    dispatch = traced.named(f"{method} users/created")
    failed = traced.named("test_otel.declines")
    assert traced.named("test_otel.open_account").status.status_code is StatusCode.UNSET
    for span in (dispatch, failed):
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "KeyError: 'no account'"
        assert attributes(span)["error.type"] == "KeyError"
    (event,) = failed.events
    assert event.name == "exception"
    assert dict(event.attributes or {})["exception.type"] == "KeyError"
    assert dispatch.events == ()  # recorded once, where it happened


@pytest.mark.parametrize("method", ["publish", "apublish"])
def test_otel_publish_failures_mark_each_handler_and_the_group(impl: ModuleType, method: str) -> None:
    traced = Traced()
    bus = impl.Bus(quiet_logger(), observer=traced.observer)
    for handler in (declines, open_account, declines_payment):
        bus.register("orders", "paid", handler)
    with pytest.raises(ExceptionGroup):
        result = getattr(bus, method)(None, impl.Data("orders", "paid"))
        if method.startswith("a"):
            run(result)
    dispatch = traced.named(f"{method} orders/paid")
    assert dispatch.status.status_code is StatusCode.ERROR
    assert attributes(dispatch)["error.type"] == "ExceptionGroup"
    assert dispatch.status.description == (
        "ExceptionGroup: 2 of 3 handlers failed for event 'orders'/'paid' (2 sub-exceptions)"
    )
    assert attributes(traced.named("test_otel.declines"))["error.type"] == "KeyError"
    assert attributes(traced.named("test_otel.declines_payment"))["error.type"] == (
        "test_otel.PaymentDeclined"
    )
    assert traced.named("test_otel.open_account").status.status_code is StatusCode.UNSET


@pytest.mark.parametrize("method", ["call", "publish"])
def test_otel_spans_nest_when_a_handler_dispatches_again(impl: ModuleType, method: str) -> None:
    traced = Traced()
    bus = impl.Bus(observer=traced.observer)

    def creates_account(ctx: object, data: object) -> None:
        getattr(bus, method)(ctx, impl.Data("billing", "opened"))

    bus.register("users", "created", creates_account)
    bus.register("billing", "opened", open_account)
    with traced.tracer.start_as_current_span("request") as request:
        getattr(bus, method)(None, impl.Data("users", "created"))
    outer = traced.named(f"{method} users/created")
    outer_handler = traced.named(
        "test_otel.test_otel_spans_nest_when_a_handler_dispatches_again.<locals>.creates_account"
    )
    inner = traced.named(f"{method} billing/opened")
    inner_handler = traced.named("test_otel.open_account")
    assert parent_of(outer) == request.get_span_context().span_id
    assert parent_of(outer_handler) == span_id(outer)
    assert parent_of(inner) == span_id(outer_handler)
    assert parent_of(inner_handler) == span_id(inner)
    assert len({span.context.trace_id for span in traced.spans() if span.context}) == 1
    # Every span ended, and the current span is the caller's again.
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_otel_async_dispatch_nests_per_task(impl: ModuleType) -> None:
    traced = Traced()
    bus = impl.Bus(observer=traced.observer)

    async def notify(ctx: str, data: object) -> None:
        await asyncio.sleep(0)  # the two tasks interleave here
        await bus.acall(ctx, impl.Data("mail", ctx))

    async def send(ctx: object, data: object) -> None:
        await asyncio.sleep(0)

    bus.register("orders", "paid", notify)
    bus.register("mail", "first", send)
    bus.register("mail", "second", send)

    async def request(name: str) -> int:
        with traced.tracer.start_as_current_span(name) as span:
            await bus.apublish(name, impl.Data("orders", "paid"))
            assert trace.get_current_span() is span
        return span.get_span_context().span_id

    async def main() -> tuple[int, int]:
        first, second = await asyncio.gather(request("first"), request("second"))
        return first, second

    first, second = asyncio.run(main())
    by_parent: dict[int | None, list[str]] = {}
    for span in traced.spans():
        by_parent.setdefault(parent_of(span), []).append(span.name)
    roots = {span.name: span for span in traced.spans() if span.parent is None}
    assert sorted(roots) == ["first", "second"]
    for request_name, request_id in (("first", first), ("second", second)):
        (dispatch,) = [s for s in traced.spans() if parent_of(s) == request_id]
        assert dispatch.name == "apublish orders/paid"
        (handler,) = [s for s in traced.spans() if parent_of(s) == span_id(dispatch)]
        assert handler.name.endswith("<locals>.notify")
        (inner,) = [s for s in traced.spans() if parent_of(s) == span_id(handler)]
        assert inner.name == f"acall mail/{request_name}"  # never the other task's
        (leaf,) = [s for s in traced.spans() if parent_of(s) == span_id(inner)]
        assert leaf.name.endswith("<locals>.send")


def test_otel_without_handler_spans(impl: ModuleType) -> None:
    traced = Traced(handler_spans=False)
    bus = impl.Bus(observer=traced.observer)

    def forwards(ctx: object, data: object) -> None:
        bus.call(ctx, impl.Data("billing", "opened"))

    bus.register("users", "created", forwards)
    bus.register("billing", "opened", declines)
    with pytest.raises(KeyError):
        bus.call(None, impl.Data("users", "created"))
    outer, inner = traced.named("call users/created"), traced.named("call billing/opened")
    assert [span.name for span in traced.spans()] == ["call billing/opened", "call users/created"]
    assert parent_of(inner) == span_id(outer)
    for span in (outer, inner):
        assert attributes(span)["error.type"] == "KeyError"
        # Without handler spans, the handler's exception is recorded on the dispatch span.
        assert [event.name for event in span.events] == ["exception"]


def test_otel_cancelled_acall_ends_its_spans(impl: ModuleType) -> None:
    traced = Traced()
    bus = impl.Bus(observer=traced.observer)

    def no_span_left_current() -> None:
        assert trace.get_current_span() is trace.INVALID_SPAN

    cancel_a_running_acall(bus, impl.Data("users", "created"), no_span_left_current)
    spans: Sequence[ReadableSpan] = traced.spans()
    assert [span.name for span in spans][-1] == "acall users/created"
    assert all(span.status.status_code is StatusCode.ERROR for span in spans)
    assert {attributes(span)["error.type"] for span in spans} == {"asyncio.exceptions.CancelledError"}


def test_otel_the_global_tracer_provider_is_the_default(impl: ModuleType) -> None:
    # No provider configured here: the API's no-op spans; dispatch works and nothing leaks.
    observer = OpenTelemetryObserver()
    bus = impl.Bus(observer=observer)
    seen: list[object] = []
    bus.register("users", "created", lambda ctx, data: seen.append(trace.get_current_span()))
    bus.call("ctx", impl.Data("users", "created"))
    assert seen == [trace.INVALID_SPAN]
    assert trace.get_current_span() is trace.INVALID_SPAN


@pytest.mark.parametrize("method", ["call", "publish", "acall", "apublish"])
def test_otel_a_sampled_out_dispatch_records_nothing_and_keeps_the_callers_span(
    impl: ModuleType, method: str
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    traced = Traced()  # the caller's own spans are recorded, eventbus's are not
    bus = impl.Bus(observer=OpenTelemetryObserver(provider))
    seen: list[object] = []

    def handler(ctx: object, data: object) -> None:
        seen.append(trace.get_current_span())
        getattr(bus, method.lstrip("a") if method.startswith("a") else method)(ctx, impl.Data("b", "c"))

    bus.register("users", "created", handler)
    with traced.tracer.start_as_current_span("request") as request:
        result = getattr(bus, method)(None, impl.Data("users", "created"))
        if method.startswith("a"):
            run(result)
    assert seen == [request]
    assert exporter.get_finished_spans() == ()
    assert [span.name for span in traced.spans()] == ["request"]
