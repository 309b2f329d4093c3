"""The notifications package: mail to send once the unit of work commits."""

from shop.bus import bus
from shop.contracts import ORDER_PLACED, USER_CREATED, OrderPlaced, UserCreated
from shop.uow import UnitOfWork


class Mailer:
    def welcome(self, uow: UnitOfWork, user: UserCreated) -> None:
        uow.outbox.append(f"welcome {user.email}")

    def receipt(self, uow: UnitOfWork, order: OrderPlaced) -> None:
        uow.outbox.append(f"receipt for order {order.number}")


mailer = Mailer()
bus.register(USER_CREATED, mailer.welcome)
bus.register(ORDER_PLACED, mailer.receipt)
