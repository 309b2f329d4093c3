# cython: language_level=3, freethreading_compatible=True, boundscheck=False, wraparound=False
"""The compiled codec engine: the common payloads encoded and decoded in C, the rest by the reference.

The stdlib codec (``eventbus._encode`` / ``eventbus._decode``) is the reference and the only one
that raises: this engine handles what it can prove it writes and reads exactly as the reference
does (JSON-native values, dataclasses of them, flat strict JSON) and hands everything else (any
other type, a non-finite float, a lone surrogate, an escape it does not read, whitespace, a
missing field, a value of another type) to the reference from the start, so bytes, values and
exceptions are the reference's by construction.  Nothing here is cached but what a type is
(its field names, its decoding plan), so a first use from many threads at once builds the same
plan twice at worst.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_FromDouble
from cpython.long cimport PyLong_FromLongLong
from cpython.object cimport PyObject
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from cpython.ref cimport Py_INCREF
from libc.math cimport isfinite
from libc.stdlib cimport free, malloc, realloc
from libc.stdio cimport snprintf
from libc.string cimport memcmp, memcpy

cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object, int *) except? -1
    double PyOS_string_to_double(const char *, char **, PyObject *) except? -1.0
    object PyUnicode_DecodeUTF8(const char *, Py_ssize_t, const char *)
    bint PyUnicode_IS_ASCII(object)
    void *PyUnicode_DATA(object)
    Py_ssize_t PyUnicode_GET_LENGTH(object)
    object PyUnicode_AsUTF8String(object)

__all__ = ["make_decode", "make_encode_params"]

cdef int MAX_DEPTH = 64  # deeper payloads go to the reference (which says "nested too deeply")
cdef object _dataclass_names = {}  # type -> tuple of field names, or None: not a dataclass


# ---------------------------------------------------------------------------
# Encoding: JSON text written into one growing buffer.

cdef struct Buffer:
    char *data
    Py_ssize_t size
    Py_ssize_t capacity
    bint on_heap  # data starts in the caller's stack array and moves to the heap when it grows


cdef int _reserve(Buffer *out, Py_ssize_t extra) except -1:
    cdef Py_ssize_t wanted = out.size + extra
    cdef Py_ssize_t capacity
    cdef char *grown
    if wanted <= out.capacity:
        return 0
    capacity = out.capacity * 2
    if capacity < wanted:
        capacity = wanted
    if out.on_heap:
        grown = <char *>realloc(out.data, capacity)
    else:
        grown = <char *>malloc(capacity)
        if grown != NULL:
            memcpy(grown, out.data, out.size)
    if grown == NULL:
        raise MemoryError()
    out.data = grown
    out.on_heap = True
    out.capacity = capacity
    return 0


cdef inline int _write(Buffer *out, const char *text, Py_ssize_t size) except -1:
    _reserve(out, size)
    memcpy(out.data + out.size, text, size)
    out.size += size
    return 0


cdef const char *HEX = "0123456789abcdef"


cdef int _write_str(Buffer *out, str text) except -1:
    """``json.encoder.encode_basestring`` (ensure_ascii=False) then UTF-8; 1: not handled."""
    cdef const unsigned char *data
    cdef Py_ssize_t size, index
    cdef unsigned char c
    cdef bytes encoded
    if PyUnicode_IS_ASCII(text):
        data = <const unsigned char *>PyUnicode_DATA(text)
        size = PyUnicode_GET_LENGTH(text)
    else:
        try:
            encoded = PyUnicode_AsUTF8String(text)
        except UnicodeEncodeError:
            return 1  # a lone surrogate: the reference names it
        data = <const unsigned char *>PyBytes_AS_STRING(encoded)
        size = PyBytes_GET_SIZE(encoded)
    _reserve(out, size + 2)
    out.data[out.size] = b'"'
    out.size += 1
    for index in range(size):
        c = data[index]
        if c >= 0x20 and c != b'"' and c != b'\\':
            out.data[out.size] = <char>c
            out.size += 1
            continue
        _reserve(out, 6 + size - index)
        out.data[out.size] = b'\\'
        if c == b'"' or c == b'\\':
            out.data[out.size + 1] = <char>c
            out.size += 2
        elif c == b'\n':
            out.data[out.size + 1] = b'n'
            out.size += 2
        elif c == b'\r':
            out.data[out.size + 1] = b'r'
            out.size += 2
        elif c == b'\t':
            out.data[out.size + 1] = b't'
            out.size += 2
        elif c == b'\b':
            out.data[out.size + 1] = b'b'
            out.size += 2
        elif c == b'\f':
            out.data[out.size + 1] = b'f'
            out.size += 2
        else:
            out.data[out.size + 1] = b'u'
            out.data[out.size + 2] = b'0'
            out.data[out.size + 3] = b'0'
            out.data[out.size + 4] = HEX[c >> 4]
            out.data[out.size + 5] = HEX[c & 15]
            out.size += 6
    _reserve(out, 1)
    out.data[out.size] = b'"'
    out.size += 1
    return 0


cdef object _names_of(type kind):
    """A dataclass's field names in declaration order (what the reference writes), else None."""
    try:
        return _dataclass_names[kind]
    except KeyError:
        pass
    import sys

    names = None
    dataclasses = sys.modules.get("dataclasses")
    if dataclasses is not None and dataclasses.is_dataclass(kind):
        names = tuple([field.name for field in dataclasses.fields(kind)])
    _dataclass_names[kind] = names
    return names


