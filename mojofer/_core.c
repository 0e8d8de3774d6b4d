/* The CPython binding: the only file that includes Python.h and NumPy.
 * It parses and validates arguments, releases the GIL around core calls,
 * and maps core status codes to exceptions through one table. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>
#include <pythread.h>

#include <cblas.h> /* openblas_set_num_threads: OpenBLAS's thread count is the process's */
#include <math.h>
#include <stdlib.h>

#include "mojofer_stream.h"

static PyObject *ModelError; /* set once at import; the exception type is immutable */

#if PY_VERSION_HEX < 0x030A0000
/* Python 3.9 has no PyModule_AddObjectRef (3.10): the same from
 * PyModule_AddObject, which takes the reference on success only. */
static int PyModule_AddObjectRef(PyObject *module, const char *name, PyObject *value)
{
    Py_XINCREF(value);
    const int result = PyModule_AddObject(module, name, value);
    if (result < 0)
        Py_XDECREF(value);
    return result;
}
#endif

/* ---- status -> exception: the one table --------------------------------- */

static PyObject *status_exception(mf_status st)
{
    switch (st) {
    case MF_E_NO_MEMORY: return PyExc_MemoryError;
    case MF_E_IO: return PyExc_OSError;
    case MF_E_MODEL_MAGIC:
    case MF_E_MODEL_VERSION:
    case MF_E_MODEL_TRUNCATED:
    case MF_E_MODEL_CORRUPT:
    case MF_E_MODEL_MISSING:
    case MF_E_MODEL_KIND: return ModelError;
    case MF_E_INVALID_ARGUMENT:
    case MF_E_IMAGE_TOO_LARGE:
    case MF_E_TOO_LARGE:
    default: return PyExc_ValueError;
    }
}

/* Raises for a failed status, naming what failed; returns NULL. */
static PyObject *raise_status(mf_status st, const char *what)
{
    PyErr_Format(status_exception(st), "%s: %s (mojofer status %d)", what, mf_status_str(st),
                 (int)st);
    return NULL;
}

/* ---- frames ------------------------------------------------------------- */

/* Fills `view` from a NumPy frame without copying. On failure raises a
 * TypeError/ValueError naming `arg` and what was expected, and returns -1. */
static int frame_view(PyObject *obj, const char *arg, int bgr, mf_image *view)
{
    const mf_limits limits = mf_limits_default();
    if (!PyArray_Check(obj)) {
        PyErr_Format(PyExc_TypeError,
                     "%s must be a numpy.ndarray of dtype uint8 shaped (H, W), (H, W, 3) or "
                     "(H, W, 4), not %.100s",
                     arg, Py_TYPE(obj)->tp_name);
        return -1;
    }
    PyArrayObject *a = (PyArrayObject *)obj;
    if (PyArray_TYPE(a) != NPY_UINT8) {
        PyObject *name = PyObject_Str((PyObject *)PyArray_DESCR(a));
        PyErr_Format(PyExc_TypeError,
                     "%s must have dtype uint8, not %S (convert with frame.astype(np.uint8) "
                     "after scaling to 0..255)",
                     arg, name ? name : Py_None);
        Py_XDECREF(name);
        return -1;
    }
    int nd = PyArray_NDIM(a);
    npy_intp *shape = PyArray_DIMS(a), *strides = PyArray_STRIDES(a);
    int channels = nd == 3 ? (int)shape[2] : 1;
    if (nd != 2 && !(nd == 3 && (channels == 3 || channels == 4))) {
        PyErr_Format(PyExc_ValueError,
                     "%s must be shaped (H, W) gray, (H, W, 3) RGB/BGR or (H, W, 4) RGBA/BGRA; "
                     "got %d dimension(s)%s",
                     arg, nd, nd == 3 ? " with a last axis that is not 3 or 4" : "");
        return -1;
    }
    if (shape[0] == 0 || shape[1] == 0) {
        PyErr_Format(PyExc_ValueError, "%s is empty: shape (%zd, %zd)", arg, (Py_ssize_t)shape[0],
                     (Py_ssize_t)shape[1]);
        return -1;
    }
    if (shape[0] > limits.max_image_side || shape[1] > limits.max_image_side ||
        (double)shape[0] * (double)shape[1] > (double)limits.max_image_pixels) {
        PyErr_Format(PyExc_ValueError,
                     "%s is too large: %zd x %zd pixels; the limit is %lld pixels and %d per side",
                     arg, (Py_ssize_t)shape[1], (Py_ssize_t)shape[0],
                     (long long)limits.max_image_pixels, (int)limits.max_image_side);
        return -1;
    }
    view->data = PyArray_DATA(a);
    view->height = (int32_t)shape[0];
    view->width = (int32_t)shape[1];
    view->row_stride = strides[0];
    view->pixel_stride = strides[1];
    view->channel_stride = nd == 3 ? strides[2] : 1;
    view->channels = channels;
    view->order = channels == 1 ? MF_GRAY
                  : channels == 3 ? (bgr ? MF_BGR : MF_RGB)
                                  : (bgr ? MF_BGRA : MF_RGBA);
    mf_status st = mf_image_check(view, &limits);
    if (st != MF_OK) {
        raise_status(st, arg);
        return -1;
    }
    return 0;
}

/* ---- Model -------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    mf_model *model;
} ModelObject;

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

static int model_ready(ModelObject *self)
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

static PyTypeObject ModelType = {
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

/* ---- Detector ----------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    mf_detector *detector;
    PyObject *model; /* the detector reads the model's tensors */
    PyThread_type_lock lock; /* one core context, one thread at a time */
} DetectorObject;

static void Detector_dealloc(DetectorObject *self)
{
    mf_detector_free(self->detector);
    Py_XDECREF(self->model);
    if (self->lock)
        PyThread_free_lock(self->lock);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Detector_init(DetectorObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"model", NULL};
    PyObject *model;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!:Detector", kwlist, &ModelType, &model))
        return -1;
    if (self->detector) {
        PyErr_SetString(PyExc_RuntimeError, "Detector is already initialised");
        return -1;
    }
    if (!model_ready((ModelObject *)model))
        return -1;
    const mf_limits limits = mf_limits_default();
    mf_status st;
    self->detector = mf_detector_new(((ModelObject *)model)->model, &limits, &st);
    if (!self->detector) {
        raise_status(st, "face detector model");
        return -1;
    }
    self->lock = PyThread_allocate_lock();
    if (!self->lock) {
        PyErr_NoMemory();
        return -1;
    }
    Py_INCREF(model);
    self->model = model;
    return 0;
}

static PyObject *Detector_detect(DetectorObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"frame", "bgr", "min_size", "max_size", "scale_factor",
                             "min_neighbors", NULL};
    mf_detect_params p = mf_detect_params_default();
    PyObject *frame;
    int bgr = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|$piifi:detect", kwlist, &frame, &bgr,
                                     &p.min_size, &p.max_size, &p.scale_factor, &p.min_neighbors))
        return NULL;
    if (!self->detector) {
        PyErr_SetString(PyExc_RuntimeError, "Detector was not initialised");
        return NULL;
    }
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
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    st = mf_detect(self->detector, &view, &p, boxes, (size_t)limits.max_faces, &count);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
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
     "detect(frame, *, bgr=False, min_size, max_size, scale_factor, min_neighbors) -> "
     "float32 array (N, 5) of x, y, w, h, score, best first"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject DetectorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mojofer._core.Detector",
    .tp_basicsize = sizeof(DetectorObject),
    .tp_dealloc = (destructor)Detector_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Detector(model): the C face detector over a face_detector Model.",
    .tp_methods = Detector_methods,
    .tp_init = (initproc)Detector_init,
    .tp_new = PyType_GenericNew,
};

/* ---- landmarks ---------------------------------------------------------- */

/* A C-contiguous float32 (68, 2) copy-or-view of `obj`; raises naming `arg`. */
static PyArrayObject *shape_array(PyObject *obj, const char *arg)
{
    PyArrayObject *a = (PyArrayObject *)PyArray_FROMANY(obj, NPY_FLOAT32, 2, 2,
                                                        NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
    if (!a) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s must be an array of 68 (x, y) points, shaped (68, 2)", arg);
        return NULL;
    }
    if (PyArray_DIM(a, 0) != MF_LANDMARKS || PyArray_DIM(a, 1) != 2) {
        PyErr_Format(PyExc_ValueError, "%s must be shaped (68, 2), got (%zd, %zd)", arg,
                     (Py_ssize_t)PyArray_DIM(a, 0), (Py_ssize_t)PyArray_DIM(a, 1));
        Py_DECREF(a);
        return NULL;
    }
    const float *v = PyArray_DATA(a);
    for (int i = 0; i < 2 * MF_LANDMARKS; i++)
        if (!isfinite(v[i])) {
            PyErr_Format(PyExc_ValueError, "%s holds a NaN or infinite coordinate", arg);
            Py_DECREF(a);
            return NULL;
        }
    return a;
}

static PyObject *new_points(void)
{
    npy_intp dims[2] = {MF_LANDMARKS, 2};
    return PyArray_SimpleNew(2, dims, NPY_FLOAT32);
}

static PyObject *core_landmark_features(PyObject *self, PyObject *args, PyObject *kwds)
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

typedef struct {
    PyObject_HEAD
    mf_landmarker *landmarker;
    PyObject *model;
    PyThread_type_lock lock;
} LandmarkerObject;

static void Landmarker_dealloc(LandmarkerObject *self)
{
    mf_landmarker_free(self->landmarker);
    Py_XDECREF(self->model);
    if (self->lock)
        PyThread_free_lock(self->lock);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Landmarker_init(LandmarkerObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"model", NULL};
    PyObject *model;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!:Landmarker", kwlist, &ModelType, &model))
        return -1;
    if (self->landmarker) {
        PyErr_SetString(PyExc_RuntimeError, "Landmarker is already initialised");
        return -1;
    }
    if (!model_ready((ModelObject *)model))
        return -1;
    const mf_limits limits = mf_limits_default();
    mf_status st;
    self->landmarker = mf_landmarker_new(((ModelObject *)model)->model, &limits, &st);
    if (!self->landmarker) {
        raise_status(st, "landmarks model");
        return -1;
    }
    if (!(self->lock = PyThread_allocate_lock())) {
        PyErr_NoMemory();
        return -1;
    }
    Py_INCREF(model);
    self->model = model;
    return 0;
}

/* fit(frame, box=(x, y, w, h)) or track(frame, points): -> (points, quality) */
static PyObject *landmarker_run(LandmarkerObject *self, PyObject *frame, int bgr,
                                const mf_box *box, PyArrayObject *initial)
{
    if (!self->landmarker) {
        PyErr_SetString(PyExc_RuntimeError, "Landmarker was not initialised");
        return NULL;
    }
    mf_image view;
    if (frame_view(frame, "frame", bgr, &view) < 0)
        return NULL;
    PyObject *points = new_points();
    if (!points)
        return NULL;
    float *out = PyArray_DATA((PyArrayObject *)points), quality = 0.0f;
    mf_status st;
    Py_INCREF(frame);
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    st = box ? mf_landmarks_from_box(self->landmarker, &view, box, out, 2 * MF_LANDMARKS, &quality)
             : mf_landmarks_from_points(self->landmarker, &view, PyArray_DATA(initial), out,
                                        2 * MF_LANDMARKS, &quality);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
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

static PyObject *Landmarker_fit(LandmarkerObject *self, PyObject *args, PyObject *kwds)
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

static PyObject *Landmarker_track(LandmarkerObject *self, PyObject *args, PyObject *kwds)
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

static PyTypeObject LandmarkerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mojofer._core.Landmarker",
    .tp_basicsize = sizeof(LandmarkerObject),
    .tp_dealloc = (destructor)Landmarker_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Landmarker(model): the C 68-point regressor over a landmarks Model.",
    .tp_methods = Landmarker_methods,
    .tp_init = (initproc)Landmarker_init,
    .tp_new = PyType_GenericNew,
};

