/* The message layer of mf_server_new: each message a frame decoded by
 * mf_wire, answered by the session's own mf_estimator with an estimate (or
 * an error message), behind the transport of server.c (mf_ws_handler).
 * Each service thread has its own buffers and expression classifier (which
 * writes scratch of its own), shared by the sessions on that thread; the
 * head pose estimator is only read, and all threads share it. */
#include <stdlib.h>

#include "ws.h"

typedef struct {
    mf_pose_estimator *pose;
    mf_expression_classifier *expressions; /* the caller's: copied per thread */
    mf_estimator_params params;
    size_t max_faces, max_events;
} estimator_layer;

/* One service thread's part of the layer. */
typedef struct {
    mf_expression_classifier *expressions;
    mf_estimator_params params;
    mf_pose_estimator *pose;
    size_t max_faces, max_events;
    mf_keypoints *faces;
    mf_estimate *estimates;
    mf_estimate_event *events;
} estimator_thread;

static void estimator_thread_free(void *local)
{
    estimator_thread *t = local;
    if (!t)
        return;
    mf_expression_classifier_free(t->expressions);
    free(t->faces);
    free(t->estimates);
    free(t->events);
    free(t);
}

static void *estimator_thread_new(void *user, mf_status *status)
{
    const estimator_layer *layer = user;
    estimator_thread *t = calloc(1, sizeof *t);
    *status = MF_E_NO_MEMORY;
    if (!t)
        return NULL;
    t->pose = layer->pose;
    t->params = layer->params;
    t->max_faces = layer->max_faces;
    t->max_events = layer->max_events;
    t->expressions = mf_expression_classifier_copy(layer->expressions, status);
    t->faces = calloc(t->max_faces, sizeof *t->faces);
    t->estimates = calloc(t->max_faces, sizeof *t->estimates);
    t->events = calloc(t->max_events, sizeof *t->events);
    if (!t->expressions || !t->faces || !t->estimates || !t->events) {
        estimator_thread_free(t);
        *status = MF_E_NO_MEMORY;
        return NULL;
    }
    *status = MF_OK;
    return t;
}

static void *estimator_session_new(void *local, mf_status *status)
{
    estimator_thread *t = local;
    return mf_estimator_new(t->pose, t->expressions, &t->params, status);
}

static void estimator_session_free(void *session)
{
    mf_estimator_free(session);
}

/* Writes an encoder's message into `reply`, growing it until it fits. */
#define ENCODE_INTO(reply, call)                                                                  \
    do {                                                                                          \
        mf_status encode_st = MF_E_TOO_LARGE;                                                     \
        size_t want = (reply)->capacity ? (reply)->capacity : 1024;                               \
        while (encode_st == MF_E_TOO_LARGE && want <= ((size_t)1 << 26)) {                        \
            if (mf_ws_buffer_reserve((reply), want) != MF_OK)                                     \
                return MF_E_NO_MEMORY;                                                            \
            uint8_t *buf = (reply)->data;                                                         \
            const size_t capacity = (reply)->capacity;                                            \
            encode_st = (call);                                                                   \
            want = (reply)->capacity * 2;                                                         \
        }                                                                                         \
        if (encode_st != MF_OK)                                                                   \
            return encode_st;                                                                     \
    } while (0)

static mf_status encode_error(const mf_wire_error *error, mf_ws_buffer *reply)
{
    ENCODE_INTO(reply, mf_wire_encode_error(error, buf, capacity, &reply->size));
    return MF_OK;
}

static mf_status encode_estimate(uint64_t seq, double timestamp, const estimator_thread *layer,
                                 size_t count, size_t events, mf_ws_buffer *reply)
{
    ENCODE_INTO(reply, mf_wire_encode_estimate(seq, timestamp, layer->estimates, count,
                                               layer->events, events, buf, capacity,
                                               &reply->size));
    return MF_OK;
}

