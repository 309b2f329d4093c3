"""Misuses of declared events that both type checkers must reject, one per marked line.

.ci/typing/expect_errors.py runs mypy --strict and pyright strict on this file and fails
unless each checker reports an error on exactly the lines marked ``# expect-error`` (so a
misuse that stops being an error fails CI, and so does a correct line that becomes one).
"""

from __future__ import annotations

import dataclasses

import eventbus
from eventbus.testing import record


@dataclasses.dataclass
class User:
    id: int


@dataclasses.dataclass
class Admin(User):
    level: int = 0


UserCreated = eventbus.Event("users", "created", User)
bus = eventbus.Bus()


def exact(ctx: object, user: User) -> None: ...
def wider(ctx: object, user: object) -> None: ...
def narrower(ctx: object, admin: Admin) -> None: ...
def other_type(ctx: object, name: str) -> None: ...
def plain(ctx: object, data: eventbus.Data) -> None: ...


data = UserCreated.data(User(1))
UserCreated.data("not a user")  # expect-error
UserCreated.data({"id": 1})  # expect-error
user: User = UserCreated.decode(data)
name: str = UserCreated.decode(data)  # expect-error
bus.register(UserCreated, exact)
bus.register(UserCreated, wider)
bus.register(UserCreated, narrower)  # expect-error
bus.register(UserCreated, other_type)  # expect-error
bus.register(UserCreated, plain)  # expect-error
bus.on(UserCreated)(exact)
bus.on(UserCreated)(narrower)  # expect-error
bus.register("users", "created", plain)
bus.register("users", "created", exact)  # expect-error
bus.register(UserCreated, "created", exact)  # expect-error
decorated = bus.on(UserCreated)(exact)
decorated(None, User(2))
decorated(None, "not a user")  # expect-error


# A synchronous event (the default) takes handlers returning None: an async consumer is flagged
# where it is registered, not at the producer's call() at run time.
async def async_consumer(ctx: object, user: User) -> None: ...


bus.register(UserCreated, async_consumer)  # expect-error
bus.on(UserCreated)(async_consumer)  # expect-error
UserCreatedAsync = eventbus.Event("users", "created", User, asynchronous=True)
bus.register(UserCreatedAsync, async_consumer)
bus.register(UserCreatedAsync, exact)
bus.on(UserCreatedAsync)(async_consumer)

# record(bus, event) is typed from the event.
with record(bus, UserCreated) as recorded:
    bus.call(None, data)
one: User = recorded.one()
every: list[User] = recorded.decode()
wrong_one: str = recorded.one()  # expect-error
wrong_every: list[str] = recorded.decode()  # expect-error