/* ---- head pose ---------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    mf_pose_estimator *estimator;
    PyObject *model;
    PyThread_type_lock lock;
} PoseEstimatorObject;

static void PoseEstimator_dealloc(PoseEstimatorObject *self)
{
    mf_pose_estimator_free(self->estimator);
    Py_XDECREF(self->model);
    if (self->lock)
        PyThread_free_lock(self->lock);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int PoseEstimator_init(PoseEstimatorObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"model", NULL};
    PyObject *model;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!:PoseEstimator", kwlist, &ModelType, &model))
        return -1;
    if (self->estimator) {
        PyErr_SetString(PyExc_RuntimeError, "PoseEstimator is already initialised");
        return -1;
    }
    if (!model_ready((ModelObject *)model))
        return -1;
    const mf_limits limits = mf_limits_default();
    mf_status st;
    self->estimator = mf_pose_estimator_new(((ModelObject *)model)->model, &limits, &st);
    if (!self->estimator) {
        raise_status(st, "head pose model");
        return -1;
    }
    if (!(self->lock = PyThread_allocate_lock())) {
        PyErr_NoMemory();
        return -1;
    }
    Py_INCREF(model);
    self->model = model;
    return 0;
}

static PyObject *PoseEstimator_estimate(PoseEstimatorObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"points", NULL};
    PyObject *points_obj;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:estimate", kwlist, &points_obj))
        return NULL;
    if (!self->estimator) {
        PyErr_SetString(PyExc_RuntimeError, "PoseEstimator was not initialised");
        return NULL;
    }
    PyArrayObject *points = shape_array(points_obj, "points");
    if (!points)
        return NULL;
    mf_pose pose;
    mf_status st;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    st = mf_pose_estimate(self->estimator, PyArray_DATA(points), &pose);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    /* the points are the only argument the core refuses: its rule names the cause */
    const char *problem = st == MF_E_INVALID_ARGUMENT ? mf_points_problem(PyArray_DATA(points)) : NULL;
    Py_DECREF(points);
    if (problem)
        return PyErr_Format(PyExc_ValueError, "points refused: %s", problem);
    if (st != MF_OK)
        return raise_status(st, "head pose");
    return Py_BuildValue("(ddd)", (double)pose.yaw, (double)pose.pitch, (double)pose.roll);
}