static int32_t estimator_message(void *local, void *session, const uint8_t *data, size_t size,
                                 mf_ws_buffer *reply)
{
    estimator_thread *layer = local;
    mf_wire_error error = {0, "", 0, 0};
    uint64_t seq;
    double timestamp;
    size_t count = 0, out_count = 0, events_count = 0;
    if (mf_wire_decode_frame(data, size, &seq, &timestamp, layer->faces, layer->max_faces, &count,
                             &error) != MF_OK)
        return encode_error(&error, reply) == MF_OK ? error.code : MF_WIRE_E_INTERNAL;
    mf_status st = mf_estimator_update(session, timestamp, layer->faces, count, layer->estimates,
                                       layer->max_faces, &out_count, layer->events,
                                       layer->max_events, &events_count);
    if (st == MF_OK && encode_estimate(seq, timestamp, layer, out_count, events_count, reply) == MF_OK)
        return 0;
    error.has_seq = 1;
    error.seq = seq;
    error.code = st == MF_E_TOO_LARGE     ? MF_WIRE_E_TOO_MANY
                 : st == MF_E_INVALID_ARGUMENT ? MF_WIRE_E_INVALID
                                          : MF_WIRE_E_INTERNAL;
    error.reason = mf_estimator_problem(session);
    return encode_error(&error, reply) == MF_OK ? error.code : MF_WIRE_E_INTERNAL;
}

static mf_status estimator_error(void *local, const uint8_t *data, size_t size, int32_t code,
                                 const char *reason, mf_ws_buffer *reply)
{
    estimator_thread *layer = local;
    mf_wire_error error = {0, "", 0, 0};
    uint64_t seq;
    double timestamp;
    size_t count;
    if (data && mf_wire_decode_frame(data, size, &seq, &timestamp, layer->faces, layer->max_faces, &count,
                             &error) == MF_OK) {
        error.has_seq = 1;
        error.seq = seq;
    }
    error.code = code;
    error.reason = reason;
    return encode_error(&error, reply);
}

static int estimator_frame_time(void *local, const uint8_t *data, size_t size, double *timestamp)
{
    estimator_thread *layer = local;
    mf_wire_error error;
    uint64_t seq;
    size_t count;
    return mf_wire_decode_frame(data, size, &seq, timestamp, layer->faces, layer->max_faces,
                                &count, &error) == MF_OK;
}

static void estimator_layer_free(void *user)
{
    free(user);
}

mf_server *mf_server_new(const mf_server_config *config, mf_pose_estimator *pose,
                         mf_expression_classifier *expressions, const mf_estimator_params *params,
                         mf_status *status, const char **problem)
{
    estimator_layer *layer = NULL;
    mf_server *server = NULL;
    const char *why = "a head pose estimator and an expression classifier are needed";
    mf_status st = MF_E_INVALID_ARGUMENT;
    if (!pose || !expressions || mf_estimator_params_check(params, &why) != MF_OK)
        goto fail;
    st = MF_E_NO_MEMORY;
    why = "out of memory";
    if (!(layer = calloc(1, sizeof *layer)))
        goto fail;
    layer->pose = pose;
    layer->expressions = expressions;
    layer->params = *params;
    layer->max_faces = (size_t)params->max_faces;
    layer->max_events = MF_ESTIMATE_EVENTS_PER_FACE * layer->max_faces;
    const mf_ws_handler handler = {layer,
                                   estimator_session_new,
                                   estimator_session_free,
                                   estimator_message,
                                   estimator_error,
                                   estimator_frame_time,
                                   estimator_layer_free,
                                   estimator_thread_new,
                                   estimator_thread_free};
    if (!(server = mf_ws_server_new(config, &handler, &st, &why)))
        goto fail;
    *status = MF_OK;
    if (problem)
        *problem = NULL;
    return server;
fail:
    estimator_layer_free(layer);
    *status = st;
    if (problem)
        *problem = why;
    return NULL;
}
