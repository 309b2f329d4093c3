"""pydantic and msgspec payload types, the one source for codec/test_types and
twins/test_codec_engines_models (not a test module).

Importing this module needs pydantic and msgspec (the ``typed`` extra); the tests
that use it skip without them in a plain run, and CI's test jobs
(``.github/workflows/test.yml``) set ``EVENTBUS_TYPED_DEPS_REQUIRED=1`` so that there
they fail instead of skipping.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal

import msgspec
import pydantic


class Address(pydantic.BaseModel):
    street: str
    zip: int
    country: str = "NZ"


class Customer(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(populate_by_name=True)

    name: str = pydantic.Field(alias="fullName")
    address: Address
    tags: list[str] = []


class Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(strict=True)

    count: int


@dataclasses.dataclass
class Order:
    id: int
    customer: Customer
    placed: datetime.datetime
    total: decimal.Decimal


class Point(msgspec.Struct):
    x: int
    y: int


class Route(msgspec.Struct, rename="camel"):
    route_name: str
    points: list[Point]
    started: datetime.date | None = None


@dataclasses.dataclass
class Trip:
    driver: str
    route: Route


class Tagged(msgspec.Struct):
    """msgspec reads a Struct's keys as UTF-8: a lone surrogate in one fails there."""

    labels: dict[str, int]


class CheckedStruct(msgspec.Struct):
    count: int

    def __post_init__(self) -> None:
        if self.count < 0:
            raise RuntimeError(f"count {self.count} is negative")


class CheckedModel(pydantic.BaseModel):
    count: int

    @pydantic.field_validator("count")
    @classmethod
    def not_negative(cls, count: int) -> int:
        if count < 0:
            raise RuntimeError(f"count {count} is negative")
        return count


@dataclasses.dataclass
class CheckedDataclass:
    count: int

    def __post_init__(self) -> None:
        if self.count < 0:
            raise RuntimeError(f"count {self.count} is negative")


class RefusingStruct(msgspec.Struct):
    """A ValueError from __post_init__, which msgspec turns into its own ValidationError."""

    count: int

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError(f"count {self.count} is negative")


class Reading(msgspec.Struct):
    """Floats and a nullable field: msgspec writes a NaN as null, as it writes None."""

    value: float
    note: str | None = None


class Sample(pydantic.BaseModel):
    value: float
    note: str | None = None


class SampleAsStrings(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(ser_json_inf_nan="strings")

    value: float


class SampleAsConstants(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(ser_json_inf_nan="constants")

    value: float


class StrictStamp(pydantic.BaseModel):
    """Strict: a datetime only from JSON's ISO string (pydantic's JSON mode), never from a str in Python."""

    model_config = pydantic.ConfigDict(strict=True)

    at: datetime.datetime


@dataclasses.dataclass
class Batch:
    readings: list[Reading]
    by_name: dict[str, Sample]
    first: Reading | None = None


@dataclasses.dataclass
class Holder:
    """Library models nested in a dataclass: the engines hand each to its library."""

    reading: Reading
    samples: list[Sample]
