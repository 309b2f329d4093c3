/* The free-threaded per-thread copies of the registry, for eventbus/_core.pyx (its
   `cdef extern from "_thread_copies.h"` block).  With the GIL all of it compiles to the
   plain lookup of _dispatch.h. */

#ifndef EVENTBUS_THREAD_COPIES_H
#define EVENTBUS_THREAD_COPIES_H

#include <Python.h>
#include "_dispatch.h"

/* Free-threaded builds: each thread reads its own copy of the registry.

   The shared registry's dicts and tuples are owned by the thread that built them, so
   every other thread's reference to them is an atomic operation on one cache line
   that all dispatching threads write: two threads dispatching on one bus ran slower
   than one.  Instead each thread takes, per bus, a slot (a small index,
   held for the thread's life) and keeps in the bus's _local[slot] a registry of its
   own: domain -> action -> a copy of the pair's tuple, made by this thread, so that
   the references dispatch takes are the thread's own (CPython's biased reference
   counting makes them plain increments).  Every change to the shared registry bumps
   the bus's version; a thread whose copy was made at another version drops it and
   copies again, pair by pair, as it dispatches.  Only the slot's thread writes the
   slot; the copies live in the bus (its cyclic GC sees them), a stale one until that
   thread's next dispatch on the bus or its end: the thread keeps weak references to
   the buses it has copies in, and its slot's release drops its copy from each bus still
   alive before another thread can take the slot (else an unregistered handler stayed
   alive with the bus).  Markers (a stale pair, a refused one) and pairs without
   handlers are not copied: they take the shared path, as with the GIL.
   With the GIL all of this compiles to the plain lookup. */
#ifdef Py_GIL_DISABLED
#define EVENTBUS_SLOTS 64
#define EVENTBUS_SLOT_CAPSULE "eventbus._core.thread_slot"
static PyMutex eventbus_slots_mutex;
static char eventbus_slot_taken[EVENTBUS_SLOTS];
static _Thread_local int eventbus_my_slot = -1;  /* -1: none yet; -2: none to be had */

/* A thread's slot, in a capsule in its thread state's dict: the slot, and weak references
   to the buses whose _local[slot] holds this thread's copy (the dead ones are dropped
   when the list reaches prune_at, so that it stays proportional to the live ones). */
typedef struct {
    int slot;
    PyObject *buses;  /* a list of weakrefs; NULL before the first copy */
    Py_ssize_t prune_at;
    int pruning;  /* a bus freed while pruning may dispatch: append only, meanwhile */
} eventbus_slot_record;
static _Thread_local eventbus_slot_record *eventbus_my_record = NULL;

/* A bus's _local list (borrowed): set by _core.pyx when it is imported. */
static PyObject *(*eventbus_local_of)(PyObject *bus) = NULL;

#ifndef _WIN32
#include <pthread.h>
/* A process forked while another thread held the slots mutex would find it held for good
   (the child's first thread to take or release a slot waits forever).  Reset in the child
   inside fork() itself, before CPython clears the other threads' states (which releases
   their slots through this mutex). */
static void eventbus_slots_after_fork_in_child(void) {
    memset(&eventbus_slots_mutex, 0, sizeof(eventbus_slots_mutex));
}
#endif

/* Called once, when _core.pyx is imported. */
static int eventbus_thread_copies_init(PyObject *(*local_of)(PyObject *bus)) {
    eventbus_local_of = local_of;
#ifndef _WIN32
    if (pthread_atfork(NULL, NULL, eventbus_slots_after_fork_in_child) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "eventbus: pthread_atfork failed");
        return -1;
    }
#endif
    return 0;
}

