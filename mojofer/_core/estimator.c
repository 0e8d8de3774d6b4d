/* Estimator: keypoints in, estimates out (csrc/estimate/estimator.c), the same C
 * the server runs per session. */
#include "_core.h"

typedef struct {
    EngineObject base; /* the mf_estimator; model: (pose model, expression model) */
    mf_pose_estimator *pose;
    mf_expression_classifier *expressions;
    int32_t max_faces;
    /* update's buffers, under the base's lock until its outputs are Python objects */
    mf_keypoints *faces;
    mf_estimate *out;
    mf_estimate_event *events;
} EstimatorObject;

static void estimator_free(void *estimator)
{
    mf_estimator_free(estimator);
}

static const engine_kind ESTIMATOR = {"", "estimator", NULL, estimator_free};

static void Estimator_dealloc(EstimatorObject *self)
{
    engine_clear(&self->base); /* the estimator before the engines it uses */
    mf_expression_classifier_free(self->expressions);
    mf_pose_estimator_free(self->pose);
    PyMem_Free(self->faces);
    PyMem_Free(self->out);
    PyMem_Free(self->events);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

int estimator_engines(PyObject *pose_model, PyObject *expression_model, mf_pose_estimator **pose,
                      mf_expression_classifier **expressions)
{
    if (!model_ready((ModelObject *)pose_model) || !model_ready((ModelObject *)expression_model))
        return -1;
    const mf_limits limits = mf_limits_default();
    mf_status st;
    if (!(*pose = mf_pose_estimator_new(((ModelObject *)pose_model)->model, &limits, &st))) {
        raise_status(st, "head pose model");
        return -1;
    }
    if (!(*expressions = mf_expression_classifier_new(((ModelObject *)expression_model)->model,
                                                      &limits, &st))) {
        raise_status(st, "expressions model");
        return -1;
    }
    return 0;
}

/* Estimator(pose_model, expression_model, smoothing, grace, max_faces, cues,
 * baseline_window): cues a dict of mf_cues_params fields (see cues_defaults()). */
static int Estimator_init(EstimatorObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"pose_model", "expression_model", "smoothing", "grace", "max_faces",
                             "cues", "baseline_window", NULL};
    PyObject *pose_model, *expression_model, *cues;
    mf_estimator_params params = mf_estimator_params_default();
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!O!ddiO!|d:Estimator", kwlist, &ModelType,
                                     &pose_model, &ModelType, &expression_model, &params.smoothing,
                                     &params.grace, &params.max_faces, &PyDict_Type, &cues,
                                     &params.baseline_window))
        return -1;
    if (engine_initialised(&self->base) || cues_params_from_dict(cues, &params.cues) < 0)
        return -1;
    const char *problem;
    if (mf_estimator_params_check(&params, &problem) != MF_OK) {
        PyErr_Format(PyExc_ValueError, "invalid estimator parameters: %s", problem);
        return -1;
    }
    if (estimator_engines(pose_model, expression_model, &self->pose, &self->expressions) < 0)
        return -1;
    mf_status st;
    self->base.kind = &ESTIMATOR;
    if (!(self->base.engine = mf_estimator_new(self->pose, self->expressions, &params, &st))) {
        raise_status(st, "estimator");
        return -1;
    }
    const size_t n = (size_t)params.max_faces;
    self->faces = PyMem_Calloc(n, sizeof *self->faces);
    self->out = PyMem_Calloc(n, sizeof *self->out);
    self->events = PyMem_Calloc(n * MF_ESTIMATE_EVENTS_PER_FACE, sizeof *self->events);
    if (!self->faces || !self->out || !self->events) {
        PyErr_NoMemory();
        return -1;
    }
    self->max_faces = params.max_faces;
    self->base.model = PyTuple_Pack(2, pose_model, expression_model);
    return self->base.model ? engine_lock_new(&self->base) : -1;
}

/* update(timestamp, ids (n,) int32, points (n, 68, 2) float32, poses (n, 3)
 * float32, has_pose (n,) bool) -> ([Estimate], [Event]) */
static PyObject *Estimator_update(EstimatorObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"timestamp", "ids", "points", "poses", "has_pose", NULL};
    double t;
    PyObject *ids_obj, *points_obj, *poses_obj, *has_obj, *result = NULL, *faces, *events;
    keypoint_arrays a;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "dOOOO:update", kwlist, &t, &ids_obj, &points_obj,
                                     &poses_obj, &has_obj))
        return NULL;
    if (!engine_ready(&self->base))
        return NULL;
    if (keypoint_arrays_parse(&a, ids_obj, points_obj, poses_obj, has_obj, self->max_faces, "update") < 0)
        return NULL;
    size_t count = 0, events_count = 0;
    mf_status st;
    char problem[MF_ESTIMATOR_PROBLEM_BYTES];
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->base.lock, WAIT_LOCK);
    keypoint_arrays_fill(&a, self->faces);
    st = mf_estimator_update(self->base.engine, t, self->faces, (size_t)a.n, self->out,
                             (size_t)self->max_faces, &count, self->events,
                             (size_t)self->max_faces * MF_ESTIMATE_EVENTS_PER_FACE, &events_count);
    snprintf(problem, sizeof problem, "%s", mf_estimator_problem(self->base.engine));
    Py_END_ALLOW_THREADS
    /* the buffers are the object's: copied out before another update may run */
    if (st == MF_OK &&
        estimates_out(self->out, count, self->events, events_count, &faces, &events) == 0)
        result = Py_BuildValue("(NN)", faces, events);
    PyThread_release_lock(self->base.lock);
    /* the core's problem as it wrote it: the words the server answers with */
    if (st == MF_E_INVALID_ARGUMENT)
        PyErr_SetString(PyExc_ValueError, problem);
    else if (st != MF_OK)
        raise_status(st, "estimator update");
    keypoint_arrays_clear(&a);
    return result;
}

static PyObject *Estimator_reset(EstimatorObject *self, PyObject *unused)
{
    (void)unused;
    if (!engine_ready(&self->base))
        return NULL;
    ENGINE_CALL(&self->base, mf_estimator_reset(self->base.engine));
    Py_RETURN_NONE;
}

static PyObject *Estimator_lost(EstimatorObject *self, PyObject *unused)
{
    (void)unused;
    if (!engine_ready(&self->base))
        return NULL;
    int32_t ids[MF_ESTIMATOR_MAX_FACES];
    size_t n;
    ENGINE_CALL(&self->base, n = mf_estimator_lost(self->base.engine, ids, MF_ESTIMATOR_MAX_FACES));
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
     "update(timestamp, ids, points, poses, has_pose) -> ([Estimate], [Event])"},
    {"reset", (PyCFunction)Estimator_reset, METH_NOARGS, "reset(): forget every face and the time"},
    {"lost", (PyCFunction)Estimator_lost, METH_NOARGS,
     "lost() -> ids of the lost faces still in their grace period"},
    {NULL, NULL, 0, NULL},
};

PyTypeObject EstimatorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mojofer._core.Estimator",
    .tp_basicsize = sizeof(EstimatorObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Estimator(pose_model, expression_model, smoothing, grace, max_faces, cues, baseline_window): "
              "keypoints in, estimates out (csrc/estimate/estimator.c).",
    .tp_methods = Estimator_methods,
    .tp_dealloc = (destructor)Estimator_dealloc,
    .tp_init = (initproc)Estimator_init,
    .tp_new = PyType_GenericNew,
};
