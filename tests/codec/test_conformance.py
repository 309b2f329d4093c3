"""JSON conformance: what ``decode`` accepts and refuses, case by case, on both codec engines.

A table of payloads in the style of the public JSON parsing test suites, written for this
codec: the ones RFC 8259 says a parser must accept, the ones it must refuse, and the ones
it leaves to the implementation (where the table records the codec's choice).  Each case
is decoded through a ``Data`` of each implementation, by the stdlib reference engine
and, where it is built, by the compiled one, without a target type, into the type of
its value (or ``dict``) and into a dataclass.  An accepted payload gives exactly what
``json.loads`` gives (types and key order included); a refused one a ``DecodeError`` that
says ``invalid JSON`` and why, in json's words; the compiled engine gives the identical
value or the identical error (message and type of its cause).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from conftest import COMPILED_WANTED
from helpers_codec import outcome, typed

import eventbus
from eventbus._codec import engine as _engine

ENGINES = ["cython", "python"] if COMPILED_WANTED else ["python"]

VALUE = "value"
SYNTAX = "syntax"  # json refuses it: JSONDecodeError, in json's words
NOT_UTF8 = "not UTF-8"  # the payload is not UTF-8: UnicodeDecodeError
NUMBER = "number"  # a ValueError: NaN, Infinity, past float range, past json's digit limit
TOO_DEEP = "too deep"


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    outcome: str


def accept(name: str, raw: bytes) -> Case:
    return Case(name, raw, VALUE)


def refuse(name: str, raw: bytes, why: str = SYNTAX) -> Case:
    return Case(name, raw, why)


def nested(depth: int, opening: bytes, inner: bytes, closing: bytes) -> bytes:
    return opening * depth + inner + closing * depth


# What RFC 8259 says a parser must accept.
MUST_ACCEPT = [
    # structure
    accept("empty object", b"{}"),
    accept("empty array", b"[]"),
    accept("object with one member", b'{"a":1}'),
    accept("object with members of every kind", b'{"a":1,"b":"x","c":true,"d":false,"e":null,"f":[],"g":{}}'),
    accept("array of every kind of value", b'[1,-2.5,"x",true,false,null,[],{}]'),
    accept("arrays in arrays", b"[[],[[]],[[],[1]]]"),
    accept("objects in objects", b'{"a":{"b":{"c":{}}}}'),
    accept("empty key", b'{"":0}'),
    accept("keys that differ only in case", b'{"a":1,"A":2}'),
    accept("object members keep their order", b'{"b":1,"a":2,"c":3}'),
    accept("top-level string", b'"abc"'),
    accept("top-level integer", b"42"),
    accept("top-level negative float", b"-0.5"),
    accept("top-level true", b"true"),
    accept("top-level false", b"false"),
    accept("top-level null", b"null"),
    # whitespace: space, tab, line feed and carriage return, anywhere between tokens
    accept("spaces around the value", b"  [1]  "),
    accept("trailing line feed", b"[]\n"),
    accept("every whitespace byte between every token", b'\t\n\r {\t"a"\n:\r[ 1 ,\t2\n]\r,"b" : null } \r\n'),
    accept("whitespace inside an empty array", b"[ \t\n\r]"),
    accept("whitespace inside an empty object", b"{ \t\n\r}"),
    accept("whitespace around a top-level scalar", b"\n\t 7 \r\n"),
    # numbers
    accept("zero", b"0"),
    accept("minus zero integer", b"-0"),
    accept("minus zero float", b"-0.0"),
    accept("zero with fraction", b"0.0"),
    accept("zero with exponent", b"0e0"),
    accept("negative integer", b"-17"),
    accept("fraction", b"3.25"),
    accept("lower-case exponent", b"1e2"),
    accept("upper-case exponent", b"1E2"),
    accept("exponent with plus", b"1e+2"),
    accept("exponent with minus", b"1e-2"),
    accept("fraction and exponent", b"-1.5E-3"),
    accept("exponent with leading zeros", b"1e007"),
    accept("largest 18-digit integer", b"999999999999999999"),
    accept("largest 64-bit integer", b"9223372036854775807"),
    accept("one past the largest 64-bit integer", b"9223372036854775808"),
    accept("one below the smallest 64-bit integer", b"-9223372036854775809"),
    accept("integer of a hundred digits", b"1" + b"0" * 99),
    accept("negative integer of a hundred digits", b"-" + b"9" * 100),
    accept("largest double", b"1.7976931348623157e308"),
    accept("smallest subnormal double", b"5e-324"),
    accept("more digits than a double holds", b"0.1000000000000000055511151231257827021181583404541015625"),
    accept("number of 62 characters", b"0." + b"1" * 60),
    accept("number of 63 characters", b"0." + b"1" * 61),
    accept("numbers next to brackets and commas", b'[1,-2,3.5,4e1,{"a":-0}]'),
    # strings
    accept("empty string", b'""'),
    accept("every two-character escape", b'"\\"\\\\\\/\\b\\f\\n\\r\\t"'),
    accept("unescaped solidus", b'"a/b"'),
    accept("unicode escape of ASCII", b'"\\u0041"'),
    accept("unicode escape in lower and upper case hex", b'"\\u00e9\\u00E9"'),
    accept("unicode escape of NUL", b'"\\u0000"'),
    accept("unicode escape of a control character", b'"\\u001f"'),
    accept("unicode escape of a noncharacter", b'"\\uffff"'),
    accept("unicode escape of a byte order mark", b'"\\ufeff"'),
    accept("escaped surrogate pair", b'"\\ud83d\\ude00"'),
    accept("escaped surrogate pair in upper case", b'"\\uD834\\uDD1E"'),
    accept("escapes between plain text", b'"a\\nb\\u0020c"'),
    accept("unescaped DEL", b'"\x7f"'),
    accept("escaped key", b'{"\\u0061\\n":1}'),
    accept("key with an escaped quote", b'{"a\\"b":1}'),
    accept("long string", b'"' + b"x" * 100_000 + b'"'),
    # literals
    accept("literals in an array", b"[true,false,null]"),
    accept("literals as values", b'{"a":true,"b":false,"c":null}'),
    # UTF-8
    accept("two-byte UTF-8", b'"\xc3\xa9"'),
    accept("three-byte UTF-8", b'"\xe2\x82\xac"'),
    accept("four-byte UTF-8", b'"\xf0\x9f\x98\x80"'),
    accept("last code point before the surrogates", b'"\xed\x9f\xbf"'),
    accept("first code point after the surrogates", b'"\xee\x80\x80"'),
    accept("noncharacter U+FFFE", b'"\xef\xbf\xbe"'),
    accept("noncharacter U+FFFF", b'"\xef\xbf\xbf"'),
    accept("highest code point", b'"\xf4\x8f\xbf\xbf"'),
    accept("line and paragraph separators in a string", b'"\xe2\x80\xa8\xe2\x80\xa9"'),
    accept("byte order mark inside a string", b'"\xef\xbb\xbf"'),
    accept("UTF-8 key", b'{"\xc3\xa9t\xc3\xa9":1}'),
    accept("UTF-8 and escapes in one string", b'"\xc3\xa9\\u00e9"'),
]

# What RFC 8259 says is not JSON.
MUST_REFUSE = [
    # structure
    refuse("empty payload", b""),
    refuse("only whitespace", b" \n\t"),
    refuse("unclosed array", b"[1"),
    refuse("lone opening bracket", b"["),
    refuse("unclosed array after a comma", b"[1,"),
    refuse("unclosed object", b'{"a":1'),
    refuse("lone opening brace", b"{"),
    refuse("object ending after a key", b'{"a"'),
    refuse("object ending after a colon", b'{"a":'),
    refuse("extra closing bracket", b"[1]]"),
    refuse("extra closing brace", b"{}}"),
    refuse("lone closing bracket", b"]"),
    refuse("lone closing brace", b"}"),
    refuse("array closed by a brace", b"[1}"),
    refuse("object closed by a bracket", b'{"a":1]'),
    refuse("trailing comma in an array", b"[1,]"),
    refuse("trailing comma in an object", b'{"a":1,}'),
    refuse("comma at the start of an array", b"[,1]"),
    refuse("comma at the start of an object", b'{,"a":1}'),
    refuse("only a comma in an array", b"[,]"),
    refuse("double comma in an array", b"[1,,2]"),
    refuse("double comma in an object", b'{"a":1,,"b":2}'),
    refuse("missing comma in an array", b"[1 2]"),
    refuse("missing comma in an object", b'{"a":1 "b":2}'),
    refuse("missing colon", b'{"a" 1}'),
    refuse("key without a value", b'{"a"}'),
    refuse("double colon", b'{"a"::1}'),
    refuse("comma instead of a colon", b'{"a",1}'),
    refuse("colon in an array", b'["a":1]'),
    refuse("number as a key", b"{1:1}"),
    refuse("unquoted key", b"{a:1}"),
    refuse("null as a key", b"{null:1}"),
    refuse("array as a key", b"{[]:1}"),
    refuse("single-quoted key", b"{'a':1}"),
    refuse("garbage after the value", b"[1]x"),
    refuse("garbage after a top-level number", b"1 x"),
    refuse("comma after the value", b"{},"),
    refuse("two arrays", b"[1][2]"),
    refuse("two numbers", b"1 2"),
    refuse("two objects", b"{}{}"),
    refuse("two strings", b'"a" "b"'),
    refuse("NUL after the value", b"[]\x00"),
    refuse("line comment", b"[1]//c"),
    refuse("block comment before the value", b"/*c*/[1]"),
    refuse("block comment inside an array", b"[1/*c*/]"),
    refuse("hash comment", b"#c\n[1]"),
    refuse("unquoted word", b"[abc]"),
    refuse("parentheses", b"(1,2)"),
    refuse("angle brackets", b"<null>"),
    # numbers
    refuse("leading zero", b"01"),
    refuse("leading zero in an array", b"[01]"),
    refuse("negative leading zero", b"-01"),
    refuse("double zero", b"00"),
    refuse("lone minus", b"-"),
    refuse("lone minus in an array", b"[-]"),
    refuse("space after the minus", b"- 1"),
    refuse("double minus", b"--1"),
    refuse("plus sign", b"+1"),
    refuse("plus sign in an array", b"[+1]"),
    refuse("fraction without an integer part", b".5"),
    refuse("negative fraction without an integer part", b"-.5"),
    refuse("point without a fraction", b"1."),
    refuse("point without a fraction in an array", b"[1.]"),
    refuse("point then exponent", b"1.e5"),
    refuse("exponent without digits", b"1e"),
    refuse("exponent with plus and no digits", b"1e+"),
    refuse("exponent with minus and no digits", b"[1E-]"),
    refuse("exponent with two signs", b"1e+-1"),
    refuse("double exponent", b"1ee2"),
    refuse("fractional exponent", b"1e5.5"),
    refuse("two points", b"1.5.2"),
    refuse("hexadecimal", b"0x1F"),
    refuse("letter after a number", b"[1a]"),
    refuse("exponent without a mantissa", b"e5"),
    refuse("minus before a literal", b"-true"),
    refuse("digit separator", b"1_000"),
    refuse("decimal comma", b"[1,5.]"),
    refuse("full-width digit", "\uff11".encode()),
    refuse("lower-case nan", b"nan"),
    refuse("inf", b"inf"),
    refuse("minus inf", b"[-inf]"),
    refuse("NaN", b"NaN", NUMBER),
    refuse("NaN in an array", b"[1,NaN]", NUMBER),
    refuse("Infinity", b"Infinity", NUMBER),
    refuse("minus Infinity", b'{"a":-Infinity}', NUMBER),
    # strings
    refuse("unclosed string", b'"abc'),
    refuse("lone quote", b'"'),
    refuse("string ending in an escaped quote", b'"abc\\"'),
    refuse("string ending in a backslash", b'"abc\\'),
    refuse("single-quoted string", b"'abc'"),
    refuse("single-quoted string in an array", b"['a']"),
    refuse("unescaped NUL", b'"a\x00b"'),
    refuse("unescaped unit separator", b'"\x1f"'),
    refuse("unescaped line feed", b'"a\nb"'),
    refuse("unescaped tab", b'"a\tb"'),
    refuse("unescaped control character in a key", b'{"\x01":1}'),
    refuse("hex escape", b'"\\x41"'),
    refuse("bell escape", b'"\\a"'),
    refuse("escaped single quote", b'"\\\'"'),
    refuse("escaped zero", b'"\\0"'),
    refuse("upper-case unicode escape", b'"\\U0041"'),
    refuse("unicode escape with two digits", b'"\\u12"'),
    refuse("unicode escape without digits", b'"\\u"'),
    refuse("unicode escape with a non-hex digit", b'"\\u12G4"'),
    refuse("unicode escape with a sign", b'"\\u-123"'),
    refuse("escaped line feed", b'"\\\n"'),
    refuse("escaped non-ASCII character", b'"\\\xc3\xa9"'),
    refuse("space after the backslash", b'"\\ u0041"'),
    refuse("invalid escape in a key", b'{"\\q":1}'),
    refuse("escaped high surrogate then a short escape", b'"\\ud800\\u12"'),
    refuse("escaped high surrogate then an invalid escape", b'"\\ud800\\x"'),
    refuse("escaped high surrogate then a backslash at the end", b'"\\ud800\\'),
    refuse("escape outside a string", b"[\\u0041]"),
    refuse("single-quoted value", b"{\"a\":'b'}"),
    refuse("unclosed array of strings", b'["a"'),
    # literals
    refuse("capitalised True", b"True"),
    refuse("capitalised False", b"False"),
    refuse("Python None", b"None"),
    refuse("upper-case NULL", b"NULL"),
    refuse("upper-case TRUE in an array", b"[TRUE]"),
    refuse("truncated null", b"nul"),
    refuse("truncated true", b"[tru]"),
    refuse("truncated false", b"fals"),
    refuse("lone t", b"t"),
    refuse("null with an extra letter", b"nulll"),
    refuse("true with extra letters", b"[trues]"),
    refuse("true glued to false", b"truefalse"),
    refuse("literals without a comma", b"[true false]"),
    refuse("undefined", b"undefined"),
    # whitespace JSON does not have
    refuse("form feed before the value", b"\x0c[]"),
    refuse("form feed between tokens", b"[1,\x0c2]"),
    refuse("vertical tab", b"[\x0b1]"),
    refuse("NUL between tokens", b"[1,\x002]"),
    refuse("no-break space", b"[\xc2\xa01]"),
    refuse("next-line character", b"[\xc2\x851]"),
    refuse("line separator between tokens", b"[1,\xe2\x80\xa82]"),
    refuse("ideographic space", b"\xe3\x80\x80[]"),
    refuse("byte order mark between tokens", b"[\xef\xbb\xbf1]"),
    # bytes that are not UTF-8
    refuse("lone continuation byte", b'"\x80"', NOT_UTF8),
    refuse("lone last continuation byte", b'"\xbf"', NOT_UTF8),
    refuse("Latin-1 byte", b'"caf\xe9"', NOT_UTF8),
    refuse("byte FE", b'"\xfe"', NOT_UTF8),
    refuse("byte FF", b'"\xff"', NOT_UTF8),
    refuse("invalid byte outside a string", b"[\xff]", NOT_UTF8),
    refuse("invalid byte as the payload", b"\xff", NOT_UTF8),
    refuse("overlong solidus in two bytes", b'"\xc0\xaf"', NOT_UTF8),
    refuse("overlong two-byte encoding", b'"\xc1\xbf"', NOT_UTF8),
    refuse("overlong three-byte encoding", b'"\xe0\x80\xaf"', NOT_UTF8),
    refuse("overlong four-byte encoding", b'"\xf0\x80\x80\xaf"', NOT_UTF8),
    refuse("overlong NUL", b'"\xc0\x80"', NOT_UTF8),
    refuse("five-byte sequence", b'"\xf8\x88\x80\x80\x80"', NOT_UTF8),
    refuse("code point past U+10FFFF", b'"\xf4\x90\x80\x80"', NOT_UTF8),
    refuse("truncated two-byte sequence", b'"\xc3"', NOT_UTF8),
    refuse("truncated three-byte sequence", b'"\xe2\x82"', NOT_UTF8),
    refuse("truncated four-byte sequence", b'"\xf0\x9f\x98"', NOT_UTF8),
    refuse("truncated sequence at the end of the payload", b'"\xe2\x82', NOT_UTF8),
    refuse("encoded high surrogate", b'"\xed\xa0\x80"', NOT_UTF8),
    refuse("encoded low surrogate", b'"\xed\xbf\xbf"', NOT_UTF8),
    refuse("encoded surrogate pair", b'"\xed\xa0\xbd\xed\xb8\x80"', NOT_UTF8),
    refuse("invalid byte in a key", b'{"\xff":1}', NOT_UTF8),
    refuse("invalid byte after valid JSON", b"[1]\xff", NOT_UTF8),
]


def _deep(depth: int) -> list[Case]:
    # Around the compiled engine's own depth limit (it hands deeper payloads to the reference).
    return [
        accept(f"arrays nested {depth} deep", nested(depth, b"[", b"1", b"]")),
        accept(f"objects nested {depth} deep", nested(depth, b'{"a":', b"1", b"}")),
    ]


# What RFC 8259 leaves to the implementation: the codec's choice, recorded.
OUR_CHOICE = [
    # Duplicate keys: the last value counts, at the place of the first key (as json and dict do).
    accept("duplicate key", b'{"a":1,"a":2}'),
    accept("duplicate key with another between", b'{"a":1,"b":2,"a":3}'),
    accept("duplicate key spelt with an escape", b'{"a":1,"\\u0061":2}'),
    accept("duplicate key with different kinds of value", b'{"a":[1],"a":{"b":null}}'),
    # Lone surrogate escapes are read as lone surrogates (as json does; the encoder writes them).
    accept("escaped lone high surrogate", b'"\\ud800"'),
    accept("escaped lone low surrogate", b'"\\udc00"'),
    accept("escaped surrogates in the wrong order", b'"\\udc00\\ud800"'),
    accept("escaped high surrogate then a letter", b'"\\ud800abc"'),
    accept("escaped high surrogate then an escaped letter", b'"\\ud800\\u0041"'),
    accept("two escaped high surrogates", b'"\\ud800\\ud800"'),
    accept("escaped lone surrogate in a key", b'{"\\udfff":1}'),
    # Numbers: integers of any length json reads; floats to the nearest double, underflow to zero.
    accept("integer of 4300 digits", b"9" * 4300),
    accept(
        "float rounding to the nearest double", b"1.00000000000000011102230246251565404236316680908203125"
    ),
    accept("float past the exponent range of a double rounding to zero", b"1e-999"),
    accept("negative float underflowing to minus zero", b"-1e-400"),
    accept("exponent of many digits rounding to zero", b"1e-00000000000000000000000000000999"),
    accept("integer with a long exponent", b"123e-" + b"0" * 80 + b"1"),
    # Numbers past float range are refused: they could never be encoded again.
    refuse("exponent past float range", b"1e999", NUMBER),
    refuse("negative exponent past float range", b"-1e999", NUMBER),
    refuse("float just past the largest double", b"[1.8e308]", NUMBER),
    refuse("huge exponent", b"0.5e99999999999999999999", NUMBER),
    # json's limit on the digits of an integer (sys.get_int_max_str_digits(), 4300 by default).
    refuse("integer of 4301 digits", b"9" * 4301, NUMBER),
    # UTF-8 only: a byte order mark, UTF-16 and UTF-32 are refused (json.loads(bytes) reads them).
    refuse("UTF-8 byte order mark", b"\xef\xbb\xbf{}"),
    refuse("UTF-8 byte order mark alone", b"\xef\xbb\xbf"),
    refuse("UTF-16 little-endian with its byte order mark", b"\xff\xfe[\x00]\x00", NOT_UTF8),
    refuse("UTF-16 big-endian with its byte order mark", b"\xfe\xff\x00[\x00]", NOT_UTF8),
    refuse("UTF-16 little-endian without a byte order mark", b"[\x001\x00]\x00"),
    refuse("UTF-16 big-endian without a byte order mark", b"\x00[\x001\x00]"),
    refuse(
        "UTF-32 little-endian with its byte order mark",
        b"\xff\xfe\x00\x00[\x00\x00\x00]\x00\x00\x00",
        NOT_UTF8,
    ),
    refuse("UTF-32 big-endian without a byte order mark", b"\x00\x00\x00[\x00\x00\x00]"),
    # Depth: read to the interpreter's recursion limit, a DecodeError beyond it (never a crash).
    *_deep(63),
    *_deep(64),
    *_deep(65),
    *_deep(66),
    *_deep(300),
    accept("arrays and objects nested in turn", nested(100, b'[{"a":', b"[]", b"}]")),
    refuse("300 unclosed arrays", b"[" * 300),
    refuse("arrays nested 300 deep with a trailing comma inside", nested(300, b"[", b"1,", b"]")),
    refuse("arrays nested 100 000 deep", nested(100_000, b"[", b"", b"]"), TOO_DEEP),
    refuse("objects nested 100 000 deep", nested(100_000, b'{"a":', b"0", b"}"), TOO_DEEP),
    refuse("100 000 unclosed arrays", b"[" * 100_000, TOO_DEEP),
]

CASES = MUST_ACCEPT + MUST_REFUSE + OUR_CHOICE
BY_NAME = {case.name: case for case in CASES}


@dataclasses.dataclass
class Members:
    """A dataclass target: the compiled engine reads its fields straight from the bytes."""

    a: Any = None
    b: Any = None


def targets(case: Case) -> list[Any]:
    """The target types the case is decoded into besides none: its value's type, and a dataclass."""
    if case.outcome != VALUE:
        return [dict, Members]
    value = json.loads(case.raw.decode("utf-8"))
    kinds = [type(value)] if value is not None else []
    return [*kinds, Members] if type(value) is dict else kinds