cdef int _write_value(Buffer *out, object value, int depth) except -1:
    """Writes ``value`` as the reference would; returns 1 (written so far: discard) when it
    cannot say so for certain, and the reference takes over."""
    cdef type kind = type(value)
    cdef int overflow = 0
    cdef long long number
    cdef char digits[32]
    cdef Py_ssize_t size
    cdef object item, key, names
    cdef bytes text
    cdef bint first
    if depth > MAX_DEPTH:
        return 1
    if kind is str:
        return _write_str(out, <str>value)
    if value is None:
        return _write(out, "null", 4)
    if kind is bool:
        return _write(out, "true", 4) if value else _write(out, "false", 5)
    if kind is int:
        number = PyLong_AsLongLongAndOverflow(value, &overflow)
        if overflow:
            return 1  # int.__repr__ of a big one (and its digit limit): the reference's
        size = snprintf(digits, 32, "%lld", number)
        return _write(out, digits, size)
    if kind is float:
        if not isfinite(PyFloat_AS_DOUBLE(value)):
            return 1
        text = float.__repr__(value).encode("ascii")
        return _write(out, PyBytes_AS_STRING(text), PyBytes_GET_SIZE(text))
    if kind is dict:
        _write(out, "{", 1)
        first = True
        for key, item in (<dict>value).items():
            if type(key) is not str:
                return 1
            if not first:
                _write(out, ",", 1)
            first = False
            if _write_str(out, <str>key) or _write(out, ":", 1) or _write_value(out, item, depth + 1):
                return 1
        return _write(out, "}", 1)
    if kind is list or kind is tuple:
        _write(out, "[", 1)
        first = True
        for item in value:
            if not first:
                _write(out, ",", 1)
            first = False
            if _write_value(out, item, depth + 1):
                return 1
        return _write(out, "]", 1)
    names = _names_of(kind)
    if names is None:
        return 1
    _write(out, "{", 1)
    first = True
    for key in names:
        try:
            item = getattr(value, key)
        except Exception:
            return 1
        if not first:
            _write(out, ",", 1)
        first = False
        if _write_str(out, <str>key) or _write(out, ":", 1) or _write_value(out, item, depth + 1):
            return 1
    return _write(out, "}", 1)


cdef object _encode(object params):
    """The payload's bytes, or None when the reference must encode it."""
    cdef Buffer out
    cdef char first[512]  # most payloads fit: no allocation
    cdef object result = None
    out.data = first
    out.size = 0
    out.capacity = 512
    out.on_heap = False
    try:
        if _write_value(&out, params, 0) == 0:
            result = PyBytes_FromStringAndSize(out.data, out.size)
    finally:
        if out.on_heap:
            free(out.data)
    return result


cdef object _reference_encode = None


def _encode_params(params, domain=None, action=None):
    """``encode_params`` on this engine: the C writer first, the reference for the rest."""
    if params is None:
        return None
    encoded = _encode(params)
    if encoded is None:
        return _reference_encode(params, domain, action)
    return encoded


def make_encode_params(reference):
    """``encode_params`` with ``reference`` for whatever the C writer leaves to it (one per process)."""
    global _reference_encode
    _reference_encode = reference
    return _encode_params


