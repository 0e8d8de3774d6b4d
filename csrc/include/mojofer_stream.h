/*
 * mojofer_stream.h: the public header of the streaming parts of the mojofer
 * C core: the wire format (msgpack), the WebSocket server and the client
 * (libwebsockets). The conventions of mojofer.h hold here too.
 */
#ifndef MOJOFER_STREAM_H
#define MOJOFER_STREAM_H

#include "mojofer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- wire: the streaming protocol's messages (docs/protocol.md) --------- */

/* msgpack maps, one per WebSocket binary message, under the subprotocol
 * MF_WIRE_PROTOCOL. Decoding reads the bytes in place with a bounds check
 * at every step and allocates nothing; it is strict: a key missing,
 * unknown or repeated, a value of the wrong type, or bytes after the map
 * refuse the message. A refusal gives MF_E_INVALID_ARGUMENT (MF_E_TOO_LARGE
 * for more faces or events than the buffers hold) and fills *error with a
 * protocol error code and a static reason, ready for mf_wire_encode_error;
 * the caller's buffers may then hold partial data. */
#define MF_WIRE_PROTOCOL "mojofer.v1"
#define MF_WIRE_MAX_REASON 256 /* bytes of an error's reason */

typedef enum {
    MF_WIRE_FRAME = 1,    /* client -> server: keypoints */
    MF_WIRE_ESTIMATE = 2, /* server -> client: estimates of one frame */
    MF_WIRE_ERROR = 3     /* server -> client: a frame or message refused */
} mf_wire_type;

/* Codes of the protocol's error messages about a message's content. They
 * share one numbering with the transport's close and error codes
 * (4001..4008, docs/protocol.md). */
typedef enum {
    MF_WIRE_E_MALFORMED = 4007, /* not one msgpack map, truncated, or bytes after it */
    MF_WIRE_E_SCHEMA = 4009,    /* a key missing, unknown or repeated, or a value of the wrong type */
    MF_WIRE_E_TYPE = 4010,      /* "t" names no message this end accepts */
    MF_WIRE_E_TOO_MANY = 4011,  /* more faces (or events) than allowed */
    MF_WIRE_E_INVALID = 4012,   /* values refused: landmarks, pose, duplicate ids, timestamp */
    MF_WIRE_E_INTERNAL = 4013   /* the server failed to estimate (out of memory) */
} mf_wire_code;

typedef struct {
    int32_t code;       /* mf_wire_code; 0 when nothing was refused */
    const char *reason; /* a static sentence */
    int32_t has_seq;    /* 1 when the refused message's seq could be read */
    uint64_t seq;
} mf_wire_error;

/* Buffer sizes that always hold an encoded message. */
#define MF_WIRE_FRAME_BYTES(faces) (64 + 600 * (size_t)(faces))
#define MF_WIRE_ESTIMATE_BYTES(faces, events) (64 + 256 * (size_t)(faces) + 80 * (size_t)(events))
#define MF_WIRE_ERROR_BYTES 320

/* The type of a message (the value of its "t"), without checking the rest. */
MF_API mf_status mf_wire_peek(const uint8_t *data, size_t size, mf_wire_type *type,
                              mf_wire_error *error);
/* The "seq" of any message, interpreting nothing else: *has_seq 1 and
 * *seq for a seq that is an unsigned integer, *has_seq 0 for none (an
 * error message's nil seq, or a value of another type). MF_OK when the
 * bytes are one whole msgpack map, else MF_E_INVALID_ARGUMENT with *error
 * (may be NULL) as the decoders fill it. The client acknowledges its
 * frames with it. */
MF_API mf_status mf_wire_peek_seq(const uint8_t *data, size_t size, int32_t *has_seq,
                                  uint64_t *seq, mf_wire_error *error);

/* {"t": "frame", "seq": uint, "ts": float64 seconds, "faces": [{"id": int32,
 *  "lm": bin of 136 little-endian float32 or array of 136 numbers,
 *  "pose": [yaw, pitch, roll] (optional)}]} */
MF_API mf_status mf_wire_encode_frame(uint64_t seq, double timestamp, const mf_keypoints *faces,
                                      size_t count, uint8_t *buf, size_t capacity, size_t *written);
MF_API mf_status mf_wire_decode_frame(const uint8_t *data, size_t size, uint64_t *seq,
                                      double *timestamp, mf_keypoints *faces, size_t capacity,
                                      size_t *count, mf_wire_error *error);

