/* The converters every type shares, written once: frames and points in,
 * keypoint frames in, estimates and events out, cue parameters both ways;
 * and the struct sequences the results come in. */
#include "_core.h"

#include <math.h>

/* ---- frames ------------------------------------------------------------- */

int frame_view(PyObject *obj, const char *arg, int bgr, mf_image *view)
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

/* ---- points ------------------------------------------------------------- */

PyArrayObject *shape_array(PyObject *obj, const char *arg)
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

PyObject *new_points(void)
{
    npy_intp dims[2] = {MF_LANDMARKS, 2};
    return PyArray_SimpleNew(2, dims, NPY_FLOAT32);
}

/* ---- keypoint frames in --------------------------------------------------- */

void keypoint_arrays_clear(keypoint_arrays *a)
{
    Py_CLEAR(a->ids);
    Py_CLEAR(a->points);
    Py_CLEAR(a->poses);
    Py_CLEAR(a->has_pose);
}

int keypoint_arrays_parse(keypoint_arrays *a, PyObject *ids, PyObject *points, PyObject *poses,
                          PyObject *has_pose, npy_intp max_faces, const char *what)
{
    a->ids = (PyArrayObject *)PyArray_FROMANY(ids, NPY_INT32, 1, 1, NPY_ARRAY_IN_ARRAY);
    a->points = (PyArrayObject *)PyArray_FROMANY(points, NPY_FLOAT32, 3, 3, NPY_ARRAY_IN_ARRAY);
    a->poses = (PyArrayObject *)PyArray_FROMANY(poses, NPY_FLOAT32, 2, 2, NPY_ARRAY_IN_ARRAY);
    a->has_pose = (PyArrayObject *)PyArray_FROMANY(has_pose, NPY_BOOL, 1, 1, NPY_ARRAY_IN_ARRAY);
    if (!a->ids || !a->points || !a->poses || !a->has_pose)
        goto fail;
    const npy_intp n = a->n = PyArray_DIM(a->ids, 0);
    if (PyArray_DIM(a->points, 0) != n || PyArray_DIM(a->points, 1) != MF_LANDMARKS ||
        PyArray_DIM(a->points, 2) != 2 || PyArray_DIM(a->poses, 0) != n ||
        PyArray_DIM(a->poses, 1) != 3 || PyArray_DIM(a->has_pose, 0) != n) {
        PyErr_Format(PyExc_ValueError, "%s needs ids (n,), points (n, 68, 2), poses (n, 3) and "
                                       "has_pose (n,) for the same n faces", what);
        goto fail;
    }
    if (n > max_faces) {
        PyErr_Format(PyExc_ValueError, "%s: %zd faces in one frame, more than max_faces = %zd", what,
                     (Py_ssize_t)n, (Py_ssize_t)max_faces);
        goto fail;
    }
    return 0;
fail:
    keypoint_arrays_clear(a);
    return -1;
}

void keypoint_arrays_fill(const keypoint_arrays *a, mf_keypoints *out)
{
    const int32_t *ids = PyArray_DATA(a->ids);
    const float *points = PyArray_DATA(a->points), *poses = PyArray_DATA(a->poses);
    const npy_bool *has_pose = PyArray_DATA(a->has_pose);
    for (npy_intp i = 0; i < a->n; i++) {
        mf_keypoints *k = &out[i];
        k->face_id = ids[i];
        memcpy(k->landmarks, points + i * 2 * MF_LANDMARKS, sizeof k->landmarks);
        k->has_pose = has_pose[i] != 0;
        k->pose = (mf_pose){poses[3 * i], poses[3 * i + 1], poses[3 * i + 2]};
    }
}

/* ---- structured results ----------------------------------------------------- */