def expected_value(raw: bytes, cls: Any) -> object:
    value = json.loads(raw.decode("utf-8"))
    if cls is Members:
        return Members(**{name: value[name] for name in ("a", "b") if name in value})
    return value


def assert_refused(case: Case, error: eventbus.DecodeError, into: str) -> None:
    message, cause = str(error), error.__cause__
    prefix = f"cannot decode event 'd'/'a' into {into}: "
    if case.outcome == TOO_DEEP:
        assert message == prefix + "the payload is nested too deeply"
        return
    if case.outcome == NOT_UTF8:
        assert isinstance(cause, UnicodeDecodeError)
        where = f"{cause.reason} at byte {cause.start}"
        assert message == f"{prefix}invalid JSON (the payload is not UTF-8: {where})"
        return
    assert message == f"{prefix}invalid JSON ({cause})"
    if case.outcome == SYNTAX:
        # json's own words for the text: the codec refuses what json refuses, as json says it
        with pytest.raises(json.JSONDecodeError) as json_error:
            json.loads(case.raw.decode("utf-8"))
        assert type(cause) is json.JSONDecodeError
        assert str(cause) == str(json_error.value)
    else:
        assert type(cause) is ValueError
        reason = str(cause)
        assert reason.endswith(
            (" is not a JSON number", " is beyond the range of float")
        ) or reason.startswith("Exceeds the limit (4300 digits) for integer string conversion")


