/* The engine base: what Detector, Landmarker, PoseEstimator,
 * ExpressionClassifier, Cues and Estimator share instead of each writing
 * its own init, lock and dealloc. */
#include "_core.h"

/* "Detector" of "mojofer._core.Detector" */
static const char *short_name(EngineObject *self)
{
    const char *dot = strrchr(Py_TYPE(self)->tp_name, '.');
    return dot ? dot + 1 : Py_TYPE(self)->tp_name;
}

int engine_initialised(EngineObject *self)
{
    if (self->engine)
        PyErr_Format(PyExc_RuntimeError, "%s is already initialised", short_name(self));
    return self->engine != NULL;
}

int engine_lock_new(EngineObject *self)
{
    if (!self->lock && !(self->lock = PyThread_allocate_lock())) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

int engine_init(EngineObject *self, PyObject *args, PyObject *kwds, const engine_kind *kind)
{
    static char *kwlist[] = {"model", NULL};
    PyObject *model;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, kind->init_format, kwlist, &ModelType, &model) ||
        engine_initialised(self) || !model_ready((ModelObject *)model))
        return -1;
    const mf_limits limits = mf_limits_default();
    mf_status st;
    self->kind = kind;
    if (!(self->engine = kind->create(((ModelObject *)model)->model, &limits, &st))) {
        raise_status(st, kind->what);
        return -1;
    }
    if (engine_lock_new(self) < 0)
        return -1;
    Py_INCREF(model);
    self->model = model;
    return 0;
}

void engine_clear(EngineObject *self)
{
    if (self->engine && self->kind)
        self->kind->destroy(self->engine);
    self->engine = NULL;
    Py_CLEAR(self->model);
    if (self->lock)
        PyThread_free_lock(self->lock);
    self->lock = NULL;
}

void engine_dealloc(EngineObject *self)
{
    engine_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

int engine_ready(EngineObject *self)
{
    if (!self->engine || !self->lock)
        PyErr_Format(PyExc_RuntimeError, "%s was not initialised", short_name(self));
    return self->engine && self->lock;
}