# ---------------------------------------------------------------------------
# Decoding: strict JSON without whitespace, read into Python values.

cdef object NOT_HANDLED = object()
cdef object NOT_GIVEN = object()  # decode(data): no target type (None is one: JSON null)


cdef class _Reader:
    cdef const unsigned char *data
    cdef Py_ssize_t size
    cdef Py_ssize_t pos

    cdef object value(self, int depth):
        cdef unsigned char c
        if depth > MAX_DEPTH or self.pos >= self.size:
            return NOT_HANDLED
        c = self.data[self.pos]
        if c == b'"':
            return self.string()
        if c == b'{':
            return self.mapping(depth)
        if c == b'[':
            return self.array(depth)
        if c == b'-' or (b'0' <= c <= b'9'):
            return self.number()
        if c == b't' and self._literal(b"true", 4):
            return True
        if c == b'f' and self._literal(b"false", 5):
            return False
        if c == b'n' and self._literal(b"null", 4):
            return None
        return NOT_HANDLED

    cdef bint _literal(self, const char *word, Py_ssize_t size):
        cdef Py_ssize_t index
        if self.pos + size > self.size:
            return False
        for index in range(size):
            if self.data[self.pos + index] != <unsigned char>word[index]:
                return False
        self.pos += size
        return True

    cdef object string(self):
        cdef Py_ssize_t start = self.pos + 1
        cdef Py_ssize_t index = start
        cdef unsigned char c
        while index < self.size:
            c = self.data[index]
            if c == b'"':
                self.pos = index + 1
                try:
                    return PyUnicode_DecodeUTF8(<const char *>self.data + start, index - start, "strict")
                except UnicodeDecodeError:
                    return NOT_HANDLED
            if c == b'\\' or c < 0x20:
                return NOT_HANDLED  # escapes and control characters: the reference reads them
            index += 1
        return NOT_HANDLED

    cdef object number(self):
        cdef Py_ssize_t start = self.pos
        cdef Py_ssize_t index = start
        cdef Py_ssize_t digits
        cdef bint integral = True
        cdef long long whole = 0
        cdef bint negative = False
        cdef char text[64]
        cdef double number
        if self.data[index] == b'-':
            negative = True
            index += 1
        if index >= self.size or not (b'0' <= self.data[index] <= b'9'):
            return NOT_HANDLED
        if self.data[index] == b'0':
            index += 1
            if index < self.size and b'0' <= self.data[index] <= b'9':
                return NOT_HANDLED
        else:
            while index < self.size and b'0' <= self.data[index] <= b'9':
                index += 1
        digits = index - start - (1 if negative else 0)
        if index < self.size and self.data[index] == b'.':
            integral = False
            index += 1
            if index >= self.size or not (b'0' <= self.data[index] <= b'9'):
                return NOT_HANDLED
            while index < self.size and b'0' <= self.data[index] <= b'9':
                index += 1
        if index < self.size and (self.data[index] == b'e' or self.data[index] == b'E'):
            integral = False
            index += 1
            if index < self.size and (self.data[index] == b'+' or self.data[index] == b'-'):
                index += 1
            if index >= self.size or not (b'0' <= self.data[index] <= b'9'):
                return NOT_HANDLED
            while index < self.size and b'0' <= self.data[index] <= b'9':
                index += 1
        self.pos = index
        if integral:
            if digits > 18:
                return NOT_HANDLED  # int() of a long one (and its digit limit): the reference's
            for index in range(start + (1 if negative else 0), self.pos):
                whole = whole * 10 + (self.data[index] - 48)  # '0'
            return PyLong_FromLongLong(-whole if negative else whole)
        if self.pos - start >= 63:
            return NOT_HANDLED
        memcpy(text, self.data + start, self.pos - start)
        text[self.pos - start] = 0
        number = PyOS_string_to_double(text, NULL, NULL)
        if not isfinite(number):
            return NOT_HANDLED  # 1e999: the reference refuses it
        return PyFloat_FromDouble(number)

    cdef object mapping(self, int depth):
        cdef dict result = {}
        cdef object key, item
        self.pos += 1
        if self.pos < self.size and self.data[self.pos] == b'}':
            self.pos += 1
            return result
        while True:
            if self.pos >= self.size or self.data[self.pos] != b'"':
                return NOT_HANDLED
            key = self.string()
            if key is NOT_HANDLED:
                return NOT_HANDLED
            if self.pos >= self.size or self.data[self.pos] != b':':
                return NOT_HANDLED
            self.pos += 1
            item = self.value(depth + 1)
            if item is NOT_HANDLED:
                return NOT_HANDLED
            result[key] = item
            if self.pos >= self.size:
                return NOT_HANDLED
            if self.data[self.pos] == b',':
                self.pos += 1
                continue
            if self.data[self.pos] == b'}':
                self.pos += 1
                return result
            return NOT_HANDLED

    cdef object plan_object(self, _Plan plan):
        """A top-level object read straight into ``plan``'s fields (a list, in field order);
        other keys are read and dropped, as the reference's converter ignores them."""
        cdef list values = [NOT_HANDLED] * plan.count
        cdef Py_ssize_t start, index, found, size
        cdef bytes name
        cdef object item
        if self.pos >= self.size or self.data[self.pos] != b'{':
            return NOT_HANDLED
        self.pos += 1
        if self.pos < self.size and self.data[self.pos] == b'}':
            self.pos += 1
            return values
        while True:
            if self.pos >= self.size or self.data[self.pos] != b'"':
                return NOT_HANDLED
            start = self.pos + 1
            index = start
            while index < self.size and self.data[index] != b'"':
                if self.data[index] == b'\\' or self.data[index] < 0x20 or self.data[index] >= 0x80:
                    return NOT_HANDLED  # escapes, control characters, non-ASCII keys: the reference's
                index += 1
            if index >= self.size:
                return NOT_HANDLED
            size = index - start
            found = -1
            for index in range(plan.count):
                name = <bytes>plan.encoded[index]
                if PyBytes_GET_SIZE(name) == size and memcmp(PyBytes_AS_STRING(name), self.data + start, size) == 0:
                    found = index
                    break
            self.pos = start + size + 1
            if self.pos >= self.size or self.data[self.pos] != b':':
                return NOT_HANDLED
            self.pos += 1
            item = self.value(1)
            if item is NOT_HANDLED:
                return NOT_HANDLED
            if found >= 0:
                values[found] = item
            if self.pos >= self.size:
                return NOT_HANDLED
            if self.data[self.pos] == b',':
                self.pos += 1
                continue
            if self.data[self.pos] == b'}':
                self.pos += 1
                return values
            return NOT_HANDLED

    cdef object array(self, int depth):
        cdef list result = []
        cdef object item
        self.pos += 1
        if self.pos < self.size and self.data[self.pos] == b']':
            self.pos += 1
            return result
        while True:
            item = self.value(depth + 1)
            if item is NOT_HANDLED:
                return NOT_HANDLED
            result.append(item)
            if self.pos >= self.size:
                return NOT_HANDLED
            if self.data[self.pos] == b',':
                self.pos += 1
                continue
            if self.data[self.pos] == b']':
                self.pos += 1
                return result
            return NOT_HANDLED