/* {"t": "estimate", "seq", "ts", "faces": [{"id", "visible": bool, "pose": [3],
 *  "emotions": [7], "social": [3], "au": [9], "attention", "engagement": str,
 *  "status": str}], "events": [[ts, id, kind, from, to] with names as strings]}.
 * Decoding fills what the message carries: of mf_cues_state, attention,
 * engagement and status (the rest 0). */
MF_API mf_status mf_wire_encode_estimate(uint64_t seq, double timestamp, const mf_estimate *faces,
                                         size_t count, const mf_estimate_event *events,
                                         size_t events_count, uint8_t *buf, size_t capacity,
                                         size_t *written);
MF_API mf_status mf_wire_decode_estimate(const uint8_t *data, size_t size, uint64_t *seq,
                                         double *timestamp, mf_estimate *faces, size_t capacity,
                                         size_t *count, mf_estimate_event *events,
                                         size_t events_capacity, size_t *events_count,
                                         mf_wire_error *error);

/* {"t": "error", "seq": uint or nil, "code": int, "reason": str}. A longer
 * reason is cut at MF_WIRE_MAX_REASON bytes (on a UTF-8 boundary). Decoding
 * copies the reason, NUL-terminated, into `reason` (capacity >=
 * MF_WIRE_MAX_REASON + 1). */
MF_API mf_status mf_wire_encode_error(const mf_wire_error *error, uint8_t *buf, size_t capacity,
                                      size_t *written);
MF_API mf_status mf_wire_decode_error(const uint8_t *data, size_t size, int32_t *has_seq,
                                      uint64_t *seq, int32_t *code, char *reason,
                                      size_t reason_capacity, mf_wire_error *error);

/* ---- streaming server (WebSocket + msgpack; docs/protocol.md) ----------- */

/* Under the subprotocol MF_WIRE_PROTOCOL. Close codes, and the code of the
 * error message answering a frame over the plan's rate (docs/protocol.md). */
typedef enum {
    MF_CLOSE_BAD_CREDENTIALS = 4001,
    MF_CLOSE_SESSION_LIMIT = 4002,
    MF_CLOSE_FRAME_RATE = 4003,
    MF_CLOSE_SESSION_TOO_LONG = 4004,
    MF_CLOSE_IDLE = 4005,
    MF_CLOSE_TOO_LARGE = 4006,
    MF_CLOSE_MALFORMED = 4007,
    MF_CLOSE_VERSION = 4008
} mf_close_code;

/* A key pair and its plan. */
typedef struct {
    const char *id;                   /* names the key in logs, never the secrets */
    const char *api_key, *socket_key; /* non-empty */
    int32_t max_sessions;             /* simultaneous sessions, >= 1 */
    double max_fps;                   /* frames per second, > 0; bursts of 1 s allowed */
    double max_session_seconds;       /* > 0 */
    /* finite, >= 0: how far a session's frame timestamps may run ahead of
     * its wall-clock time and still count for the frame rate, so that the
     * backlog a client sends again after an outage this long is admitted
     * (docs/protocol.md, "Sessions and plans"); 0: wall-clock time only */
    double catch_up_seconds;
} mf_server_key;

/* One structured log entry; strings live for the call only. */
typedef struct {
    const char *event;  /* "session_start", "session_end", "refused" */
    const char *key_id; /* NULL if no key matched */
    const char *peer;   /* the client's address */
    int64_t session;    /* server-unique, from 1; 0 for a refusal */
    int32_t code;       /* close code; 0 for a session start or a client's close */
    const char *reason; /* "" when none */
    int64_t frames, errors; /* messages answered, of which error messages */
    double seconds;         /* session length */
    int32_t thread;         /* the service thread of the session, 0 .. threads-1 */
} mf_server_log;

/* Called from any of the service threads (and from mf_server_stop, for the
 * sessions it closes), one call at a time: the server serialises them. */
typedef void (*mf_server_log_fn)(void *user, const mf_server_log *entry);

/* Every complete message a session receives, as received (its fragments
 * joined), before it is decoded: for recording what crossed the wire
 * (audits, tests). binary is 0 for a text message. Called on the session's
 * service thread, one call at a time (the log's serialisation); the bytes
 * live for the call only. */
typedef void (*mf_server_record_fn)(void *user, int64_t session, const uint8_t *data, size_t size,
                                    int32_t binary);

