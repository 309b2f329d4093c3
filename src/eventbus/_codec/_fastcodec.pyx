# cython: language_level=3, freethreading_compatible=True, boundscheck=False, wraparound=False
"""The compiled codec engine: the common payloads encoded and decoded in C, the rest by the reference.

The stdlib codec (``eventbus._codec.encode`` / ``eventbus._codec.decode``) is the reference and the only one
that raises: this engine handles what it can prove it writes and reads exactly as the reference
does (JSON-native values, dataclasses of them, flat strict JSON) and hands everything else (any
other type, a non-finite float, a lone surrogate, an escape it does not read, whitespace, a
missing field, a value of another type) to the reference from the start, so bytes, values and
exceptions are the reference's by construction.  Nothing here is cached but what a type is
(its field names, its decoding plan), so a first use from many threads at once builds the same
plan twice at worst, and the first one stored is the one every thread uses.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_FromDouble
from cpython.long cimport PyLong_FromLongLong
from cpython.pycapsule cimport PyCapsule_New
from cpython.object cimport PyObject, PyObject_GenericSetAttr, PyObject_SetAttr, PyTypeObject, Py_TYPE
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from cpython.ref cimport Py_DECREF, Py_INCREF, Py_XDECREF
from libc.math cimport isfinite
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcmp, memcpy, memset, strlen

cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object, int *) except? -1
    double PyOS_string_to_double(const char *, char **, PyObject *) except? -1.0
    object PyUnicode_DecodeUTF8(const char *, Py_ssize_t, const char *)
    bint PyUnicode_IS_ASCII(object)
    void *PyUnicode_DATA(object)
    Py_ssize_t PyUnicode_GET_LENGTH(object)
    PyObject *PyObject_GetAttr(object, object)  # NULL and an exception set on failure
    int PyErr_ExceptionMatches(PyObject *)
    void PyErr_Clear()
    object PyUnicode_New(Py_ssize_t, Py_UCS4)
    PyObject *_PyType_Lookup(PyTypeObject *, object)  # borrowed, no exception: only compared
    PyObject *PyFunction_GET_CODE(object)
    PyObject *PyCell_GET(object)
    # Borrowed, NULL when absent; not PyDict_GetItem, which saves and restores the error state.
    PyObject *PyDict_GetItemWithError(object, object) except? NULL
    object PyUnicode_AsUTF8String(object)
    char *PyOS_double_to_string(double, char, int, int, int *) except NULL
    int Py_DTSF_ADD_DOT_0
    void PyMem_Free(void *)

cdef extern from "_fastcodec.h":
    bint eventbus_generic_getattr(PyTypeObject *)
    int eventbus_plain_dataclass(PyTypeObject *, object)
    bint eventbus_read_runs_code(PyTypeObject *, object)
    unsigned int eventbus_version_tag(PyTypeObject *)
    bint eventbus_maybe_not_strict(const unsigned char *, Py_ssize_t, bint)
    bint eventbus_contains(const char *, Py_ssize_t, const char *, Py_ssize_t)
    enum: EVENTBUS_SLOTS
    PyObject *eventbus_cached(PyObject **, PyObject *)
    void eventbus_cache(PyObject **, PyObject *)
    PyObject *eventbus_read(void **, PyObject *) except? NULL
    void eventbus_learn(void **, PyTypeObject *, object)
    void eventbus_forget(void **)
    bint eventbus_is_learnt(PyTypeObject **, Py_ssize_t, PyTypeObject *) noexcept
    void eventbus_learn_type(PyTypeObject **, Py_ssize_t, PyTypeObject *) noexcept
    void eventbus_forget_types(PyTypeObject **, Py_ssize_t) noexcept

__all__ = ["make_decode", "make_encode_params"]

cdef int MAX_DEPTH = 64  # deeper payloads go to the reference (which says "nested too deeply")
cdef dict _dataclass_names = {}  # type -> its _Fields, or None: not a dataclass


# ---------------------------------------------------------------------------
# Encoding: JSON text written into one growing buffer.

cdef struct Buffer:
    char *data
    Py_ssize_t size
    Py_ssize_t capacity
    bint on_heap  # data starts in the caller's stack array and moves to the heap when it grows


cdef inline int _reserve(Buffer *out, Py_ssize_t extra) except -1:
    if out.size + extra <= out.capacity:
        return 0
    return _grow(out, out.size + extra)


cdef int _grow(Buffer *out, Py_ssize_t wanted) except -1:
    cdef Py_ssize_t capacity
    cdef char *grown
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


cdef inline bint _plain_byte(unsigned char c) noexcept:
    """A byte json writes as it is (ensure_ascii=False): not a quote, a backslash or a control."""
    return c >= 0x20 and c != b'"' and c != b'\\'


cdef int _write_escaped(Buffer *out, unsigned char c) except -1:
    """One byte json escapes, as json spells it (room for 6 bytes already reserved)."""
    out.data[out.size] = b'\\'
    if c == b'"' or c == b'\\':
        out.data[out.size + 1] = <char>c
    elif c == b'\n':
        out.data[out.size + 1] = b'n'
    elif c == b'\r':
        out.data[out.size + 1] = b'r'
    elif c == b'\t':
        out.data[out.size + 1] = b't'
    elif c == b'\b':
        out.data[out.size + 1] = b'b'
    elif c == b'\f':
        out.data[out.size + 1] = b'f'
    else:
        out.data[out.size + 1] = b'u'
        out.data[out.size + 2] = b'0'
        out.data[out.size + 3] = b'0'
        out.data[out.size + 4] = HEX[c >> 4]
        out.data[out.size + 5] = HEX[c & 15]
        out.size += 6
        return 0
    out.size += 2
    return 0


cdef int _write_str(Buffer *out, str text) except -1:
    """``json.encoder.encode_basestring`` (ensure_ascii=False) then UTF-8; 1: not handled.

    Runs of bytes written as they are go in one copy (an ASCII str is read in place)."""
    cdef const unsigned char *data
    cdef Py_ssize_t size, index, run
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
    run = 0  # the start of the bytes not copied yet
    for index in range(size):
        c = data[index]
        if _plain_byte(c):
            continue
        if index > run:
            memcpy(out.data + out.size, data + run, index - run)
            out.size += index - run
        run = index + 1
        _reserve(out, 6 + size - index)  # this escape, the rest, the closing quote
        _write_escaped(out, c)
    if size > run:
        memcpy(out.data + out.size, data + run, size - run)
        out.size += size - run
    out.data[out.size] = b'"'
    out.size += 1
    return 0


cdef int _write_int(Buffer *out, long long number) except -1:
    """``int.__repr__`` of a machine-sized int."""
    cdef char digits[24]
    cdef Py_ssize_t at = 24
    cdef unsigned long long rest = <unsigned long long>number
    if number < 0:
        rest = 0 - rest  # the magnitude, -2**63 included
    while True:
        at -= 1
        digits[at] = <char>(48 + rest % 10)  # '0'
        rest //= 10
        if rest == 0:
            break
    if number < 0:
        at -= 1
        digits[at] = b'-'
    return _write(out, digits + at, 24 - at)


cdef int _write_float(Buffer *out, double number) except -1:
    """``float.__repr__`` (what json writes for a finite float), from the same CPython routine."""
    cdef char *text = PyOS_double_to_string(number, b'r', 0, Py_DTSF_ADD_DOT_0, NULL)
    try:
        _write(out, text, strlen(text))
    finally:
        PyMem_Free(text)
    return 0


cdef class _Fields:
    """A dataclass as the writer reads it: its field names, and each one's ``"name":`` in JSON."""

    cdef tuple names
    cdef tuple keys  # bytes: '{"first":' then ',"second":' ...
    cdef unsigned int quiet_at  # the class's version tag when its reads were found to run no code

    cdef bint reads_run_no_code(self, type kind):
        """Whether reading the fields runs no Python code (no property, descriptor or
        __getattr__): only then does this engine read them, since the reference reads every
        field first and converts after, and reads again whatever this engine gives up on."""
        cdef PyTypeObject *tp = <PyTypeObject *>kind
        cdef unsigned int tag = eventbus_version_tag(tp)
        if not eventbus_generic_getattr(tp):
            return False
        if tag != 0 and tag == self.quiet_at:
            return True
        for name in self.names:
            if eventbus_read_runs_code(tp, name):
                return False
        self.quiet_at = eventbus_version_tag(tp)  # the lookups may have given it one
        return True