static PyMethodDef PoseEstimator_methods[] = {
    {"estimate", (PyCFunction)(void (*)(void))PoseEstimator_estimate, METH_VARARGS | METH_KEYWORDS,
     "estimate(points) -> (yaw, pitch, roll) in degrees, from 68 (x, y) landmarks shaped (68, 2)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject PoseEstimatorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mojofer._core.PoseEstimator",
    .tp_basicsize = sizeof(PoseEstimatorObject),
    .tp_dealloc = (destructor)PoseEstimator_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "PoseEstimator(model): the C head-pose fit over a head_pose Model.",
    .tp_methods = PoseEstimator_methods,
    .tp_init = (initproc)PoseEstimator_init,
    .tp_new = PyType_GenericNew,
};

/* ---- expressions -------------------------------------------------------- */

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

typedef struct {
    PyObject_HEAD
    mf_expression_classifier *classifier;
    PyObject *model;
    PyThread_type_lock lock;
} ExpressionClassifierObject;

static void ExpressionClassifier_dealloc(ExpressionClassifierObject *self)
{
    mf_expression_classifier_free(self->classifier);
    Py_XDECREF(self->model);
    if (self->lock)
        PyThread_free_lock(self->lock);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int ExpressionClassifier_init(ExpressionClassifierObject *self, PyObject *args,
                                     PyObject *kwds)
{
    static char *kwlist[] = {"model", NULL};
    PyObject *model;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!:ExpressionClassifier", kwlist, &ModelType,
                                     &model))
        return -1;
    if (self->classifier) {
        PyErr_SetString(PyExc_RuntimeError, "ExpressionClassifier is already initialised");
        return -1;
    }
    if (!model_ready((ModelObject *)model))
        return -1;
    const mf_limits limits = mf_limits_default();
    mf_status st;
    self->classifier = mf_expression_classifier_new(((ModelObject *)model)->model, &limits, &st);
    if (!self->classifier) {
        raise_status(st, "expressions model");
        return -1;
    }
    if (!(self->lock = PyThread_allocate_lock())) {
        PyErr_NoMemory();
        return -1;
    }
    Py_INCREF(model);
    self->model = model;
    return 0;
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

/* classify(points (n, 68, 2), neutral=None (n, 68, 2)) ->
 * (emotions (n, 7), social (n, 3): amusement, surprise, confusion,
 *  action_units (n, 9)), all float32 */
static PyObject *ExpressionClassifier_classify(ExpressionClassifierObject *self, PyObject *args,
                                               PyObject *kwds)
{
    static char *kwlist[] = {"points", "neutral", NULL};
    PyObject *points_obj, *neutral_obj = Py_None, *result = NULL;
    PyArrayObject *points = NULL, *neutral = NULL, *emotions = NULL, *social = NULL, *units = NULL;
    mf_expression *out = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O:classify", kwlist, &points_obj, &neutral_obj))
        return NULL;
    if (!self->classifier) {
        PyErr_SetString(PyExc_RuntimeError, "ExpressionClassifier was not initialised");
        return NULL;
    }
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
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    st = mf_expressions(self->classifier, PyArray_DATA(points),
                        neutral ? PyArray_DATA(neutral) : NULL, (size_t)n, out);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
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
    result = Py_BuildValue("(OOO)", emotions, social, units);
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
     "classify(points, neutral=None) -> (emotions, social, action_units) for (n, 68, 2) faces"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ExpressionClassifierType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mojofer._core.ExpressionClassifier",
    .tp_basicsize = sizeof(ExpressionClassifierObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Expression MLP of an 'expressions' model (one thread at a time).",
    .tp_methods = ExpressionClassifier_methods,
    .tp_dealloc = (destructor)ExpressionClassifier_dealloc,
    .tp_init = (initproc)ExpressionClassifier_init,
    .tp_new = PyType_GenericNew,
};

/* Names of the emotions and action units, in the C core's order. */
static PyObject *core_expression_names(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    PyObject *emotions = PyTuple_New(MF_EMOTIONS), *units = PyTuple_New(MF_ACTION_UNITS);
    if (!emotions || !units)
        goto fail;
    for (int i = 0; i < MF_EMOTIONS; i++) {
        PyObject *s = PyUnicode_FromString(mf_emotion_name(i));
        if (!s)
            goto fail;
        PyTuple_SET_ITEM(emotions, i, s);
    }
    for (int i = 0; i < MF_ACTION_UNITS; i++) {
        PyObject *s = PyUnicode_FromString(mf_action_unit_name(i));
        if (!s)
            goto fail;
        PyTuple_SET_ITEM(units, i, s);
    }
    return Py_BuildValue("(NN)", emotions, units);
fail:
    Py_XDECREF(emotions);
    Py_XDECREF(units);
    return NULL;
}

/* ---- social cues -------------------------------------------------------- */

/* The fields of mf_cues_params, by name, in declaration order. */
#define CUES_PARAM_COUNT 10
static const struct {
    const char *name;
    size_t offset;
} CUES_PARAMS[CUES_PARAM_COUNT] = {
    {"target_yaw", offsetof(mf_cues_params, target_yaw)},
    {"target_pitch", offsetof(mf_cues_params, target_pitch)},
    {"attention_full_deg", offsetof(mf_cues_params, attention_full_deg)},
    {"attention_zero_deg", offsetof(mf_cues_params, attention_zero_deg)},
    {"attention_tau", offsetof(mf_cues_params, attention_tau)},
    {"attention_low", offsetof(mf_cues_params, attention_low)},
    {"attention_high", offsetof(mf_cues_params, attention_high)},
    {"engage_after", offsetof(mf_cues_params, engage_after)},
    {"short_interruption_end", offsetof(mf_cues_params, short_interruption_end)},
    {"long_interruption_end", offsetof(mf_cues_params, long_interruption_end)},
};

typedef struct {
    PyObject_HEAD
    mf_cues *cues;
    mf_cues_params params;
    int updated;   /* since creation or reset, for the error messages */
    double last;   /* the last update's timestamp */
    PyThread_type_lock lock;
} CuesObject;

/* Raises ValueError with `format`, whose %s are filled with t and then u
 * written as Python writes floats; returns NULL. */
static PyObject *raise_time(double t, const char *format, double u)
{
    char *a = PyOS_double_to_string(t, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    char *b = PyOS_double_to_string(u, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (a && b)
        PyErr_Format(PyExc_ValueError, format, a, b);
    else
        PyErr_NoMemory();
    PyMem_Free(a);
    PyMem_Free(b);
    return NULL;
}

static void Cues_dealloc(CuesObject *self)
{
    mf_cues_free(self->cues);
    if (self->lock)
        PyThread_free_lock(self->lock);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Cues(**params): keyword arguments only, each a field of mf_cues_params;
 * the others keep their defaults (cues_defaults()). */
static int Cues_init(CuesObject *self, PyObject *args, PyObject *kwds)
{
    if (PyTuple_GET_SIZE(args) != 0) {
        PyErr_SetString(PyExc_TypeError, "Cues takes keyword arguments only (see cues_defaults())");
        return -1;
    }
    if (self->cues) {
        PyErr_SetString(PyExc_RuntimeError, "Cues is already initialised");
        return -1;
    }
    mf_cues_params params = mf_cues_params_default();
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (kwds && PyDict_Next(kwds, &pos, &key, &value)) {
        int k = 0;
        while (k < CUES_PARAM_COUNT && (!PyUnicode_Check(key) || PyUnicode_CompareWithASCIIString(key, CUES_PARAMS[k].name) != 0))
            k++;
        if (k == CUES_PARAM_COUNT) {
            PyErr_Format(PyExc_TypeError, "Cues got an unknown parameter %R (see cues_defaults())", key);
            return -1;
        }
        const double v = PyFloat_AsDouble(value);
        if (v == -1.0 && PyErr_Occurred()) {
            PyErr_Format(PyExc_TypeError, "Cues parameter %s must be a number, got %R",
                         CUES_PARAMS[k].name, value);
            return -1;
        }
        memcpy((char *)&params + CUES_PARAMS[k].offset, &v, sizeof v);
    }
    const char *problem;
    if (mf_cues_params_check(&params, &problem) != MF_OK) {
        PyErr_Format(PyExc_ValueError, "invalid cue parameters: %s", problem);
        return -1;
    }
    mf_status st;
    if (!(self->cues = mf_cues_new(&params, &st))) {
        raise_status(st, "cues");
        return -1;
    }
    if (!(self->lock = PyThread_allocate_lock())) {
        PyErr_NoMemory();
        return -1;
    }
    self->params = params;
    return 0;
}

static int cues_ready(CuesObject *self)
{
    if (!self->cues)
        PyErr_SetString(PyExc_RuntimeError, "Cues was not initialised");
    return self->cues != NULL;
}

/* update(timestamp, pose=None) -> ((attention, raw_attention, engagement,
 * status, engagement_time, status_time), [(timestamp, kind, from, to)]) */
static PyObject *Cues_update(CuesObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"timestamp", "pose", NULL};
    double t;
    PyObject *pose_obj = Py_None, *events = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "d|O:update", kwlist, &t, &pose_obj))
        return NULL;
    if (!cues_ready(self))
        return NULL;
    if (!isfinite(t))
        return raise_time(t, "timestamp must be finite, got %s", 0.0);
    mf_pose pose, *pose_arg = NULL;
    if (pose_obj != Py_None) {
        double v[3];
        PyObject *seq = PySequence_Fast(pose_obj, "");
        const int ok = seq && PySequence_Fast_GET_SIZE(seq) == 3;
        for (Py_ssize_t i = 0; ok && i < 3; i++)
            if ((v[i] = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(seq, i))) == -1.0 && PyErr_Occurred())
                break;
        Py_XDECREF(seq);
        if (!ok || PyErr_Occurred()) {
            PyErr_Clear();
            return PyErr_Format(PyExc_TypeError,
                                "pose must be None (face not seen) or (yaw, pitch, roll) in degrees, got %R",
                                pose_obj);
        }
        if (!isfinite(v[0]) || !isfinite(v[1]) || !isfinite(v[2]))
            return PyErr_Format(PyExc_ValueError, "pose must be finite, got %R", pose_obj);
        pose = (mf_pose){(float)v[0], (float)v[1], (float)v[2]};
        if (!isfinite(pose.yaw) || !isfinite(pose.pitch) || !isfinite(pose.roll))
            return PyErr_Format(PyExc_ValueError, "pose is beyond float32's range, got %R", pose_obj);
        pose_arg = &pose;
    }
    mf_cues_state s;
    mf_cue_event ev[MF_CUES_MAX_EVENTS];
    size_t count = 0;
    mf_status st;
    int went_back;
    double previous;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    previous = self->last;
    went_back = self->updated && t < previous;
    st = mf_cues_update(self->cues, t, pose_arg, &s, ev, MF_CUES_MAX_EVENTS, &count);
    if (st == MF_OK)
        self->updated = 1, self->last = t;
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    if (went_back)
        return raise_time(t, "timestamp %s is before the previous %s: timestamps must be non-decreasing",
                          previous);
    if (st != MF_OK)
        return raise_status(st, "cues update");
    if (!(events = PyList_New((Py_ssize_t)count)))
        return NULL;
    for (size_t i = 0; i < count; i++) {
        const mf_cue_event *e = &ev[i];
        const char *from = e->kind == MF_CUE_ENGAGEMENT ? mf_engagement_name(e->from) : mf_interaction_name(e->from);
        const char *to = e->kind == MF_CUE_ENGAGEMENT ? mf_engagement_name(e->to) : mf_interaction_name(e->to);
        PyObject *item = Py_BuildValue("(dsss)", e->timestamp, mf_cue_kind_name(e->kind), from, to);
        if (!item) {
            Py_DECREF(events);
            return NULL;
        }
        PyList_SET_ITEM(events, (Py_ssize_t)i, item);
    }
    return Py_BuildValue("((ddssdd)N)", s.attention, s.raw_attention, mf_engagement_name(s.engagement),
                         mf_interaction_name(s.status), s.engagement_time, s.status_time, events);
}

static PyObject *Cues_reset(CuesObject *self, PyObject *unused)
{
    (void)unused;
    if (!cues_ready(self))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    mf_cues_reset(self->cues);
    self->updated = 0;
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* The parameters as a dict of floats, in mf_cues_params order. */
static PyObject *cues_params_dict(const mf_cues_params *params)
{
    PyObject *d = PyDict_New();
    for (int k = 0; d && k < CUES_PARAM_COUNT; k++) {
        double v;
        memcpy(&v, (const char *)params + CUES_PARAMS[k].offset, sizeof v);
        PyObject *f = PyFloat_FromDouble(v);
        if (!f || PyDict_SetItemString(d, CUES_PARAMS[k].name, f) < 0) {
            Py_XDECREF(f);
            Py_CLEAR(d);
            break;
        }
        Py_DECREF(f);
    }
    return d;
}

static PyObject *Cues_params(CuesObject *self, void *closure)
{
    (void)closure;
    return cues_ready(self) ? cues_params_dict(&self->params) : NULL;
}

static PyMethodDef Cues_methods[] = {
    {"update", (PyCFunction)(void (*)(void))Cues_update, METH_VARARGS | METH_KEYWORDS,
     "update(timestamp, pose=None) -> ((attention, raw_attention, engagement, status, "
     "engagement_time, status_time), [(timestamp, kind, from, to), ...]); pose is (yaw, pitch, "
     "roll) in degrees or None when the face was not seen; timestamps in seconds, non-decreasing"},
    {"reset", (PyCFunction)Cues_reset, METH_NOARGS, "reset(): back to idle, forgetting the time"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Cues_getset[] = {
    {"params", (getter)Cues_params, NULL, "the parameters, a dict (see cues_defaults())", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject CuesType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mojofer._core.Cues",
    .tp_basicsize = sizeof(CuesObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Cues(**params): attention, engagement and interaction status of one face over time.",
    .tp_methods = Cues_methods,
    .tp_getset = Cues_getset,
    .tp_dealloc = (destructor)Cues_dealloc,
    .tp_init = (initproc)Cues_init,
    .tp_new = PyType_GenericNew,
};

static PyObject *core_cues_defaults(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    const mf_cues_params p = mf_cues_params_default();
    return cues_params_dict(&p);
}

/* (engagement phases, interaction statuses), each a tuple of names in the core's order. */
static PyObject *core_cue_names(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    PyObject *phases = PyTuple_New(MF_ENGAGEMENT_PHASES), *statuses = PyTuple_New(MF_INTERACTION_STATUSES);
    if (!phases || !statuses)
        goto fail;
    for (int i = 0; i < MF_ENGAGEMENT_PHASES; i++) {
        PyObject *s = PyUnicode_FromString(mf_engagement_name(i));
        if (!s)
            goto fail;
        PyTuple_SET_ITEM(phases, i, s);
    }
    for (int i = 0; i < MF_INTERACTION_STATUSES; i++) {
        PyObject *s = PyUnicode_FromString(mf_interaction_name(i));
        if (!s)
            goto fail;
        PyTuple_SET_ITEM(statuses, i, s);
    }
    return Py_BuildValue("(NN)", phases, statuses);
fail:
    Py_XDECREF(phases);
    Py_XDECREF(statuses);
    return NULL;
}

/* ---- estimator ---------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    mf_estimator *estimator;
    mf_pose_estimator *pose;
    mf_expression_classifier *expressions;
    PyObject *models; /* (pose model, expression model), kept alive for the engines */
    int32_t max_faces;
    int updated;      /* since creation or reset, for the error messages */
    double last;      /* the last update's timestamp */
    mf_keypoints *faces;
    mf_estimate *out;
    mf_estimate_event *events;
    /* Guards the core estimator and the three buffers until update's
     * outputs are copied into Python objects. Taken with the GIL released
     * (then the GIL is taken with it held), so it cannot deadlock. */
    PyThread_type_lock lock;
} EstimatorObject;

static void Estimator_dealloc(EstimatorObject *self)
{
    mf_estimator_free(self->estimator);
    mf_expression_classifier_free(self->expressions);
    mf_pose_estimator_free(self->pose);
    Py_XDECREF(self->models);
    PyMem_Free(self->faces);
    PyMem_Free(self->out);
    PyMem_Free(self->events);
    if (self->lock)
        PyThread_free_lock(self->lock);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Estimator(pose_model, expression_model, smoothing, grace, max_faces, cues):
 * cues a dict of mf_cues_params fields (see cues_defaults()). */
static int Estimator_init(EstimatorObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"pose_model", "expression_model", "smoothing", "grace", "max_faces",
                             "cues", NULL};
    PyObject *pose_model, *expression_model, *cues;
    mf_estimator_params params = mf_estimator_params_default();
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!O!ddiO!:Estimator", kwlist, &ModelType,
                                     &pose_model, &ModelType, &expression_model, &params.smoothing,
                                     &params.grace, &params.max_faces, &PyDict_Type, &cues))
        return -1;
    if (self->estimator) {
        PyErr_SetString(PyExc_RuntimeError, "Estimator is already initialised");
        return -1;
    }
    if (!model_ready((ModelObject *)pose_model) || !model_ready((ModelObject *)expression_model))
        return -1;
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(cues, &pos, &key, &value)) {
        int k = 0;
        while (k < CUES_PARAM_COUNT && (!PyUnicode_Check(key) || PyUnicode_CompareWithASCIIString(key, CUES_PARAMS[k].name) != 0))
            k++;
        if (k == CUES_PARAM_COUNT) {
            PyErr_Format(PyExc_TypeError, "Estimator got an unknown cue parameter %R", key);
            return -1;
        }
        const double v = PyFloat_AsDouble(value);
        if (v == -1.0 && PyErr_Occurred())
            return -1;
        memcpy((char *)&params.cues + CUES_PARAMS[k].offset, &v, sizeof v);
    }
    const char *problem;
    if (mf_estimator_params_check(&params, &problem) != MF_OK) {
        PyErr_Format(PyExc_ValueError, "invalid estimator parameters: %s", problem);
        return -1;
    }
    const mf_limits limits = mf_limits_default();
    const size_t n = (size_t)params.max_faces;
    mf_status st;
    if (!(self->pose = mf_pose_estimator_new(((ModelObject *)pose_model)->model, &limits, &st))) {
        raise_status(st, "head pose model");
        return -1;
    }
    if (!(self->expressions = mf_expression_classifier_new(((ModelObject *)expression_model)->model,
                                                           &limits, &st))) {
        raise_status(st, "expressions model");
        return -1;
    }
    if (!(self->estimator = mf_estimator_new(self->pose, self->expressions, &params, &st))) {
        raise_status(st, "estimator");
        return -1;
    }
    self->faces = PyMem_Calloc(n, sizeof *self->faces);
    self->out = PyMem_Calloc(n, sizeof *self->out);
    self->events = PyMem_Calloc(n * MF_ESTIMATE_EVENTS_PER_FACE, sizeof *self->events);
    if (!self->faces || !self->out || !self->events || !(self->lock = PyThread_allocate_lock())) {
        PyErr_NoMemory();
        return -1;
    }
    self->max_faces = params.max_faces;
    self->models = PyTuple_Pack(2, pose_model, expression_model);
    return self->models ? 0 : -1;
}

static int estimator_ready(EstimatorObject *self)
{
    if (!self->estimator || !self->lock)
        PyErr_SetString(PyExc_RuntimeError, "Estimator was not initialised");
    return self->estimator && self->lock;
}

/* The name of an event's from/to value, by kind. */
static const char *estimate_state_name(int32_t kind, int32_t value)
{
    return kind == MF_CUE_ENGAGEMENT    ? mf_engagement_name(value)
           : kind == MF_CUE_INTERACTION ? mf_interaction_name(value)
                                        : mf_face_state_name(value);
}

static PyObject *float_tuple(const float *v, int n)
{
    PyObject *t = PyTuple_New(n);
    for (int i = 0; t && i < n; i++) {
        PyObject *f = PyFloat_FromDouble((double)v[i]);
        if (!f) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, i, f);
    }
    return t;
}

/* (id, visible, (yaw, pitch, roll), emotions (7), (amusement, surprise,
 * confusion), action units (9), attention, raw_attention, engagement,
 * status, engagement_time, status_time) */
static PyObject *estimate_tuple(const mf_estimate *e)
{
    const mf_expression *x = &e->expression;
    const float social[3] = {x->amusement, x->surprise, x->confusion};
    return Py_BuildValue("(iO(ddd)NNNddssdd)", e->face_id, e->visible ? Py_True : Py_False,
                         (double)e->pose.yaw, (double)e->pose.pitch, (double)e->pose.roll,
                         float_tuple(x->emotions, MF_EMOTIONS), float_tuple(social, 3),
                         float_tuple(x->action_units, MF_ACTION_UNITS), e->cues.attention,
                         e->cues.raw_attention, mf_engagement_name(e->cues.engagement),
                         mf_interaction_name(e->cues.status), e->cues.engagement_time,
                         e->cues.status_time);
}

static PyObject *event_tuple(const mf_estimate_event *e)
{
    return Py_BuildValue("(dsssi)", e->timestamp, mf_cue_kind_name(e->kind),
                         estimate_state_name(e->kind, e->from), estimate_state_name(e->kind, e->to),
                         e->face_id);
}

/* ([estimate tuples], [event tuples]): copies of the buffers, which the
 * caller may reuse as soon as this returns. */
static PyObject *estimates_and_events(const mf_estimate *estimates, size_t count,
                                      const mf_estimate_event *events, size_t events_count)
{
    PyObject *faces = PyList_New((Py_ssize_t)count), *evs = PyList_New((Py_ssize_t)events_count);
    for (size_t i = 0; faces && evs && i < count; i++) {
        PyObject *item = estimate_tuple(&estimates[i]);
        if (!item)
            goto fail;
        PyList_SET_ITEM(faces, (Py_ssize_t)i, item);
    }
    for (size_t i = 0; faces && evs && i < events_count; i++) {
        PyObject *item = event_tuple(&events[i]);
        if (!item)
            goto fail;
        PyList_SET_ITEM(evs, (Py_ssize_t)i, item);
    }
    if (faces && evs)
        return Py_BuildValue("(NN)", faces, evs);
fail:
    Py_XDECREF(faces);
    Py_XDECREF(evs);
    return NULL;
}

/* update(timestamp, ids (n,) int32, points (n, 68, 2) float32, poses (n, 3)
 * float32, has_pose (n,) bool) -> ([estimate tuples], [(timestamp, kind,
 * from, to, face_id)]) */
static PyObject *Estimator_update(EstimatorObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"timestamp", "ids", "points", "poses", "has_pose", NULL};
    double t;
    PyObject *ids_obj, *points_obj, *poses_obj, *has_obj, *result = NULL;
    PyArrayObject *ids = NULL, *points = NULL, *poses = NULL, *has = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "dOOOO:update", kwlist, &t, &ids_obj, &points_obj,
                                     &poses_obj, &has_obj))
        return NULL;
    if (!estimator_ready(self))
        return NULL;
    if (!isfinite(t))
        return raise_time(t, "timestamp must be finite, got %s", 0.0);
    ids = (PyArrayObject *)PyArray_FROMANY(ids_obj, NPY_INT32, 1, 1, NPY_ARRAY_IN_ARRAY);
    points = (PyArrayObject *)PyArray_FROMANY(points_obj, NPY_FLOAT32, 3, 3, NPY_ARRAY_IN_ARRAY);
    poses = (PyArrayObject *)PyArray_FROMANY(poses_obj, NPY_FLOAT32, 2, 2, NPY_ARRAY_IN_ARRAY);
    has = (PyArrayObject *)PyArray_FROMANY(has_obj, NPY_BOOL, 1, 1, NPY_ARRAY_IN_ARRAY);
    if (!ids || !points || !poses || !has)
        goto done;
    const npy_intp n = PyArray_DIM(ids, 0);
    if (PyArray_DIM(points, 0) != n || PyArray_DIM(points, 1) != MF_LANDMARKS ||
        PyArray_DIM(points, 2) != 2 || PyArray_DIM(poses, 0) != n || PyArray_DIM(poses, 1) != 3 ||
        PyArray_DIM(has, 0) != n) {
        PyErr_SetString(PyExc_ValueError, "update needs ids (n,), points (n, 68, 2), poses (n, 3) "
                                          "and has_pose (n,) for the same n faces");
        goto done;
    }
    if (n > self->max_faces) {
        PyErr_Format(PyExc_ValueError, "%zd faces in one frame, more than max_faces = %d",
                     (Py_ssize_t)n, (int)self->max_faces);
        goto done;
    }
    size_t count = 0, events_count = 0;
    mf_status st;
    int went_back;
    double previous;
    char problem[MF_ESTIMATOR_PROBLEM_BYTES];
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    for (npy_intp i = 0; i < n; i++) {
        mf_keypoints *k = &self->faces[i];
        k->face_id = ((const int32_t *)PyArray_DATA(ids))[i];
        memcpy(k->landmarks, (const float *)PyArray_DATA(points) + i * 2 * MF_LANDMARKS,
               sizeof k->landmarks);
        k->has_pose = ((const npy_bool *)PyArray_DATA(has))[i] != 0;
        const float *p = (const float *)PyArray_DATA(poses) + 3 * i;
        k->pose = (mf_pose){p[0], p[1], p[2]};
    }
    previous = self->last;
    went_back = self->updated && t < previous;
    st = mf_estimator_update(self->estimator, t, self->faces, (size_t)n, self->out,
                             (size_t)self->max_faces, &count, self->events,
                             (size_t)self->max_faces * MF_ESTIMATE_EVENTS_PER_FACE, &events_count);
    if (st == MF_OK)
        self->updated = 1, self->last = t;
    snprintf(problem, sizeof problem, "%s", mf_estimator_problem(self->estimator));
    Py_END_ALLOW_THREADS
    if (st == MF_OK && !went_back)
        result = estimates_and_events(self->out, count, self->events, events_count);
    PyThread_release_lock(self->lock);
    if (went_back) {
        raise_time(t, "timestamp %s is before the previous %s: timestamps must be non-decreasing",
                   previous);
        goto done;
    }
    if (st == MF_E_INVALID_ARGUMENT) {
        PyErr_Format(PyExc_ValueError, "faces refused: %s", problem);
        goto done;
    }
    if (st != MF_OK) {
        raise_status(st, "estimator update");
        goto done;
    }
