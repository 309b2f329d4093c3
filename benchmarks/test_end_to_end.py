"""End to end: must_data of a small dataclass, call, decode it back in the handler; and the same by hand."""

from __future__ import annotations

from json import loads
from types import ModuleType
from typing import Any

from eventbus import decode

from .workloads import (
    CTX,
    E2E_ACTION,
    E2E_DOMAIN,
    USER,
    Benchmark,
    UserCreated,
    bus_with,
    json_dispatch,
)


def test_end_to_end(benchmark: Benchmark, impl: ModuleType) -> None:
    received: list[UserCreated] = []

    def handler(ctx: object, data: Any) -> None:
        received[:] = [decode(data, UserCreated)]

    bus = bus_with(impl, (handler,), domain=E2E_DOMAIN, action=E2E_ACTION)
    must_data = impl.must_data

    def end_to_end() -> None:
        bus.call(CTX, must_data(E2E_DOMAIN, E2E_ACTION, USER))

    benchmark(end_to_end)
    assert received == [USER]


def test_json_by_hand(benchmark: Benchmark) -> None:
    """The baseline: json.dumps of the fields, a call, json.loads and the dataclass built by hand."""
    received: list[UserCreated] = []

    def handler(ctx: object, raw: str) -> None:
        fields = loads(raw)
        received[:] = [UserCreated(id=fields["id"], email=fields["email"], name=fields["name"])]

    benchmark(json_dispatch, (handler,), CTX, USER)
    assert received == [USER]
