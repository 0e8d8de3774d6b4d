/* Model: a validated model file, whose tensors the engines read. */
#include "_core.h"

static void Model_dealloc(ModelObject *self)
{
    mf_model_free(self->model);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Model_init(ModelObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"source", NULL};
    PyObject *source;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:Model", kwlist, &source))
        return -1;
    if (self->model) {
        PyErr_SetString(PyExc_RuntimeError, "Model is already initialised");
        return -1;
    }
    const mf_limits limits = mf_limits_default();
    mf_status st = MF_OK;
    mf_model *model = NULL;
    if (PyBytes_Check(source)) {
        const char *data = PyBytes_AS_STRING(source);
        size_t size = (size_t)PyBytes_GET_SIZE(source);
        Py_BEGIN_ALLOW_THREADS
        model = mf_model_from_memory(data, size, &limits, &st);
        Py_END_ALLOW_THREADS
    } else {
        PyObject *path = NULL;
        if (!PyUnicode_FSConverter(source, &path)) {
            PyErr_Format(PyExc_TypeError, "source must be a path (str or os.PathLike) or bytes, not %.100s",
                         Py_TYPE(source)->tp_name);
            return -1;
        }
        const char *p = PyBytes_AS_STRING(path);
        Py_BEGIN_ALLOW_THREADS
        model = mf_model_load(p, &limits, &st);
        Py_END_ALLOW_THREADS
        if (!model) {
            if (st == MF_E_IO)
                PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, source);
            else
                PyErr_Format(status_exception(st), "model file %R: %s (mojofer status %d)", source,
                             mf_status_str(st), (int)st);
        }
        Py_DECREF(path);
        if (!model)
            return -1;
    }
    if (!model) {
        raise_status(st, "model bytes");
        return -1;
    }
    self->model = model;
    return 0;
}

int model_ready(ModelObject *self)
{
    if (!self->model) {
        PyErr_SetString(PyExc_RuntimeError, "Model was not initialised");
        return 0;
    }
    return 1;
}

static PyObject *Model_kind(ModelObject *self, void *closure)
{
    (void)closure;
    return model_ready(self) ? PyUnicode_FromString(mf_model_kind(self->model)) : NULL;
}

static PyObject *Model_names(ModelObject *self, void *closure)
{
    (void)closure;
    if (!model_ready(self))
        return NULL;
    int32_t n = mf_model_tensor_count(self->model);
    PyObject *names = PyList_New(n);
    for (int32_t i = 0; names && i < n; i++) {
        mf_tensor t;
        mf_model_tensor_at(self->model, i, &t);
        PyObject *s = PyUnicode_FromString(t.name);
        if (!s) {
            Py_CLEAR(names);
            break;
        }
        PyList_SET_ITEM(names, i, s);
    }
    return names;
}

static PyObject *Model_tensor(ModelObject *self, PyObject *arg)
{
    if (!model_ready(self))
        return NULL;
    const char *name = PyUnicode_AsUTF8(arg);
    if (!name)
        return NULL;
    mf_tensor t;
    mf_status st = mf_model_tensor(self->model, name, &t);
    if (st != MF_OK) {
        PyErr_Format(PyExc_KeyError, "model has no tensor named %R", arg);
        return NULL;
    }
    npy_intp dims[4];
    for (int i = 0; i < t.ndim; i++)
        dims[i] = (npy_intp)t.dims[i];
    PyObject *out = PyArray_SimpleNew(t.ndim, dims, t.dtype == MF_DTYPE_F32 ? NPY_FLOAT32 : NPY_INT32);
    if (out)
        memcpy(PyArray_DATA((PyArrayObject *)out), t.data, (size_t)t.count * 4);
    return out;
}

static PyMethodDef Model_methods[] = {
    {"tensor", (PyCFunction)Model_tensor, METH_O, "tensor(name) -> a copy of the named tensor as a NumPy array"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Model_getset[] = {
    {"kind", (getter)Model_kind, NULL, "what the model is for, e.g. 'face_detector'", NULL},
    {"names", (getter)Model_names, NULL, "tensor names in file order", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject ModelType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mojofer._core.Model",
    .tp_basicsize = sizeof(ModelObject),
    .tp_dealloc = (destructor)Model_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Model(source): a validated mojofer model file, from a path or bytes.",
    .tp_methods = Model_methods,
    .tp_getset = Model_getset,
    .tp_init = (initproc)Model_init,
    .tp_new = PyType_GenericNew,
};
