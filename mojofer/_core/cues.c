/* Cues: the social-cue state machines of one face (csrc/estimate/cues.c). */
#include "_core.h"

#include <math.h>

typedef struct {
    EngineObject base; /* the mf_cues, no model */
    mf_cues_params params;
} CuesObject;

static void cues_free(void *cues)
{
    mf_cues_free(cues);
}

static const engine_kind CUES = {"", "cues", NULL, cues_free};

/* Cues(**params): keyword arguments only, each a field of mf_cues_params;
 * the others keep their defaults (cues_defaults()). */
static int Cues_init(CuesObject *self, PyObject *args, PyObject *kwds)
{
    if (PyTuple_GET_SIZE(args) != 0) {
        PyErr_SetString(PyExc_TypeError, "Cues takes keyword arguments only (see cues_defaults())");
        return -1;
    }
    if (engine_initialised(&self->base))
        return -1;
    mf_cues_params params = mf_cues_params_default();
    if (cues_params_from_dict(kwds, &params) < 0 || cues_params_checked(&params) < 0)
        return -1;
    mf_status st;
    self->base.kind = &CUES;
    if (!(self->base.engine = mf_cues_new(&params, &st))) {
        raise_status(st, "cues");
        return -1;
    }
    self->params = params;
    return engine_lock_new(&self->base);
}

/* cues_params_check(dict): None, or ValueError with the core's problem. */
PyObject *core_cues_params_check(PyObject *self, PyObject *dict)
{
    (void)self;
    mf_cues_params params = mf_cues_params_default();
    if (!PyDict_Check(dict))
        return PyErr_Format(PyExc_TypeError, "cue parameters must be a dict, not %.100s",
                            Py_TYPE(dict)->tp_name);
    if (cues_params_from_dict(dict, &params) < 0 || cues_params_checked(&params) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* update(timestamp, pose=None) -> (CueState, [Event with face_id None]) */
static PyObject *Cues_update(CuesObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"timestamp", "pose", NULL};
    double t;
    PyObject *pose_obj = Py_None, *events = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "d|O:update", kwlist, &t, &pose_obj))
        return NULL;
    if (!engine_ready(&self->base))
        return NULL;
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
    char problem[MF_CUES_PROBLEM_BYTES];
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->base.lock, WAIT_LOCK);
    st = mf_cues_update(self->base.engine, t, pose_arg, &s, ev, MF_CUES_MAX_EVENTS, &count);
    snprintf(problem, sizeof problem, "%s", mf_cues_problem(self->base.engine));
    PyThread_release_lock(self->base.lock);
    Py_END_ALLOW_THREADS
    /* the core's problem as it wrote it, as the Estimator's */
    if (st == MF_E_INVALID_ARGUMENT)
        return PyErr_Format(PyExc_ValueError, "%s", problem);
    if (st != MF_OK)
        return raise_status(st, "cues update");
    if (!(events = PyList_New((Py_ssize_t)count)))
        return NULL;
    for (size_t i = 0; i < count; i++) {
        const mf_cue_event *e = &ev[i];
        const char *from = e->kind == MF_CUE_ENGAGEMENT ? mf_engagement_name(e->from) : mf_interaction_name(e->from);
        const char *to = e->kind == MF_CUE_ENGAGEMENT ? mf_engagement_name(e->to) : mf_interaction_name(e->to);
        PyObject *item = struct_new(&EventType, "(dsssO)", e->timestamp, mf_cue_kind_name(e->kind),
                                    from, to, Py_None);
        if (!item) {
            Py_DECREF(events);
            return NULL;
        }
        PyList_SET_ITEM(events, (Py_ssize_t)i, item);
    }
    PyObject *state = struct_new(&CueStateType, "(ddssdd)", s.attention, s.raw_attention,
                                 mf_engagement_name(s.engagement), mf_interaction_name(s.status),
                                 s.engagement_time, s.status_time);
    if (!state) {
        Py_DECREF(events);
        return NULL;
    }
    return Py_BuildValue("(NN)", state, events);
}

static PyObject *Cues_reset(CuesObject *self, PyObject *unused)
{
    (void)unused;
    if (!engine_ready(&self->base))
        return NULL;
    ENGINE_CALL(&self->base, mf_cues_reset(self->base.engine));
    Py_RETURN_NONE;
}

static PyObject *Cues_params(CuesObject *self, void *closure)
{
    (void)closure;
    return engine_ready(&self->base) ? cues_params_dict(&self->params) : NULL;
}

static PyMethodDef Cues_methods[] = {
    {"update", (PyCFunction)(void (*)(void))Cues_update, METH_VARARGS | METH_KEYWORDS,
     "update(timestamp, pose=None) -> (CueState, [Event, ...]); pose is (yaw, pitch, "
     "roll) in degrees or None when the face was not seen; timestamps in seconds, non-decreasing"},
    {"reset", (PyCFunction)Cues_reset, METH_NOARGS, "reset(): back to idle, forgetting the time"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Cues_getset[] = {
    {"params", (getter)Cues_params, NULL, "the parameters, a dict (see cues_defaults())", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject CuesType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mojofer._core.Cues",
    .tp_basicsize = sizeof(CuesObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Cues(**params): attention, engagement and interaction status of one face over time.",
    .tp_methods = Cues_methods,
    .tp_getset = Cues_getset,
    .tp_dealloc = (destructor)engine_dealloc,
    .tp_init = (initproc)Cues_init,
    .tp_new = PyType_GenericNew,
};