cdef object _parse(bytes raw):
    cdef _Reader reader = _Reader.__new__(_Reader)
    reader.data = <const unsigned char *>PyBytes_AS_STRING(raw)
    reader.size = PyBytes_GET_SIZE(raw)
    reader.pos = 0
    value = reader.value(0)
    if value is NOT_HANDLED or reader.pos != reader.size:
        return NOT_HANDLED
    return value


# What a plan checks of each field: the reference's inline checks, nothing else.
cdef enum Kind:
    ANY, INT, STR, BOOL, FLOAT, DICT, LIST


cdef class _Plan:
    """A dataclass whose init fields all have an inline check: read straight into its call."""

    cdef object cls
    cdef tuple names
    cdef tuple encoded
    cdef int *kinds
    cdef char *optional
    cdef Py_ssize_t count
    cdef bint positional

    def __dealloc__(self):
        free(self.kinds)
        free(self.optional)

    cdef object convert(self, list values, object refused, object data):
        cdef Py_ssize_t index
        cdef object item
        cdef type kind
        cdef int want
        arguments = PyTuple_New(self.count)
        for index in range(self.count):
            item = values[index]
            if item is NOT_HANDLED:
                return NOT_HANDLED  # missing: a default to apply, the reference's
            want = self.kinds[index]
            kind = type(item)
            if not (want == ANY or (self.optional[index] and item is None)
                    or (want == INT and kind is int) or (want == STR and kind is str)
                    or (want == BOOL and kind is bool) or (want == FLOAT and kind is float)
                    or (want == DICT and kind is dict) or (want == LIST and kind is list)):
                return NOT_HANDLED
            Py_INCREF(item)
            PyTuple_SET_ITEM(arguments, index, item)
        try:
            if self.positional:
                return self.cls(*arguments)
            return self.cls(**dict(zip(self.names, arguments)))
        except Exception as exc:
            raise refused(data, self.cls, exc)  # its __cause__ is the reference's


