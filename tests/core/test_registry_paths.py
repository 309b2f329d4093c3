"""The registry's less travelled paths, driven deterministically, on both implementations.

- Changes queued while the bus's lock is held (what a finalizer or a weakref callback does
  inside a bus operation, or a weak handler dying on another thread meanwhile): every
  operation applies them before it returns, whether they were queued before its own
  locked section, during it, or just before its release.
- A dispatch that meets a stale pair while another thread's writer holds the lock runs on
  a private copy of the registrations and never waits; one inside the bus's own locked
  section reads the registrations as they are.
- unregister(pair, handler) through the pair's identity index: registrations whose removal
  is queued, a pair emptied meanwhile, registrations queued into an indexed pair, bound
  methods whose function has its own ``==``, a ``__ne__`` that disagrees with ``==``, and
  the compaction of a pair's registrations when they are removed one by one by ``==``.

No sleeps: another thread's step runs at a chosen point of a locked section (the bus's lock
is replaced by ``HookedLock``, as ``tests/core/test_registry_faults.py`` replaces it) and is
joined before the section goes on.
"""

from __future__ import annotations

import asyncio
import linecache
import threading
import types
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import FrameType, ModuleType
from typing import Any

import pytest
from helpers_core import ByName, tracing_the_pure_core

from eventbus import _registry


def _handler(log: list[str], name: str) -> Callable[[object, object], None]:
    def handler(ctx: object, data: object) -> None:
        log.append(name)

    handler.__qualname__ = name
    return handler


def _names(bus: Any, domain: str = "d", action: str = "a") -> list[str]:
    return [h.__qualname__ for h in bus.handlers(domain, action)]