static PyStructSequence_Field estimate_fields[] = {
    {"id", "the face's id"},
    {"visible", "False for a lost face in its grace period"},
    {"pose", "(yaw, pitch, roll) in degrees"},
    {"emotions", "probability by emotion name (EMOTIONS)"},
    {"amusement", NULL},
    {"surprise", NULL},
    {"confusion", NULL},
    {"action_units", "value by action-unit name (ACTION_UNITS)"},
    {"attention", "smoothed, 0..1"},
    {"raw_attention", "this frame's, 0..1"},
    {"engagement", "the engagement phase (ENGAGEMENT_PHASES)"},
    {"status", "the interaction status (INTERACTION_STATUSES)"},
    {"engagement_time", "seconds in this phase"},
    {"status_time", "seconds in this status"},
    {NULL, NULL},
};
static PyStructSequence_Field event_fields[] = {
    {"timestamp", "when the transition happened"},
    {"kind", "EVENT_KINDS: engagement, status or face"},
    {"from_state", NULL},
    {"to_state", NULL},
    {"face_id", "None for one face's Cues"},
    {NULL, NULL},
};
static PyStructSequence_Field cue_state_fields[] = {
    {"attention", NULL}, {"raw_attention", NULL}, {"engagement", NULL},
    {"status", NULL},    {"engagement_time", NULL}, {"status_time", NULL},
    {NULL, NULL},
};
static PyStructSequence_Field expressions_fields[] = {
    {"emotions", "(n, 7) float32 in EMOTIONS order"},
    {"social", "(n, 3) float32: amusement, surprise, confusion"},
    {"action_units", "(n, 9) float32 in ACTION_UNITS order"},
    {NULL, NULL},
};
static PyStructSequence_Desc struct_descs[] = {
    {"mojofer._core.Estimate", "One face's estimate at one frame.", estimate_fields, 14},
    {"mojofer._core.Event", "A transition of a face's cues or presence.", event_fields, 5},
    {"mojofer._core.CueState", "A face's cues after an update.", cue_state_fields, 6},
    {"mojofer._core.Expressions", "Expressions of n faces.", expressions_fields, 3},
};
PyTypeObject EstimateType, EventType, CueStateType, ExpressionsType;

int structs_ready(void)
{
    PyTypeObject *types[] = {&EstimateType, &EventType, &CueStateType, &ExpressionsType};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (PyStructSequence_InitType2(types[i], &struct_descs[i]) < 0)
            return -1;
    return 0;
}

PyObject *struct_new(PyTypeObject *type, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    PyObject *values = Py_VaBuildValue(format, args);
    va_end(args);
    PyObject *s = values ? PyStructSequence_New(type) : NULL;
    for (Py_ssize_t i = 0; s && i < PyTuple_GET_SIZE(values); i++) {
        PyObject *v = PyTuple_GET_ITEM(values, i);
        Py_INCREF(v);
        PyStructSequence_SET_ITEM(s, i, v);
    }
    Py_XDECREF(values);
    return s;
}

/* {name_of(i): v[i]} for n values */
static PyObject *named_floats(const float *v, int32_t n, const char *(*name_of)(int32_t))
{
    PyObject *d = PyDict_New();
    for (int32_t i = 0; d && i < n; i++) {
        PyObject *f = PyFloat_FromDouble((double)v[i]);
        if (!f || PyDict_SetItemString(d, name_of(i), f) < 0)
            Py_CLEAR(d);
        Py_XDECREF(f);
    }
    return d;
}

/* The name of a cue or face state, by event kind. */
static const char *state_name(int32_t kind, int32_t value)
{
    return kind == MF_CUE_ENGAGEMENT    ? mf_engagement_name(value)
           : kind == MF_CUE_INTERACTION ? mf_interaction_name(value)
                                        : mf_face_state_name(value);
}

static PyObject *estimate_new(const mf_estimate *e)
{
    const mf_expression *x = &e->expression;
    const mf_cues_state *c = &e->cues;
    return struct_new(&EstimateType, "(iO(ddd)NdddNddssdd)", e->face_id,
                      e->visible ? Py_True : Py_False, (double)e->pose.yaw, (double)e->pose.pitch,
                      (double)e->pose.roll, named_floats(x->emotions, MF_EMOTIONS, mf_emotion_name),
                      (double)x->amusement, (double)x->surprise, (double)x->confusion,
                      named_floats(x->action_units, MF_ACTION_UNITS, mf_action_unit_name),
                      c->attention, c->raw_attention, mf_engagement_name(c->engagement),
                      mf_interaction_name(c->status), c->engagement_time, c->status_time);
}

