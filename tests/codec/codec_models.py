"""Dataclasses the encode and decode tests share (not a test module)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class Point:
    y: int
    x: int


@dataclasses.dataclass
class Polygon:
    name: str
    points: list[Point]
    origin: Point | None = None
    tags: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Scalars:
    text: str
    count: int
    ratio: float
    flag: bool
    anything: dict  # type: ignore[type-arg]
    items: list  # type: ignore[type-arg]


@dataclasses.dataclass
class WithDefaults:
    required: int
    plain: str = "plain"
    factory: list[int] = dataclasses.field(default_factory=lambda: [1, 2])
    optional: int | None = None


@dataclasses.dataclass
class LabelledTree:
    label: str
    children: list[LabelledTree] = dataclasses.field(default_factory=list)
