"""pydantic models and msgspec Structs on both codec engines: same bytes, values and errors.

Both engines hand a library model to its library's own writer and reader; the compiled one does
it in C for a model that is the whole payload, the reference in Python and for nested ones.  The
compiled engine's scan for what a library reads and strict JSON refuses must be the reference's
pattern exactly.  Collected only where the compiled engine is built (conftest), and only with the
``typed`` extra (a failure instead of a skip where EVENTBUS_TYPED_DEPS_REQUIRED is set).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from helpers_codec import outcome
from helpers_core import hypothesis_profile
from hypothesis import given
from hypothesis import strategies as st
from test_codec_engines import (
    FAST_DECODE,
    FAST_ENCODE,
    REFERENCE_DECODE,
    REFERENCE_ENCODE,
    _json_texts,  # pyright: ignore[reportPrivateUsage]
    _json_values,  # pyright: ignore[reportPrivateUsage]
    _mutated,  # pyright: ignore[reportPrivateUsage]
    _text,  # pyright: ignore[reportPrivateUsage]
)

from eventbus import _core, _core_py  # pyright: ignore[reportPrivateUsage]  # the implementations themselves
from eventbus._codec import decode as reference_decode
from eventbus._codec import engine

if not os.environ.get("EVENTBUS_TYPED_DEPS_REQUIRED"):
    for _library in ("msgspec", "pydantic"):
        pytest.importorskip(_library, reason="needs the typed extra (pydantic, msgspec)")

# After the skip, which a plain run without the typed extra takes.  The codec tests' own models:
# the engines are compared on the types test_types reads and writes.
from payload_models import (  # noqa: E402
    Holder,
    Reading,
    RefusingStruct,
    Sample,
    SampleAsConstants,
)

PROFILE = hypothesis_profile()


def _model_outcomes(payload: object) -> tuple[object, ...]:
    reference = outcome(lambda: REFERENCE_ENCODE(payload, "d", "a"))
    must_data = _core._must_data_with(FAST_ENCODE)  # pyright: ignore[reportPrivateUsage]
    return (
        reference,
        outcome(lambda: FAST_ENCODE(payload, "d", "a")),
        outcome(lambda: must_data("d", "a", payload).raw_params),
        outcome(lambda: _core_py.must_data("d", "a", payload).raw_params),
    )


_floats = st.floats() | st.sampled_from([1e16, 1e-05, -0.0, 5e-324, float("nan"), float("inf")])
_notes = st.none() | _text
_models = (
    st.builds(Reading, _floats, _notes)
    | st.builds(Sample, value=_floats, note=_notes)
    | st.builds(SampleAsConstants, value=_floats)
    | st.builds(RefusingStruct, st.integers(0, 5))
)


# A named function, not a lambda: hypothesis describes a lambda by parsing its source, and
# 3.11's parser fails when threads parse at once (the stress run's 4 threads).
def _model_containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return (
        st.lists(children, max_size=3)
        | st.dictionaries(_text, children, max_size=3)
        | st.builds(
            Holder,
            st.builds(Reading, _floats, _notes),
            st.lists(st.builds(Sample, value=_floats), max_size=2),
        )
    )


_model_payloads = st.recursive(_models, _model_containers, max_leaves=6)


@PROFILE
@given(_model_payloads)
def test_library_models_are_written_alike(payload: object) -> None:
    reference, *others = _model_outcomes(payload)
    assert others == [reference] * 3


_model_raws = (
    _json_values.flatmap(_json_texts)
    | _json_values.flatmap(_json_texts).flatmap(_mutated)
    | st.sampled_from(
        [
            b'{"value":1.5,"note":"n"}',
            b'{"value":NaN}',
            b'{"value":Infinity}',
            b'{"value":-Infinity,"note":null}',
            b'{"value":1e999}',
            b'{"value":1,"extra":1e999}',
            b'{"value":1,"extra":[NaN]}',
            b'{"value":1e-400}',
            b'{"value":"1.5"}',
            b'{"value":true}',
            b'{"note":"x"}',
            b'{"value":1,"note":"\\ud800"}',
            b'{"value":1,"note":"\xed\xa0\x80"}',
            b"\xef\xbb\xbf" + b'{"value":1}',
            b'{"count":3}',
            b'{"count":-3}',
            b'{"count":"3"}',
            b'{"reading":{"value":2},"samples":[{"value":1},{"value":"x"}]}',
            b'{"value":' + b"1" * 400 + b".5}",
            b"[" * 300 + b"]" * 300,
        ]
    )
)
_model_targets = st.sampled_from(
    [Reading, Sample, SampleAsConstants, RefusingStruct, Holder, list[Sample], Reading | None]
)


@PROFILE
@given(_model_raws, _model_targets)
def test_library_models_are_read_alike(raw: bytes, target: Any) -> None:
    for impl in (_core, _core_py):
        data = impl.Data("d", "a", raw)
        assert outcome(lambda: FAST_DECODE(data, target)) == outcome(lambda: REFERENCE_DECODE(data, target))


def test_a_model_payload_is_read_by_the_engine_itself() -> None:
    """Not a fallback in disguise: the engine asks the reference for a model's reader once and
    then reads with it; a payload-less event and a non-event still go to the reference."""
    from eventbus._codec import plans

    described = plans.model_reader(Reading)
    assert described is not None
    assert described[1] is False  # msgspec never reads NaN or Infinity
    assert plans.model_reader(Sample) is not None
    assert plans.model_reader(Holder) is None
    data = _core.Data("d", "a", b'{"value":2.5}')
    assert FAST_DECODE(data, Reading) == REFERENCE_DECODE(data, Reading) == Reading(2.5)
    for odd in (_core.Data("d", "a"), object()):
        assert outcome(lambda: FAST_DECODE(odd, Reading)) == outcome(lambda: REFERENCE_DECODE(odd, Reading))


_suspect_bytes = st.binary(max_size=0) | st.lists(
    st.sampled_from(
        [b"0", b"7", b"e", b"E", b"-", b"+", b"N", b"a", b"I", b"nfinity", b"NaN", b"Infinity", b" ", b'"']
    ),
    max_size=24,
).map(b"".join)


@PROFILE
@given(_suspect_bytes | st.binary(max_size=40), st.booleans())
def test_the_engines_scan_for_the_same_suspects(raw: bytes, constants: bool) -> None:
    fast = engine.available()
    assert fast is not None
    assert fast.maybe_not_strict_here(raw, constants) == reference_decode.maybe_not_strict(raw, constants)


def test_an_exponent_anywhere_is_a_suspect_on_both_engines() -> None:
    # The compiled scan passes over eight bytes at a time: an exponent at every offset, across
    # each boundary, found or not exactly as the reference finds it.
    fast = engine.available()
    assert fast is not None
    for exponent in (b"1e100", b"1E+100", b"9e-999", b"1e10", b"xe100", b"1e+10", b"1e1000"):
        for before in range(20):
            for after in range(10):
                raw = b"a" * before + exponent + b"e" * after
                for constants in (False, True):
                    expected = reference_decode.maybe_not_strict(raw, constants)
                    assert fast.maybe_not_strict_here(raw, constants) == expected, raw


@pytest.mark.parametrize("size", [199, 200, 201, 5000])
def test_long_digit_runs_are_suspects_on_both_engines(size: int) -> None:
    fast = engine.available()
    assert fast is not None
    for raw in (b"1" * size, b'{"x":' + b"1" * size + b"}", b"12" + b"a" * size + b"34"):
        assert fast.maybe_not_strict_here(raw, False) == reference_decode.maybe_not_strict(raw, False)
