/* Detector: the C face detector over a face_detector Model. */
#include "_core.h"

static void *detector_new(const mf_model *model, const mf_limits *limits, mf_status *st)
{
    return mf_detector_new(model, limits, st);
}

static void detector_free(void *detector)
{
    mf_detector_free(detector);
}

static const engine_kind DETECTOR = {"O!:Detector", "face detector model", detector_new, detector_free};

static int Detector_init(EngineObject *self, PyObject *args, PyObject *kwds)
{
    return engine_init(self, args, kwds, &DETECTOR);
}

static PyObject *Detector_detect(EngineObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"frame", "bgr", "min_size", "max_size", "scale_factor",
                             "min_neighbors", "exhaustive", NULL};
    mf_detect_params p = mf_detect_params_default();
    PyObject *frame;
    int bgr = 0, exhaustive = p.exhaustive;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|$piifip:detect", kwlist, &frame, &bgr,
                                     &p.min_size, &p.max_size, &p.scale_factor, &p.min_neighbors,
                                     &exhaustive))
        return NULL;
    p.exhaustive = exhaustive;
    if (!engine_ready(self))
        return NULL;
    if (p.min_size < 1)
        return PyErr_Format(PyExc_ValueError, "min_size must be >= 1 pixel, got %d", p.min_size);
    if (p.max_size < 0)
        return PyErr_Format(PyExc_ValueError, "max_size must be >= 0 (0 = no bound), got %d", p.max_size);
    if (!(p.scale_factor >= 1.01f && p.scale_factor <= 4.0f)) {
        PyObject *v = PyFloat_FromDouble(p.scale_factor);
        if (v)
            PyErr_Format(PyExc_ValueError, "scale_factor must be in [1.01, 4], got %R", v);
        Py_XDECREF(v);
        return NULL;
    }
    if (p.min_neighbors < 0)
        return PyErr_Format(PyExc_ValueError, "min_neighbors must be >= 0, got %d", p.min_neighbors);
    mf_image view;
    if (frame_view(frame, "frame", bgr, &view) < 0)
        return NULL;
    const mf_limits limits = mf_limits_default();
    mf_box *boxes = PyMem_Malloc(sizeof *boxes * (size_t)limits.max_faces);
    if (!boxes)
        return PyErr_NoMemory();
    size_t count = 0;
    mf_status st;
    Py_INCREF(frame); /* the view points into it while the GIL is released */
    ENGINE_CALL(self, st = mf_detect(self->engine, &view, &p, boxes, (size_t)limits.max_faces, &count));
    Py_DECREF(frame);
    PyObject *out = NULL;
    if (st != MF_OK) {
        raise_status(st, "detect");
    } else {
        npy_intp dims[2] = {(npy_intp)count, 5};
        out = PyArray_SimpleNew(2, dims, NPY_FLOAT32);
        if (out)
            memcpy(PyArray_DATA((PyArrayObject *)out), boxes, count * sizeof *boxes);
    }
    PyMem_Free(boxes);
    return out;
}

static PyMethodDef Detector_methods[] = {
    {"detect", (PyCFunction)(void (*)(void))Detector_detect, METH_VARARGS | METH_KEYWORDS,
     "detect(frame, *, bgr=False, min_size, max_size, scale_factor, min_neighbors, exhaustive) -> "
     "float32 array (N, 5) of x, y, w, h, score, best first"},
    {NULL, NULL, 0, NULL},
};

PyTypeObject DetectorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mojofer._core.Detector",
    .tp_basicsize = sizeof(EngineObject),
    .tp_dealloc = (destructor)engine_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Detector(model): the C face detector over a face_detector Model.",
    .tp_methods = Detector_methods,
    .tp_init = (initproc)Detector_init,
    .tp_new = PyType_GenericNew,
};