static PyObject *event_new(const mf_estimate_event *e)
{
    return struct_new(&EventType, "(dsssi)", e->timestamp, mf_cue_kind_name(e->kind),
                      state_name(e->kind, e->from), state_name(e->kind, e->to), e->face_id);
}

int estimates_out(const mf_estimate *estimates, size_t count, const mf_estimate_event *events,
                  size_t events_count, PyObject **faces, PyObject **event_list)
{
    PyObject *f = PyList_New((Py_ssize_t)count), *ev = PyList_New((Py_ssize_t)events_count);
    for (size_t i = 0; f && ev && i < count; i++) {
        PyObject *item = estimate_new(&estimates[i]);
        if (!item)
            goto fail;
        PyList_SET_ITEM(f, (Py_ssize_t)i, item);
    }
    for (size_t i = 0; f && ev && i < events_count; i++) {
        PyObject *item = event_new(&events[i]);
        if (!item)
            goto fail;
        PyList_SET_ITEM(ev, (Py_ssize_t)i, item);
    }
    if (f && ev) {
        *faces = f, *event_list = ev;
        return 0;
    }
fail:
    Py_XDECREF(f);
    Py_XDECREF(ev);
    *faces = *event_list = NULL;
    return -1;
}

/* ---- cue parameters --------------------------------------------------------- */

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

int cues_params_from_dict(PyObject *dict, mf_cues_params *params)
{
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (dict && PyDict_Next(dict, &pos, &key, &value)) {
        int k = 0;
        while (k < CUES_PARAM_COUNT && (!PyUnicode_Check(key) ||
                                        PyUnicode_CompareWithASCIIString(key, CUES_PARAMS[k].name) != 0))
            k++;
        if (k == CUES_PARAM_COUNT) {
            PyErr_Format(PyExc_TypeError, "unknown parameter %R of the cues (see cues_defaults())", key);
            return -1;
        }
        const double v = PyFloat_AsDouble(value);
        if (v == -1.0 && PyErr_Occurred()) {
            PyErr_Format(PyExc_TypeError, "cue parameter %s must be a number, got %R",
                         CUES_PARAMS[k].name, value);
            return -1;
        }
        memcpy((char *)params + CUES_PARAMS[k].offset, &v, sizeof v);
    }
    return 0;
}

PyObject *cues_params_dict(const mf_cues_params *params)
{
    PyObject *d = PyDict_New();
    for (int k = 0; d && k < CUES_PARAM_COUNT; k++) {
        double v;
        memcpy(&v, (const char *)params + CUES_PARAMS[k].offset, sizeof v);
        PyObject *f = PyFloat_FromDouble(v);
        if (!f || PyDict_SetItemString(d, CUES_PARAMS[k].name, f) < 0)
            Py_CLEAR(d);
        Py_XDECREF(f);
    }
    return d;
}

int cues_params_checked(const mf_cues_params *params)
{
    const char *problem;
    if (mf_cues_params_check(params, &problem) == MF_OK)
        return 0;
    PyErr_Format(PyExc_ValueError, "invalid cue parameters: %s", problem);
    return -1;
}

/* ---- names and times ---------------------------------------------------------- */

PyObject *name_tuple(const char *(*name_of)(int32_t), int32_t count)
{
    PyObject *t = PyTuple_New(count);
    for (int32_t i = 0; t && i < count; i++) {
        PyObject *s = PyUnicode_FromString(name_of(i));
        if (!s)
            Py_CLEAR(t);
        else
            PyTuple_SET_ITEM(t, i, s);
    }
    return t;
}

PyObject *raise_time(double t, const char *format, double u)
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
