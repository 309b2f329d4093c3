/* What the compiled codec engine (_fastcodec.pyx) asks of a class, in C: whether reading a
 * dataclass's fields from its instances can run Python code.  The engine reads fields itself
 * only where it cannot: then the order and the number of its reads cannot be seen. */
#ifndef EVENTBUS_FASTCODEC_H
#define EVENTBUS_FASTCODEC_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Instances of `type` read attributes through PyObject_GenericGetAttr: the class defines
 * neither __getattribute__ nor __getattr__. */
static inline int eventbus_generic_getattr(PyTypeObject *type)
{
    return type->tp_getattro == PyObject_GenericGetAttr;
}

/* Reading `name` from an instance of `type` (generic getattr) may run code: the class or a base
 * has an attribute of that name whose type reads it (a property, any other descriptor), other
 * than a __slots__ member, which reads the instance's slot.  A borrowed lookup: no exception. */
static inline int eventbus_read_runs_code(PyTypeObject *type, PyObject *name)
{
    PyObject *found = _PyType_Lookup(type, name);
    if (found == NULL || Py_IS_TYPE(found, &PyMemberDescr_Type)) {
        return 0;
    }
    return Py_TYPE(found)->tp_descr_get != NULL;
}

/* Whether `type` is a dataclass, as dataclasses.is_dataclass says, found without running code:
 * 1 or 0; -1 when finding out would run code (a metaclass that reads attributes its own way or
 * has a `__dataclass_fields__` of its own, or a class whose `__dataclass_fields__` is read by a
 * descriptor).  `name` is "__dataclass_fields__". */
static inline int eventbus_plain_dataclass(PyTypeObject *type, PyObject *name)
{
    PyTypeObject *meta = Py_TYPE(type);
    PyObject *found;
    if (meta->tp_getattro != PyType_Type.tp_getattro || _PyType_Lookup(meta, name) != NULL) {
        return -1;
    }
    found = _PyType_Lookup(type, name);
    if (found == NULL) {
        return 0;
    }
    return Py_TYPE(found)->tp_descr_get == NULL ? 1 : -1;
}

/* The class's version tag while it is valid, else 0: it changes whenever the class or one of
 * its bases changes (an attribute set or deleted, __bases__ replaced). */
static inline unsigned int eventbus_version_tag(PyTypeObject *type)
{
    return PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG) ? type->tp_version_tag : 0;
}

/* A cache in front of a dict from a type to a pair (the type, what the engine knows of it) whose
 * entries are never removed nor replaced: each of EVENTBUS_SLOTS slots holds the last pair
 * found for a type that falls in it, a borrowed pointer read and written as one word, so that
 * a type met again costs a compare instead of a dict lookup (hashing it, probing). */
#define EVENTBUS_SLOTS 64
#ifdef Py_GIL_DISABLED
#define EVENTBUS_LOAD(slot) _Py_atomic_load_ptr_acquire(&(slot))
#define EVENTBUS_STORE(slot, pair) _Py_atomic_store_ptr_release(&(slot), (pair))
#else
#define EVENTBUS_LOAD(slot) (slot)
#define EVENTBUS_STORE(slot, pair) ((slot) = (pair))
#endif

static inline size_t eventbus_slot(PyObject *key)
{
    uintptr_t bits = (uintptr_t)key;
    return (size_t)((bits >> 4 ^ bits >> 10) & (EVENTBUS_SLOTS - 1));
}

/* What the pair cached for `key` holds (borrowed), or NULL: ask the dict. */
static inline PyObject *eventbus_cached(PyObject **slots, PyObject *key)
{
    PyObject *pair = (PyObject *)EVENTBUS_LOAD(slots[eventbus_slot(key)]);
    return pair != NULL && PyTuple_GET_ITEM(pair, 0) == key ? PyTuple_GET_ITEM(pair, 1) : NULL;
}

/* Cache `pair`, a tuple the dict holds for good. */
static inline void eventbus_cache(PyObject **slots, PyObject *pair)
{
    EVENTBUS_STORE(slots[eventbus_slot(PyTuple_GET_ITEM(pair, 0))], pair);
}

/* How to read one attribute of the instances of one type without looking it up: its getset
 * descriptor's getter.  Made once for a type whose attribute can be read no other way (see
 * eventbus_learn_reader), published as one pointer, freed with what holds it. */