static void eventbus_release_slot(PyObject *capsule) {
    /* The thread's state is being cleared (it is ending): its copies go from every bus
       still alive, then its slot is free again. */
    eventbus_slot_record *record =
        (eventbus_slot_record *)PyCapsule_GetPointer(capsule, EVENTBUS_SLOT_CAPSULE);
    if (record == NULL) { PyErr_Clear(); return; }
    int slot = record->slot;
    int mine = eventbus_my_record == record;
    if (mine) {
        /* A finalizer that dropping a copy runs, and that dispatches, takes the shared path. */
        eventbus_my_slot = -2;
        eventbus_my_record = NULL;
    }
    PyObject *buses = record->buses;
    record->buses = NULL;
    if (buses != NULL && eventbus_local_of != NULL) {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(buses); i++) {
            PyObject *bus;
            int alive = PyWeakref_GetRef(PyList_GET_ITEM(buses, i), &bus);
            if (alive < 0) PyErr_Clear();
            if (alive <= 0) continue;
            PyObject *local = eventbus_local_of(bus);
            if (local != NULL && PyList_CheckExact(local) && PyList_GET_SIZE(local) == EVENTBUS_SLOTS) {
                PyObject *copy = PyList_GET_ITEM(local, slot);
                PyList_SET_ITEM(local, slot, Py_NewRef(Py_None));
                Py_DECREF(copy);  /* may run finalizers: of handlers unregistered since */
            }
            Py_DECREF(bus);
        }
    }
    Py_XDECREF(buses);
    PyMutex_Lock(&eventbus_slots_mutex);
    eventbus_slot_taken[slot] = 0;
    PyMutex_Unlock(&eventbus_slots_mutex);
    if (mine) {
        eventbus_my_slot = -1;
        PyMem_RawFree(record);
    } else {
        /* Cleared from another thread (a fork's child clearing the other threads' states):
           the owner's thread-local pointer may still name the record, so it stays
           allocated, marked without a slot (eventbus_remember refuses it). */
        record->slot = -1;
    }
}

static Py_NO_INLINE int eventbus_take_slot(void) {
    /* A free slot, released by a capsule in the thread state's dict when the thread's
       state is cleared.  No slot (more than EVENTBUS_SLOTS threads at once, or no
       memory): the thread dispatches on the shared registry, as before. */
    eventbus_my_slot = -2;
    PyObject *dict = PyThreadState_GetDict();  /* borrowed */
    if (dict == NULL) return -1;
    eventbus_slot_record *record = (eventbus_slot_record *)PyMem_RawMalloc(sizeof(eventbus_slot_record));
    if (record == NULL) return -1;
    record->slot = -1;
    record->buses = NULL;
    record->prune_at = 8;
    record->pruning = 0;
    PyMutex_Lock(&eventbus_slots_mutex);
    for (int i = 0; i < EVENTBUS_SLOTS; i++) {
        if (!eventbus_slot_taken[i]) { eventbus_slot_taken[i] = 1; record->slot = i; break; }
    }
    PyMutex_Unlock(&eventbus_slots_mutex);
    if (record->slot < 0) { PyMem_RawFree(record); return -1; }
    int slot = record->slot;
    PyObject *capsule = PyCapsule_New(record, EVENTBUS_SLOT_CAPSULE, eventbus_release_slot);
    if (capsule == NULL) {
        PyErr_Clear();
        PyMutex_Lock(&eventbus_slots_mutex);
        eventbus_slot_taken[slot] = 0;
        PyMutex_Unlock(&eventbus_slots_mutex);
        PyMem_RawFree(record);
        return -1;
    }
    eventbus_my_record = record;
    int failed = PyDict_SetItemString(dict, EVENTBUS_SLOT_CAPSULE, capsule);
    Py_DECREF(capsule);  /* on failure its destructor frees the slot */
    if (failed) { PyErr_Clear(); eventbus_my_slot = -2; eventbus_my_record = NULL; return -1; }
    eventbus_my_slot = slot;
    return slot;
}

/* Notes that this thread's slot of `bus` is getting a copy (its first), for the thread's
   end to drop.  -1 with an exception set (no memory): no copy may be made. */
static Py_NO_INLINE int eventbus_remember(PyObject *bus) {
    eventbus_slot_record *record = eventbus_my_record;
    if (record == NULL || record->slot < 0) { PyErr_NoMemory(); return -1; }
    if (record->buses == NULL && (record->buses = PyList_New(0)) == NULL) return -1;
    if (!record->pruning && PyList_GET_SIZE(record->buses) >= record->prune_at) {
        /* Drop the references to buses that are gone: O(1) amortised per remembered bus.
           (A bus may die here, as the last reference to it goes, and its finalizers may
           dispatch on this thread: what they remember is appended to the list read.) */
        PyObject *live = PyList_New(0);
        if (live == NULL) return -1;
        record->pruning = 1;
        int failed = 0;
        for (Py_ssize_t i = 0; !failed && i < PyList_GET_SIZE(record->buses); i++) {
            PyObject *ref = PyList_GET_ITEM(record->buses, i);
            PyObject *target;
            int alive = PyWeakref_GetRef(ref, &target);
            if (alive > 0) {
                failed = PyList_Append(live, ref) < 0;
                Py_DECREF(target);
            } else if (alive < 0) {
                failed = 1;
            }
        }
        record->pruning = 0;
        if (failed) { Py_DECREF(live); return -1; }
        Py_SETREF(record->buses, live);  /* weak references only: no code runs */
        record->prune_at = 2 * PyList_GET_SIZE(live) + 8;
    }
    PyObject *ref = PyWeakref_NewRef(bus, NULL);
    if (ref == NULL) return -1;
    int failed = PyList_Append(record->buses, ref);
    Py_DECREF(ref);
    return failed;
}

