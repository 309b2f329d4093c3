"""The one ``await`` of ``acall``/``apublish``, shared by both implementations.

A coroutine compiled by Cython awaits an object with Cython's own code, which does not
treat every awaitable as the interpreter does: an exception raised by ``__await__``
itself came out as ``TypeError: 'async for' received an invalid object...`` (so
``except KeyError`` stopped matching), and an ``__await__`` returning a coroutine got
another message.  Both twins therefore await a handler's result here, in an ordinary
Python coroutine: whatever the awaitable does, the interpreter's semantics apply, the
same on both (PEP 479 included: a ``StopIteration`` out of the awaitable becomes
``RuntimeError: coroutine raised StopIteration``).
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: import eventbus loads neither typing nor collections.abc
if TYPE_CHECKING:
    from collections.abc import Awaitable


async def await_result(result: Awaitable[object]) -> None:
    await result
