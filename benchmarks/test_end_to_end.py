"""End to end: must_data of a small dataclass, call, decode it back in the handler; and the same by hand."""

from __future__ import annotations

from json import dumps, loads
from types import ModuleType

from eventbus import decode

from .workloads import (
    CTX,
    E2E_ACTION,
    E2E_DOMAIN,
    USER,
    Benchmark,
    UserCreated,
    bus_with,
    decoding_handler,
    json_dispatch,
    json_handler,
)


def test_end_to_end(benchmark: Benchmark, impl: ModuleType) -> None:
    bus = bus_with(impl, (decoding_handler,), domain=E2E_DOMAIN, action=E2E_ACTION)
    must_data = impl.must_data
    assert decode(must_data(E2E_DOMAIN, E2E_ACTION, USER), UserCreated) == USER

    def end_to_end() -> None:
        bus.call(CTX, must_data(E2E_DOMAIN, E2E_ACTION, USER))

    benchmark(end_to_end)


def test_json_by_hand(benchmark: Benchmark) -> None:
    """The baseline: json.dumps of the fields, a call, json.loads and the dataclass built by hand."""
    assert loads(dumps({"id": USER.id, "email": USER.email})) == {"id": 7, "email": "a@example.com"}
    benchmark(json_dispatch, (json_handler,), CTX, USER)