cdef object _fields_of(type kind):
    """A dataclass's fields in declaration order (what the reference writes), else None."""
    cdef PyObject *found = PyDict_GetItemWithError(_dataclass_names, kind)
    if found != NULL:
        return <object>found
    import sys

    fields = None
    dataclasses = sys.modules.get("dataclasses")
    # Found without running the class's code (its metaclass's): the reference runs that code
    # when it meets the class, and this engine must not run it too, nor before.
    if dataclasses is not None and eventbus_plain_dataclass(<PyTypeObject *>kind, "__dataclass_fields__") == 1:
        fields = _fields_from(tuple([field.name for field in dataclasses.fields(kind)]))
    # Complete before it is shared, and never replaced (the first one stays): a reference
    # borrowed from the dict stays valid, free-threaded builds included.
    return _dataclass_names.setdefault(kind, fields)


cdef object _fields_from(tuple names):
    cdef _Fields fields = _Fields.__new__(_Fields)
    cdef Buffer out
    cdef char first[256]
    cdef list keys = []
    for index, name in enumerate(names):
        out.data = first
        out.size = 0
        out.capacity = 256
        out.on_heap = False
        try:
            _write(&out, "{" if index == 0 else ",", 1)
            if type(name) is not str or _write_str(&out, <str>name):
                return None
            _write(&out, ":", 1)
            keys.append(PyBytes_FromStringAndSize(out.data, out.size))
        finally:
            if out.on_heap:
                free(out.data)
    fields.names = names
    fields.keys = tuple(keys)
    return fields


