/* Server: the streaming server (csrc/stream/server.c); mojofer.serve wraps it. */
#include "_core.h"

#include <string.h>


typedef struct {
    PyObject_HEAD
    mf_server *server;
    mf_pose_estimator *pose;
    mf_expression_classifier *expressions;
    PyObject *models; /* kept alive for the engines */
    PyObject *log;    /* callable(dict) or None */
    PyObject *record; /* callable(session, data, binary) or None */
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

/* The record callback: as the log's, on the service threads, one call at a time. */
static void server_record(void *user, int64_t session, const uint8_t *data, size_t size,
                          int32_t binary)
{
    ServerObject *self = user;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(self->record, "Ly#O", (long long)session, (const char *)data,
                                        (Py_ssize_t)size, binary ? Py_True : Py_False);
    if (!r)
        PyErr_WriteUnraisable(self->record);
    Py_XDECREF(r);
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
    Py_XDECREF(self->record);
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

/* Fills one static mount from (url_path, directory); the strings stay
 * owned by `item`. */
static int server_static(PyObject *item, mf_server_static *mount)
{
    if (!PyTuple_Check(item) ||
        !PyArg_ParseTuple(item, "ss", &mount->url_path, &mount->directory)) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "each static mount must be (url_path, directory), got %R", item);
        return -1;
    }
    return 0;
}

/* The OSError naming the first static folder that cannot be served. */
static void raise_static_problem(const mf_server_config *config)
{
    for (size_t i = 0; i < config->static_count; i++) {
        const char *why = mf_server_static_problem(&config->statics[i]);
        if (why) {
            PyErr_Format(PyExc_OSError, "cannot serve: static directory %s (at %s)%s",
                         config->statics[i].directory, config->statics[i].url_path,
                         strchr(why, ':'));
            return;
        }
    }
    PyErr_SetString(PyExc_OSError, "cannot serve: a static directory cannot be read");
}

/* Server(host, port, keys, idle_timeout, max_message_bytes, allow_remote_plain,
 *        tls_cert, tls_key, pose_model, expression_model, smoothing, grace,
 *        max_faces, cues, log, *, max_connections, max_connections_per_address,
 *        handshake_timeout, threads, baseline_window, record, statics): bound at once, serving
 *        after start(); the keyword-only limits default to mf_server_config_default's;
 *        record a callable or None; statics, a sequence of (url_path, directory), none by
 *        default. */
static int Server_init(ServerObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"host", "port", "keys", "idle_timeout", "max_message_bytes",
                             "allow_remote_plain", "tls_cert", "tls_key", "pose_model",
                             "expression_model", "smoothing", "grace", "max_faces", "cues", "log",
                             "max_connections", "max_connections_per_address",
                             "handshake_timeout", "threads", "baseline_window", "record", "statics", NULL};
    mf_server_config config = mf_server_config_default();
    mf_estimator_params params = mf_estimator_params_default();
    PyObject *keys, *pose_model, *expression_model, *cues, *log, *record = Py_None, *seq = NULL;
    PyObject *statics = NULL, *static_seq = NULL;
    mf_server_static *mounts = NULL;
    Py_ssize_t max_message_bytes;
    int allow_remote_plain, result = -1;
    mf_server_key *k = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "siOdnpzzO!O!ddiO!O|$iididOO:Server", kwlist,
                                     &config.host, &config.port, &keys, &config.idle_timeout,
                                     &max_message_bytes, &allow_remote_plain, &config.tls_cert,
                                     &config.tls_key, &ModelType, &pose_model, &ModelType,
                                     &expression_model, &params.smoothing, &params.grace,
                                     &params.max_faces, &PyDict_Type, &cues, &log,
                                     &config.max_connections, &config.max_connections_per_address,
                                     &config.handshake_timeout, &config.threads,
                                     &params.baseline_window, &record, &statics))
        return -1;
    if (self->server || self->pose) {
        PyErr_SetString(PyExc_RuntimeError, "Server is already initialised");
        return -1;
    }
    if (log != Py_None && !PyCallable_Check(log)) {
        PyErr_Format(PyExc_TypeError, "log must be callable or None, not %.100s", Py_TYPE(log)->tp_name);
        return -1;
    }
    if (record != Py_None && !PyCallable_Check(record)) {
        PyErr_Format(PyExc_TypeError, "record must be callable or None, not %.100s",
                     Py_TYPE(record)->tp_name);
        return -1;
    }
    if (cues_params_from_dict(cues, &params.cues) < 0)
        return -1;
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
    if (n > 0 && !(k = PyMem_Calloc((size_t)n, sizeof *k))) { /* none: the core says so */
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (server_key(PySequence_Fast_GET_ITEM(seq, i), &k[i]) < 0)
            goto done;
    config.keys = k;
    config.key_count = (size_t)n;
    if (statics) {
        if (!(static_seq = PySequence_Fast(statics, "statics must be a sequence of (url_path, directory)")))
            goto done;
        const Py_ssize_t m = PySequence_Fast_GET_SIZE(static_seq);
        if (m > 0 && !(mounts = PyMem_Calloc((size_t)m, sizeof *mounts))) {
            PyErr_NoMemory();
            goto done;
        }
        for (Py_ssize_t i = 0; i < m; i++)
            if (server_static(PySequence_Fast_GET_ITEM(static_seq, i), &mounts[i]) < 0)
                goto done;
        config.statics = mounts;
        config.static_count = (size_t)m;
    }
    config.max_message_bytes = (size_t)max_message_bytes;
    config.allow_remote_plain = allow_remote_plain;
    if (log != Py_None) {
        config.log = server_log;
        config.log_user = self;
    }
    mf_status st;
    if (estimator_engines(pose_model, expression_model, &self->pose, &self->expressions) < 0 ||
        !(self->models = PyTuple_Pack(2, pose_model, expression_model)))
        goto done;
    if (record != Py_None) {
        config.record = server_record;
        config.record_user = self;
    }
    Py_INCREF(log);
    self->log = log;
    Py_INCREF(record);
    self->record = record;
    Py_BEGIN_ALLOW_THREADS
    self->server = mf_server_new(&config, self->pose, self->expressions, &params, &st, &problem);
    Py_END_ALLOW_THREADS
    if (!self->server) {
        /* the core's phrase names the one cause; a TLS file's begins with
         * "tls_cert:" or "tls_key:", followed here by the file's path */
        if (st == MF_E_IO && strncmp(problem, "static directory:", 17) == 0) {
            raise_static_problem(&config);
        } else if (st == MF_E_IO) {
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
    PyMem_Free(mounts);
    Py_XDECREF(seq);
    Py_XDECREF(static_seq);
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

PyTypeObject ServerType = {
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