/* A folder served as static files at a URL path, on the server's port
 * beside the WebSocket: a page and the socket it opens share one origin.
 * GET and HEAD of a file under the path answer 200 with its bytes and a
 * Content-Type from its extension (.html, .js text/javascript, .wasm
 * application/wasm, .mfm application/octet-stream, .css, .json, .png,
 * .svg, .txt; another extension: 415), a missing file 404, the path
 * itself its index.html; ".." never leaves the folder. A WebSocket
 * upgrade is a session on any path, mounted or not; a plain HTTP request
 * under no mount is answered 400 as without statics. */
typedef struct {
    /* "/" or "/name[/name...]" of letters, digits and - _ . ~ (a trailing
     * "/" is the same path); the longest that matches a request serves it */
    const char *url_path;
    const char *directory; /* a folder the server can read, copied at mf_server_new */
} mf_server_static;

#define MF_SERVER_MAX_STATICS 16

#define MF_SERVER_MAX_THREADS 64

/* The host is bound exactly: an IPv4 or IPv6 literal as given, a name
 * resolved once by mf_server_new to its first IPv4 address, or its first
 * IPv6 address if it has none ("localhost": 127.0.0.1). "0.0.0.0" is every
 * IPv4 address, "::" every IPv6 and IPv4 one. Plain ws:// binds only a
 * loopback address (127.0.0.0/8, ::1) unless allow_remote_plain.
 *
 * Connections are capped before their handshake: over max_connections, or
 * max_connections_per_address from one client address (an IPv6 client
 * counts by its /64 prefix), or with fewer than 32 file descriptors left
 * to the process, a new connection is answered "HTTP/1.1 503" and closed
 * at once, without reading its request (docs/protocol.md, "Connections"). A
 * connection not upgraded to a session within handshake_timeout is
 * closed. Behind a reverse proxy every client has the proxy's address:
 * set max_connections_per_address to max_connections there. */
typedef struct {
    const char *host;              /* address to bind; loopback by default */
    int32_t port;                  /* 0: any free port, see mf_server_port */
    int32_t max_connections;       /* open connections, handshakes included; >= 1 */
    int32_t max_connections_per_address; /* 1 .. max_connections */
    double handshake_timeout;      /* seconds, > 0; counted in whole seconds */
    const mf_server_key *keys;     /* copied by mf_server_new */
    size_t key_count;
    double idle_timeout;           /* seconds without a message end a session */
    size_t max_message_bytes;      /* a larger message closes with 4006 */
    int32_t allow_remote_plain;    /* plain ws:// on a host that is not loopback */
    const char *tls_cert, *tls_key; /* PEM files: both (wss://) or neither */
    mf_server_log_fn log;          /* may be NULL; see mf_server_log_fn */
    void *log_user;
    mf_server_record_fn record;    /* may be NULL; see mf_server_record_fn */
    void *record_user;
    /* Service threads, 1 .. MF_SERVER_MAX_THREADS; 1 by default. Each
     * listens on the port (SO_REUSEPORT) and serves the sessions the
     * kernel hands it; the keys' max_sessions and the connection caps hold
     * for the server as a whole, first come, first served. About one per
     * core the estimator may use. */
    int32_t threads;
    /* Folders served over HTTP on the same port, 0 .. MF_SERVER_MAX_STATICS
     * of them at distinct url paths; none by default. */
    const mf_server_static *statics;
    size_t static_count;
} mf_server_config;

typedef struct mf_server mf_server;

MF_API mf_server_config mf_server_config_default(void);
/* Checks the config, resolves the host (once) and binds the port; serves
 * nothing until mf_server_start. Every session gets an mf_estimator with
 * `params`: the sessions of each service thread share a copy of
 * `expressions` (mf_expression_classifier_copy), and all share `pose`,
 * which they only read: free the server before them and their models. On
 * failure *problem (if `problem` is not NULL) is a static phrase naming the
 * one cause: MF_E_INVALID_ARGUMENT, the first rule of the
 * config or params broken (e.g. "tls_cert and tls_key go together");
 * MF_E_IO, a TLS file that cannot serve, read with OpenSSL as
 * libwebsockets reads it, the phrase beginning with "tls_cert:" or
 * "tls_key:" (e.g. "tls_key: no such file", "tls_key: not the private key
 * of tls_cert"), or a static folder that cannot (mf_server_static_problem); MF_E_NETWORK, the address that cannot be bound (e.g. "the
 * port is in use", "the address is not one of this machine's"). NULL on
 * success. */