cdef int _write_value(Buffer *out, object value, int depth) except -1:
    """Writes ``value`` as the reference would; returns 1 (written so far: discard) when it
    cannot say so for certain, and the reference takes over."""
    cdef type kind = type(value)
    cdef int overflow = 0
    cdef long long number
    cdef double real
    cdef object item, key, found
    cdef bint first
    if depth > MAX_DEPTH:
        return 1
    if kind is str:
        return _write_str(out, <str>value)
    if kind is int:
        number = PyLong_AsLongLongAndOverflow(value, &overflow)
        if overflow:
            return 1  # int.__repr__ of a big one (and its digit limit): the reference's
        return _write_int(out, number)
    if value is None:
        return _write(out, "null", 4)
    if kind is bool:
        return _write(out, "true", 4) if value is True else _write(out, "false", 5)
    if kind is float:
        real = PyFloat_AS_DOUBLE(value)
        if not isfinite(real):
            return 1
        return _write_float(out, real)
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
    found = _fields_of(kind)
    if found is None:
        return 1
    return _write_fields(out, value, <_Fields>found, depth)


cdef int _write_fields(Buffer *out, object value, _Fields fields, int depth) except -1:
    """A dataclass's fields, as ``_write_value`` writes any value (1: the reference's)."""
    cdef object item
    cdef PyObject *read
    cdef bytes written
    cdef Py_ssize_t index
    if not fields.reads_run_no_code(type(value)):
        return 1
    if not fields.names:
        return _write(out, "{}", 2)
    for index in range(len(fields.names)):
        read = PyObject_GetAttr(value, fields.names[index])
        if read == NULL:
            if not PyErr_ExceptionMatches(<PyObject *>Exception):
                return -1  # KeyboardInterrupt and the like go on as they are
            PyErr_Clear()
            return 1  # the reference reads it again and says what failed
        item = <object>read
        Py_DECREF(item)  # <object> took a reference of its own
        written = <bytes>fields.keys[index]
        _write(out, PyBytes_AS_STRING(written), PyBytes_GET_SIZE(written))
        if _write_value(out, item, depth + 1):
            return 1
    return _write(out, "}", 1)


cdef object _encode(object params, _Fields fields):
    """The payload's bytes, or None when the reference must encode it; ``fields``: the payload
    is a dataclass of those, else None."""
    cdef Buffer out
    cdef char first[512]  # most payloads fit: no allocation
    cdef object result = None
    out.data = first
    out.size = 0
    out.capacity = 512
    out.on_heap = False
    try:
        if (_write_value(&out, params, 0) if fields is None else _write_fields(&out, params, fields, 0)) == 0:
            result = PyBytes_FromStringAndSize(out.data, out.size)
    except RuntimeError:
        # A dict changed while it was written (by another thread), or nested too deeply: the
        # reference writes it again, or says why not.
        result = None
    finally:
        if out.on_heap:
            free(out.data)
    return result


cdef object _reference_encode = None
# A payload's class (not a JSON one) -> (the class, its _Fields (a dataclass this engine writes),
# or (its library's writer, the outputs that may hide a NaN) for a library model, or None), and
# the cache in front of it (eventbus_cached).
cdef dict _payload_classes = {}
cdef PyObject *_payload_slots[EVENTBUS_SLOTS]


cdef inline bint _contains(bytes text, bytes part) noexcept:
    return eventbus_contains(PyBytes_AS_STRING(text), PyBytes_GET_SIZE(text), PyBytes_AS_STRING(part), PyBytes_GET_SIZE(part))


cdef tuple _payload_class(type kind):
    cdef PyObject *known = PyDict_GetItemWithError(_payload_classes, kind)
    if known != NULL:
        return <tuple>known
    found = _fields_of(kind)
    if found is None:
        # Asked of the reference where the reference looks first too: at the payload's class.
        from eventbus._codec.encode import model_writer

        found = model_writer(kind)
    # Complete before it is shared, and never replaced (see _fields_of).
    return _payload_classes.setdefault(kind, (kind, found))