class HookedLock:
    """The bus's lock (an RLock) that runs a hook once at the next locked section's
    ``"acquire"`` (just before the lock is taken) or ``"release"`` (just before it is
    released, the lock still held)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.hooks: dict[str, Callable[[], object]] = {}

    def at(self, point: str, hook: Callable[[], object]) -> None:
        assert point in ("acquire", "release")
        self.hooks[point] = hook

    def _run(self, point: str) -> None:
        hook = self.hooks.pop(point, None)
        if hook is not None:
            hook()

    def __enter__(self) -> bool:
        self._run("acquire")
        return self.lock.__enter__()

    def __exit__(self, *exc_info: Any) -> None:
        self._run("release")
        self.lock.__exit__(*exc_info)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.lock, name)  # acquire, release, _is_owned


@pytest.fixture
def hooked(impl: ModuleType, monkeypatch: pytest.MonkeyPatch) -> HookedLock:
    """The lock of every bus made by the test (one lock: make one bus)."""
    lock = HookedLock()
    monkeypatch.setattr(_registry, "RLock", lambda: lock)  # (both implementations' registry)
    return lock


def on_another_thread(function: Callable[[], object]) -> object:
    """Run ``function`` on a new thread and wait for it: what it returns, or its exception.

    The timeout only keeps a regression (the thread waiting for a lock this one holds) from
    hanging the suite; it fails the test."""
    results: list[object] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(function())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "the other thread waited: it must not wait for the bus's lock"
    if errors:
        raise errors[0]
    return results[0]


class Owner:
    """The object behind a weak handler (no reference cycle: it dies with its last reference)."""

    def __init__(self, log: list[str], name: str) -> None:
        self.log = log
        self.name = name

    def handle(self, ctx: object, data: object) -> None:
        self.log.append(self.name)


def _counting() -> tuple[type[ByName], list[int]]:
    """A ByName class of this test's own that counts its comparisons (tests may run on
    several threads at once: no shared counter)."""
    compared = [0]

    class Counted(ByName):
        def __eq__(self, other: object) -> bool:
            compared[0] += 1
            return super().__eq__(other)

        __hash__ = None

    return Counted, compared


# -- Changes queued inside a locked section ------------------------------------------

# Each operation, given a bus whose pair ("d", "a") has the handlers "h0" and "h1" (and a
# snapshot built), with the token of h1 and h0 itself.
OPERATIONS: dict[str, Callable[[Any, ModuleType, Callable[[], bool], Any], object]] = {
    "register": lambda bus, impl, token, h0: bus.register("d", "z", print),
    "unregister()": lambda bus, impl, token, h0: token(),
    "unregister by identity": lambda bus, impl, token, h0: bus.unregister("d", "a", h0),
    "unregister by ==": lambda bus, impl, token, h0: bus.unregister("d", "b", ByName("b")),
    "mute": lambda bus, impl, token, h0: bus._mute("d", "a", ()),
    "handlers": lambda bus, impl, token, h0: bus.handlers("d", "a"),
    "pairs": lambda bus, impl, token, h0: bus.pairs(),
    "call of a stale pair": lambda bus, impl, token, h0: bus.call(None, impl.Data("d", "s")),
    "publish of a stale pair": lambda bus, impl, token, h0: bus.publish(None, impl.Data("d", "s")),
    "acall of a stale pair": lambda bus, impl, token, h0: asyncio.run(bus.acall(None, impl.Data("d", "s"))),
}


def _prepared(impl: ModuleType) -> tuple[Any, list[str], Callable[[], bool], Any]:
    bus = impl.Bus()
    log: list[str] = []
    h0 = _handler(log, "h0")
    bus.register("d", "a", h0)
    token = bus.register("d", "a", _handler(log, "h1"))
    bus.register("d", "b", ByName("b"))
    bus.call(None, impl.Data("d", "a"))  # the snapshot is built
    bus.register("d", "s", _handler(log, "s"))  # stale until a dispatch
    log.clear()
    return bus, log, token, h0


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_every_operation_applies_what_was_queued_before_it_inside_its_locked_section(
    impl: ModuleType, operation: str
) -> None:
    """Changes queued while the lock was held (and not yet applied) are applied by the next
    operation inside its own locked section, before it returns."""
    bus, _, token, h0 = _prepared(impl)
    applied: list[bool] = []
    bus._pending.append((lambda _: applied.append(bus._lock._is_owned()), None))
    OPERATIONS[operation](bus, impl, token, h0)
    assert applied == [True]
    assert list(bus._pending) == []


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_a_weak_handler_dying_on_another_thread_during_an_operation_is_removed_by_it(
    impl: ModuleType, hooked: HookedLock, operation: str
) -> None:
    """A weak handler whose object dies on another thread while an operation holds the
    lock: that thread queues the removal and does not wait; the operation applies it after
    releasing the lock, before it returns."""
    bus, log, token, h0 = _prepared(impl)
    box = [Owner(log, "weak")]
    bus.register("d", "w", box[0].handle, weak=True)
    left: list[int] = []

    def die_elsewhere() -> None:
        assert bus._lock._is_owned()
        on_another_thread(box.clear)  # the last reference, dropped there
        left.append(len(bus._pending))  # that thread could not take the lock: still queued

    hooked.at("release", die_elsewhere)
    OPERATIONS[operation](bus, impl, token, h0)
    assert "release" not in hooked.hooks  # the hook did run inside the operation
    assert left == [1]
    assert list(bus._pending) == []
    assert bus.handlers("d", "w") == ()
    assert ("d", "w") not in bus.pairs()


def test_unmute_applies_a_removal_queued_at_its_release(impl: ModuleType, hooked: HookedLock) -> None:
    bus, log, _, _ = _prepared(impl)
    unmute = bus._mute("d", "a", ())
    box = [Owner(log, "weak")]
    bus.register("d", "w", box[0].handle, weak=True)
    hooked.at("release", lambda: on_another_thread(box.clear))
    unmute()
    assert list(bus._pending) == []
    assert bus.handlers("d", "w") == ()
    assert _names(bus) == ["h0", "h1"]


# -- Dispatch of a stale pair while the lock is held ---------------------------------


def _inside_a_writer(bus: Any, function: Callable[[], object]) -> None:
    """Run ``function`` inside a writer's locked section, as a queued change would run."""
    ran: list[bool] = []

    def queued(_: object) -> None:
        function()
        ran.append(True)

    bus._pending.append((queued, None))
    unregister = bus.register("elsewhere", "x", print)  # its locked section applies the queue
    assert ran == [True]
    assert unregister() is True


def test_a_dispatch_while_another_thread_writes_runs_a_private_copy_without_waiting(impl: ModuleType) -> None:
    bus = impl.Bus()
    log: list[str] = []
    data = impl.Data("d", "a")
    bus.register("d", "a", _handler(log, "first"))
    bus.call(None, data)
    bus.register("d", "a", _handler(log, "second"))  # the pair is stale
    log.clear()
    seen: dict[str, object] = {}

    def dispatch_elsewhere() -> None:
        def dispatch() -> None:
            seen["owned there"] = bus._lock._is_owned()
            bus.call(None, data)
            bus.publish(None, data)
            asyncio.run(bus.acall(None, data))

        on_another_thread(dispatch)  # returns: it never waited for the lock held here

    _inside_a_writer(bus, dispatch_elsewhere)
    assert seen == {"owned there": False}
    assert log == ["first", "second"] * 3  # every change that returned
    log.clear()
    bus.call(None, data)  # and here, once the lock is free, the snapshot as usual
    assert log == ["first", "second"]


