/* The C of the compiled core's dispatch (eventbus/_core.pyx declares these in its
   `cdef extern from "_dispatch.h"` block): the registry read and the handler loop of every
   dispatch, the observer flag, and what help() lists.  The free-threaded per-thread copies
   of the registry are in _thread_copies.h.  Everything else is Cython; C goes into these
   headers, never into strings inside the .pyx (tests/twins/test_contract.py checks).

   Included by the C file Cython generates, after Python.h; it includes Python.h itself
   so that C tooling (clangd, clang-tidy, cppcheck) can read it alone. */

#ifndef EVENTBUS_DISPATCH_H
#define EVENTBUS_DISPATCH_H

#include <Python.h>

/* The registry read of every dispatch: domain -> action -> tuple of handlers.
   Returns a new reference to the tuple (or marker), or to None when the pair
   has no handlers.  The arguments are borrowed: the caller passes the registry,
   domain and action without taking references to them (the bus and its Data
   hold them for the whole call), so that on a free-threaded build dispatch
   writes to no object other threads share beyond what safety needs.
   There a borrowed reference out of a dict could be freed by a concurrent
   writer, so the actions dict and the tuple are taken with PyDict_GetItemRef
   (an atomic increment and decrement each when other threads own them: the
   price of reading a snapshot without a lock); with the GIL no other thread
   runs between the two lookups, and str keys compare without calling back
   into Python, so borrowed ones are safe. */
static PyObject *eventbus_lookup(PyObject *registry, PyObject *domain, PyObject *action) {
#ifdef Py_GIL_DISABLED
    PyObject *actions, *handlers;
    if (PyDict_GetItemRef(registry, domain, &actions) < 0) return NULL;
    if (actions == NULL) Py_RETURN_NONE;
    int found = PyDict_GetItemRef(actions, action, &handlers);
    Py_DECREF(actions);
    if (found < 0) return NULL;
    if (handlers == NULL) Py_RETURN_NONE;
    return handlers;
#else
    PyObject *actions = PyDict_GetItemWithError(registry, domain);
    if (actions == NULL) {
        if (PyErr_Occurred()) return NULL;
        Py_RETURN_NONE;
    }
    PyObject *handlers = PyDict_GetItemWithError(actions, action);
    if (handlers == NULL) {
        if (PyErr_Occurred()) return NULL;
        Py_RETURN_NONE;
    }
    Py_INCREF(handlers);
    return handlers;
#endif
}

/* The loop of call and publish: call handlers[*index:] with (ctx, data) in
   order, advancing *index past each handler called.  A handler's non-None
   result goes to on_result(handler, result), which raises for awaitables.
   Returns 0 when every handler ran, -1 with the exception set at the first
   failure.  The tuple is immutable and the caller holds it, so its items
   stay alive while borrowed. */