cdef object _written_by_library(object params, object described):
    """A library model's bytes from its own writer, exactly when the reference returns those
    bytes as they are (no exception, no suspect in them); else None: the reference's."""
    if described is None:
        return None
    write, suspects = <tuple>described
    try:
        written = write(params)
    except Exception:
        return None  # the reference writes it again and says why
    if type(written) is not bytes:
        return None
    for suspect in suspects:
        if _contains(<bytes>written, <bytes>suspect):
            return None
    return written


def _encode_params(params, domain=None, action=None):
    """``encode_params`` on this engine: the C writer first, the reference for the rest."""
    return _encode_params_c(params, domain, action)


cdef object _encode_params_c(object params, object domain, object action):
    cdef PyObject *found
    cdef type kind = type(params)
    cdef tuple pair
    if params is None:
        return None
    if kind is dict or kind is str or kind is list or kind is int or kind is float or kind is bool or kind is tuple:
        encoded = _encode(params, None)
    else:
        found = eventbus_cached(_payload_slots, <PyObject *>kind)
        if found == NULL:
            pair = _payload_class(kind)
            eventbus_cache(_payload_slots, <PyObject *>pair)
            described = pair[1]
        else:
            described = <object>found
        if type(described) is _Fields:
            encoded = _encode(params, <_Fields>described)
        else:
            encoded = _written_by_library(params, described)
    if encoded is None:
        if _reference_encode is None:  # (make_encode_params not called: a caller reaching in)
            raise RuntimeError(
                "the compiled codec engine's encode is not set up (eventbus._codec.engine does it)"
            )
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


cdef struct Reader:
    const unsigned char *data
    Py_ssize_t size
    Py_ssize_t pos


cdef inline void _start(Reader *reader, bytes raw) noexcept:
    reader.data = <const unsigned char *>PyBytes_AS_STRING(raw)
    reader.size = PyBytes_GET_SIZE(raw)
    reader.pos = 0


cdef object _value(Reader *reader, int depth):
    cdef unsigned char c
    if depth > MAX_DEPTH or reader.pos >= reader.size:
        return NOT_HANDLED
    c = reader.data[reader.pos]
    if c == b'"':
        return _string(reader)
    if c == b'{':
        return _mapping(reader, depth)
    if c == b'[':
        return _array(reader, depth)
    if c == b'-' or (b'0' <= c <= b'9'):
        return _number(reader)
    if c == b't' and _literal(reader, b"true", 4):
        return True
    if c == b'f' and _literal(reader, b"false", 5):
        return False
    if c == b'n' and _literal(reader, b"null", 4):
        return None
    return NOT_HANDLED


cdef bint _literal(Reader *reader, const char *word, Py_ssize_t size) noexcept:
    if reader.pos + size > reader.size or memcmp(reader.data + reader.pos, word, size) != 0:
        return False
    reader.pos += size
    return True


cdef object _string(Reader *reader):
    """A string without escapes or control characters (the reference reads the others)."""
    cdef Py_ssize_t start = reader.pos + 1
    cdef Py_ssize_t index = start
    cdef unsigned char c
    cdef unsigned char high = 0
    cdef object text
    while index < reader.size:
        c = reader.data[index]
        if c == b'"':
            reader.pos = index + 1
            if high < 0x80:  # ASCII: copied as it is
                text = PyUnicode_New(index - start, 127)
                memcpy(PyUnicode_DATA(text), reader.data + start, index - start)
                return text
            try:
                return PyUnicode_DecodeUTF8(<const char *>reader.data + start, index - start, "strict")
            except UnicodeDecodeError:
                return NOT_HANDLED
        if c == b'\\' or c < 0x20:
            return NOT_HANDLED  # escapes and control characters: the reference reads them
        high |= c
        index += 1
    return NOT_HANDLED