def test_a_dispatch_while_another_thread_writes_refuses_a_coroutine_function(impl: ModuleType) -> None:
    bus = impl.Bus()
    log: list[str] = []
    data = impl.Data("d", "a")

    async def late(ctx: object, data: object) -> None:
        log.append("late")

    bus.register("d", "a", _handler(log, "first"))
    bus.register("d", "a", late)
    errors: list[BaseException] = []

    def dispatch_elsewhere() -> None:
        def dispatch() -> None:
            with pytest.raises(TypeError, match="is a coroutine function") as caught:
                bus.call(None, data)
            errors.append(caught.value)
            asyncio.run(bus.acall(None, data))  # runs both

        on_another_thread(dispatch)

    _inside_a_writer(bus, dispatch_elsewhere)
    assert len(errors) == 1 and log == ["first", "late"]


def _emptied_stale_pair(impl: ModuleType) -> tuple[Any, list[str]]:
    """A bus whose pair ("d", "a") is stale and has no handler left (its last one was
    unregistered inside a mute, which then ended)."""
    bus = impl.Bus()
    log: list[str] = []
    unmute = bus._mute("d", "a", ())
    assert bus.register("d", "a", _handler(log, "gone"))() is True
    unmute()
    return bus, log


@pytest.mark.parametrize("method", ["call", "publish", "acall", "apublish"])
def test_a_stale_pair_that_emptied_dispatches_nothing_even_from_a_private_copy(
    impl: ModuleType, method: str
) -> None:
    bus, log = _emptied_stale_pair(impl)
    data = impl.Data("d", "a")

    def dispatch() -> None:
        result = getattr(bus, method)(None, data)
        if method.startswith("a"):
            asyncio.run(result)

    _inside_a_writer(bus, lambda: on_another_thread(dispatch))
    assert log == []
    dispatch()  # and first after it, outside any locked section
    assert log == [] and bus.pairs() == ()


@pytest.mark.parametrize("method", ["acall", "apublish"])
def test_the_first_async_dispatch_of_a_stale_pair_that_emptied_runs_nothing(
    impl: ModuleType, method: str
) -> None:
    bus, log = _emptied_stale_pair(impl)
    asyncio.run(getattr(bus, method)(None, impl.Data("d", "a")))
    assert log == [] and bus.pairs() == ()
    bus.register("d", "a", _handler(log, "new"))
    asyncio.run(getattr(bus, method)(None, impl.Data("d", "a")))
    assert log == ["new"]


def test_a_dispatch_inside_the_buss_own_locked_section_reads_the_registrations_as_they_are(
    impl: ModuleType,
) -> None:
    """A finalizer dispatching a stale pair inside a bus operation (the lock held by its own
    thread) runs the registrations as they are at that moment and waits for nothing."""
    bus = impl.Bus()
    log: list[str] = []
    data = impl.Data("d", "a")
    bus.register("d", "a", _handler(log, "first"))
    bus.call(None, data)
    bus.register("d", "a", _handler(log, "second"))  # stale
    log.clear()
    seen: list[list[str]] = []

    def inside() -> None:
        assert bus._lock._is_owned()
        bus.call(None, data)
        seen.append(list(log))
        bus.register("d", "a", _handler(log, "third"))  # queued: not yet in the registrations
        bus.publish(None, data)
        seen.append(list(log))
        log.clear()

    _inside_a_writer(bus, inside)
    assert seen == [["first", "second"], ["first", "second", "first", "second"]]
    bus.call(None, data)
    assert log == ["first", "second", "third"]


# -- unregister(pair, handler): the identity index ------------------------------------


def test_unregister_by_handler_passes_registrations_whose_removal_is_queued(impl: ModuleType) -> None:
    """A registration whose unregister() returned True while the lock was held is on its
    way out: removal by handler, by identity or by ==, passes it and takes the next one."""
    bus = impl.Bus()
    log: list[str] = []
    handler = _handler(log, "twice")
    once = _handler(log, "once")
    first = bus.register("d", "a", handler)
    bus.register("d", "a", handler)
    only = bus.register("d", "a", once)
    with bus._lock:  # as inside one of the bus's locked sections: queued
        assert first() is True
        assert only() is True
    assert len(bus._pending) == 2
    # The index is built now, without the registrations on their way out.
    assert bus.unregister("d", "a", once) is False  # its only registration is going already
    assert bus.unregister("d", "a", handler) is True  # the second registration
    assert bus.unregister("d", "a", handler) is False
    assert bus.handlers("d", "a") == () and bus.pairs() == ()


