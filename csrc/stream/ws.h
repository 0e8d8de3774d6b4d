/* The WebSocket transport's internals. transport.c holds what the server
 * (server.c) and the client (client.c) both use; the server's transport
 * (connections, keys, limits) takes its message layer through
 * mf_ws_handler, so it is tested on its own, and session.c plugs the wire
 * codec and one estimator per session in behind it (mf_server_new). */
#ifndef MOJOFER_WS_H
#define MOJOFER_WS_H

#include "mojofer_stream.h"

struct sockaddr;

/* The upgrade's credential headers, as lws names them (the client sends
 * them, the server reads them or the query's api_key= and socket_key=). */
#define MF_WS_API_KEY_HEADER "x-api-key:"
#define MF_WS_SOCKET_KEY_HEADER "x-socket-key:"

/* A growable byte buffer for one message. */
typedef struct {
    uint8_t *data;
    size_t size, capacity;
} mf_ws_buffer;

/* Makes room for `capacity` bytes; the contents so far are kept. */
mf_status mf_ws_buffer_reserve(mf_ws_buffer *buffer, size_t capacity);

/* Seconds on the monotonic clock. */
double mf_ws_now(void);

/* A malloc'd copy of s; NULL for NULL or out of memory. */
char *mf_ws_copy_string(const char *s);

/* Equal strings, in a time that depends on the secret's length only. */
int mf_ws_equal(const char *given, const char *secret);

/* A host name that is loopback as written ("localhost", "::1", 127.x.x.x):
 * the client's rule for plain ws://. */
int mf_ws_host_is_loopback(const char *host);

/* An IPv4 or IPv6 address in 127.0.0.0/8 or ::1 (or IPv4-mapped 127.x):
 * the server's rule for plain ws://, on the address it binds. */
int mf_ws_address_is_loopback(const struct sockaddr *address);

/* The message layer. The server runs its sessions on several service
 * threads (mf_server_config.threads): each thread gets its own state from
 * thread_new, and every call made on that thread is given it as `local`;
 * one thread's calls never overlap. */
typedef struct {
    void *user;
    /* Per-session state, made at a session's first message. */
    void *(*session_new)(void *local, mf_status *status);
    void (*session_free)(void *session);
    /* Answers one received message in `reply` (emptied by the caller):
     * returns 0 for an answer, or the protocol error code (e.g. 4007) of
     * the error message it wrote instead. */
    int32_t (*message)(void *local, void *session, const uint8_t *data, size_t size,
                       mf_ws_buffer *reply);
    /* An error message answering `data` (its seq, if one can be read):
     * the transport's own refusals, such as the frame rate. */
    mf_status (*error)(void *local, const uint8_t *data, size_t size, int32_t code,
                       const char *reason, mf_ws_buffer *reply);
    /* The "ts" of a frame, for the frame rate's catch-up allowance: 1 and
     * *timestamp if `data` is a frame that decodes, else 0. May be NULL:
     * the rate then counts wall-clock time only. */
    int (*frame_time)(void *local, const uint8_t *data, size_t size, double *timestamp);
    /* Frees `user` with the server that was made with it; may be NULL.
     * Not called when mf_ws_server_new fails: `user` is the caller's then. */
    void (*user_free)(void *user);
    /* A service thread's state, made from `user` before the thread serves
     * and freed after it stops. NULL: every thread's `local` is `user`
     * itself, which must then bear calls from several threads at once. */
    void *(*thread_new)(void *user, mf_status *status);
    void (*thread_free)(void *local);
} mf_ws_handler;

/* mf_server_new with the given message layer in place of the estimator's. */
mf_server *mf_ws_server_new(const mf_server_config *config, const mf_ws_handler *handler,
                            mf_status *status, const char **problem);

#endif