static int eventbus_run_handlers(PyObject *handlers, Py_ssize_t *index, PyObject *ctx,
                                 PyObject *data, PyObject *on_result) {
    PyObject *args[3] = {NULL, ctx, data};
    Py_ssize_t count = PyTuple_GET_SIZE(handlers);
    while (*index < count) {
        PyObject *handler = PyTuple_GET_ITEM(handlers, *index);
        (*index)++;
        /* Straight through the vectorcall slot, as Cython's own calls do:
           PyObject_Vectorcall would also re-check the result. */
        vectorcallfunc call = PyVectorcall_Function(handler);
        PyObject *result = call != NULL
            ? call(handler, args + 1, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL)
            : PyObject_Vectorcall(handler, args + 1, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        if (result == NULL) return -1;
        if (result != Py_None) {
            PyObject *checked = PyObject_CallFunctionObjArgs(on_result, handler, result, NULL);
            Py_DECREF(result);
            if (checked == NULL) return -1;
            Py_DECREF(checked);
        } else {
            Py_DECREF(result);
        }
    }
    return 0;
}

static int eventbus_run(PyObject *handlers, Py_ssize_t *index, PyObject *ctx,
                        PyObject *data, PyObject *on_result) {
#if PY_VERSION_HEX < 0x030C0000
    /* 3.11 guards the C stack only by the Python recursion limit: count each
       dispatch as a level too, so that handlers dispatching without end meet
       RecursionError before the C stack runs out, even at a raised limit. */
    if (Py_EnterRecursiveCall(" while dispatching an event")) return -1;
    int status = eventbus_run_handlers(handlers, index, ctx, data, on_result);
    Py_LeaveRecursiveCall();
    return status;
#else
    return eventbus_run_handlers(handlers, index, ctx, data, on_result);
#endif
}

/* Returns -1 so that Cython raises the exception already set. */
static int eventbus_raise_pending(void) { return -1; }

/* The branch hint of the observed-dispatch check (as Cython's own `unlikely`): the
   observed dispatch is the cold path, laid out away from the unobserved one. */
#if defined(__GNUC__) || defined(__clang__)
#define eventbus_unlikely(condition) __builtin_expect(!!(condition), 0)
#else
#define eventbus_unlikely(condition) (condition)
#endif

/* Bus._observed: written under the bus's critical section, read by every dispatch
   without it.  On the free-threaded build both are relaxed atomics (no data race for
   ThreadSanitizer; the observer itself is read under the critical section); with the
   GIL, plain accesses. */
#ifdef Py_GIL_DISABLED
#define eventbus_flag_load(flag) _Py_atomic_load_int_relaxed(flag)
#define eventbus_flag_store(flag, value) _Py_atomic_store_int_relaxed((flag), (value))
#else
#define eventbus_flag_load(flag) (*(flag))
#define eventbus_flag_store(flag, value) ((void)(*(flag) = (value)))
#endif

/* Drop `name` from a type's own dict (its slots stay as they are), if it is there:
   what help() lists of the compiled classes (see its use at the end of _core.pyx). */
static int eventbus_hide_attribute(PyObject *type, const char *name) {
    PyObject *dict = ((PyTypeObject *)type)->tp_dict;
    PyObject *key = PyUnicode_FromString(name);
    if (key == NULL) return -1;
    int found = PyDict_Contains(dict, key);
    if (found == 1) found = PyDict_DelItem(dict, key);
    Py_DECREF(key);
    if (found < 0) return -1;
    PyType_Modified((PyTypeObject *)type);
    return 0;
}

/* Set `name` in a type's own dict: the registry's methods, written once in Python, attached to
   the compiled Bus (a static type, whose attributes Python code cannot set). */
static int eventbus_set_attribute(PyObject *type, PyObject *name, PyObject *value) {
    if (PyDict_SetItem(((PyTypeObject *)type)->tp_dict, name, value) < 0) return -1;
    PyType_Modified((PyTypeObject *)type);
    return 0;
}

/* Replace the descriptor of a C object field of `type` by a plain member descriptor, as a
   Python class's __slots__ have: the interpreter's fast paths for slots then serve the
   registry's Python code on the compiled Bus too.  The field is found in `sample` (an
   instance of `type`) as the one that holds `marker`. */
#if PY_VERSION_HEX < 0x030C0000
#include <structmember.h>
#define EVENTBUS_T_OBJECT_EX T_OBJECT_EX
#else
#define EVENTBUS_T_OBJECT_EX Py_T_OBJECT_EX
#endif

static int eventbus_set_member(PyObject *type, PyObject *name, PyObject *sample, PyObject *marker) {
    Py_ssize_t offset = -1;
    for (Py_ssize_t at = sizeof(PyObject); at + (Py_ssize_t)sizeof(PyObject *) <= Py_TYPE(sample)->tp_basicsize;
         at += sizeof(PyObject *)) {
        if (*(PyObject **)((char *)sample + at) == marker) { offset = at; break; }
    }
    if (offset < 0) {
        PyErr_Format(PyExc_RuntimeError, "eventbus: no field of the Bus holds %R", name);
        return -1;
    }
    Py_ssize_t length;
    const char *text = PyUnicode_AsUTF8AndSize(name, &length);
    if (text == NULL) return -1;
    /* The definition and its name live as long as the type (that is, the process). */
    PyMemberDef *def = (PyMemberDef *)PyMem_Calloc(1, sizeof(PyMemberDef) + (size_t)length + 1);
    if (def == NULL) { PyErr_NoMemory(); return -1; }
    char *copy = (char *)(def + 1);
    memcpy(copy, text, (size_t)length + 1);
    def->name = copy;
    def->type = EVENTBUS_T_OBJECT_EX;
    def->offset = offset;
    PyObject *descr = PyDescr_NewMember((PyTypeObject *)type, def);
    if (descr == NULL) return -1;
    int failed = PyDict_SetItem(((PyTypeObject *)type)->tp_dict, name, descr);
    Py_DECREF(descr);
    if (failed) return -1;
    PyType_Modified((PyTypeObject *)type);
    return 0;
}

#endif /* EVENTBUS_DISPATCH_H */
