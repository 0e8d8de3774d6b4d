/* The module mojofer._core: its functions' table, the types' registration,
 * ModelError and the status -> exception table, constants, versions and
 * OpenBLAS's thread count. */
#define MOJOFER_CORE_MODULE /* the file that imports NumPy's API table */
#include "_core.h"

#include <cblas.h> /* openblas_set_num_threads: OpenBLAS's thread count is the process's */
#include <stdlib.h>


PyObject *ModelError;

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

PyObject *status_exception(mf_status st)
{
    switch (st) {
    case MF_E_NO_MEMORY: return PyExc_MemoryError;
    case MF_E_IO: return PyExc_OSError;
    case MF_E_MODEL_MAGIC:
    case MF_E_MODEL_VERSION:
    case MF_E_MODEL_TRUNCATED:
    case MF_E_MODEL_CORRUPT:
    case MF_E_MODEL_MISSING:
    case MF_E_MODEL_KIND:
    case MF_E_MODEL_NAMES: return ModelError;
    case MF_E_INVALID_ARGUMENT:
    case MF_E_IMAGE_TOO_LARGE:
    case MF_E_TOO_LARGE:
    default: return PyExc_ValueError;
    }
}

PyObject *raise_status(mf_status st, const char *what)
{
    PyErr_Format(status_exception(st), "%s: %s (mojofer status %d)", what, mf_status_str(st),
                 (int)st);
    return NULL;
}

/* ---- names and defaults --------------------------------------------------- */

static PyObject *core_cues_defaults(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    const mf_cues_params p = mf_cues_params_default();
    return cues_params_dict(&p);
}

static PyObject *core_estimator_defaults(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    const mf_estimator_params p = mf_estimator_params_default();
    return Py_BuildValue("{s:d,s:d,s:i,s:d}", "smoothing", p.smoothing, "grace", p.grace, "max_faces",
                         p.max_faces, "baseline_window", p.baseline_window);
}

/* ---- the core's names and codes, exported as constants ------------------- */

static const char *const WIRE_ERROR_NAMES[] = {"MALFORMED", "SCHEMA", "TYPE", "TOO_MANY", "INVALID",
                                               "INTERNAL"};
static const int WIRE_ERROR_CODES[] = {MF_WIRE_E_MALFORMED, MF_WIRE_E_SCHEMA, MF_WIRE_E_TYPE,
                                       MF_WIRE_E_TOO_MANY, MF_WIRE_E_INVALID, MF_WIRE_E_INTERNAL};

/* Adds `value` (a new reference, or NULL with an error) as `name`: 0 or -1. */
static int add_new(PyObject *m, const char *name, PyObject *value)
{
    const int result = value ? PyModule_AddObjectRef(m, name, value) : -1;
    Py_XDECREF(value);
    return result;
}

/* EMOTIONS, ACTION_UNITS, SOCIAL_EMOTIONS, ENGAGEMENT_PHASES, INTERACTION_STATUSES,
 * EVENT_KINDS, FACE_STATES: tuples of the core's names in its order; the
 * wire's protocol, reason limit and error codes; the client's own codes. */
static int add_names(PyObject *m)
{
    PyObject *codes = PyDict_New();
    for (size_t i = 0; codes && i < sizeof WIRE_ERROR_CODES / sizeof *WIRE_ERROR_CODES; i++) {
        PyObject *code = PyLong_FromLong(WIRE_ERROR_CODES[i]);
        if (!code || PyDict_SetItemString(codes, WIRE_ERROR_NAMES[i], code) < 0)
            Py_CLEAR(codes);
        Py_XDECREF(code);
    }
    if (add_new(m, "EMOTIONS", name_tuple(mf_emotion_name, MF_EMOTIONS)) < 0 ||
        add_new(m, "ACTION_UNITS", name_tuple(mf_action_unit_name, MF_ACTION_UNITS)) < 0 ||
        add_new(m, "SOCIAL_EMOTIONS", name_tuple(mf_social_emotion_name, MF_SOCIAL_EMOTIONS)) < 0 ||
        add_new(m, "ENGAGEMENT_PHASES", name_tuple(mf_engagement_name, MF_ENGAGEMENT_PHASES)) < 0 ||
        add_new(m, "INTERACTION_STATUSES", name_tuple(mf_interaction_name, MF_INTERACTION_STATUSES)) < 0 ||
        add_new(m, "EVENT_KINDS", name_tuple(mf_cue_kind_name, MF_CUE_FACE + 1)) < 0 ||
        add_new(m, "FACE_STATES", name_tuple(mf_face_state_name, MF_FACE_STATES)) < 0 ||
        add_new(m, "WIRE_ERROR_CODES", codes) < 0 ||
        PyModule_AddStringConstant(m, "WIRE_PROTOCOL", MF_WIRE_PROTOCOL) < 0 ||
        PyModule_AddIntConstant(m, "WIRE_MAX_REASON", MF_WIRE_MAX_REASON) < 0 ||
        PyModule_AddIntConstant(m, "BASELINE_SETTLED_FACES", MF_BASELINE_SETTLED_FACES) < 0 ||
        PyModule_AddIntConstant(m, "CLIENT_QUEUE_FULL", MF_CLIENT_E_QUEUE_FULL) < 0 ||
        PyModule_AddIntConstant(m, "CLIENT_CLOSED", MF_CLIENT_E_CLOSED) < 0)
        return -1;
    return 0;
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
    return Py_BuildValue("{s:i,s:i,s:d,s:i,s:O}", "min_size", p.min_size, "max_size", p.max_size,
                         "scale_factor", (double)p.scale_factor, "min_neighbors", p.min_neighbors,
                         "exhaustive", p.exhaustive ? Py_True : Py_False);
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
    {"cues_defaults", core_cues_defaults, METH_NOARGS, "the default cue parameters, a dict"},
    {"cues_params_check", core_cues_params_check, METH_O,
     "cues_params_check(dict): None, or ValueError naming the rule the core's check refuses"},
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
    if (structs_ready() < 0)
        return NULL;
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
        PyModule_AddObjectRef(m, "Estimate", (PyObject *)&EstimateType) < 0 ||
        PyModule_AddObjectRef(m, "Event", (PyObject *)&EventType) < 0 ||
        PyModule_AddObjectRef(m, "CueState", (PyObject *)&CueStateType) < 0 ||
        PyModule_AddObjectRef(m, "Expressions", (PyObject *)&ExpressionsType) < 0 ||
        PyModule_AddIntConstant(m, "LANDMARK_FEATURES", MF_LANDMARK_FEATURES) < 0 || add_names(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
