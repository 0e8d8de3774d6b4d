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

/* Raises the ValueError naming the first face of `points` (n faces, or
 * one) the core's landmark rule refuses; 0 if none is. */
static int points_refused(PyArrayObject *points, npy_intp n, const char *arg)
{
    for (npy_intp i = 0; i < n; i++) {
        const char *problem =
            mf_points_problem((const float *)PyArray_DATA(points) + i * 2 * MF_LANDMARKS);
        if (!problem)
            continue;
        if (PyArray_NDIM(points) == 3)
            PyErr_Format(PyExc_ValueError, "%s[%zd] refused: %s", arg, (Py_ssize_t)i, problem);
        else
            PyErr_Format(PyExc_ValueError, "%s refused: %s", arg, problem);
        return 1;
    }
    return 0;
}

/* The per-face baselines of classify(): `shapes` (n, 68, 2) aligned resting
 * faces and `weights` (n,) in 0..1, checked and copied into out[n]. */
static int baselines_parse(PyObject *shapes_obj, PyObject *weights_obj, npy_intp n,
                           mf_face_baseline *out)
{
    int ok = 0;
    PyArrayObject *shapes = NULL, *weights = NULL;
    if ((shapes_obj == Py_None) != (weights_obj == Py_None)) {
        PyErr_SetString(PyExc_TypeError, "baselines and baseline_weights go together: give both or neither");
        return 0;
    }
    if (!(shapes = faces_array(shapes_obj, "baselines")))
        goto done;
    weights = (PyArrayObject *)PyArray_FROMANY(weights_obj, NPY_FLOAT32, 0, 1,
                                               NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
    if (!weights) {
        PyErr_Clear();
        PyErr_SetString(PyExc_TypeError, "baseline_weights must be numbers in 0..1, one per face");
        goto done;
    }
    const npy_intp m = PyArray_NDIM(shapes) == 3 ? PyArray_DIM(shapes, 0) : 1;
    if (m != n || PyArray_SIZE(weights) != n) {
        PyErr_Format(PyExc_ValueError,
                     "baselines and baseline_weights must hold one per face of points (%zd), got %zd and %zd",
                     (Py_ssize_t)n, (Py_ssize_t)m, (Py_ssize_t)PyArray_SIZE(weights));
        goto done;
    }
    const float *shape = PyArray_DATA(shapes), *weight = PyArray_DATA(weights);
    for (npy_intp i = 0; i < n; i++) {
        char value[32];
        if (!(weight[i] >= 0.0f && weight[i] <= 1.0f)) {
            snprintf(value, sizeof value, "%g", (double)weight[i]);
            PyErr_Format(PyExc_ValueError, "baseline_weights[%zd] must be within 0..1, got %s",
                         (Py_ssize_t)i, value);
            goto done;
        }
        out[i].weight = weight[i];
        memcpy(out[i].shape, shape + i * 2 * MF_LANDMARKS, sizeof out[i].shape);
        for (int v = 0; v < 2 * MF_LANDMARKS; v++)
            if (!(fabsf(out[i].shape[v]) <= 10.0f)) {
                snprintf(value, sizeof value, "%g", (double)out[i].shape[v]);
                PyErr_Format(PyExc_ValueError,
                             "baselines[%zd] must be an aligned shape (values within +-10, as "
                             "baseline() gives), got a value %s",
                             (Py_ssize_t)i, value);
                goto done;
            }
    }
    ok = 1;
done:
    Py_XDECREF(shapes);
    Py_XDECREF(weights);
    return ok;
}

/* classify(points (n, 68, 2), baselines=None (n, 68, 2), baseline_weights=None (n,))
 * -> Expressions(emotions (n, 7), social (n, 3): amusement, surprise,
 * confusion, action_units (n, 9)), all float32 */
static PyObject *ExpressionClassifier_classify(EngineObject *self, PyObject *args,
                                               PyObject *kwds)
{
    static char *kwlist[] = {"points", "baselines", "baseline_weights", NULL};
    PyObject *points_obj, *shapes_obj = Py_None, *weights_obj = Py_None, *result = NULL;
    PyArrayObject *points = NULL, *emotions = NULL, *social = NULL, *units = NULL;
    mf_expression *out = NULL;
    mf_face_baseline *baselines = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|OO:classify", kwlist, &points_obj, &shapes_obj,
                                     &weights_obj))
        return NULL;
    if (!engine_ready(self))
        return NULL;
    if (!(points = faces_array(points_obj, "points")))
        goto done;
    const npy_intp n = PyArray_NDIM(points) == 3 ? PyArray_DIM(points, 0) : 1;
    npy_intp d_emotions[2] = {n, MF_EMOTIONS}, d_social[2] = {n, 3}, d_units[2] = {n, MF_ACTION_UNITS};
    emotions = (PyArrayObject *)PyArray_SimpleNew(2, d_emotions, NPY_FLOAT32);
    social = (PyArrayObject *)PyArray_SimpleNew(2, d_social, NPY_FLOAT32);
    units = (PyArrayObject *)PyArray_SimpleNew(2, d_units, NPY_FLOAT32);
    out = PyMem_RawMalloc(sizeof *out * (size_t)(n ? n : 1));
    if (shapes_obj != Py_None || weights_obj != Py_None)
        baselines = PyMem_RawMalloc(sizeof *baselines * (size_t)(n ? n : 1));
    if (!emotions || !social || !units || !out ||
        ((shapes_obj != Py_None || weights_obj != Py_None) && !baselines)) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        goto done;
    }
    if (baselines && !baselines_parse(shapes_obj, weights_obj, n, baselines))
        goto done;
    mf_status st;
    ENGINE_CALL(self, st = mf_expressions(self->engine, PyArray_DATA(points), baselines, (size_t)n, out));
    if (st == MF_E_INVALID_ARGUMENT && points_refused(points, n, "points"))
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
    PyMem_RawFree(baselines);
    Py_XDECREF(points);
    Py_XDECREF(emotions);
    Py_XDECREF(social);
    Py_XDECREF(units);
    return result;
}