done:
    if (!result && !PyErr_Occurred())
        PyErr_SetString(PyExc_TypeError, "update needs ids, points, poses and has_pose arrays");
    Py_XDECREF(ids);
    Py_XDECREF(points);
    Py_XDECREF(poses);
    Py_XDECREF(has);
    return result;
}

static PyObject *Estimator_reset(EstimatorObject *self, PyObject *unused)
{
    (void)unused;
    if (!estimator_ready(self))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    mf_estimator_reset(self->estimator);
    self->updated = 0;
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *Estimator_lost(EstimatorObject *self, PyObject *unused)
{
    (void)unused;
    if (!estimator_ready(self))
        return NULL;
    int32_t ids[MF_ESTIMATOR_MAX_FACES];
    size_t n;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    n = mf_estimator_lost(self->estimator, ids, MF_ESTIMATOR_MAX_FACES);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        PyObject *id = PyLong_FromLong(ids[i]);
        if (!id) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, id);
    }
    return list;
}

static PyMethodDef Estimator_methods[] = {
    {"update", (PyCFunction)(void (*)(void))Estimator_update, METH_VARARGS | METH_KEYWORDS,
     "update(timestamp, ids, points, poses, has_pose) -> ([(id, visible, pose, emotions, social, "
     "action_units, attention, raw_attention, engagement, status, engagement_time, status_time)], "
     "[(timestamp, kind, from, to, face_id)])"},
    {"reset", (PyCFunction)Estimator_reset, METH_NOARGS, "reset(): forget every face and the time"},
    {"lost", (PyCFunction)Estimator_lost, METH_NOARGS,
     "lost() -> ids of the lost faces still in their grace period"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject EstimatorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mojofer._core.Estimator",
    .tp_basicsize = sizeof(EstimatorObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Estimator(pose_model, expression_model, smoothing, grace, max_faces, cues): "
              "keypoints in, estimates out (csrc/estimate/estimator.c).",
    .tp_methods = Estimator_methods,
    .tp_dealloc = (destructor)Estimator_dealloc,
    .tp_init = (initproc)Estimator_init,
    .tp_new = PyType_GenericNew,
};

static PyObject *core_estimator_defaults(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    const mf_estimator_params p = mf_estimator_params_default();
    return Py_BuildValue("{s:d,s:d,s:i}", "smoothing", p.smoothing, "grace", p.grace, "max_faces",
                         p.max_faces);
}

/* ---- streaming server ---------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    mf_server *server;
    mf_pose_estimator *pose;
    mf_expression_classifier *expressions;
    PyObject *models; /* kept alive for the engines */
    PyObject *log;    /* callable(dict) or None */
    /* start and stop one at a time, never a start after a stop (the core's
     * context is gone then); taken with the GIL released, which the log
     * callback needs while stop joins the service thread */
    PyThread_type_lock lock;
    int started, stopped;
} ServerObject;

/* The log callback, on any of the server's service threads (one call at a
 * time, the core serialises them), or in stop() or dealloc, which release
 * the GIL first: it takes the GIL itself. */
static void server_log(void *user, const mf_server_log *e)
{
    ServerObject *self = user;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *entry = Py_BuildValue("{s:s,s:z,s:s,s:L,s:i,s:s,s:L,s:L,s:d,s:i}", "event", e->event,
                                    "key_id", e->key_id, "peer", e->peer, "session",
                                    (long long)e->session, "code", (int)e->code, "reason",
                                    e->reason, "frames", (long long)e->frames, "errors",
                                    (long long)e->errors, "seconds", e->seconds, "thread",
                                    (int)e->thread);
    PyObject *r = entry ? PyObject_CallOneArg(self->log, entry) : NULL;
    if (!r)
        PyErr_WriteUnraisable(self->log);
    Py_XDECREF(r);
    Py_XDECREF(entry);
    PyGILState_Release(gil);
}

static void Server_dealloc(ServerObject *self)
{
    mf_server *server = self->server;
    Py_BEGIN_ALLOW_THREADS
    mf_server_free(server);
    Py_END_ALLOW_THREADS
    mf_expression_classifier_free(self->expressions);
    mf_pose_estimator_free(self->pose);
    Py_XDECREF(self->models);
    Py_XDECREF(self->log);
    if (self->lock)
        PyThread_free_lock(self->lock);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Server_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    ServerObject *self = (ServerObject *)PyType_GenericNew(type, args, kwds);
    if (self && !(self->lock = PyThread_allocate_lock())) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

/* Fills one key from (id, api_key, socket_key, max_sessions, max_fps,
 * max_session_seconds, catch_up_seconds); the strings stay owned by `item`. */
static int server_key(PyObject *item, mf_server_key *key)
{
    if (!PyTuple_Check(item) ||
        !PyArg_ParseTuple(item, "sssiddd", &key->id, &key->api_key, &key->socket_key,
                          &key->max_sessions, &key->max_fps, &key->max_session_seconds,
                          &key->catch_up_seconds)) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError,
                     "each key must be (id, api_key, socket_key, max_sessions, max_fps, "
                     "max_session_seconds, catch_up_seconds), got %R",
                     item);
        return -1;
    }
    return 0;
}

