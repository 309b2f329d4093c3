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
#define EVENTBUS_T_PYSSIZET T_PYSSIZET
#define EVENTBUS_READONLY READONLY
#else
#define EVENTBUS_T_OBJECT_EX Py_T_OBJECT_EX
#define EVENTBUS_T_PYSSIZET Py_T_PYSSIZET
#define EVENTBUS_READONLY Py_READONLY
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

/* What dispatch calls for a handler registered for an Event: handler(ctx, decode(data,
   payload_type)), with no Python frame between (the pure twin's is a closure in
   _handlers.typed_handler).  A heap type made once at import (eventbus_typed_type); the
   registry makes one per such registration, and _handlers.registered_handler finds the
   handler behind it by its type. */
typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *handler;
    PyObject *payload_type;
    PyObject *decode;
    PyObject *(*decode_c)(PyObject *data, PyObject *cls);
} eventbus_typed;

typedef PyObject *(*eventbus_decode_fn)(PyObject *data, PyObject *cls);

/* The arguments a typed handler refuses, in the words Python gives for the pure twin's closure
   (def typed_handler(ctx, data, /), made inside typed_handler): keywords first, then too many,
   then too few positional arguments. */
#define EVENTBUS_TYPED_NAME "typed_handler.<locals>.typed_handler()"

static int eventbus_typed_refuse(Py_ssize_t nargs, PyObject *kwnames) {
    Py_ssize_t count = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    if (count > 0) {
        PyObject *named = PyList_New(0);
        if (named == NULL) return -1;
        for (Py_ssize_t at = 0; at < count; at++) {
            PyObject *name = PyTuple_GET_ITEM(kwnames, at);
            if ((PyUnicode_CompareWithASCIIString(name, "ctx") == 0
                 || PyUnicode_CompareWithASCIIString(name, "data") == 0)
                && PyList_Append(named, name) < 0) {
                Py_DECREF(named);
                return -1;
            }
        }
        if (PyList_GET_SIZE(named) > 0) {
            PyObject *comma = PyUnicode_FromString(", ");
            PyObject *joined = comma == NULL ? NULL : PyUnicode_Join(comma, named);
            Py_XDECREF(comma);
            if (joined != NULL) {
                PyErr_Format(PyExc_TypeError,
                             EVENTBUS_TYPED_NAME " got some positional-only arguments passed as keyword arguments: '%U'",
                             joined);
                Py_DECREF(joined);
            }
        } else {
            PyErr_Format(PyExc_TypeError, EVENTBUS_TYPED_NAME " got an unexpected keyword argument '%U'",
                         PyTuple_GET_ITEM(kwnames, 0));
        }
        Py_DECREF(named);
        return -1;
    }
    if (nargs > 2) {
        PyErr_Format(PyExc_TypeError, EVENTBUS_TYPED_NAME " takes 2 positional arguments but %zd were given", nargs);
    } else if (nargs == 1) {
        PyErr_SetString(PyExc_TypeError, EVENTBUS_TYPED_NAME " missing 1 required positional argument: 'data'");
    } else {
        PyErr_SetString(PyExc_TypeError,
                        EVENTBUS_TYPED_NAME " missing 2 required positional arguments: 'ctx' and 'data'");
    }
    return -1;
}