typedef struct {
    PyTypeObject *type;
    getter get;
    void *closure;
} eventbus_reader;

/* A reader of `name` for `type`, or NULL (no exception): only for an immutable type (its
 * attributes cannot be replaced) without instance dicts, where `name` is a getset descriptor. */
static inline eventbus_reader *eventbus_learn_reader(PyTypeObject *type, PyObject *name)
{
    PyObject *found;
    eventbus_reader *reader;
    if (!PyType_HasFeature(type, Py_TPFLAGS_IMMUTABLETYPE) || type->tp_dictoffset != 0) {
        return NULL;
    }
    found = _PyType_Lookup(type, name);
    if (found == NULL || !Py_IS_TYPE(found, &PyGetSetDescr_Type)
        || ((PyGetSetDescrObject *)found)->d_getset->get == NULL) {
        return NULL;
    }
    reader = (eventbus_reader *)PyMem_RawMalloc(sizeof(eventbus_reader));
    if (reader != NULL) {
        Py_INCREF(type);  /* for good, as the reader */
        reader->type = type;
        reader->get = ((PyGetSetDescrObject *)found)->d_getset->get;
        reader->closure = ((PyGetSetDescrObject *)found)->d_getset->closure;
    }
    return reader;
}

/* The attribute of `object` (a new reference) if the reader in `slot` reads objects of its type,
 * else NULL; NULL with an exception if the getter raised. */
static inline PyObject *eventbus_read(void **slot, PyObject *object)
{
    eventbus_reader *reader = (eventbus_reader *)EVENTBUS_LOAD(*slot);
    return reader != NULL && Py_TYPE(object) == reader->type ? reader->get(object, reader->closure) : NULL;
}

static inline void eventbus_free_reader(eventbus_reader *reader)
{
    Py_DECREF(reader->type);
    PyMem_RawFree(reader);
}

/* Learn, once, the reader in `slot` of attribute `name` of `type`, if it has one.  Without the
 * GIL two threads may learn it at once: one reader is published, the other freed. */
static inline void eventbus_learn(void **slot, PyTypeObject *type, PyObject *name)
{
    eventbus_reader *reader;
    if (EVENTBUS_LOAD(*slot) == NULL && (reader = eventbus_learn_reader(type, name)) != NULL) {
#ifdef Py_GIL_DISABLED
        void *expected = NULL;
        if (!_Py_atomic_compare_exchange_ptr(slot, &expected, (void *)reader)) {
            eventbus_free_reader(reader);
        }
#else
        *slot = (void *)reader;
#endif
    }
}

/* Free the reader in `slot`, if any: only when nothing can read the slot any more. */
static inline void eventbus_forget(void **slot)
{
    eventbus_reader *reader = (eventbus_reader *)*slot;
    *slot = NULL;
    if (reader != NULL) {
        eventbus_free_reader(reader);
    }
}

/* Whether `type` is one of the `count` types learnt in `slots` (see eventbus_learn_type). */
static inline int eventbus_is_learnt(PyTypeObject **slots, Py_ssize_t count, PyTypeObject *type)
{
    Py_ssize_t index;
    for (index = 0; index < count; index++) {
        if ((PyTypeObject *)EVENTBUS_LOAD(slots[index]) == type) {
            return 1;
        }
    }
    return 0;
}

/* Learn `type` into the first empty one of the `count` slots, unless one holds it already (or
 * all are taken).  Each slot is set once and holds a strong reference until eventbus_forget_types;
 * without the GIL it is set by a compare-and-swap, so a thread that loses the race for a slot
 * drops its reference and, if the winner learnt another type, tries the next slot. */
static inline void eventbus_learn_type(PyTypeObject **slots, Py_ssize_t count, PyTypeObject *type)
{
    Py_ssize_t index;
    PyTypeObject *seen;
    for (index = 0; index < count; index++) {
        seen = (PyTypeObject *)EVENTBUS_LOAD(slots[index]);
        if (seen == type) {
            return;
        }
        if (seen != NULL) {
            continue;
        }
        Py_INCREF(type);
#ifdef Py_GIL_DISABLED
        if (_Py_atomic_compare_exchange_ptr(&slots[index], &seen, type)) {
            return;
        }
        Py_DECREF(type);  /* `seen` is now the winner's type */
        if (seen == type) {
            return;
        }
#else
        slots[index] = type;
        return;
#endif
    }
}