cdef object _number(Reader *reader):
    cdef Py_ssize_t start = reader.pos
    cdef Py_ssize_t index = start
    cdef Py_ssize_t digits
    cdef bint integral = True
    cdef long long whole = 0
    cdef bint negative = False
    cdef char text[64]
    cdef double number
    cdef const unsigned char *data = reader.data
    cdef Py_ssize_t size = reader.size
    if data[index] == b'-':
        negative = True
        index += 1
    if index >= size or not (b'0' <= data[index] <= b'9'):
        return NOT_HANDLED
    if data[index] == b'0':
        index += 1
        if index < size and b'0' <= data[index] <= b'9':
            return NOT_HANDLED
    else:
        while index < size and b'0' <= data[index] <= b'9':
            index += 1
    digits = index - start - (1 if negative else 0)
    if index < size and data[index] == b'.':
        integral = False
        index += 1
        if index >= size or not (b'0' <= data[index] <= b'9'):
            return NOT_HANDLED
        while index < size and b'0' <= data[index] <= b'9':
            index += 1
    if index < size and (data[index] == b'e' or data[index] == b'E'):
        integral = False
        index += 1
        if index < size and (data[index] == b'+' or data[index] == b'-'):
            index += 1
        if index >= size or not (b'0' <= data[index] <= b'9'):
            return NOT_HANDLED
        while index < size and b'0' <= data[index] <= b'9':
            index += 1
    reader.pos = index
    if integral:
        if digits > 18:
            return NOT_HANDLED  # int() of a long one (and its digit limit): the reference's
        for index in range(start + (1 if negative else 0), reader.pos):
            whole = whole * 10 + (data[index] - 48)  # '0'
        return PyLong_FromLongLong(-whole if negative else whole)
    if reader.pos - start >= 63:
        return NOT_HANDLED
    memcpy(text, data + start, reader.pos - start)
    text[reader.pos - start] = 0
    number = PyOS_string_to_double(text, NULL, NULL)
    if not isfinite(number):
        return NOT_HANDLED  # 1e999: the reference refuses it
    return PyFloat_FromDouble(number)


cdef inline bint _opened_empty(Reader *reader, unsigned char close) noexcept:
    """Past an object's or array's opening, and past its ``close`` too if that follows: whether
    it is empty."""
    reader.pos += 1
    if reader.pos < reader.size and reader.data[reader.pos] == close:
        reader.pos += 1
        return True
    return False


cdef inline int _after_item(Reader *reader, unsigned char close) noexcept:
    """Past the comma after an object's or array's item: 0 (another item follows); past its
    ``close``: 1 (the end); -1 at anything else (the reference's)."""
    if reader.pos >= reader.size:
        return -1
    if reader.data[reader.pos] == b',':
        reader.pos += 1
        return 0
    if reader.data[reader.pos] == close:
        reader.pos += 1
        return 1
    return -1


cdef object _mapping(Reader *reader, int depth):
    cdef dict result = {}
    cdef object key, item
    cdef int ended
    if _opened_empty(reader, b'}'):
        return result
    while True:
        if reader.pos >= reader.size or reader.data[reader.pos] != b'"':
            return NOT_HANDLED
        key = _string(reader)
        if key is NOT_HANDLED:
            return NOT_HANDLED
        if reader.pos >= reader.size or reader.data[reader.pos] != b':':
            return NOT_HANDLED
        reader.pos += 1
        item = _value(reader, depth + 1)
        if item is NOT_HANDLED:
            return NOT_HANDLED
        result[key] = item
        ended = _after_item(reader, b'}')
        if ended:
            return result if ended > 0 else NOT_HANDLED


cdef object _array(Reader *reader, int depth):
    cdef list result = []
    cdef object item
    cdef int ended
    if _opened_empty(reader, b']'):
        return result
    while True:
        item = _value(reader, depth + 1)
        if item is NOT_HANDLED:
            return NOT_HANDLED
        result.append(item)
        ended = _after_item(reader, b']')
        if ended:
            return result if ended > 0 else NOT_HANDLED


cdef object _parse(bytes raw):
    cdef Reader reader
    _start(&reader, raw)
    value = _value(&reader, 0)
    if value is NOT_HANDLED or reader.pos != reader.size:
        return NOT_HANDLED
    return value


# What a plan checks of each field: the reference's inline checks, nothing else.
cdef enum Kind:
    ANY, INT, STR, BOOL, FLOAT, DICT, LIST

# How a plan builds its instance from the checked values.
cdef enum Build:
    POSITIONAL,  # cls(*values)
    KEYWORDS,  # cls(**dict(zip(names, values)))
    ASSIGN,  # what the dataclass's own generated __init__ does: setattr(self, name, value) per field
    ASSIGN_FROZEN,  # the same, frozen: object.__setattr__(self, name, value) per field

cdef int SMALL = 16  # plans of up to this many fields read into a stack array