/* Server(host, port, keys, idle_timeout, max_message_bytes, allow_remote_plain,
 *        tls_cert, tls_key, pose_model, expression_model, smoothing, grace,
 *        max_faces, cues, log, *, max_connections, max_connections_per_address,
 *        handshake_timeout): bound at once, serving after start(); the
 *        keyword-only limits default to mf_server_config_default's. */
static int Server_init(ServerObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"host", "port", "keys", "idle_timeout", "max_message_bytes",
                             "allow_remote_plain", "tls_cert", "tls_key", "pose_model",
                             "expression_model", "smoothing", "grace", "max_faces", "cues", "log",
                             "max_connections", "max_connections_per_address",
                             "handshake_timeout", "threads", NULL};
    mf_server_config config = mf_server_config_default();
    mf_estimator_params params = mf_estimator_params_default();
    PyObject *keys, *pose_model, *expression_model, *cues, *log, *seq = NULL;
    Py_ssize_t max_message_bytes;
    int allow_remote_plain, result = -1;
    mf_server_key *k = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "siOdnpzzO!O!ddiO!O|$iidi:Server", kwlist,
                                     &config.host, &config.port, &keys, &config.idle_timeout,
                                     &max_message_bytes, &allow_remote_plain, &config.tls_cert,
                                     &config.tls_key, &ModelType, &pose_model, &ModelType,
                                     &expression_model, &params.smoothing, &params.grace,
                                     &params.max_faces, &PyDict_Type, &cues, &log,
                                     &config.max_connections, &config.max_connections_per_address,
                                     &config.handshake_timeout, &config.threads))
        return -1;
    if (self->server || self->pose) {
        PyErr_SetString(PyExc_RuntimeError, "Server is already initialised");
        return -1;
    }
    if (!model_ready((ModelObject *)pose_model) || !model_ready((ModelObject *)expression_model))
        return -1;
    if (log != Py_None && !PyCallable_Check(log)) {
        PyErr_Format(PyExc_TypeError, "log must be callable or None, not %.100s", Py_TYPE(log)->tp_name);
        return -1;
    }
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(cues, &pos, &key, &value)) {
        int c = 0;
        while (c < CUES_PARAM_COUNT && (!PyUnicode_Check(key) || PyUnicode_CompareWithASCIIString(key, CUES_PARAMS[c].name) != 0))
            c++;
        if (c == CUES_PARAM_COUNT) {
            PyErr_Format(PyExc_TypeError, "Server got an unknown cue parameter %R", key);
            return -1;
        }
        const double v = PyFloat_AsDouble(value);
        if (v == -1.0 && PyErr_Occurred())
            return -1;
        memcpy((char *)&params.cues + CUES_PARAMS[c].offset, &v, sizeof v);
    }
    const char *problem;
    if (mf_estimator_params_check(&params, &problem) != MF_OK) {
        PyErr_Format(PyExc_ValueError, "invalid estimator parameters: %s", problem);
        return -1;
    }
    if (max_message_bytes < 16) {
        PyErr_Format(PyExc_ValueError, "max_message_bytes must be at least 16, got %zd", max_message_bytes);
        return -1;
    }
    if (!(seq = PySequence_Fast(keys, "keys must be a sequence of key tuples")))
        return -1;
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n == 0) {
        PyErr_SetString(PyExc_ValueError, "the server needs at least one key");
        goto done;
    }
    if (!(k = PyMem_Calloc((size_t)n, sizeof *k))) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (server_key(PySequence_Fast_GET_ITEM(seq, i), &k[i]) < 0)
            goto done;
    config.keys = k;
    config.key_count = (size_t)n;
    config.max_message_bytes = (size_t)max_message_bytes;
    config.allow_remote_plain = allow_remote_plain;
    if (log != Py_None) {
        config.log = server_log;
        config.log_user = self;
    }
    const mf_limits limits = mf_limits_default();
    mf_status st;
    if (!(self->pose = mf_pose_estimator_new(((ModelObject *)pose_model)->model, &limits, &st))) {
        raise_status(st, "head pose model");
        goto done;
    }
    if (!(self->expressions = mf_expression_classifier_new(((ModelObject *)expression_model)->model,
                                                           &limits, &st))) {
        raise_status(st, "expressions model");
        goto done;
    }
    if (!(self->models = PyTuple_Pack(2, pose_model, expression_model)))
        goto done;
    Py_INCREF(log);
    self->log = log;
    Py_BEGIN_ALLOW_THREADS
    self->server = mf_server_new(&config, self->pose, self->expressions, &params, &st, &problem);
    Py_END_ALLOW_THREADS
    if (!self->server) {
        /* the core's phrase names the one cause; a TLS file's begins with
         * "tls_cert:" or "tls_key:", followed here by the file's path */
        if (st == MF_E_IO) {
            const int is_key = strncmp(problem, "tls_key:", 8) == 0;
            PyErr_Format(PyExc_OSError, "cannot serve: %s %s%s", is_key ? "tls_key" : "tls_cert",
                         is_key ? config.tls_key : config.tls_cert, strchr(problem, ':'));
        } else if (st == MF_E_NETWORK)
            PyErr_Format(PyExc_OSError, "cannot serve on %s port %d: %s", config.host, config.port,
                         problem);
        else if (st == MF_E_INVALID_ARGUMENT)
            PyErr_Format(PyExc_ValueError, "invalid server configuration: %s", problem);
        else
            raise_status(st, "server");
        goto done;
    }
    result = 0;
done:
    PyMem_Free(k);
    Py_XDECREF(seq);
    return result;
}

static int server_ready(ServerObject *self)
{
    if (!self->server)
        PyErr_SetString(PyExc_RuntimeError, "Server was not initialised");
    return self->server != NULL;
}

static PyObject *Server_start(ServerObject *self, PyObject *unused)
{
    (void)unused;
    if (!server_ready(self))
        return NULL;
    mf_status st = MF_OK;
    int again;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    again = self->started || self->stopped;
    if (!again && (st = mf_server_start(self->server)) == MF_OK)
        self->started = 1;
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    if (again) {
        PyErr_SetString(PyExc_RuntimeError, "a Server runs once: make a new one to serve again");
        return NULL;
    }
    if (st != MF_OK)
        return raise_status(st, "server start");
    Py_RETURN_NONE;
}

