"""What staging an event on a transaction costs, against the frameworks' own hooks.

    python -m benchmarks.staging [--repetitions 60] [--markdown]

Needs SQLAlchemy and Django (``pip install --group databases .``); runs on SQLite in memory.
Ratios measured side by side in one process (interleave.py), never absolute times:

- **django**: ``bus.publish_after_commit(None, data, eventbus.django.transaction())`` inside
  an ``atomic`` block, against Django's own ``transaction.on_commit(callback)`` (the hook it
  calls, plus the check of the event and one callback object);
- **sqlalchemy**: ``bus.publish_after_commit(session, data, eventbus.sqlalchemy.transaction(session))``
  in an open session transaction, against the hand-made workaround it replaces, appending
  ``(ctx, data)`` to a list in ``session.info``;
- **sqlalchemy transaction**, **django transaction**: a whole short transaction (begin,
  ``SELECT 1``, commit) that stages one event and dispatches it to a no-op handler after the
  commit, against the same transaction without eventbus: what the session events and the
  dispatch add to a transaction.

The staged lists are emptied between timings (each timing stages a few hundred events on
one open transaction), so that memory stays flat.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import timeit
from collections.abc import Hashable
from typing import Any

from . import interleave

DJANGO, SQLALCHEMY = "django", "sqlalchemy"
DJANGO_TX, SQLALCHEMY_TX = "django transaction", "sqlalchemy transaction"
ON_COMMIT = "Django on_commit(callback)"
INFO_APPEND = "session.info list append"
PLAIN_DJANGO_TX = "atomic(): SELECT 1"
PLAIN_SQLALCHEMY_TX = "begin, SELECT 1, commit"


def _noop(ctx: object, data: object) -> None:
    pass


def _implementations() -> dict[str, Any]:
    found = {"pure": importlib.import_module("eventbus._core_py")}
    try:
        found = {"compiled": importlib.import_module("eventbus._core"), **found}
    except ImportError:
        print("staging: the compiled core is not built: the pure twin only", file=sys.stderr)
    return found


def _django() -> Any:
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
        )
        import django

        django.setup()
    from django.db import connection, transaction

    return connection, transaction


def groups() -> tuple[dict[Hashable, dict[str, timeit.Timer]], dict[Hashable, str]]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    import eventbus.django
    import eventbus.sqlalchemy

    connection, transaction = _django()
    implementations = _implementations()
    found: dict[Hashable, dict[str, timeit.Timer]] = {DJANGO: {}, SQLALCHEMY: {}, SQLALCHEMY_TX: {}}

    # Staging alone, on transactions left open for the whole run.
    transaction.atomic().__enter__()

    def reset_django() -> None:
        connection.run_on_commit.clear()

    found[DJANGO][ON_COMMIT] = timeit.Timer(
        "on_commit(callback)",
        setup="reset()",
        globals={"on_commit": transaction.on_commit, "callback": lambda: None, "reset": reset_django},
    )
    engine = create_engine("sqlite://")
    session = Session(engine)
    session.begin()
    staging = eventbus.sqlalchemy.transaction(session)

    def reset_session() -> None:
        session.info.pop("staged", None)
        staging._staged.clear()  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue]

    found[SQLALCHEMY][INFO_APPEND] = timeit.Timer(
        "session.info.setdefault('staged', []).append((session, data))",
        setup="reset()",
        globals={"session": session, "data": None, "reset": reset_session},
    )
    for name, impl in implementations.items():
        bus = impl.Bus()
        bus.register("users", "created", _noop)
        data = impl.Data("users", "created")
        found[DJANGO][f"{name} publish_after_commit"] = timeit.Timer(
            "bus.publish_after_commit(None, data, transaction())",
            setup="reset()",
            globals={
                "bus": bus,
                "data": data,
                "transaction": eventbus.django.transaction,
                "reset": reset_django,
            },
        )
        found[SQLALCHEMY][f"{name} publish_after_commit"] = timeit.Timer(
            "bus.publish_after_commit(session, data, transaction(session))",
            setup="reset()",
            globals={
                "bus": bus,
                "data": data,
                "session": session,
                "transaction": eventbus.sqlalchemy.transaction,
                "reset": reset_session,
            },
        )

    # Whole SQLAlchemy transactions, on sessions of their own (the one above stays open);
    # Django's run in a process of their own (django_transaction_groups).
    select = text("SELECT 1")
    plain, staged = Session(engine), Session(engine)
    staged_tx = eventbus.sqlalchemy.transaction(staged)
    compiled = next(iter(implementations.values()))
    bus = compiled.Bus()
    bus.register("users", "created", _noop)
    data = compiled.Data("users", "created")

    def sqlalchemy_plain() -> None:
        with plain.begin():
            plain.execute(select)

    def sqlalchemy_staged() -> None:
        with staged.begin():
            staged.execute(select)
            bus.publish_after_commit(staged, data, staged_tx)

    found[SQLALCHEMY_TX][PLAIN_SQLALCHEMY_TX] = timeit.Timer(sqlalchemy_plain)
    found[SQLALCHEMY_TX][f"{next(iter(implementations))}: + one event staged and run"] = timeit.Timer(
        sqlalchemy_staged
    )
    return found, {DJANGO: ON_COMMIT, SQLALCHEMY: INFO_APPEND, SQLALCHEMY_TX: PLAIN_SQLALCHEMY_TX}


def django_transaction_groups() -> tuple[dict[str, timeit.Timer], str]:
    """Whole Django transactions, in a process of their own (the staging group keeps an
    atomic block open on the default connection for its whole run)."""
    import eventbus.django

    connection, transaction = _django()
    implementations = _implementations()
    name, impl = next(iter(implementations.items()))
    bus = impl.Bus()
    bus.register("users", "created", _noop)
    data = impl.Data("users", "created")
    tx = eventbus.django.transaction()

    def plain() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    def staged() -> None:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            bus.publish_after_commit(None, data, tx)

    return {
        PLAIN_DJANGO_TX: timeit.Timer(plain),
        f"{name}: + one event staged and run": timeit.Timer(staged),
    }, (PLAIN_DJANGO_TX)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.staging", description=__doc__.split("\n")[0])
    parser.add_argument("--repetitions", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sample-ms", type=float, default=0.5)
    parser.add_argument("--markdown", action="store_true", help="a Markdown table")
    parser.add_argument("--django-transactions", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.django_transactions:
        timers, baseline = django_transaction_groups()
        found: dict[Hashable, dict[str, timeit.Timer]] = {DJANGO_TX: timers}
        baselines: dict[Hashable, str] = {DJANGO_TX: baseline}
    else:
        found, baselines = groups()
    result = interleave.measure(found, baselines, args.repetitions, args.sample_ms / 1e3, args.rounds)
    rows = []
    for group, timers in found.items():
        for name in timers:
            ratio = result.median_ratio(group, name)
            q1, q3 = result.quartiles(group, name)
            rows.append((str(group), name, result.median_ns(group, name), ratio, q1, q3))
    if args.markdown:
        print("| group | what | ns (info) | ratio to the first row | quartiles |")
        print("| --- | --- | ---: | ---: | --- |")
        for group, name, ns, ratio, q1, q3 in rows:
            print(f"| {group} | {name} | {ns:.0f} | {ratio:.2f}x | {q1:.2f}-{q3:.2f} |")
    else:
        for group, name, ns, ratio, q1, q3 in rows:
            print(f"{group:24} {name:44} {ns:9.0f} ns  {ratio:5.2f}x  ({q1:.2f}-{q3:.2f})")
    if not args.django_transactions:
        # Django's whole transactions in a fresh process: no atomic block left open there.
        import subprocess

        command = [sys.executable, "-m", "benchmarks.staging", "--django-transactions"]
        command += ["--repetitions", str(args.repetitions), "--rounds", str(args.rounds)]
        command += ["--sample-ms", repr(args.sample_ms)] + (["--markdown"] if args.markdown else [])
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        lines = output.splitlines()
        print("\n".join(lines[2:] if args.markdown else lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