def test_unregister_by_equality_passes_a_registration_whose_removal_is_queued(impl: ModuleType) -> None:
    bus = impl.Bus()
    counted, compared = _counting()
    token = bus.register("d", "a", counted("x"))
    bus.register("d", "a", counted("x"))
    with bus._lock:
        assert token() is True  # queued, not applied: still in the pair's registrations
    assert bus.unregister("d", "a", counted("x")) is True
    assert compared == [1]  # the registration on its way out was not compared
    assert bus.handlers("d", "a") == () and bus.pairs() == ()


def test_unregister_by_handler_of_a_pair_that_queued_removals_empty_returns_false(impl: ModuleType) -> None:
    """The pair's index counts a handler with its own ==, so removal by a function falls back
    to comparing in order: the removals applied in unregister's locked section emptied the
    pair, and nothing is compared."""
    bus = impl.Bus()
    counted, compared = _counting()
    token = bus.register("d", "a", counted("x"))
    absent = _handler([], "absent")
    assert bus.unregister("d", "a", absent) is False  # builds the index, then compares
    assert compared == [1]
    with bus._lock:
        assert token() is True
    assert bus.unregister("d", "a", absent) is False
    assert compared == [1]
    assert bus.pairs() == ()


def test_unregister_by_handler_after_another_thread_removed_the_last_one_returns_false(
    impl: ModuleType, hooked: HookedLock
) -> None:
    """Between unregister's look at the pair (no lock) and its locked section, another thread
    unregistered the pair's last handler."""
    bus = impl.Bus()
    handler = _handler([], "h")
    token = bus.register("d", "a", handler)
    removed: list[object] = []
    hooked.at("acquire", lambda: removed.append(on_another_thread(token)))
    assert bus.unregister("d", "a", handler) is False
    assert removed == [True]
    assert bus.pairs() == ()


def test_a_registration_queued_into_an_indexed_pair_can_be_removed_by_handler(impl: ModuleType) -> None:
    bus = impl.Bus()
    log: list[str] = []
    first, late = _handler(log, "first"), _handler(log, "late")
    bus.register("d", "a", first)
    assert bus.unregister("d", "a", late) is False  # the pair has its index now
    bus._pending.append((lambda _: bus.register("d", "a", late), None))  # queued inside a locked section
    assert bus.pairs() == (("d", "a"),)  # applies the queue (after its own read)
    assert _names(bus) == ["first", "late"]
    assert bus.unregister("d", "a", late) is True  # found through the index
    assert _names(bus) == ["first"]
    bus.call(None, impl.Data("d", "a"))
    assert log == ["first"]


