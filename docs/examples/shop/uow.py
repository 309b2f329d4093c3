"""What ``ctx`` carries here: the unit of work of one request, which handlers write through."""

import dataclasses


@dataclasses.dataclass
class UnitOfWork:
    """Stands in for a database session: what the request wrote, committed together."""

    written: list[str] = dataclasses.field(default_factory=list[str])
    outbox: list[str] = dataclasses.field(default_factory=list[str])