cdef dict _KINDS = {"any": ANY, "int": INT, "str": STR, "bool": BOOL, "float": FLOAT, "dict": DICT, "list": LIST}


cdef _Plan _plan_from(tuple described):
    """``(cls, positional, ((name, kind, optional), ...))`` from the reference, as a plan."""
    cdef _Plan plan = _Plan.__new__(_Plan)
    cdef Py_ssize_t index
    cls, positional, fields = described
    plan.cls = cls
    plan.positional = positional
    plan.count = len(fields)
    plan.names = tuple([name for name, _, _ in fields])
    plan.encoded = tuple([name.encode("utf-8", "surrogatepass") for name in plan.names])
    plan.kinds = <int *>malloc(sizeof(int) * (plan.count + 1))
    plan.optional = <char *>malloc(plan.count + 1)
    if plan.kinds == NULL or plan.optional == NULL:
        raise MemoryError()
    for index in range(plan.count):
        plan.kinds[index] = _KINDS[fields[index][1]]
        plan.optional[index] = 1 if fields[index][2] else 0
    return plan


cdef class _Decoding:
    """What ``decode`` on this engine needs of the reference (see make_decode)."""

    cdef object reference
    cdef object describe
    cdef object refused
    cdef object missing
    cdef tuple data_types
    cdef dict plans
    cdef dict exact


cdef _Decoding _decoding = None


def _decode(data, cls=NOT_GIVEN):
    """``decode`` on this engine: the C reader and plans first, the reference for the rest."""
    cdef _Decoding state = _decoding
    cdef _Reader reader
    if cls is NOT_GIVEN:
        cls = state.missing
    if type(data) not in state.data_types:
        return state.reference(data, cls)
    raw = data.raw_params
    if raw is None or type(cls) is not type and cls is not state.missing:
        return state.reference(data, cls)
    if cls is state.missing:
        value = _parse(raw)
        return state.reference(data, cls) if value is NOT_HANDLED else value
    exact = state.exact.get(cls)
    if exact is not None:
        value = _parse(raw)
        return value if type(value) is exact else state.reference(data, cls)
    plan = state.plans.get(cls)
    if plan is None:
        described = state.describe(cls)
        plan = False if described is None else _plan_from(described)
        state.plans[cls] = plan
    if plan is False:
        return state.reference(data, cls)
    reader = _Reader.__new__(_Reader)
    reader.data = <const unsigned char *>PyBytes_AS_STRING(raw)
    reader.size = PyBytes_GET_SIZE(raw)
    reader.pos = 0
    values = reader.plan_object(<_Plan>plan)
    if values is NOT_HANDLED or reader.pos != reader.size:
        return state.reference(data, cls)
    result = (<_Plan>plan).convert(<list>values, state.refused, data)
    if result is NOT_HANDLED:
        return state.reference(data, cls)
    return result


def make_decode(reference, describe, refused, missing, data_types):
    """``decode`` with ``reference`` for whatever this engine leaves to it.

    ``describe(cls)`` gives a dataclass's plan as the reference reads it, or None;
    ``refused(data, cls, exc)`` the reference's error for a class that refused its values.
    """
    global _decoding
    cdef _Decoding state = _Decoding.__new__(_Decoding)
    state.reference = reference
    state.describe = describe
    state.refused = refused
    state.missing = missing
    state.data_types = tuple(data_types)
    state.plans = {}
    state.exact = {dict: dict, list: list, str: str, int: int, bool: bool}
    _decoding = state  # one per process: eventbus._engine makes it once
    return _decode


def encoded_here(params):
    """The bytes this engine writes itself, or None: the reference's (for the tests)."""
    return _encode(params)


def parsed_here(bytes raw):
    """``(True, value)`` if this engine reads ``raw`` itself, else ``(False, None)`` (for the tests)."""
    value = _parse(raw)
    return (False, None) if value is NOT_HANDLED else (True, value)