cdef class _Plan:
    """A dataclass whose init fields all have an inline check: read straight into its instance.

    ``ASSIGN``/``ASSIGN_FROZEN``: the class's ``__init__`` is the one ``dataclasses`` generated
    for these fields and nothing else (its code equal to the code ``dataclasses`` generates for
    them, no ``__post_init__``, no ``InitVar``, no default factory; see
    ``eventbus._codec.plans.direct_init``), so the instance is made as ``type.__call__`` makes it
    (``object.__new__``) and the fields set as that ``__init__`` sets them, in its order, with
    no frame to run.  Every use checks again that the class still calls that same function
    (``__new__``, ``__init__``, its code and closure, the metaclass), else it calls the class.
    """

    cdef object cls
    cdef tuple names
    cdef tuple encoded
    cdef int *kinds
    cdef char *optional
    cdef Py_ssize_t count
    cdef Build build
    cdef object init  # ASSIGN*: the generated __init__, its code, its closure's cells and their contents
    cdef object code
    cdef tuple cells
    cdef tuple contents

    def __dealloc__(self):
        free(self.kinds)
        free(self.optional)

    cdef bint _assigns(self) noexcept:
        """Whether calling the class would still run exactly the verified __init__ (see above)."""
        cdef PyTypeObject *kind = <PyTypeObject *>self.cls
        cdef Py_ssize_t index
        if self.build != ASSIGN and self.build != ASSIGN_FROZEN:
            return False
        if Py_TYPE(self.cls) != <PyTypeObject *>type or kind.tp_new != (<PyTypeObject *>object).tp_new:
            return False
        if _PyType_Lookup(kind, "__init__") != <PyObject *>self.init:
            return False
        if PyFunction_GET_CODE(self.init) != <PyObject *>self.code:
            return False
        for index in range(len(self.cells)):
            if PyCell_GET(self.cells[index]) != <PyObject *>self.contents[index]:
                return False
        return True

    cdef object convert(self, PyObject **values, object refused, object data):
        cdef Py_ssize_t index
        cdef PyObject *found
        cdef object item, instance, name
        cdef type kind
        cdef int want
        for index in range(self.count):
            found = values[index]
            if found == NULL:
                return NOT_HANDLED  # missing: a default to apply, the reference's
            item = <object>found
            want = self.kinds[index]
            kind = type(item)
            if not (want == ANY or (self.optional[index] and item is None)
                    or (want == INT and kind is int) or (want == STR and kind is str)
                    or (want == BOOL and kind is bool) or (want == FLOAT and kind is float)
                    or (want == DICT and kind is dict) or (want == LIST and kind is list)):
                return NOT_HANDLED
        try:
            if self._assigns():
                instance = (<PyTypeObject *>self.cls).tp_new(self.cls, <PyObject *>EMPTY, NULL)
                for index in range(self.count):
                    name = self.names[index]
                    item = <object>values[index]
                    if self.build == ASSIGN_FROZEN:
                        PyObject_GenericSetAttr(instance, name, item)
                    else:
                        PyObject_SetAttr(instance, name, item)
                return instance
            arguments = PyTuple_New(self.count)
            for index in range(self.count):
                Py_INCREF(<object>values[index])
                PyTuple_SET_ITEM(arguments, index, <object>values[index])
            if self.build == KEYWORDS:
                return self.cls(**dict(zip(self.names, arguments)))
            return self.cls(*arguments)
        except Exception as exc:
            raise refused(data, self.cls, exc)  # its __cause__ is the reference's


cdef tuple EMPTY = ()


cdef object _read_plan(Reader *reader, _Plan plan, PyObject **values):
    """A top-level object read straight into ``values`` (new references, in field order);
    other keys are read and dropped, as the reference's converter ignores them.  None, or
    NOT_HANDLED: the reference's to read."""
    cdef Py_ssize_t start, index, found, size, expected = 0
    cdef bytes name
    cdef object item
    cdef const unsigned char *data = reader.data
    if reader.pos >= reader.size or data[reader.pos] != b'{':
        return NOT_HANDLED
    reader.pos += 1
    if reader.pos < reader.size and data[reader.pos] == b'}':
        reader.pos += 1
        return None
    while True:
        if reader.pos >= reader.size or data[reader.pos] != b'"':
            return NOT_HANDLED
        start = reader.pos + 1
        index = start
        while index < reader.size and data[index] != b'"':
            if data[index] == b'\\' or data[index] < 0x20 or data[index] >= 0x80:
                return NOT_HANDLED  # escapes, control characters, non-ASCII keys: the reference's
            index += 1
        if index >= reader.size:
            return NOT_HANDLED
        size = index - start
        found = -1
        # The fields most often come in order: the next one first, then all of them.
        if expected < plan.count:
            name = <bytes>plan.encoded[expected]
            if PyBytes_GET_SIZE(name) == size and memcmp(PyBytes_AS_STRING(name), data + start, size) == 0:
                found = expected
        if found < 0:
            for index in range(plan.count):
                name = <bytes>plan.encoded[index]
                if PyBytes_GET_SIZE(name) == size and memcmp(PyBytes_AS_STRING(name), data + start, size) == 0:
                    found = index
                    break
        reader.pos = start + size + 1
        if reader.pos >= reader.size or data[reader.pos] != b':':
            return NOT_HANDLED
        reader.pos += 1
        item = _value(reader, 1)
        if item is NOT_HANDLED:
            return NOT_HANDLED
        if found >= 0:
            Py_XDECREF(values[found])  # a repeated key: the last one counts, as in a dict
            Py_INCREF(item)
            values[found] = <PyObject *>item
            expected = found + 1
        if reader.pos >= reader.size:
            return NOT_HANDLED
        if data[reader.pos] == b',':
            reader.pos += 1
            continue
        if data[reader.pos] == b'}':
            reader.pos += 1
            return None
        return NOT_HANDLED


