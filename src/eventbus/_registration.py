"""``Registration``: one handler registered on a bus, as ``Bus.registrations()`` reports it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._core_py import Event

__all__ = ["Registration"]

_FIELDS = ("domain", "action", "handler", "event", "weak", "site")


class Registration:
    """One live registration of a bus: which handler, for what, and where it was wired.

    An immutable value, equal (and hashing alike) when its fields are equal; `Bus.registrations`
    returns them.  Building one registers nothing.

    Attributes:
        domain (str): The pair's domain.
        action (str): The pair's action.
        handler (Callable): The handler as registered (never a wrapper).
        event (Event | None): The `Event` it was registered for, or `None` for a plain pair.
        weak (bool): Whether the bus holds the handler weakly.
        site (str): ``"path/to/module.py:LINE"`` of the ``register(...)`` call or the
            ``@bus.on(...)`` line that registered it (the path relative to the current
            directory when it is under it).
    """

    __slots__ = _FIELDS
    __match_args__ = ("domain", "action", "handler", "event", "weak", "site")

    domain: str
    action: str
    handler: Any
    event: Event[Any] | None
    weak: bool
    site: str

    def __init__(
        self, domain: str, action: str, handler: Any, event: Event[Any] | None, weak: bool, site: str
    ) -> None:
        for name, value in zip(_FIELDS, (domain, action, handler, event, weak, site), strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Registration is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Registration is immutable: cannot delete {name!r}")

    def _fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _FIELDS)

    def __eq__(self, other: object) -> bool:
        if type(other) is not Registration:
            return NotImplemented
        return self._fields() == other._fields()

    def __ne__(self, other: object) -> bool:
        if type(other) is not Registration:
            return NotImplemented
        return self._fields() != other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in zip(_FIELDS, self._fields(), strict=True))
        return f"Registration({shown})"


Registration.__module__ = "eventbus"