static PyObject *Server_stop(ServerObject *self, PyObject *unused)
{
    (void)unused;
    if (!server_ready(self))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    mf_server_stop(self->server);
    self->stopped = 1;
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *Server_port(ServerObject *self, void *closure)
{
    (void)closure;
    return server_ready(self) ? PyLong_FromLong(mf_server_port(self->server)) : NULL;
}

static PyObject *Server_address(ServerObject *self, void *closure)
{
    (void)closure;
    return server_ready(self) ? Py_BuildValue("(si)", mf_server_address(self->server),
                                              (int)mf_server_port(self->server))
                              : NULL;
}

static PyMethodDef Server_methods[] = {
    {"start", (PyCFunction)Server_start, METH_NOARGS,
     "start(): serve on a thread of the core's own; once, and not after stop()"},
    {"stop", (PyCFunction)Server_stop, METH_NOARGS,
     "stop(): close every session (1001) and join the service thread"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Server_getset[] = {
    {"port", (getter)Server_port, NULL, "the bound port", NULL},
    {"address", (getter)Server_address, NULL, "(numeric host, port): the bound address", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ServerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mojofer._core.Server",
    .tp_basicsize = sizeof(ServerObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Server(host, port, keys, ...): the streaming server (mojofer.serve wraps it).",
    .tp_methods = Server_methods,
    .tp_getset = Server_getset,
    .tp_dealloc = (destructor)Server_dealloc,
    .tp_init = (initproc)Server_init,
    .tp_new = Server_new,
};

/* ---- streaming client ---------------------------------------------------- */

#define CLIENT_MAX_FACES MF_ESTIMATOR_MAX_FACES

typedef struct {
    PyObject_HEAD
    mf_client *client;
    mf_keypoints *faces;       /* send's, under send_lock */
    int closed;                /* under send_lock: the core's close must not meet a send or a close */
    mf_estimate *estimates;    /* receive's, under receive_lock */
    mf_estimate_event *events;
    uint8_t *reply;
    size_t reply_capacity;
    PyThread_type_lock send_lock, receive_lock; /* taken with the GIL released */
} ClientObject;

static void Client_dealloc(ClientObject *self)
{
    mf_client *client = self->client;
    Py_BEGIN_ALLOW_THREADS
    mf_client_free(client);
    Py_END_ALLOW_THREADS
    PyMem_Free(self->faces);
    PyMem_Free(self->estimates);
    PyMem_Free(self->events);
    PyMem_RawFree(self->reply);
    if (self->send_lock)
        PyThread_free_lock(self->send_lock);
    if (self->receive_lock)
        PyThread_free_lock(self->receive_lock);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Client(url, api_key, socket_key, max_pending, backoff_min, backoff_max,
 *        allow_remote_plain, allow_self_signed): connecting at once. */
static int Client_init(ClientObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"url", "api_key", "socket_key", "max_pending", "backoff_min",
                             "backoff_max", "allow_remote_plain", "allow_self_signed", NULL};
    mf_client_config config = mf_client_config_default();
    Py_ssize_t max_pending;
    int plain, self_signed;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "sssnddpp:Client", kwlist, &config.url,
                                     &config.api_key, &config.socket_key, &max_pending,
                                     &config.backoff_min, &config.backoff_max, &plain, &self_signed))
        return -1;
    if (self->client) {
        PyErr_SetString(PyExc_RuntimeError, "Client is already initialised");
        return -1;
    }
    if (max_pending < 1) {
        PyErr_Format(PyExc_ValueError, "max_pending must be at least 1, got %zd", max_pending);
        return -1;
    }
    config.max_pending = (size_t)max_pending;
    config.allow_remote_plain = plain;
    config.allow_self_signed = self_signed;
    self->reply_capacity = 64 * 1024;
    self->faces = PyMem_Calloc(CLIENT_MAX_FACES, sizeof *self->faces);
    self->estimates = PyMem_Calloc(CLIENT_MAX_FACES, sizeof *self->estimates);
    self->events = PyMem_Calloc(CLIENT_MAX_FACES * MF_ESTIMATE_EVENTS_PER_FACE, sizeof *self->events);
    self->reply = PyMem_RawMalloc(self->reply_capacity);
    self->send_lock = PyThread_allocate_lock();
    self->receive_lock = PyThread_allocate_lock();
    if (!self->faces || !self->estimates || !self->events || !self->reply || !self->send_lock ||
        !self->receive_lock) {
        PyErr_NoMemory();
        return -1;
    }
    mf_status st;
    mf_client *client;
    Py_BEGIN_ALLOW_THREADS
    client = mf_client_new(&config, &st);
    Py_END_ALLOW_THREADS
    if (!client) {
        if (st == MF_E_INVALID_ARGUMENT)
            PyErr_Format(PyExc_ValueError,
                         "invalid client configuration: url must be ws://host[:port][/path] or "
                         "wss://... (ws:// only to loopback unless allow_remote_plain), keys "
                         "non-empty, backoff_min > 0 and backoff_max >= backoff_min; got url %R",
                         PyTuple_Size(args) > 0 ? PyTuple_GET_ITEM(args, 0) : Py_None);
        else
            raise_status(st, "client");
        return -1;
    }
    self->client = client;
    return 0;
}

static int client_ready(ClientObject *self)
{
    if (!self->client)
        PyErr_SetString(PyExc_RuntimeError, "Client was not initialised");
    return self->client != NULL;
}

/* send(timestamp, ids, points, poses, has_pose) -> seq; never waits for the network. */
static PyObject *Client_send(ClientObject *self, PyObject *args)
{
    double t;
    PyObject *ids_obj, *points_obj, *poses_obj, *has_obj, *result = NULL;
    PyArrayObject *ids = NULL, *points = NULL, *poses = NULL, *has = NULL;
    if (!PyArg_ParseTuple(args, "dOOOO:send", &t, &ids_obj, &points_obj, &poses_obj, &has_obj))
        return NULL;
    if (!client_ready(self))
        return NULL;
    if (!isfinite(t))
        return raise_time(t, "timestamp must be finite, got %s", 0.0);
    ids = (PyArrayObject *)PyArray_FROMANY(ids_obj, NPY_INT32, 1, 1, NPY_ARRAY_IN_ARRAY);
    points = (PyArrayObject *)PyArray_FROMANY(points_obj, NPY_FLOAT32, 3, 3, NPY_ARRAY_IN_ARRAY);
    poses = (PyArrayObject *)PyArray_FROMANY(poses_obj, NPY_FLOAT32, 2, 2, NPY_ARRAY_IN_ARRAY);
    has = (PyArrayObject *)PyArray_FROMANY(has_obj, NPY_BOOL, 1, 1, NPY_ARRAY_IN_ARRAY);
    if (!ids || !points || !poses || !has)
        goto done;
    const npy_intp n = PyArray_DIM(ids, 0);
    if (PyArray_DIM(points, 0) != n || PyArray_DIM(points, 1) != MF_LANDMARKS ||
        PyArray_DIM(points, 2) != 2 || PyArray_DIM(poses, 0) != n || PyArray_DIM(poses, 1) != 3 ||
        PyArray_DIM(has, 0) != n) {
        PyErr_SetString(PyExc_ValueError, "send needs ids (n,), points (n, 68, 2), poses (n, 3) "
                                          "and has_pose (n,) for the same n faces");
        goto done;
    }
    if (n > CLIENT_MAX_FACES) {
        PyErr_Format(PyExc_ValueError, "%zd faces in one frame, more than %d", (Py_ssize_t)n,
                     CLIENT_MAX_FACES);
        goto done;
    }
    uint64_t seq = 0;
    mf_status st = MF_OK;
    int closed;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->send_lock, WAIT_LOCK);
    closed = self->closed;
    for (npy_intp i = 0; !closed && i < n; i++) {
        mf_keypoints *k = &self->faces[i];
        k->face_id = ((const int32_t *)PyArray_DATA(ids))[i];
        memcpy(k->landmarks, (const float *)PyArray_DATA(points) + i * 2 * MF_LANDMARKS,
               sizeof k->landmarks);
        k->has_pose = ((const npy_bool *)PyArray_DATA(has))[i] != 0;
        const float *p = (const float *)PyArray_DATA(poses) + 3 * i;
        k->pose = (mf_pose){p[0], p[1], p[2]};
    }
    if (!closed)
        st = mf_client_send(self->client, t, self->faces, (size_t)n, &seq);
    PyThread_release_lock(self->send_lock);
    Py_END_ALLOW_THREADS
    if (closed)
        PyErr_SetString(PyExc_ValueError, "send on a closed Client");
    else if (st != MF_OK)
        raise_status(st, "send");
    else
        result = PyLong_FromUnsignedLongLong((unsigned long long)seq);
done:
    Py_XDECREF(ids);
    Py_XDECREF(points);
    Py_XDECREF(poses);
    Py_XDECREF(has);
    return result;
}

/* A reply as ("estimate", seq, ts, [estimate tuples], [event tuples]) or
 * ("error", seq or None, code, reason); receive_lock held, GIL held. */
static PyObject *reply_tuple(ClientObject *self, size_t size)
{
    mf_wire_type type;
    mf_wire_error error = {0, "", 0, 0};
    if (mf_wire_peek(self->reply, size, &type, &error) != MF_OK)
        return Py_BuildValue("(sOis)", "error", Py_None, (int)error.code, error.reason);
    if (type == MF_WIRE_ERROR) {
        int32_t has_seq, code;
        uint64_t seq;
        char reason[MF_WIRE_MAX_REASON + 1];
        if (mf_wire_decode_error(self->reply, size, &has_seq, &seq, &code, reason, sizeof reason,
                                 &error) != MF_OK)
            return Py_BuildValue("(sOis)", "error", Py_None, (int)error.code, error.reason);
        if (!has_seq)
            return Py_BuildValue("(sOis)", "error", Py_None, (int)code, reason);
        return Py_BuildValue("(sKis)", "error", (unsigned long long)seq, (int)code, reason);
    }
    uint64_t seq;
    double ts;
    size_t count, events_count;
    if (type != MF_WIRE_ESTIMATE ||
        mf_wire_decode_estimate(self->reply, size, &seq, &ts, self->estimates, CLIENT_MAX_FACES,
                                &count, self->events,
                                CLIENT_MAX_FACES * MF_ESTIMATE_EVENTS_PER_FACE, &events_count,
                                &error) != MF_OK)
        return Py_BuildValue("(sOis)", "error", Py_None, (int)(error.code ? error.code : MF_WIRE_E_TYPE),
                             error.reason ? error.reason : "a reply of no known type");
    PyObject *faces = PyList_New((Py_ssize_t)count), *events = PyList_New((Py_ssize_t)events_count);
    for (size_t i = 0; faces && events && i < count; i++) {
        PyObject *e = estimate_tuple(&self->estimates[i]);
        if (!e)
            goto fail;
        PyList_SET_ITEM(faces, (Py_ssize_t)i, e);
    }
    for (size_t i = 0; faces && events && i < events_count; i++) {
        PyObject *e = event_tuple(&self->events[i]);
        if (!e)
            goto fail;
        PyList_SET_ITEM(events, (Py_ssize_t)i, e);
    }
    if (faces && events)
        return Py_BuildValue("(sKdNN)", "estimate", (unsigned long long)seq, ts, faces, events);
fail:
    Py_XDECREF(faces);
    Py_XDECREF(events);
    return NULL;
}

/* receive(timeout) -> the next reply, or None if none came within timeout seconds. */
static PyObject *Client_receive(ClientObject *self, PyObject *args)
{
    double timeout;
    if (!PyArg_ParseTuple(args, "d:receive", &timeout))
        return NULL;
    if (!client_ready(self))
        return NULL;
    if (!(timeout >= 0))
        return PyErr_Format(PyExc_ValueError, "timeout must be >= 0 seconds");
    mf_status st;
    size_t size = 0;
    PyObject *result = NULL;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->receive_lock, WAIT_LOCK);
    st = mf_client_receive(self->client, timeout, self->reply, self->reply_capacity, &size);
    if (st == MF_E_TOO_LARGE) {
        uint8_t *grown = PyMem_RawRealloc(self->reply, size);
        if (grown) {
            self->reply = grown;
            self->reply_capacity = size;
            st = mf_client_receive(self->client, 0, self->reply, self->reply_capacity, &size);
        } else {
            st = MF_E_NO_MEMORY;
        }
    }
    Py_END_ALLOW_THREADS
    if (st != MF_OK)
        raise_status(st, "receive");
    else if (size == 0)
        Py_INCREF(Py_None), result = Py_None;
    else
        result = reply_tuple(self, size);
    PyThread_release_lock(self->receive_lock);
    return result;
}

static PyObject *Client_flush(ClientObject *self, PyObject *args)
{
    double timeout;
    if (!PyArg_ParseTuple(args, "d:flush", &timeout))
        return NULL;
    if (!client_ready(self))
        return NULL;
    size_t left;
    Py_BEGIN_ALLOW_THREADS
    left = mf_client_flush(self->client, timeout);
    Py_END_ALLOW_THREADS
    return PyLong_FromSize_t(left);
}

static PyObject *Client_state(ClientObject *self, PyObject *unused)
{
    (void)unused;
    if (!client_ready(self))
        return NULL;
    mf_client_state s;
    mf_client_state_get(self->client, &s);
    return Py_BuildValue("{s:O,s:L,s:n,s:n,s:i}", "connected", s.connected ? Py_True : Py_False,
                         "connects", (long long)s.connects, "waiting", (Py_ssize_t)s.waiting,
                         "replies", (Py_ssize_t)s.replies, "last_close", (int)s.last_close);
}

static PyObject *Client_close(ClientObject *self, PyObject *unused)
{
    (void)unused;
    if (!client_ready(self))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->send_lock, WAIT_LOCK);
    if (!self->closed)
        mf_client_close(self->client);
    self->closed = 1;
    PyThread_release_lock(self->send_lock);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyMethodDef Client_methods[] = {
    {"send", (PyCFunction)Client_send, METH_VARARGS,
     "send(timestamp, ids, points, poses, has_pose) -> seq; queues the frame, never waits"},
    {"receive", (PyCFunction)Client_receive, METH_VARARGS,
     "receive(timeout) -> (\"estimate\", seq, ts, estimates, events), (\"error\", seq, code, "
     "reason) or None"},
    {"flush", (PyCFunction)Client_flush, METH_VARARGS,
     "flush(timeout) -> frames still unanswered after waiting up to timeout seconds"},
    {"state", (PyCFunction)Client_state, METH_NOARGS, "state() -> dict: connected, connects, waiting, replies, last_close"},
    {"close", (PyCFunction)Client_close, METH_NOARGS,
     "close(): end the session; unanswered frames get error replies (code 4101); a send after "
     "it raises ValueError"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ClientType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mojofer._core.Client",
    .tp_basicsize = sizeof(ClientObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Client(url, api_key, socket_key, ...): the streaming client (mojofer.CloudClient wraps it).",
    .tp_methods = Client_methods,
    .tp_dealloc = (destructor)Client_dealloc,
    .tp_init = (initproc)Client_init,
    .tp_new = PyType_GenericNew,
};

/* ---- wire --------------------------------------------------------------- */

/* n floats from a sequence of numbers into out; raises naming `what`. */
static int float_seq(PyObject *obj, float *out, Py_ssize_t n, const char *what)
{
    PyObject *seq = PySequence_Fast(obj, "");
    int ok = seq && PySequence_Fast_GET_SIZE(seq) == n;
    for (Py_ssize_t i = 0; ok && i < n; i++) {
        const double v = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(seq, i));
        ok = !(v == -1.0 && PyErr_Occurred());
        out[i] = (float)v;
    }
    Py_XDECREF(seq);
    if (!ok) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s must be %zd numbers, got %R", what, n, obj);
    }
    return ok;
}

/* bytes of at most `capacity`, written by `encode` into a buffer of its own */
static PyObject *encoded(uint8_t *buf, size_t written, mf_status st, const char *what)
{
    PyObject *out = st == MF_OK ? PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)written)
                                : raise_status(st, what);
    PyMem_Free(buf);
    return out;
}

