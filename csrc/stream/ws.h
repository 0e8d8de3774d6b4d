/* The WebSocket transport's internals (ws_server.c): what it needs from the
 * message layer, so the transport is tested on its own and the message
 * codec and estimator plug in behind one small interface. */
#ifndef MOJOFER_WS_H
#define MOJOFER_WS_H

#include "mojofer_stream.h"

/* A growable byte buffer for one reply. */
typedef struct {
    uint8_t *data;
    size_t size, capacity;
} mf_ws_buffer;

/* Makes room for `capacity` bytes; the contents so far are kept. */
mf_status mf_ws_buffer_reserve(mf_ws_buffer *buffer, size_t capacity);

/* The message layer, called on the server's service thread only. */
typedef struct {
    void *user;
    /* Per-session state, made at a session's first message. */
    void *(*session_new)(void *user, mf_status *status);
    void (*session_free)(void *session);
    /* Answers one received message in `reply` (emptied by the caller):
     * returns 0 for an answer, or the protocol error code (e.g. 4007) of
     * the error message it wrote instead. */
    int32_t (*message)(void *user, void *session, const uint8_t *data, size_t size,
                       mf_ws_buffer *reply);
    /* An error message answering `data` (its seq, if one can be read):
     * the transport's own refusals, such as the frame rate. */
    mf_status (*error)(void *user, const uint8_t *data, size_t size, int32_t code,
                       const char *reason, mf_ws_buffer *reply);
    /* The "ts" of a frame, for the frame rate's catch-up allowance: 1 and
     * *timestamp if `data` is a frame that decodes, else 0. May be NULL:
     * the rate then counts wall-clock time only. */
    int (*frame_time)(void *user, const uint8_t *data, size_t size, double *timestamp);
} mf_ws_handler;

/* mf_server_new with the given message layer in place of the estimator's. */
mf_server *mf_ws_server_new(const mf_server_config *config, const mf_ws_handler *handler,
                            mf_status *status, const char **problem);

/* Equal strings, in a time that depends on the secret's length only. */
int mf_ws_equal(const char *given, const char *secret);

#endif
