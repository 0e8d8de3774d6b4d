/* The wire functions: the streaming protocol's messages (csrc/stream/wire.c)
 * encoded and decoded for mojofer.wire. */
#include "_core.h"

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
PyObject *core_wire_encode_frame(PyObject *self, PyObject *args)
{
    (void)self;
    unsigned long long seq;
    double t;
    PyObject *ids_obj, *points_obj, *poses_obj, *has_obj, *result = NULL;
    keypoint_arrays a;
    if (!PyArg_ParseTuple(args, "KdOOOO:wire_encode_frame", &seq, &t, &ids_obj, &points_obj,
                          &poses_obj, &has_obj) ||
        keypoint_arrays_parse(&a, ids_obj, points_obj, poses_obj, has_obj, MF_ESTIMATOR_MAX_FACES,
                              "wire_encode_frame") < 0)
        return NULL;
    const npy_intp n = a.n;
    mf_keypoints *faces = NULL;
    uint8_t *buf = NULL;
    const size_t capacity = MF_WIRE_FRAME_BYTES(n);
    faces = PyMem_Calloc((size_t)n + 1, sizeof *faces);
    buf = PyMem_Malloc(capacity);
    if (!faces || !buf) {
        PyErr_NoMemory();
        goto done;
    }
    keypoint_arrays_fill(&a, faces);
    size_t written = 0;
    const mf_status st = mf_wire_encode_frame(seq, t, faces, (size_t)n, buf, capacity, &written);
    result = encoded(buf, written, st, "wire_encode_frame");
    buf = NULL;
done:
    PyMem_Free(faces);
    PyMem_Free(buf);
    keypoint_arrays_clear(&a);
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
PyObject *core_wire_encode_estimate(PyObject *self, PyObject *args)
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
PyObject *core_wire_encode_error(PyObject *self, PyObject *args)
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
 * | ("estimate", seq, ts, [Estimate], [Event])
 * | ("error", seq or None, code, reason)
 * | ("refused", code, reason, seq or None): the message was refused */
PyObject *core_wire_decode(PyObject *self, PyObject *args)
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
        PyObject *faces, *evs;
        if (estimates_out(estimates, count, events, events_count, &faces, &evs) == 0)
            result = Py_BuildValue("(sKdNN)", "estimate", (unsigned long long)seq, ts, faces, evs);
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
