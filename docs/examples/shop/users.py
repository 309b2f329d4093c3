"""The users package: it announces a new user and knows nothing of who listens."""

from shop.bus import bus
from shop.contracts import USER_CREATED, UserCreated
from shop.uow import UnitOfWork


def create_user(uow: UnitOfWork, user_id: int, email: str) -> None:
    uow.written.append(f"user {user_id}")
    bus.call(uow, USER_CREATED.data(UserCreated(id=user_id, email=email)))
