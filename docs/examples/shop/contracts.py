"""The events: what producers and consumers agree on, and all they share."""

import dataclasses

import eventbus


@dataclasses.dataclass
class UserCreated:
    id: int
    email: str


@dataclasses.dataclass
class OrderPlaced:
    number: int
    user_id: int
    total_cents: int


USER_CREATED = eventbus.Event("users", "created", UserCreated)
ORDER_PLACED = eventbus.Event("orders", "placed", OrderPlaced)