cdef object _decode_planned(_Plan plan, bytes raw, object refused, object data):
    """``raw`` read into ``plan``'s instance, or NOT_HANDLED."""
    cdef Reader reader
    cdef PyObject *small[16]
    cdef PyObject **values = small
    cdef Py_ssize_t index
    if plan.count > SMALL:
        values = <PyObject **>calloc(plan.count, sizeof(PyObject *))
        if values == NULL:
            raise MemoryError()
    else:
        memset(small, 0, sizeof(small))
    try:
        _start(&reader, raw)
        if _read_plan(&reader, plan, values) is NOT_HANDLED or reader.pos != reader.size:
            return NOT_HANDLED
        return plan.convert(values, refused, data)
    finally:
        for index in range(plan.count):
            Py_XDECREF(values[index])
        if values != small:
            free(values)


cdef dict _KINDS = {"any": ANY, "int": INT, "str": STR, "bool": BOOL, "float": FLOAT, "dict": DICT, "list": LIST}


cdef _Plan _plan_from(tuple described):
    """``(cls, positional, ((name, kind, optional), ...), direct)`` from the reference, as a plan;
    ``direct`` is ``(frozen, init, cells, contents)`` when ``direct_init`` proved it, else None."""
    cdef _Plan plan = _Plan.__new__(_Plan)
    cdef Py_ssize_t index
    cls, positional, fields, direct = described
    plan.cls = cls
    plan.build = POSITIONAL if positional else KEYWORDS
    if direct is not None:
        frozen, plan.init, plan.cells, plan.contents = direct
        plan.code = plan.init.__code__
        plan.build = ASSIGN_FROZEN if frozen else ASSIGN
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


cdef class _ModelPlan:
    """A library model as the whole payload: read by its library's own JSON reader."""

    cdef object read_json
    cdef bint constants  # the reader takes NaN and Infinity


cdef inline bint _maybe_not_strict(bytes raw, bint constants) noexcept:
    """Exactly ``eventbus._codec.decode.maybe_not_strict`` (in _fastcodec.h)."""
    return eventbus_maybe_not_strict(<const unsigned char *>PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw), constants)


cdef class _Decoding:
    """What ``decode`` on this engine needs of the reference (see make_decode)."""

    cdef object reference
    cdef object plans_of  # eventbus._codec.plans
    cdef object refused  # its refused_error, read once
    cdef object missing
    # The cores' Data classes, once seen (see _learn_data_type): strong references, each slot
    # set once, read and written atomically without the GIL (eventbus_learn_type).
    cdef PyTypeObject *data_types[2]
    cdef void *raw_reader  # how to read raw_params of the compiled core's Data (an eventbus_reader)
    # target type -> (the type, its _Plan or _ModelPlan, an exact JSON type, or False: the
    # reference's), and the cache in front of it (eventbus_cached)
    cdef dict plans
    cdef PyObject *plan_slots[EVENTBUS_SLOTS]

    def __dealloc__(self):
        # Replaced by make_decode(fresh=True), which only the tests call, between decodes.
        eventbus_forget(&self.raw_reader)
        eventbus_forget_types(self.data_types, 2)


cdef _Decoding _decoding = None


cdef object _learn_data_type(_Decoding state, type kind):
    """Remember the cores' ``Data`` classes, found by name (this engine imports neither core):
    their three attributes are always set and read by no code of a user's, so the engine reads
    only ``raw_params`` of them."""
    try:
        if kind.__module__ not in ("eventbus._core", "eventbus._core_py") or kind.__qualname__ != "Data":
            return None
    except Exception:  # a class whose names are not str: not one of them
        return None
    eventbus_learn_type(state.data_types, 2, <PyTypeObject *>kind)
    # The compiled core's Data (immutable, raw_params a getset): read through its getter directly.
    eventbus_learn(&state.raw_reader, <PyTypeObject *>kind, "raw_params")


def _decode(data, cls=NOT_GIVEN):
    """``decode`` on this engine: the C reader and plans first, the reference for the rest."""
    return _decode_c(data, cls)


