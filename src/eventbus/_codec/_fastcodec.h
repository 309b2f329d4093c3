/* What the compiled codec engine (_fastcodec.pyx) asks of a class, in C: whether reading a
 * dataclass's fields from its instances can run Python code.  The engine reads fields itself
 * only where it cannot: then the order and the number of its reads cannot be seen. */
#ifndef EVENTBUS_FASTCODEC_H
#define EVENTBUS_FASTCODEC_H

#include <Python.h>

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

#endif