/* wire_encode_frame(seq, timestamp, ids, points, poses, has_pose) -> bytes */
static PyObject *core_wire_encode_frame(PyObject *self, PyObject *args)
{
    (void)self;
    unsigned long long seq;
    double t;
    PyObject *ids_obj, *points_obj, *poses_obj, *has_obj, *result = NULL;
    if (!PyArg_ParseTuple(args, "KdOOOO:wire_encode_frame", &seq, &t, &ids_obj, &points_obj,
                          &poses_obj, &has_obj))
        return NULL;
    PyArrayObject *ids = (PyArrayObject *)PyArray_FROMANY(ids_obj, NPY_INT32, 1, 1, NPY_ARRAY_IN_ARRAY);
    PyArrayObject *points = (PyArrayObject *)PyArray_FROMANY(points_obj, NPY_FLOAT32, 3, 3, NPY_ARRAY_IN_ARRAY);
    PyArrayObject *poses = (PyArrayObject *)PyArray_FROMANY(poses_obj, NPY_FLOAT32, 2, 2, NPY_ARRAY_IN_ARRAY);
    PyArrayObject *has = (PyArrayObject *)PyArray_FROMANY(has_obj, NPY_BOOL, 1, 1, NPY_ARRAY_IN_ARRAY);
    mf_keypoints *faces = NULL;
    uint8_t *buf = NULL;
    if (!ids || !points || !poses || !has)
        goto done;
    const npy_intp n = PyArray_DIM(ids, 0);
    if (n > MF_ESTIMATOR_MAX_FACES || PyArray_DIM(points, 0) != n || PyArray_DIM(points, 1) != MF_LANDMARKS ||
        PyArray_DIM(points, 2) != 2 || PyArray_DIM(poses, 0) != n || PyArray_DIM(poses, 1) != 3 ||
        PyArray_DIM(has, 0) != n) {
        PyErr_SetString(PyExc_ValueError, "wire_encode_frame needs ids (n,), points (n, 68, 2), "
                                          "poses (n, 3) and has_pose (n,), n <= 1024");
        goto done;
    }
    const size_t capacity = MF_WIRE_FRAME_BYTES(n);
    faces = PyMem_Calloc((size_t)n + 1, sizeof *faces);
    buf = PyMem_Malloc(capacity);
    if (!faces || !buf) {
        PyErr_NoMemory();
        goto done;
    }
    for (npy_intp i = 0; i < n; i++) {
        mf_keypoints *k = &faces[i];
        k->face_id = ((const int32_t *)PyArray_DATA(ids))[i];
        memcpy(k->landmarks, (const float *)PyArray_DATA(points) + i * 2 * MF_LANDMARKS, sizeof k->landmarks);
        k->has_pose = ((const npy_bool *)PyArray_DATA(has))[i] != 0;
        const float *p = (const float *)PyArray_DATA(poses) + 3 * i;
        k->pose = (mf_pose){p[0], p[1], p[2]};
    }
    size_t written = 0;
    const mf_status st = mf_wire_encode_frame(seq, t, faces, (size_t)n, buf, capacity, &written);
    result = encoded(buf, written, st, "wire_encode_frame");
    buf = NULL;
done:
    PyMem_Free(faces);
    PyMem_Free(buf);
    Py_XDECREF(ids);
    Py_XDECREF(points);
    Py_XDECREF(poses);
    Py_XDECREF(has);
    return result;
}

/* The index of `name` among count names given by name_of, or -1 (raised). */
static int32_t name_index(PyObject *obj, const char *(*name_of)(int32_t), int32_t count, const char *what)
{
    const char *s = PyUnicode_Check(obj) ? PyUnicode_AsUTF8(obj) : NULL;
    for (int32_t i = 0; s && i < count; i++)
        if (strcmp(s, name_of(i)) == 0)
            return i;
    PyErr_Clear();
    PyErr_Format(PyExc_ValueError, "%s: unknown name %R", what, obj);
    return -1;
}

/* wire_encode_estimate(seq, timestamp, faces, events) -> bytes; faces are
 * (id, visible, pose (3), emotions (7), social (3), action_units (9),
 * attention, engagement, status), events (timestamp, kind, from, to, face_id). */
static PyObject *core_wire_encode_estimate(PyObject *self, PyObject *args)
{
    (void)self;
    unsigned long long seq;
    double t;
    PyObject *faces_obj, *events_obj, *faces_seq = NULL, *events_seq = NULL, *result = NULL;
    mf_estimate *faces = NULL;
    mf_estimate_event *events = NULL;
    uint8_t *buf = NULL;
    if (!PyArg_ParseTuple(args, "KdOO:wire_encode_estimate", &seq, &t, &faces_obj, &events_obj))
        return NULL;
    if (!(faces_seq = PySequence_Fast(faces_obj, "faces must be a sequence")) ||
        !(events_seq = PySequence_Fast(events_obj, "events must be a sequence")))
        goto done;
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(faces_seq), m = PySequence_Fast_GET_SIZE(events_seq);
    if (n > MF_ESTIMATOR_MAX_FACES || m > MF_ESTIMATOR_MAX_FACES * MF_ESTIMATE_EVENTS_PER_FACE) {
        PyErr_SetString(PyExc_ValueError, "at most 1024 faces and 8192 events in one estimate");
        goto done;
    }
    const size_t capacity = MF_WIRE_ESTIMATE_BYTES(n, m);
    faces = PyMem_Calloc((size_t)n + 1, sizeof *faces);
    events = PyMem_Calloc((size_t)m + 1, sizeof *events);
    buf = PyMem_Malloc(capacity);
    if (!faces || !events || !buf) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        mf_estimate *e = &faces[i];
        mf_expression *x = &e->expression;
        PyObject *pose, *emotions, *social, *units, *engagement, *status;
        int visible;
        float p[3], s[3];
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(faces_seq, i), "ipOOOOdOO:estimate", &e->face_id,
                              &visible, &pose, &emotions, &social, &units, &e->cues.attention,
                              &engagement, &status) ||
            !float_seq(pose, p, 3, "pose") || !float_seq(emotions, x->emotions, MF_EMOTIONS, "emotions") ||
            !float_seq(social, s, 3, "social") ||
            !float_seq(units, x->action_units, MF_ACTION_UNITS, "action_units") ||
            (e->cues.engagement = name_index(engagement, mf_engagement_name, MF_ENGAGEMENT_PHASES, "engagement")) < 0 ||
            (e->cues.status = name_index(status, mf_interaction_name, MF_INTERACTION_STATUSES, "status")) < 0)
            goto done;
        e->visible = visible;
        e->pose = (mf_pose){p[0], p[1], p[2]};
        x->amusement = s[0], x->surprise = s[1], x->confusion = s[2];
    }
    for (Py_ssize_t i = 0; i < m; i++) {
        mf_estimate_event *e = &events[i];
        PyObject *kind, *from, *to;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(events_seq, i), "dOOOi:event", &e->timestamp,
                              &kind, &from, &to, &e->face_id) ||
            (e->kind = name_index(kind, mf_cue_kind_name, MF_CUE_FACE + 1, "event kind")) < 0)
            goto done;
        const char *(*name_of)(int32_t) = e->kind == MF_CUE_ENGAGEMENT    ? mf_engagement_name
                                          : e->kind == MF_CUE_INTERACTION ? mf_interaction_name
                                                                          : mf_face_state_name;
        const int32_t count = e->kind == MF_CUE_ENGAGEMENT    ? MF_ENGAGEMENT_PHASES
                              : e->kind == MF_CUE_INTERACTION ? MF_INTERACTION_STATUSES
                                                              : MF_FACE_STATES;
        if ((e->from = name_index(from, name_of, count, "event from")) < 0 ||
            (e->to = name_index(to, name_of, count, "event to")) < 0)
            goto done;
    }
    size_t written = 0;
    const mf_status st = mf_wire_encode_estimate(seq, t, faces, (size_t)n, events, (size_t)m, buf,
                                                 capacity, &written);
    result = encoded(buf, written, st, "wire_encode_estimate");
    buf = NULL;
done:
    PyMem_Free(faces);
    PyMem_Free(events);
    PyMem_Free(buf);
    Py_XDECREF(faces_seq);
    Py_XDECREF(events_seq);
    return result;
}

/* wire_encode_error(seq or None, code, reason) -> bytes */
static PyObject *core_wire_encode_error(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *seq_obj;
    mf_wire_error e = {0, NULL, 0, 0};
    if (!PyArg_ParseTuple(args, "Ois:wire_encode_error", &seq_obj, &e.code, &e.reason))
        return NULL;
    if (seq_obj != Py_None) {
        e.seq = PyLong_AsUnsignedLongLong(seq_obj);
        if (PyErr_Occurred())
            return NULL;
        e.has_seq = 1;
    }
    uint8_t *buf = PyMem_Malloc(MF_WIRE_ERROR_BYTES);
    if (!buf)
        return PyErr_NoMemory();
    size_t written = 0;
    const mf_status st = mf_wire_encode_error(&e, buf, MF_WIRE_ERROR_BYTES, &written);
    return encoded(buf, written, st, "wire_encode_error");
}