def decoding(engine: str, data: object, cls: Any) -> Callable[[], object]:
    """``decode(data)`` (``cls`` None) or ``decode(data, cls)`` on ``engine``, to run later."""
    decode = _engine.decode_on(engine)
    return (lambda: decode(data)) if cls is None else (lambda: decode(data, cls))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_case(impl: ModuleType, engine: str, case: Case) -> None:
    data = impl.Data("d", "a", case.raw)
    for cls in [None, *targets(case)]:
        into = "object" if cls is None else cls.__qualname__
        run = decoding(engine, data, cls)
        if case.outcome == VALUE:
            assert typed(run()) == typed(expected_value(case.raw, cls)), into
        else:
            with pytest.raises(eventbus.DecodeError) as error:
                run()
            assert_refused(case, error.value, into)
        if engine != "python":
            assert outcome(run) == outcome(decoding("python", data, cls)), into


def test_the_table_has_each_case_once() -> None:
    assert len(BY_NAME) == len(CASES)
    assert len({case.raw for case in CASES}) == len(CASES)


def walked(value: object, depth: int, opening: bytes) -> object:
    """What is inside ``depth`` levels of ``opening``, checked on the way down (without
    recursion: ``==`` and ``typed`` would run out of stack on such a value)."""
    for _ in range(depth):
        if opening.startswith(b"["):
            assert type(value) is list
            assert len(value) == 1
            value = value[0]
        if opening.endswith(b":"):
            assert type(value) is dict
            assert list(value) == ["a"]
            value = value["a"]
    return value


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("depth", [1000, 3000, 10_000])
@pytest.mark.parametrize(
    ("opening", "inner", "closing"),
    [(b"[", b"1", b"]"), (b'{"a":', b"1", b"}"), (b'[{"a":', b"[]", b"}]"), (b"[", b"", b"")],
    ids=["arrays", "objects", "in turn", "unclosed"],
)
def test_thousands_deep_is_a_value_or_a_decode_error(
    impl: ModuleType, engine: str, depth: int, opening: bytes, inner: bytes, closing: bytes
) -> None:
    # Where the interpreter's recursion limit falls (it differs between versions) decides
    # which; never a crash, and both engines decide alike.
    data = impl.Data("d", "a", nested(depth, opening, inner, closing))
    outer = list if opening.startswith(b"[") else dict
    for cls in (None, outer):
        into = "object" if cls is None else cls.__qualname__
        results: list[tuple[str, str, object]] = []
        for name in dict.fromkeys([engine, "python"]):
            try:
                value = decoding(name, data, cls)()
            except eventbus.DecodeError as error:
                message = str(error)
                if closing:
                    assert (
                        message
                        == f"cannot decode event 'd'/'a' into {into}: the payload is nested too deeply"
                    )
                else:  # unclosed: refused either way, whichever it noticed first
                    assert message in (
                        f"cannot decode event 'd'/'a' into {into}: the payload is nested too deeply",
                        f"cannot decode event 'd'/'a' into {into}: invalid JSON ({error.__cause__})",
                    )
                results.append(("error", message, type(error.__cause__)))
            else:
                assert closing
                assert walked(value, depth, opening) == json.loads(inner)
                results.append(("value", "", None))
        assert results[0] == results[-1]
