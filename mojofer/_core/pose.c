/* PoseEstimator: the C head-pose fit over a head_pose Model. */
#include "_core.h"


static void *pose_estimator_new(const mf_model *model, const mf_limits *limits, mf_status *st)
{
    return mf_pose_estimator_new(model, limits, st);
}

static void pose_estimator_free(void *engine)
{
    mf_pose_estimator_free(engine);
}

static const engine_kind POSE_ESTIMATOR = {"O!:PoseEstimator", "head pose model", pose_estimator_new, pose_estimator_free};

static int PoseEstimator_init(EngineObject *self, PyObject *args, PyObject *kwds)
{
    return engine_init(self, args, kwds, &POSE_ESTIMATOR);
}

static PyObject *PoseEstimator_estimate(EngineObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"points", NULL};
    PyObject *points_obj;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:estimate", kwlist, &points_obj))
        return NULL;
    if (!engine_ready(self))
        return NULL;
    PyArrayObject *points = shape_array(points_obj, "points");
    if (!points)
        return NULL;
    mf_pose pose;
    mf_status st;
    ENGINE_CALL(self, st = mf_pose_estimate(self->engine, PyArray_DATA(points), &pose));
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

PyTypeObject PoseEstimatorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mojofer._core.PoseEstimator",
    .tp_basicsize = sizeof(EngineObject),
    .tp_dealloc = (destructor)engine_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "PoseEstimator(model): the C head-pose fit over a head_pose Model.",
    .tp_methods = PoseEstimator_methods,
    .tp_init = (initproc)PoseEstimator_init,
    .tp_new = PyType_GenericNew,
};