MF_API mf_server *mf_server_new(const mf_server_config *config, mf_pose_estimator *pose,
                                mf_expression_classifier *expressions,
                                const mf_estimator_params *params, mf_status *status,
                                const char **problem);
/* Why a static folder cannot be served, or NULL: a static phrase beginning
 * with "static directory:" ("no such folder", "not a folder", "permission
 * denied"), the MF_E_IO problem of mf_server_new for the first such mount. */
MF_API const char *mf_server_static_problem(const mf_server_static *mount);
/* The bound port. */
MF_API int32_t mf_server_port(const mf_server *server);
/* The bound address, numeric ("127.0.0.1", "::1"); lives with the server. */
MF_API const char *mf_server_address(const mf_server *server);
/* Serves on threads of its own until mf_server_stop. */
MF_API mf_status mf_server_start(mf_server *server);
/* Closes every session (code 1001) and joins the threads; may be called
 * twice. A stopped server does not start again. */
MF_API mf_status mf_server_stop(mf_server *server);
/* Stops the server if running; NULL-safe. */
MF_API void mf_server_free(mf_server *server);

/* ---- streaming client (docs/protocol.md) --------------------------------- */

/* Codes of the error messages a client makes itself, for frames the server
 * never answered: */
#define MF_CLIENT_E_QUEUE_FULL 4100 /* the queue was full: the frame was not sent */
#define MF_CLIENT_E_CLOSED 4101     /* the client was closed before an answer came */

typedef struct {
    const char *url;                 /* ws://host[:port][/path] or wss://... */
    const char *api_key, *socket_key;
    size_t max_pending;              /* frames unanswered plus replies not taken; 256 */
    size_t max_message_bytes;        /* of one reply; 1 MiB */
    double backoff_min, backoff_max; /* reconnect delay in seconds, doubling; 0.05, 5 */
    int32_t allow_remote_plain;      /* ws:// to a host that is not loopback */
    int32_t allow_self_signed;       /* wss:// to a self-signed certificate */
} mf_client_config;

typedef struct {
    int32_t connected;  /* 1 while a session is open */
    int64_t connects;   /* sessions opened so far */
    size_t waiting;     /* frames queued or sent, not yet answered */
    size_t replies;     /* replies not yet taken */
    int32_t last_close; /* the server's last close code, 0 if none */
} mf_client_state;

typedef struct mf_client mf_client;

MF_API mf_client_config mf_client_config_default(void);
/* Starts connecting at once, on a thread of its own; the keys travel in the
 * X-Api-Key and X-Socket-Key headers of the upgrade. A client that loses
 * its connection reconnects (backoff from backoff_min to backoff_max)
 * while frames wait, and sends every unanswered frame again. */
MF_API mf_client *mf_client_new(const mf_client_config *config, mf_status *status);
/* Queues one frame and never waits: *seq is its sequence number (from 1).
 * Every frame queued gets exactly one reply: the server's estimate or
 * error message, or one the client makes (MF_CLIENT_E_*, or the code of a
 * server's refusal for good: 4001, 4008). One thread sends at a time. */
MF_API mf_status mf_client_send(mf_client *client, double timestamp, const mf_keypoints *faces,
                                size_t count, uint64_t *seq);
/* Takes the next reply (a msgpack message, docs/protocol.md), waiting up to
 * `timeout` seconds: *size 0 if none came. MF_E_TOO_LARGE, the reply kept,
 * when `capacity` is short of *size. */
MF_API mf_status mf_client_receive(mf_client *client, double timeout, uint8_t *buf,
                                   size_t capacity, size_t *size);
/* Waits up to `timeout` seconds for every frame to be answered; returns
 * how many are still waiting. */
MF_API size_t mf_client_flush(mf_client *client, double timeout);
MF_API void mf_client_state_get(mf_client *client, mf_client_state *out);
/* Closes the session (1000) and joins the thread; frames still unanswered,
 * and any sent after, get MF_CLIENT_E_CLOSED. Replies stay to be taken.
 * Not while another thread sends. */
MF_API void mf_client_close(mf_client *client);
/* Closes if open; NULL-safe. */
MF_API void mf_client_free(mf_client *client);

#ifdef __cplusplus
}
#endif
#endif