static PyObject *eventbus_typed_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf,
                                           PyObject *kwnames) {
    eventbus_typed *typed = (eventbus_typed *)self;
    PyObject *payload;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs != 2 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0)) {
        eventbus_typed_refuse(nargs, kwnames);
        return NULL;
    }
    if (typed->handler == NULL) {  /* cleared by the collector, then reached again */
        PyErr_SetString(PyExc_ReferenceError, "this typed handler was cleared by the garbage collector");
        return NULL;
    }
    if (typed->decode_c != NULL) {
        payload = typed->decode_c(args[1], typed->payload_type);
    } else {
        /* One slot before each argument list, for the callee's own use (ARGUMENTS_OFFSET). */
        PyObject *decode_args[3] = {NULL, args[1], typed->payload_type};
        payload = PyObject_Vectorcall(typed->decode, decode_args + 1, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    }
    if (payload == NULL) return NULL;
    PyObject *handler_args[3] = {NULL, args[0], payload};
    PyObject *result = PyObject_Vectorcall(typed->handler, handler_args + 1,
                                           2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    Py_DECREF(payload);
    return result;
}

/* The compiled codec engine's decode and its C entry, set once at import when it runs:
   a typed handler made with that decode calls the C entry directly. */
static PyObject *eventbus_fast_decode = NULL;
static eventbus_decode_fn eventbus_fast_decode_c = NULL;

static void eventbus_typed_fast(PyObject *decode, void *decode_c) {
    Py_XSETREF(eventbus_fast_decode, Py_NewRef(decode));
    eventbus_fast_decode_c = (eventbus_decode_fn)decode_c;
}

/* TypedHandler(handler, payload_type, decode): what the registry makes. */
static PyObject *eventbus_typed_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    PyObject *handler, *payload_type, *decode;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0) {
        PyErr_SetString(PyExc_TypeError, "TypedHandler() takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_UnpackTuple(args, "TypedHandler", 3, 3, &handler, &payload_type, &decode)) return NULL;
    eventbus_typed *typed = PyObject_GC_New(eventbus_typed, type);
    if (typed == NULL) return NULL;
    typed->vectorcall = eventbus_typed_vectorcall;
    typed->decode_c = decode == eventbus_fast_decode ? eventbus_fast_decode_c : NULL;
    typed->handler = Py_NewRef(handler);
    typed->payload_type = Py_NewRef(payload_type);
    typed->decode = Py_NewRef(decode);
    PyObject_GC_Track(typed);
    return (PyObject *)typed;
}

static int eventbus_typed_traverse(PyObject *self, visitproc visit, void *arg) {
    eventbus_typed *typed = (eventbus_typed *)self;
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(typed->handler);
    Py_VISIT(typed->payload_type);
    Py_VISIT(typed->decode);
    return 0;
}

static int eventbus_typed_clear(PyObject *self) {
    eventbus_typed *typed = (eventbus_typed *)self;
    Py_CLEAR(typed->handler);
    Py_CLEAR(typed->payload_type);
    Py_CLEAR(typed->decode);
    return 0;
}

static void eventbus_typed_dealloc(PyObject *self) {
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    (void)eventbus_typed_clear(self);
    PyObject_GC_Del(self);
    Py_DECREF(type);
}

static PyObject *eventbus_typed_repr(PyObject *self) {
    eventbus_typed *typed = (eventbus_typed *)self;
    if (typed->handler == NULL) return PyUnicode_FromString("<typed handler (cleared)>");
    return PyUnicode_FromFormat("<typed handler of %R, payload %R>", typed->handler, typed->payload_type);
}

static PyMemberDef eventbus_typed_members[] = {
    {"__vectorcalloffset__", EVENTBUS_T_PYSSIZET, offsetof(eventbus_typed, vectorcall), EVENTBUS_READONLY, NULL},
    {"handler", EVENTBUS_T_OBJECT_EX, offsetof(eventbus_typed, handler), EVENTBUS_READONLY,
     "The handler as registered."},
    {"payload_type", EVENTBUS_T_OBJECT_EX, offsetof(eventbus_typed, payload_type), EVENTBUS_READONLY,
     "What the payload is decoded as."},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot eventbus_typed_slots[] = {
    {Py_tp_new, (void *)eventbus_typed_new},
    {Py_tp_call, (void *)PyVectorcall_Call},
    {Py_tp_traverse, (void *)eventbus_typed_traverse},
    {Py_tp_clear, (void *)eventbus_typed_clear},
    {Py_tp_dealloc, (void *)eventbus_typed_dealloc},
    {Py_tp_repr, (void *)eventbus_typed_repr},
    {Py_tp_members, (void *)eventbus_typed_members},
    {0, NULL},
};

static PyType_Spec eventbus_typed_spec = {
    "eventbus._core.TypedHandler",
    sizeof(eventbus_typed),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_IMMUTABLETYPE,
    eventbus_typed_slots,
};

/* The type, made once by the module's import. */
static PyObject *eventbus_typed_type(void) { return PyType_FromSpec(&eventbus_typed_spec); }

/* The compiled codec engine's encode_params, as a C function (its capsule's pointer). */
typedef PyObject *(*eventbus_encode_fn)(PyObject *params, PyObject *domain, PyObject *action);

static inline PyObject *eventbus_encode(void *encode, PyObject *params, PyObject *domain, PyObject *action) {
    return ((eventbus_encode_fn)encode)(params, domain, action);
}

/* Event.data's reads of the event's own slots (domain, action, _instance_of), in place: an
   Event's slots are written once, in __new__, and with the GIL nothing can replace one
   between a read and the caller taking its reference.  eventbus_learn_slot stores the
   slot's offset, from its member descriptor (-1 if it is not a plain object slot);
   eventbus_event_slot reads it, borrowed, or NULL when unset.  Free-threaded builds neither store
   nor read (NULL: the caller then reads through getattr, which is safe there), so that
   racing first uses of Event share no plain C variable. */
#ifdef Py_GIL_DISABLED
#define eventbus_learn_slot(offset, descr) ((void)(descr), 0)
#define eventbus_event_slot(object, offset) ((void)(object), (PyObject *)NULL)
#else
static int eventbus_learn_slot(Py_ssize_t *offset, PyObject *descr) {
    PyMemberDef *def;
    *offset = -1;
    if (Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        def = ((PyMemberDescrObject *)descr)->d_member;
        if (def->type == EVENTBUS_T_OBJECT_EX && def->offset > 0) *offset = def->offset;
    }
    return 0;
}

static inline PyObject *eventbus_event_slot(PyObject *object, Py_ssize_t offset) {
    return offset < 0 ? NULL : *(PyObject **)((char *)object + offset);
}
#endif

#endif /* EVENTBUS_DISPATCH_H */