/* Release the types learnt in `slots`: only when nothing can read them any more. */
static inline void eventbus_forget_types(PyTypeObject **slots, Py_ssize_t count)
{
    Py_ssize_t index;
    PyTypeObject *type;
    for (index = 0; index < count; index++) {
        type = slots[index];
        slots[index] = NULL;
        Py_XDECREF(type);
    }
}

static inline int eventbus_digit(unsigned char c)
{
    return (unsigned char)(c - '0') < 10;
}

/* Exactly eventbus._codec.decode.maybe_not_strict (a regular expression there): whether `data`
 * holds a digit then an exponent of three digits, a run of 200 digits, or, with `constants`,
 * NaN or Infinity.  One pass; most bytes cost a compare or two. */
static inline int eventbus_maybe_not_strict(const unsigned char *data, Py_ssize_t size, int constants)
{
    Py_ssize_t index, at, run = 0;
    unsigned char c;
    if (size < 200 && !constants) {
        /* The same answer in fewer steps for most payloads (a library that refuses constants,
         * too short for a run of 200 digits): only an 'e' or 'E' right after a digit may start
         * a suspect, so eight bytes at a time are passed over unless they hold an 'e' or 'E'
         * and a digit is among them or just before them. */
        Py_ssize_t end = size - 3, stop;
        uint64_t chunk, low, letter;
        const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
        index = 1;
        while (index < end) {
            if (index + 8 <= size) {
                memcpy(&chunk, data + index, 8);
                /* Per byte, without carries between bytes: the high bit where it is e or E... */
                letter = (chunk | 0x20 * ones) ^ 0x65 * ones;
                letter = ~(((letter & ~high) + ~high) | letter) & high;
                /* ...and where it is a digit (an ASCII byte from 0x30 to 0x39). */
                low = chunk & ~high;
                if (letter == 0
                    || (((low + 0x50 * ones) & ~(low + 0x46 * ones) & ~chunk & high) == 0
                        && !eventbus_digit(data[index - 1]))) {
                    index += 8;
                    continue;
                }
            }
            for (stop = index + 8 < end ? index + 8 : end; index < stop; index++) {
                if ((data[index] | 0x20) == 'e' && eventbus_digit(data[index - 1])) {
                    at = index + 1;
                    if (data[at] == '-' || data[at] == '+') {
                        at++;
                    }
                    if (size - at >= 3 && eventbus_digit(data[at]) && eventbus_digit(data[at + 1])
                        && eventbus_digit(data[at + 2])) {
                        return 1;
                    }
                }
            }
        }
        return 0;
    }
    for (index = 0; index < size; index++) {
        c = data[index];
        if (eventbus_digit(c)) {
            if (++run >= 200) {
                return 1;
            }
            continue;
        }
        if (run && (c == 'e' || c == 'E')) {
            at = index + 1;
            if (at < size && (data[at] == '-' || data[at] == '+')) {
                at++;
            }
            if (size - at >= 3 && eventbus_digit(data[at]) && eventbus_digit(data[at + 1])
                && eventbus_digit(data[at + 2])) {
                return 1;
            }
        }
        run = 0;
        if (constants && ((c == 'N' && size - index >= 3 && data[index + 1] == 'a' && data[index + 2] == 'N')
                          || (c == 'I' && size - index >= 8 && memcmp(data + index, "Infinity", 8) == 0))) {
            return 1;
        }
    }
    return 0;
}

/* Whether `text` holds `part` (a few bytes: a suspect in a library's output). */
static inline int eventbus_contains(const char *text, Py_ssize_t size, const char *part, Py_ssize_t length)
{
    const char *found = text, *end = text + size - length;
    Py_ssize_t index;
    while (found <= end) {
        found = memchr(found, part[0], (size_t)(end - found + 1));
        if (found == NULL) {
            return 0;
        }
        for (index = 1; index < length && found[index] == part[index]; index++) {
        }
        if (index == length) {
            return 1;
        }
        found++;
    }
    return 0;
}

#endif