cdef object _decode_c(object data, object cls):
    cdef _Decoding state = _decoding
    if state is None:  # (make_decode not called: only a caller reaching in from outside)
        raise RuntimeError("the compiled codec engine's decode is not set up (eventbus._codec.engine does it)")
    cdef PyObject *found
    cdef object plan, value
    cdef tuple pair
    if cls is NOT_GIVEN:
        cls = state.missing
    found = eventbus_read(&state.raw_reader, <PyObject *>data)
    if found != NULL:
        raw = <object>found
        Py_DECREF(raw)  # <object> took a reference of its own
    elif eventbus_is_learnt(state.data_types, 2, Py_TYPE(data)):
        raw = data.raw_params
    else:
        # What the reference reads of an event, in its order; anything else is its to refuse.
        try:
            raw = data.raw_params
            data.domain
            data.action
        except Exception:
            return state.reference(data, cls)
        _learn_data_type(state, type(data))
    if type(raw) is not bytes:
        return state.reference(data, cls)
    if cls is state.missing:
        value = _parse(raw)
        return state.reference(data, cls) if value is NOT_HANDLED else value
    if not isinstance(cls, type):  # generics (list[int], X | Y) compare by ==: the reference's
        return state.reference(data, cls)
    found = eventbus_cached(state.plan_slots, <PyObject *>cls)
    if found == NULL:
        found = PyDict_GetItemWithError(state.plans, cls)
        if found == NULL:
            # Complete before it is shared, and never replaced: two first uses agree on the
            # first one, and a reference borrowed from the dict stays valid (free-threaded
            # builds too).
            pair = state.plans.setdefault(cls, (cls, _plan_for(state, cls)))
        else:
            pair = <tuple>found
        eventbus_cache(state.plan_slots, <PyObject *>pair)
        plan = pair[1]
    else:
        plan = <object>found
    if type(plan) is _Plan:
        value = _decode_planned(<_Plan>plan, raw, state.refused, data)
    elif type(plan) is _ModelPlan:
        try:
            value = (<_ModelPlan>plan).read_json(raw)
        except RecursionError:
            return state.reference(data, cls)
        except Exception as exc:
            raise state.plans_of.model_error(data, cls, raw, exc)
        if _maybe_not_strict(raw, (<_ModelPlan>plan).constants):
            state.plans_of.check_strict(data, raw, cls)
        return value
    elif plan is False:
        return state.reference(data, cls)
    else:  # an exact JSON type: dict, list, str, int, bool
        value = _parse(raw)
        if type(value) is not plan:
            value = NOT_HANDLED
    return state.reference(data, cls) if value is NOT_HANDLED else value


cdef object _plan_for(_Decoding state, object cls):
    described = state.plans_of.describe_plan(cls)
    if described is not None:
        return _plan_from(described)
    described = state.plans_of.model_reader(cls)
    if described is None:
        return False
    plan = _ModelPlan.__new__(_ModelPlan)
    (<_ModelPlan>plan).read_json, (<_ModelPlan>plan).constants = described
    return plan


def make_decode(reference, plans, missing, fresh=False):
    """``decode`` with ``reference`` for whatever this engine leaves to it.

    ``plans`` is what the engine asks of the reference (``eventbus._codec.plans``): a dataclass's
    plan (``describe_plan``), a library model's own reader (``model_reader``), and the
    reference's errors (``refused_error``, ``model_error``, ``check_strict``).  The state made
    first stays (eventbus._codec.engine makes it once, under its lock); ``fresh`` replaces it,
    for the tests, where nothing decodes meanwhile.
    """
    global _decoding
    if _decoding is not None and not fresh:
        return _decode
    cdef _Decoding state = _Decoding.__new__(_Decoding)
    state.reference = reference
    state.plans_of = plans
    state.refused = plans.refused_error
    state.missing = missing
    state.plans = {kind: (kind, kind) for kind in (dict, list, str, int, bool)}
    if _decoding is None or fresh:  # (a finalizer's decode may have made one meanwhile)
        _decoding = state
    return _decode


def encoded_here(params):
    """The bytes this engine writes itself, or None: the reference's (for the tests)."""
    return _encode(params, None)


def parsed_here(bytes raw):
    """``(True, value)`` if this engine reads ``raw`` itself, else ``(False, None)`` (for the tests)."""
    value = _parse(raw)
    return (False, None) if value is NOT_HANDLED else (True, value)


def maybe_not_strict_here(bytes raw, bint constants):
    """This engine's ``_maybe_not_strict`` (for the tests: it must be the reference's)."""
    return _maybe_not_strict(raw, constants)


# The compiled core calls these two directly, through C pointers (no argument parsing): the
# names carry the C signatures, which the core asks for by the same names.
_ENCODE_C = PyCapsule_New(<void *>_encode_params_c, b"eventbus._codec._fastcodec.encode(params, domain, action)", NULL)
_DECODE_C = PyCapsule_New(<void *>_decode_c, b"eventbus._codec._fastcodec.decode(data, cls)", NULL)
