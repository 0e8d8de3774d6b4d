/* ExpressionClassifier: the expression MLP of an expressions Model. */
#include "_core.h"


/* A C-contiguous float32 (n, 68, 2) copy-or-view of `obj` (a single (68, 2)
 * face counts as n = 1); raises naming `arg`. */
static PyArrayObject *faces_array(PyObject *obj, const char *arg)
{
    PyArrayObject *a = (PyArrayObject *)PyArray_FROMANY(obj, NPY_FLOAT32, 2, 3,
                                                        NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
    if (!a) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError,
                     "%s must be an array of faces' 68 (x, y) points, shaped (68, 2) or (n, 68, 2)",
                     arg);
        return NULL;
    }
    const int nd = PyArray_NDIM(a);
    if (PyArray_DIM(a, nd - 2) != MF_LANDMARKS || PyArray_DIM(a, nd - 1) != 2) {
        PyErr_Format(PyExc_ValueError, "%s must be shaped (68, 2) or (n, 68, 2), got (..., %zd, %zd)",
                     arg, (Py_ssize_t)PyArray_DIM(a, nd - 2), (Py_ssize_t)PyArray_DIM(a, nd - 1));
        Py_DECREF(a);
        return NULL;
    }
    return a;
}

static void *expression_classifier_new(const mf_model *model, const mf_limits *limits, mf_status *st)
{
    return mf_expression_classifier_new(model, limits, st);
}

static void expression_classifier_free(void *engine)
{
    mf_expression_classifier_free(engine);
}

static const engine_kind EXPRESSION_CLASSIFIER = {"O!:ExpressionClassifier", "expressions model", expression_classifier_new, expression_classifier_free};

static int ExpressionClassifier_init(EngineObject *self, PyObject *args, PyObject *kwds)
{
    return engine_init(self, args, kwds, &EXPRESSION_CLASSIFIER);
}

/* Raises the ValueError naming the first face of `points` or `neutral`
 * (n faces each, or one) the core's landmark rule refuses; 0 if none is. */
static int points_refused(PyArrayObject *points, PyArrayObject *neutral, npy_intp n)
{
    PyArrayObject *arrays[2] = {points, neutral};
    const char *names[2] = {"points", "neutral"};
    for (npy_intp i = 0; i < n; i++)
        for (int a = 0; a < 2 && arrays[a]; a++) {
            const char *problem = mf_points_problem((const float *)PyArray_DATA(arrays[a]) +
                                                    i * 2 * MF_LANDMARKS);
            if (!problem)
                continue;
            if (PyArray_NDIM(arrays[a]) == 3)
                PyErr_Format(PyExc_ValueError, "%s[%zd] refused: %s", names[a], (Py_ssize_t)i, problem);
            else
                PyErr_Format(PyExc_ValueError, "%s refused: %s", names[a], problem);
            return 1;
        }
    return 0;
}

/* classify(points (n, 68, 2), neutral=None (n, 68, 2)) -> Expressions(emotions (n, 7),
 * social (n, 3): amusement, surprise, confusion, action_units (n, 9)), all float32 */
static PyObject *ExpressionClassifier_classify(EngineObject *self, PyObject *args,
                                               PyObject *kwds)
{
    static char *kwlist[] = {"points", "neutral", NULL};
    PyObject *points_obj, *neutral_obj = Py_None, *result = NULL;
    PyArrayObject *points = NULL, *neutral = NULL, *emotions = NULL, *social = NULL, *units = NULL;
    mf_expression *out = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O:classify", kwlist, &points_obj, &neutral_obj))
        return NULL;
    if (!engine_ready(self))
        return NULL;
    if (!(points = faces_array(points_obj, "points")))
        goto done;
    const npy_intp n = PyArray_NDIM(points) == 3 ? PyArray_DIM(points, 0) : 1;
    if (neutral_obj != Py_None) {
        if (!(neutral = faces_array(neutral_obj, "neutral")))
            goto done;
        const npy_intp m = PyArray_NDIM(neutral) == 3 ? PyArray_DIM(neutral, 0) : 1;
        if (m != n) {
            PyErr_Format(PyExc_ValueError, "neutral must hold one face per face of points (%zd), got %zd",
                         (Py_ssize_t)n, (Py_ssize_t)m);
            goto done;
        }
    }
    npy_intp d_emotions[2] = {n, MF_EMOTIONS}, d_social[2] = {n, 3}, d_units[2] = {n, MF_ACTION_UNITS};
    emotions = (PyArrayObject *)PyArray_SimpleNew(2, d_emotions, NPY_FLOAT32);
    social = (PyArrayObject *)PyArray_SimpleNew(2, d_social, NPY_FLOAT32);
    units = (PyArrayObject *)PyArray_SimpleNew(2, d_units, NPY_FLOAT32);
    out = PyMem_RawMalloc(sizeof *out * (size_t)(n ? n : 1));
    if (!emotions || !social || !units || !out) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        goto done;
    }
    mf_status st;
    ENGINE_CALL(self, st = mf_expressions(self->engine, PyArray_DATA(points),
                                          neutral ? PyArray_DATA(neutral) : NULL, (size_t)n, out));
    if (st == MF_E_INVALID_ARGUMENT && points_refused(points, neutral, n))
        goto done;
    if (st != MF_OK) {
        raise_status(st, "expressions");
        goto done;
    }
    for (npy_intp i = 0; i < n; i++) {
        float *e = (float *)PyArray_GETPTR2(emotions, i, 0), *s = (float *)PyArray_GETPTR2(social, i, 0);
        memcpy(e, out[i].emotions, sizeof out[i].emotions);
        memcpy(PyArray_GETPTR2(units, i, 0), out[i].action_units, sizeof out[i].action_units);
        s[0] = out[i].amusement, s[1] = out[i].surprise, s[2] = out[i].confusion;
    }
    if ((result = PyStructSequence_New(&ExpressionsType))) {
        PyStructSequence_SET_ITEM(result, 0, (PyObject *)emotions);
        PyStructSequence_SET_ITEM(result, 1, (PyObject *)social);
        PyStructSequence_SET_ITEM(result, 2, (PyObject *)units);
        emotions = social = units = NULL;
    }
done:
    PyMem_RawFree(out);
    Py_XDECREF(points);
    Py_XDECREF(neutral);
    Py_XDECREF(emotions);
    Py_XDECREF(social);
    Py_XDECREF(units);
    return result;
}

static PyMethodDef ExpressionClassifier_methods[] = {
    {"classify", (PyCFunction)(void (*)(void))ExpressionClassifier_classify,
     METH_VARARGS | METH_KEYWORDS,
     "classify(points, neutral=None) -> Expressions(emotions, social, action_units) for (n, 68, 2) faces"},
    {NULL, NULL, 0, NULL},
};

PyTypeObject ExpressionClassifierType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mojofer._core.ExpressionClassifier",
    .tp_basicsize = sizeof(EngineObject),
    .tp_dealloc = (destructor)engine_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "ExpressionClassifier(model): the expression MLP of an expressions Model (one thread at a time).",
    .tp_methods = ExpressionClassifier_methods,
    .tp_init = (initproc)ExpressionClassifier_init,
    .tp_new = PyType_GenericNew,
};
