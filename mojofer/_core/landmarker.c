/* Landmarker: the C 68-point regressor over a landmarks Model; and the
 * regressor's features, for training and tests. */
#include "_core.h"


PyObject *core_landmark_features(PyObject *self, PyObject *args, PyObject *kwds)
{
    (void)self;
    static char *kwlist[] = {"frame", "shape", "mean_shape", "radius", "bgr", NULL};
    PyObject *frame, *shape_obj, *mean_obj;
    float radius;
    int bgr = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOf|$p:landmark_features", kwlist, &frame,
                                     &shape_obj, &mean_obj, &radius, &bgr))
        return NULL;
    mf_image view;
    if (frame_view(frame, "frame", bgr, &view) < 0)
        return NULL;
    if (!(radius > 0.0f && radius < 10.0f))
        return PyErr_Format(PyExc_ValueError, "radius must be in (0, 10)");
    PyArrayObject *shape = shape_array(shape_obj, "shape"), *mean = NULL;
    PyObject *out = NULL;
    if (!shape || !(mean = shape_array(mean_obj, "mean_shape")))
        goto done;
    npy_intp dims[1] = {MF_LANDMARK_FEATURES};
    if (!(out = PyArray_SimpleNew(1, dims, NPY_FLOAT32)))
        goto done;
    mf_status st;
    Py_BEGIN_ALLOW_THREADS
    st = mf_landmark_features(&view, PyArray_DATA(shape), PyArray_DATA(mean), radius,
                              PyArray_DATA((PyArrayObject *)out));
    Py_END_ALLOW_THREADS
    if (st != MF_OK) {
        Py_CLEAR(out);
        raise_status(st, "landmark_features");
    }
done:
    Py_XDECREF(shape);
    Py_XDECREF(mean);
    return out;
}

static void *landmarker_new(const mf_model *model, const mf_limits *limits, mf_status *st)
{
    return mf_landmarker_new(model, limits, st);
}

static void landmarker_free(void *engine)
{
    mf_landmarker_free(engine);
}

static const engine_kind LANDMARKER = {"O!:Landmarker", "landmarks model", landmarker_new, landmarker_free};

static int Landmarker_init(EngineObject *self, PyObject *args, PyObject *kwds)
{
    return engine_init(self, args, kwds, &LANDMARKER);
}

/* fit(frame, box=(x, y, w, h)) or track(frame, points): -> (points, quality) */
static PyObject *landmarker_run(EngineObject *self, PyObject *frame, int bgr,
                                const mf_box *box, PyArrayObject *initial)
{
    if (!engine_ready(self))
        return NULL;
    mf_image view;
    if (frame_view(frame, "frame", bgr, &view) < 0)
        return NULL;
    PyObject *points = new_points();
    if (!points)
        return NULL;
    float *out = PyArray_DATA((PyArrayObject *)points), quality = 0.0f;
    mf_status st;
    Py_INCREF(frame);
    ENGINE_CALL(self, st = box ? mf_landmarks_from_box(self->engine, &view, box, out, 2 * MF_LANDMARKS, &quality)
                               : mf_landmarks_from_points(self->engine, &view, PyArray_DATA(initial),
                                                          out, 2 * MF_LANDMARKS, &quality));
    Py_DECREF(frame);
    if (st != MF_OK) {
        Py_DECREF(points);
        if (st == MF_E_INVALID_ARGUMENT)
            return PyErr_Format(PyExc_ValueError,
                                box ? "box must have a finite position, a width and height of at "
                                      "least 1 pixel, and overlap the frame"
                                    : "points must span at least 1 pixel and overlap the frame");
        return raise_status(st, "landmarks");
    }
    return Py_BuildValue("(Nd)", points, (double)quality);
}

static PyObject *Landmarker_fit(EngineObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"frame", "box", "bgr", NULL};
    PyObject *frame;
    mf_box box = {0, 0, 0, 0, 0};
    int bgr = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O(ffff)|$p:fit", kwlist, &frame, &box.x, &box.y,
                                     &box.w, &box.h, &bgr))
        return NULL;
    return landmarker_run(self, frame, bgr, &box, NULL);
}

static PyObject *Landmarker_track(EngineObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"frame", "points", "bgr", NULL};
    PyObject *frame, *points_obj;
    int bgr = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|$p:track", kwlist, &frame, &points_obj, &bgr))
        return NULL;
    PyArrayObject *initial = shape_array(points_obj, "points");
    if (!initial)
        return NULL;
    PyObject *result = landmarker_run(self, frame, bgr, NULL, initial);
    Py_DECREF(initial);
    return result;
}

static PyMethodDef Landmarker_methods[] = {
    {"fit", (PyCFunction)(void (*)(void))Landmarker_fit, METH_VARARGS | METH_KEYWORDS,
     "fit(frame, (x, y, w, h), *, bgr=False) -> (points (68, 2) float32, quality)"},
    {"track", (PyCFunction)(void (*)(void))Landmarker_track, METH_VARARGS | METH_KEYWORDS,
     "track(frame, points, *, bgr=False) -> (points (68, 2) float32, quality)"},
    {NULL, NULL, 0, NULL},
};

PyTypeObject LandmarkerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mojofer._core.Landmarker",
    .tp_basicsize = sizeof(EngineObject),
    .tp_dealloc = (destructor)engine_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Landmarker(model): the C 68-point regressor over a landmarks Model.",
    .tp_methods = Landmarker_methods,
    .tp_init = (initproc)Landmarker_init,
    .tp_new = PyType_GenericNew,
};