static PyObject *decoded_frame(const mf_keypoints *faces, size_t count)
{
    PyObject *list = PyList_New((Py_ssize_t)count);
    for (size_t i = 0; list && i < count; i++) {
        const mf_keypoints *k = &faces[i];
        npy_intp dims[2] = {MF_LANDMARKS, 2};
        PyObject *lm = PyArray_SimpleNew(2, dims, NPY_FLOAT32), *item;
        if (lm)
            memcpy(PyArray_DATA((PyArrayObject *)lm), k->landmarks, sizeof k->landmarks);
        item = !lm ? NULL
               : k->has_pose ? Py_BuildValue("(iN(ddd))", k->face_id, lm, (double)k->pose.yaw,
                                             (double)k->pose.pitch, (double)k->pose.roll)
                             : Py_BuildValue("(iNO)", k->face_id, lm, Py_None);
        if (!item) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    return list;
}

/* wire_decode(data, max_faces) -> ("frame", seq, ts, [(id, lm, pose or None)])
 * | ("estimate", seq, ts, [estimate tuples], [event tuples])
 * | ("error", seq or None, code, reason)
 * | ("refused", code, reason, seq or None): the message was refused */
static PyObject *core_wire_decode(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer data;
    int max_faces;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*i:wire_decode", &data, &max_faces))
        return NULL;
    const uint8_t *bytes = data.buf;
    const size_t size = (size_t)data.len;
    const size_t faces_cap = max_faces < 0 ? 0 : max_faces > MF_ESTIMATOR_MAX_FACES ? MF_ESTIMATOR_MAX_FACES : (size_t)max_faces;
    const size_t events_cap = faces_cap * MF_ESTIMATE_EVENTS_PER_FACE;
    mf_keypoints *keypoints = NULL;
    mf_estimate *estimates = NULL;
    mf_estimate_event *events = NULL;
    char reason[MF_WIRE_MAX_REASON + 1];
    mf_wire_error err = {0, NULL, 0, 0};
    mf_wire_type type;
    uint64_t seq = 0;
    double ts = 0.0;
    size_t count = 0, events_count = 0;
    int32_t has_seq = 0, code = 0;
    mf_status st;
    if (!(keypoints = PyMem_Calloc(faces_cap + 1, sizeof *keypoints)) ||
        !(estimates = PyMem_Calloc(faces_cap + 1, sizeof *estimates)) ||
        !(events = PyMem_Calloc(events_cap + 1, sizeof *events))) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    st = mf_wire_peek(bytes, size, &type, &err);
    if (st == MF_OK && type == MF_WIRE_FRAME)
        st = mf_wire_decode_frame(bytes, size, &seq, &ts, keypoints, faces_cap, &count, &err);
    else if (st == MF_OK && type == MF_WIRE_ESTIMATE)
        st = mf_wire_decode_estimate(bytes, size, &seq, &ts, estimates, faces_cap, &count, events,
                                     events_cap, &events_count, &err);
    else if (st == MF_OK)
        st = mf_wire_decode_error(bytes, size, &has_seq, &seq, &code, reason, sizeof reason, &err);
    Py_END_ALLOW_THREADS
    if (st != MF_OK && err.code != 0) {
        result = err.has_seq ? Py_BuildValue("(sisK)", "refused", err.code, err.reason, (unsigned long long)err.seq)
                             : Py_BuildValue("(sisO)", "refused", err.code, err.reason, Py_None);
    } else if (st != MF_OK) {
        raise_status(st, "wire_decode");
    } else if (type == MF_WIRE_FRAME) {
        result = Py_BuildValue("(sKdN)", "frame", (unsigned long long)seq, ts, decoded_frame(keypoints, count));
    } else if (type == MF_WIRE_ESTIMATE) {
        PyObject *faces = PyList_New((Py_ssize_t)count), *evs = PyList_New((Py_ssize_t)events_count);
        for (size_t i = 0; faces && evs && i < count; i++) {
            PyObject *item = estimate_tuple(&estimates[i]);
            if (!item) {
                Py_CLEAR(faces);
                break;
            }
            PyList_SET_ITEM(faces, (Py_ssize_t)i, item);
        }
        for (size_t i = 0; faces && evs && i < events_count; i++) {
            PyObject *item = event_tuple(&events[i]);
            if (!item) {
                Py_CLEAR(evs);
                break;
            }
            PyList_SET_ITEM(evs, (Py_ssize_t)i, item);
        }
        if (faces && evs)
            result = Py_BuildValue("(sKdNN)", "estimate", (unsigned long long)seq, ts, faces, evs);
        else {
            Py_XDECREF(faces);
            Py_XDECREF(evs);
        }
    } else {
        PyObject *text = PyUnicode_DecodeUTF8(reason, (Py_ssize_t)strlen(reason), "replace");
        result = !text   ? NULL
                 : has_seq ? Py_BuildValue("(sKiN)", "error", (unsigned long long)seq, code, text)
                           : Py_BuildValue("(sOiN)", "error", Py_None, code, text);
    }
done:
    PyMem_Free(keypoints);
    PyMem_Free(estimates);
    PyMem_Free(events);
    PyBuffer_Release(&data);
    return result;
}

/* ---- BLAS threads --------------------------------------------------------- */

/* The core's products are per face (a 136-value regression, an MLP over a
 * few faces): too small to split across threads, where OpenBLAS's thread
 * hand-offs cost more than they save and several Analyzers on several
 * threads oversubscribe the CPUs. So one BLAS thread per call is the
 * default, unless the user chose with OpenBLAS's own variables. The count
 * is OpenBLAS's, process-wide, so the binding (the process's side) sets it,
 * not the core. */
static int blas_threads_from_environment(void)
{
    static const char *const variables[] = {"OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS",
                                            "OMP_NUM_THREADS"};
    for (size_t i = 0; i < sizeof variables / sizeof *variables; i++) {
        const char *v = getenv(variables[i]);
        if (v && atoi(v) > 0) /* what OpenBLAS counts as set */
            return 1;
    }
    return 0;
}

static PyObject *core_get_num_threads(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    return PyLong_FromLong(openblas_get_num_threads());
}

static PyObject *core_set_num_threads(PyObject *self, PyObject *arg)
{
    (void)self;
    const int cpus = openblas_get_num_procs();
    if (!PyLong_Check(arg) || PyBool_Check(arg))
        return PyErr_Format(PyExc_TypeError, "n must be an int (BLAS threads, 1 to %d), not %.100s",
                            cpus, Py_TYPE(arg)->tp_name);
    int overflow;
    const long n = PyLong_AsLongAndOverflow(arg, &overflow);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (overflow || n < 1 || n > cpus)
        return PyErr_Format(PyExc_ValueError,
                            "n must be from 1 to %d (the CPUs OpenBLAS sees), got %R", cpus, arg);
    openblas_set_num_threads((int)n);
    Py_RETURN_NONE;
}

/* ---- module ------------------------------------------------------------- */

static PyObject *core_detect_defaults(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    mf_detect_params p = mf_detect_params_default();
    return Py_BuildValue("{s:i,s:i,s:d,s:i}", "min_size", p.min_size, "max_size", p.max_size,
                         "scale_factor", (double)p.scale_factor, "min_neighbors", p.min_neighbors);
}

static PyObject *core_limits(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    mf_limits l = mf_limits_default();
    return Py_BuildValue("{s:L,s:i,s:L,s:i}", "max_image_pixels", (long long)l.max_image_pixels,
                         "max_image_side", l.max_image_side, "max_model_bytes",
                         (long long)l.max_model_bytes, "max_faces", l.max_faces);
}

static PyObject *core_versions(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    mf_versions v = mf_library_versions();
    return Py_BuildValue("{s:s,s:s,s:s,s:s}", "mojofer", v.mojofer, "openblas", v.openblas,
                         "libwebsockets", v.libwebsockets, "msgpack", v.msgpack);
}

static PyMethodDef core_methods[] = {
    {"versions", core_versions, METH_NOARGS, "versions of the core and its system libraries"},
    {"get_num_threads", core_get_num_threads, METH_NOARGS,
     "get_num_threads() -> the threads each OpenBLAS call may use (1 unless chosen)"},
    {"set_num_threads", core_set_num_threads, METH_O,
     "set_num_threads(n): let each OpenBLAS call use n threads (1 to the CPU count), "
     "process-wide; call it before starting work on other threads"},
    {"landmark_features", (PyCFunction)(void (*)(void))core_landmark_features,
     METH_VARARGS | METH_KEYWORDS,
     "landmark_features(frame, shape, mean_shape, radius, *, bgr=False) -> the regressor's "
     "input features (for training and tests)"},
    {"detect_defaults", core_detect_defaults, METH_NOARGS, "the core's default detection parameters"},
    {"limits", core_limits, METH_NOARGS, "the core's default input limits"},
    {"expression_names", core_expression_names, METH_NOARGS,
     "(emotion names, action-unit names) in the core's order"},
    {"cues_defaults", core_cues_defaults, METH_NOARGS, "the default cue parameters, a dict"},
    {"cue_names", core_cue_names, METH_NOARGS,
     "(engagement phases, interaction statuses) in the core's order"},
    {"estimator_defaults", core_estimator_defaults, METH_NOARGS,
     "the default estimator parameters (smoothing, grace, max_faces), a dict"},
    {"wire_encode_frame", core_wire_encode_frame, METH_VARARGS,
     "wire_encode_frame(seq, timestamp, ids, points, poses, has_pose) -> a frame message"},
    {"wire_encode_estimate", core_wire_encode_estimate, METH_VARARGS,
     "wire_encode_estimate(seq, timestamp, faces, events) -> an estimate message"},
    {"wire_encode_error", core_wire_encode_error, METH_VARARGS,
     "wire_encode_error(seq or None, code, reason) -> an error message"},
    {"wire_decode", core_wire_decode, METH_VARARGS,
     "wire_decode(data, max_faces) -> (type, ...) or ('refused', code, reason, seq)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT, "mojofer._core", "mojofer's C core binding.", -1, core_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__core(void)
{
    import_array();
    if (!blas_threads_from_environment())
        openblas_set_num_threads(1);
    if (PyType_Ready(&ModelType) < 0 || PyType_Ready(&DetectorType) < 0 ||
        PyType_Ready(&LandmarkerType) < 0 || PyType_Ready(&PoseEstimatorType) < 0 ||
        PyType_Ready(&ExpressionClassifierType) < 0 || PyType_Ready(&CuesType) < 0 ||
        PyType_Ready(&EstimatorType) < 0 || PyType_Ready(&ServerType) < 0 ||
        PyType_Ready(&ClientType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&core_module);
    if (!m)
        return NULL;
    ModelError = PyErr_NewExceptionWithDoc("mojofer.ModelError",
                                           "A model file is missing, truncated, corrupted, of an "
                                           "unsupported version or of the wrong kind.",
                                           PyExc_ValueError, NULL);
    if (!ModelError || PyModule_AddObjectRef(m, "ModelError", ModelError) < 0 ||
        PyModule_AddObjectRef(m, "Model", (PyObject *)&ModelType) < 0 ||
        PyModule_AddObjectRef(m, "Detector", (PyObject *)&DetectorType) < 0 ||
        PyModule_AddObjectRef(m, "Landmarker", (PyObject *)&LandmarkerType) < 0 ||
        PyModule_AddObjectRef(m, "PoseEstimator", (PyObject *)&PoseEstimatorType) < 0 ||
        PyModule_AddObjectRef(m, "ExpressionClassifier", (PyObject *)&ExpressionClassifierType) < 0 ||
        PyModule_AddObjectRef(m, "Cues", (PyObject *)&CuesType) < 0 ||
        PyModule_AddObjectRef(m, "Server", (PyObject *)&ServerType) < 0 ||
        PyModule_AddObjectRef(m, "Client", (PyObject *)&ClientType) < 0 ||
        PyModule_AddObjectRef(m, "Estimator", (PyObject *)&EstimatorType) < 0 ||
        PyModule_AddIntConstant(m, "LANDMARK_FEATURES", MF_LANDMARK_FEATURES) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
