/* Client: the streaming client (csrc/stream/client.c); mojofer.CloudClient wraps it. */
#include "_core.h"

#include <math.h>

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
    keypoint_arrays a;
    if (!PyArg_ParseTuple(args, "dOOOO:send", &t, &ids_obj, &points_obj, &poses_obj, &has_obj))
        return NULL;
    if (!client_ready(self))
        return NULL;
    if (!isfinite(t))
        return raise_time(t, "timestamp must be finite, got %s", 0.0);
    if (keypoint_arrays_parse(&a, ids_obj, points_obj, poses_obj, has_obj, CLIENT_MAX_FACES, "send") < 0)
        return NULL;
    uint64_t seq = 0;
    mf_status st = MF_OK;
    int closed;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->send_lock, WAIT_LOCK);
    closed = self->closed;
    if (!closed) {
        keypoint_arrays_fill(&a, self->faces);
        st = mf_client_send(self->client, t, self->faces, (size_t)a.n, &seq);
    }
    PyThread_release_lock(self->send_lock);
    Py_END_ALLOW_THREADS
    if (closed)
        PyErr_SetString(PyExc_ValueError, "send on a closed Client");
    else if (st != MF_OK)
        raise_status(st, "send");
    else
        result = PyLong_FromUnsignedLongLong((unsigned long long)seq);
    keypoint_arrays_clear(&a);
    return result;
}

/* A reply as ("estimate", seq, ts, [Estimate], [Event]) or
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
    PyObject *faces, *events;
    if (estimates_out(self->estimates, count, self->events, events_count, &faces, &events) < 0)
        return NULL;
    return Py_BuildValue("(sKdNN)", "estimate", (unsigned long long)seq, ts, faces, events);
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

PyTypeObject ClientType = {
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