class Named:
    """A callable object used as a bound method's function, equal to another of its name."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, owner: object, ctx: list[str], data: object) -> None:
        ctx.append(self.name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Named) and other.name == self.name

    __hash__ = None  # type: ignore[assignment]


def test_unregister_by_handler_of_a_bound_method_whose_function_has_its_own_eq(impl: ModuleType) -> None:
    """Two bound methods are equal when their __self__ is the same object and their
    functions are equal: with a function that defines ==, equal is not identical."""
    bus = impl.Bus()
    owner, other = Owner([], "owner"), Owner([], "other")
    plain = _handler([], "plain")
    bus.register("d", "a", types.MethodType(Named("x"), owner))
    bus.register("d", "a", plain)
    bus.register("d", "a", types.MethodType(Named("x"), owner))
    assert bus.unregister("d", "a", types.MethodType(Named("x"), other)) is False  # not the same __self__
    assert bus.unregister("d", "a", types.MethodType(Named("y"), owner)) is False
    assert bus.unregister("d", "a", types.MethodType(Named("x"), owner)) is True  # the earliest
    left = bus.handlers("d", "a")
    assert left[0] is plain and left[1] == types.MethodType(Named("x"), owner)
    assert bus.unregister("d", "a", plain) is True  # (the pair has a handler with its own ==: in order)
    ctx: list[str] = []
    bus.call(ctx, impl.Data("d", "a"))
    assert ctx == ["x"]
    assert bus.unregister("d", "a", types.MethodType(Named("x"), owner)) is True
    assert bus.pairs() == ()


class OnlyNe:
    """== is identity (object's), but != says True even of the object itself."""

    def __call__(self, ctx: object, data: object) -> None:
        pass

    def __ne__(self, other: object) -> bool:
        return True


def test_unregister_by_handler_uses_eq_even_when_ne_disagrees(impl: ModuleType) -> None:
    """The contract is ``==``: a handler registered once whose class defines only __ne__
    (a lying one) is removed like one registered twice (regression: the index's fast path
    asked != and returned False)."""
    bus = impl.Bus()
    once, twice = OnlyNe(), OnlyNe()
    assert once == once and once != once
    bus.register("d", "a", once)
    bus.register("d", "b", twice)
    bus.register("d", "b", twice)
    assert bus.unregister("d", "a", once) is True
    assert bus.unregister("d", "a", once) is False
    assert bus.unregister("d", "b", twice) is True
    assert bus.unregister("d", "b", twice) is True
    assert bus.unregister("d", "b", twice) is False
    assert bus.pairs() == ()


# -- unregister(pair, handler) by ==: compaction -----------------------------------------


def test_removing_many_handlers_by_eq_in_registration_order_keeps_the_order(impl: ModuleType) -> None:
    """Removal by == skips the slots its earlier removals left, until they are compacted
    away: across every compaction, each removal takes the earliest equal registration and
    the rest keep their order."""
    bus = impl.Bus()
    count = 600
    names = [f"n{i % 500}" for i in range(count)]  # the first 100 names registered twice
    for name in names:
        bus.register("d", "a", ByName(name))
    expected = list(names)
    for step, name in enumerate(names[:550]):
        assert bus.unregister("d", "a", ByName(name)) is True, step
        expected.remove(name)  # the earliest
        if step % 50 == 49:
            assert [h.name for h in bus.handlers("d", "a")] == expected, step
    assert [h.name for h in bus.handlers("d", "a")] == expected == [f"n{i}" for i in range(50, 100)]
    assert bus.unregister("d", "a", ByName("n10")) is False


def test_a_compaction_that_applies_queued_removals_emptying_the_pair_returns_false(impl: ModuleType) -> None:
    bus = impl.Bus()
    counted, compared = _counting()
    tokens = [bus.register("d", "a", counted(f"n{i}")) for i in range(300)]
    for token in tokens[:40]:
        assert token() is True  # slots left in the pair's registrations
    with bus._lock:
        for token in tokens[40:]:
            assert token() is True  # queued
    assert bus.unregister("d", "a", counted("n299")) is False
    assert compared == [0]
    assert bus.pairs() == ()


# -- Interrupted at one given line: the pure twin only ----------------------------------
#
# An asynchronous exception (a signal handler's KeyboardInterrupt) can arrive between two
# lines of a locked section; a Python tracer raising there stands in for it, which only the
# pure twin's lines allow.  (tests/core/test_registry_faults.py interrupts every line of
# each operation in turn; these two check what the next operation does with the state a
# given interruption leaves.)


class Interrupted(BaseException):
    """What the injected "signal handler" raises (a KeyboardInterrupt stand-in)."""


def _interrupted_once(where: Callable[[FrameType], bool]) -> AbstractContextManager[list[bool]]:
    """Raise ``Interrupted`` at the first line event of the pure core for which ``where``
    holds (see helpers_core.tracing_the_pure_core).  A plain function, as
    test_registry_faults._interrupt_at is."""
    raised: list[bool] = []

    def local(frame: FrameType, event: str, arg: object) -> Any:
        if event == "line" and not raised and where(frame):
            raised.append(True)
            raise Interrupted
        return local

    return tracing_the_pure_core(local, raised)


def _source_line(frame: FrameType) -> str:
    return linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()


def test_unregister_by_handler_passes_a_registration_an_interruption_left_removed_unmarked(
    impl: ModuleType,
) -> None:
    """unregister() interrupted after its removal, before marking the registration removed:
    the pair's index still has it; removal by that handler then finds it gone, says False,
    and removes no other registration."""
    bus = impl.Bus()
    log: list[str] = []
    handler, other = _handler(log, "h"), _handler(log, "other")
    token = bus.register("d", "a", handler)
    bus.register("d", "a", other)
    assert bus.unregister("d", "a", _handler(log, "absent")) is False  # the pair's index
    with (
        pytest.raises(Interrupted),
        _interrupted_once(
            lambda frame: (
                frame.f_code.co_name == "_unregister"
                and "found" in frame.f_locals  # the locked branch, after self._remove(registration)
                and _source_line(frame) == "registration.removed = True"
            )
        ) as raised,
    ):
        token()
    assert raised == [True]
    assert _names(bus) == ["other"]  # removed, though never marked
    assert bus.unregister("d", "a", handler) is False
    assert _names(bus) == ["other"]
    assert token() is False
    assert bus.unregister("d", "a", other) is True
    bus.call(None, impl.Data("d", "a"))
    assert log == [] and bus.pairs() == ()


def test_a_queued_mute_applied_again_after_an_interruption_takes_effect_once(impl: ModuleType) -> None:
    """A mute made inside a locked section is queued; the drain applied it and was
    interrupted before dequeuing it: the next operation applies it again, which changes
    nothing (one unmute ends it)."""
    bus = impl.Bus()
    log: list[str] = []
    bus.register("d", "a", _handler(log, "h"))
    ends: list[Callable[[], None]] = []
    bus._pending.append((lambda _: ends.append(bus._mute("d", "a", (_handler(log, "stand-in"),))), None))
    with (
        pytest.raises(Interrupted),
        _interrupted_once(
            lambda frame: (
                frame.f_code.co_name == "_drain"
                and _source_line(frame) == "del pending[0]"
                and getattr(frame.f_locals.get("function"), "__func__", None) is impl.Bus._add_mute
            )
        ) as raised,
    ):
        bus.pairs()  # applies the queue, interrupted after the mute took effect
    assert raised == [True]
    assert len(bus._pending) == 1  # the mute, still at the head of the queue
    assert _names(bus) == ["stand-in"]  # applied again: a retry
    assert list(bus._pending) == []
    bus.call(None, impl.Data("d", "a"))
    assert log == ["stand-in"]
    (unmute,) = ends
    unmute()
    assert _names(bus) == ["h"]
    log.clear()
    bus.call(None, impl.Data("d", "a"))
    assert log == ["h"]


def test_a_registration_removed_by_its_unregister_leaves_the_removal_index(impl: ModuleType) -> None:
    """Once the pair has an index for removal by handler, a registration that its own
    unregister() removes keeps neither its handler nor a bound method's object alive while
    the pair lives on, and the index forgets the handler classes it no longer relies on."""
    import gc
    import weakref

    bus = impl.Bus()
    log: list[str] = []
    kept, absent = _handler(log, "kept"), _handler(log, "absent")
    bus.register("d", "a", kept)  # the pair lives on
    assert bus.unregister("d", "a", absent) is False  # builds the pair's index

    class Account:
        def opened(self, ctx: object, data: object) -> None:
            pass

    class Callback:
        def __call__(self, ctx: object, data: object) -> None:
            pass

    account, callback = Account(), Callback()
    alive: list[weakref.ref[Any]] = [weakref.ref(account), weakref.ref(callback)]
    removers = [bus.register("d", "a", account.opened), bus.register("d", "a", callback)]
    assert Callback in bus._index[("d", "a")].types
    assert all(unregister() for unregister in removers)
    assert bus._index[("d", "a")].types == {}
    del account, callback, removers
    gc.collect()
    assert [ref() for ref in alive] == [None, None]
    assert bus.handlers("d", "a") == (kept,)
    assert bus.unregister("d", "a", kept) is True


def test_a_dispatch_reading_the_mutes_as_the_last_one_ends_never_fails(impl: ModuleType) -> None:
    """A dispatch that meets a writer holding the lock builds its snapshot without the
    lock: a mute ending between its look at the pair's mutes and its read of the newest
    must not make it fail (free-threaded builds run these at once)."""
    bus = impl.Bus()
    log: list[str] = []
    bus.register("d", "a", _handler(log, "h"))
    unmute = bus._mute("d", "a", (_handler(log, "stand-in"),))
    ended: list[bool] = []

    def end_the_mute_meanwhile(frame: FrameType, event: str, arg: object) -> Any:
        if (
            event == "line"
            and frame.f_code.co_name == "_build"
            and _source_line(frame) == "return mutes[-1].snapshot"
            and not ended
        ):
            ended.append(True)
            unmute()
        return end_the_mute_meanwhile

    bus._busy[0] = True  # as while a writer holds the lock: the dispatch reads without it
    with tracing_the_pure_core(end_the_mute_meanwhile, None):
        bus.call(None, impl.Data("d", "a"))
    assert ended == [True]
    assert log == ["stand-in"]  # the snapshot the dispatch started with
    log.clear()
    bus.call(None, impl.Data("d", "a"))
    assert log == ["h"]