/* baseline(points (n, 68, 2)) -> (shape (68, 2) float32, weight): one
 * person's resting face from n >= 1 of their faces (mf_expression_baseline). */
static PyObject *ExpressionClassifier_baseline(EngineObject *self, PyObject *args)
{
    PyObject *points_obj, *result = NULL;
    PyArrayObject *points = NULL, *shape = NULL;
    mf_face_baseline b;
    if (!PyArg_ParseTuple(args, "O:baseline", &points_obj) || !engine_ready(self))
        return NULL;
    if (!(points = faces_array(points_obj, "points")))
        goto done;
    const npy_intp n = PyArray_NDIM(points) == 3 ? PyArray_DIM(points, 0) : 1;
    if (n == 0) {
        PyErr_SetString(PyExc_ValueError, "points must hold at least one face for a baseline");
        goto done;
    }
    mf_status st;
    ENGINE_CALL(self, st = mf_expression_baseline(self->engine, PyArray_DATA(points), (size_t)n, &b));
    if (st == MF_E_INVALID_ARGUMENT && points_refused(points, n, "points"))
        goto done;
    if (st != MF_OK) {
        raise_status(st, "expression baseline");
        goto done;
    }
    npy_intp dims[2] = {MF_LANDMARKS, 2};
    if (!(shape = (PyArrayObject *)PyArray_SimpleNew(2, dims, NPY_FLOAT32)))
        goto done;
    memcpy(PyArray_DATA(shape), b.shape, sizeof b.shape);
    result = Py_BuildValue("(Od)", (PyObject *)shape, (double)b.weight);
done:
    Py_XDECREF(points);
    Py_XDECREF(shape);
    return result;
}

static PyMethodDef ExpressionClassifier_methods[] = {
    {"classify", (PyCFunction)(void (*)(void))ExpressionClassifier_classify,
     METH_VARARGS | METH_KEYWORDS,
     "classify(points, baselines=None, baseline_weights=None) -> Expressions(emotions, social, "
     "action_units) for (n, 68, 2) faces, each read against its baseline ((n, 68, 2) aligned "
     "shapes as baseline() gives, weights (n,) in 0..1)"},
    {"baseline", (PyCFunction)ExpressionClassifier_baseline, METH_VARARGS,
     "baseline(points) -> (shape (68, 2), weight): one person's resting face from (n, 68, 2) of their faces"},
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
