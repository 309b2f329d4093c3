"""The billing package: an account for each new user, written in the same unit of work."""

from shop.bus import bus
from shop.contracts import ORDER_PLACED, USER_CREATED, OrderPlaced, UserCreated
from shop.uow import UnitOfWork


@bus.on(USER_CREATED)
def open_account(uow: UnitOfWork, user: UserCreated) -> None:
    uow.written.append(f"account for user {user.id}")


@bus.on(ORDER_PLACED)
def charge(uow: UnitOfWork, order: OrderPlaced) -> None:
    uow.written.append(f"charge {order.total_cents} to user {order.user_id}")
