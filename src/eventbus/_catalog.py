"""``python -m eventbus catalog MODULE:ATTR``: who handles what on an application's bus.

Imports ``MODULE`` (which wires the application: its composition root), takes the `Bus` at
``ATTR`` and prints every registration as a table, a JSON array or a Mermaid flowchart from
each pair to the modules of its handlers.  A module or attribute that does not exist, or that
is not a bus, exits with status 2 and one line naming it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from typing import Any

from ._registration import Registration

FORMATS = ("text", "json", "mermaid")
USAGE_ERROR = 2


class CatalogError(Exception):
    """What the command reports in one line, with exit status 2."""


def handler_module(handler: object) -> str:
    module = getattr(handler, "__module__", None)
    return module if isinstance(module, str) else type(handler).__module__


def handler_name(handler: object) -> str:
    """``module.qualname``, as the bus's messages name a handler."""
    name = getattr(handler, "__qualname__", None)
    if not isinstance(name, str):  # a callable object: its class
        name = type(handler).__qualname__
    return f"{handler_module(handler)}.{name}"


def _event_name(registration: Registration) -> str | None:
    event = registration.event
    return None if event is None else f"{event.domain}/{event.action}"


def as_json(registrations: Sequence[Registration]) -> str:
    return json.dumps(
        [
            {
                "domain": r.domain,
                "action": r.action,
                "handler": handler_name(r.handler),
                "event": _event_name(r),
                "weak": r.weak,
                "site": r.site,
            }
            for r in registrations
        ],
        indent=2,
    )


def as_text(registrations: Sequence[Registration]) -> str:
    if not registrations:
        return "no registrations"
    header = ("PAIR", "HANDLER", "VIA", "SITE")
    rows = [
        (
            f"{r.domain}/{r.action}",
            handler_name(r.handler),
            ("event" if r.event is not None else "pair") + (", weak" if r.weak else ""),
            r.site,
        )
        for r in registrations
    ]
    widths = [max(len(row[column]) for row in (header, *rows)) for column in range(3)]
    return "\n".join(
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[3]])
        for row in (header, *rows)
    )


def _label(text: str) -> str:
    # Mermaid's own entity codes: a quote ends the label, < and > read as HTML.
    return '"' + text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;") + '"'


def as_mermaid(registrations: Sequence[Registration]) -> str:
    """A flowchart: each pair (a rounded node) to each module that handles it (a box), the
    edge labelled with the handlers of that module."""
    pairs: dict[tuple[str, str], str] = {}
    modules: dict[str, str] = {}
    edges: dict[tuple[str, str], list[str]] = {}
    for r in registrations:
        pair = pairs.setdefault((r.domain, r.action), f"p{len(pairs)}")
        module = handler_module(r.handler)
        box = modules.setdefault(module, f"m{len(modules)}")
        name = handler_name(r.handler)[len(module) + 1 :]
        handlers = edges.setdefault((pair, box), [])
        if name not in handlers:
            handlers.append(name)
    lines = ["flowchart LR"]
    lines += [f"    {node}([{_label(f'{d}/{a}')}])" for (d, a), node in pairs.items()]
    lines += [f"    {node}[{_label(module)}]" for module, node in sorted(modules.items())]
    lines += [f"    {pair} -->|{_label(', '.join(names))}| {box}" for (pair, box), names in edges.items()]
    return "\n".join(lines)


RENDER = {"text": as_text, "json": as_json, "mermaid": as_mermaid}


def find_bus(target: str) -> Any:
    """The bus at ``MODULE:ATTR`` (``ATTR`` may be dotted), importing ``MODULE``."""
    module_name, colon, attribute = target.partition(":")
    if not colon or not module_name or not attribute:
        raise CatalogError(f"{target!r} is not MODULE:ATTR (for example myapp.wiring:bus)")
    try:
        found: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise CatalogError(f"no module named {module_name!r}") from None
        raise  # the application's own import failed: its traceback says why
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise CatalogError(f"module {module_name!r} has no attribute {attribute!r}") from None
    buses = tuple(
        module.Bus
        for module in (sys.modules.get("eventbus._core"), sys.modules.get("eventbus._core_py"))
        if module
    )
    if not isinstance(found, buses):
        raise CatalogError(f"{target} is a {type(found).__qualname__}, not an eventbus.Bus")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eventbus", description="Tools for an application's bus.")
    commands = parser.add_subparsers(dest="command", required=True)
    catalog = commands.add_parser(
        "catalog",
        help="print every registration of a bus",
        description="Print every registration of the bus at MODULE:ATTR.",
    )
    catalog.add_argument("target", metavar="MODULE:ATTR", help="where the bus is, e.g. myapp.wiring:bus")
    catalog.add_argument("--format", choices=FORMATS, default="text", help="text (default), json or mermaid")
    args = parser.parse_args(argv)
    # The application's modules are found from the current directory, as `python -m` finds them.
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")
    try:
        bus = find_bus(args.target)
    except CatalogError as exc:
        print(f"python -m eventbus catalog: {exc}", file=sys.stderr)
        return USAGE_ERROR
    print(RENDER[args.format](bus.registrations()))
    return 0