static inline int eventbus_thread_slot(void) {
    int slot = eventbus_my_slot;
    if (slot >= 0) return slot;
    return slot == -1 ? eventbus_take_slot() : -1;
}

static PyObject *eventbus_copy_tuple(PyObject *tuple) {
    Py_ssize_t n = PyTuple_GET_SIZE(tuple);
    PyObject *copy = PyTuple_New(n);  /* not a slice: a full slice is the same tuple */
    if (copy == NULL) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, i);
        Py_INCREF(item);
        PyTuple_SET_ITEM(copy, i, item);
    }
    return copy;
}

/* eventbus_lookup on this thread's copy of the registry (see above). */
static PyObject *eventbus_lookup_local(PyObject *bus, PyObject *registry, PyObject *local_registries,
                                       uint64_t *versions, uint64_t *version,
                                       PyObject *domain, PyObject *action) {
    int slot = eventbus_thread_slot();
    if (slot < 0 || versions == NULL) return eventbus_lookup(registry, domain, action);
    PyObject *local = PyList_GET_ITEM(local_registries, slot);  /* only this thread writes it */
    if (local == Py_None) {
        /* This thread's first copy in this bus (or its first since the slot's previous
           owner ended): remembered, so that the thread's end drops it. */
        if (eventbus_remember(bus) < 0) {
            PyErr_Clear();  /* no memory: this dispatch runs the shared tuple */
            return eventbus_lookup(registry, domain, action);
        }
        /* Read again: a bus freed while remembering may have run finalizers. */
        local = PyList_GET_ITEM(local_registries, slot);
    }
    uint64_t now = _Py_atomic_load_uint64_acquire(version);
    PyObject *dropped = NULL;  /* released last: its finalizers may run anything */
    if (versions[slot] != now || local == Py_None) {
        PyObject *fresh = PyDict_New();
        if (fresh == NULL) return NULL;
        dropped = local;
        PyList_SET_ITEM(local_registries, slot, fresh);
        versions[slot] = now;
        local = fresh;
    } else {
        /* Exact str keys: the lookups run no Python code. */
        PyObject *actions = PyDict_GetItemWithError(local, domain);
        if (actions != NULL) {
            PyObject *handlers = PyDict_GetItemWithError(actions, action);
            if (handlers != NULL) return Py_NewRef(handlers);
        }
        if (PyErr_Occurred()) return NULL;
    }
    /* Not copied at this version yet: read the shared registry. */
    PyObject *found = eventbus_lookup(registry, domain, action);
    if (found != NULL && PyTuple_CheckExact(found)) {
        PyObject *copy = eventbus_copy_tuple(found);
        PyObject *actions = NULL;
        if (copy != NULL) {
            actions = PyDict_GetItemWithError(local, domain);
            if (actions == NULL && !PyErr_Occurred()) {
                actions = PyDict_New();
                if (actions != NULL && PyDict_SetItem(local, domain, actions) < 0) Py_CLEAR(actions);
                Py_XDECREF(actions);  /* the local registry holds it (or it is gone) */
            }
        }
        if (actions != NULL && PyDict_SetItem(actions, action, copy) == 0) {
            Py_SETREF(found, copy);
        } else {
            PyErr_Clear();  /* no copy (no memory): this dispatch runs the shared tuple */
            Py_XDECREF(copy);
        }
    }
    Py_XDECREF(dropped);
    return found;
}

static uint64_t *eventbus_versions_new(void) {
    uint64_t *versions = (uint64_t *)PyMem_Malloc(EVENTBUS_SLOTS * sizeof(uint64_t));
    if (versions == NULL) return NULL;
    for (int i = 0; i < EVENTBUS_SLOTS; i++) versions[i] = UINT64_MAX;  /* no copy yet */
    return versions;
}
#define eventbus_local_slots() EVENTBUS_SLOTS
#define eventbus_bump(version) ((void)_Py_atomic_add_uint64((version), 1))
#else
#define eventbus_lookup_local(bus, registry, local_registries, versions, version, domain, action) \
    eventbus_lookup((registry), (domain), (action))
#define eventbus_thread_copies_init(local_of) ((void)(local_of), 0)
#define eventbus_versions_new() ((uint64_t *)NULL)
#define eventbus_local_slots() 0
#define eventbus_bump(version) ((void)0)
#endif

#endif /* EVENTBUS_THREAD_COPIES_H */
