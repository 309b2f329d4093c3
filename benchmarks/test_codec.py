"""The codec alone: encode and decode of a nested dataclass, eventbus and the same by hand.

Self-contained (the ``benchmark`` fixture only).  The codec is shared by both
implementations, so there is no ``impl`` axis; ``must_data`` is the pure one's (the
compiled one calls the same ``encode_params``), on the engine ``eventbus.codec_engine``
names.  Each body checks its result (the bytes, the decoded order).  The ``by_hand`` cases are what a careful user writes
without eventbus: ``json.dumps`` of the fields, ``json.loads`` and the classes built by
hand, with no validation at all, so the ratio is what the checks and the paths cost.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import pytest

from eventbus import decode
from eventbus._core_py import Data, must_data

Benchmark = Callable[..., object]


@dataclasses.dataclass
class Line:
    sku: str
    quantity: int
    price: float


@dataclasses.dataclass
class Address:
    street: str
    city: str
    zip: str


@dataclasses.dataclass
class Order:
    id: int
    customer: str
    paid: bool
    address: Address
    lines: list[Line]
    note: str | None = None


ORDER = Order(
    id=42,
    customer="Ann",
    paid=True,
    address=Address(street="1 Main St", city="Wellington", zip="6011"),
    lines=[Line("tea", 2, 4.5), Line("cake", 1, 6.0), Line("jam", 3, 3.25)],
)
RAW = must_data("orders", "placed", ORDER).raw_params
assert RAW is not None
DATA = Data("orders", "placed", RAW)


def encode_by_hand(order: Order) -> bytes:
    return json.dumps(
        {
            "id": order.id,
            "customer": order.customer,
            "paid": order.paid,
            "address": {
                "street": order.address.street,
                "city": order.address.city,
                "zip": order.address.zip,
            },
            "lines": [
                {"sku": line.sku, "quantity": line.quantity, "price": line.price} for line in order.lines
            ],
            "note": order.note,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def decode_by_hand(raw: bytes) -> Order:
    fields = json.loads(raw)
    address = fields["address"]
    return Order(
        id=fields["id"],
        customer=fields["customer"],
        paid=fields["paid"],
        address=Address(street=address["street"], city=address["city"], zip=address["zip"]),
        lines=[Line(line["sku"], line["quantity"], line["price"]) for line in fields["lines"]],
        note=fields.get("note"),
    )


def test_the_two_ways_agree() -> None:
    assert encode_by_hand(ORDER) == RAW
    assert decode_by_hand(RAW) == decode(DATA, Order) == ORDER


@pytest.mark.parametrize("way", ["eventbus", "by_hand"])
def test_encode_nested_dataclass(benchmark: Benchmark, way: str) -> None:
    if way == "eventbus":
        data = benchmark(must_data, "orders", "placed", ORDER)
        assert data.raw_params == RAW
    else:
        assert benchmark(encode_by_hand, ORDER) == RAW


@pytest.mark.parametrize("way", ["eventbus", "by_hand"])
def test_decode_nested_dataclass(benchmark: Benchmark, way: str) -> None:
    decoded = benchmark(decode, DATA, Order) if way == "eventbus" else benchmark(decode_by_hand, RAW)
    assert decoded == ORDER
