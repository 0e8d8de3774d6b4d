/* The streaming server's transport: libwebsockets on service threads of its
 * own, one session per connection, the protocol's limits (docs/protocol.md,
 * "Transport"). What a message means is the message layer's (mf_ws_handler:
 * session.c's wire and estimator for mf_server_new).
 *
 * Debian's libwebsockets serves a context on one thread (LWS_MAX_SMP 1), so
 * each service thread (a worker) has a context of its own and a listening
 * socket of its own on the one port (SO_REUSEPORT: the kernel spreads the
 * connections over them), whose connections it accepts, counts against the
 * caps and gives to its context. A session lives on the worker that accepted it: its callbacks,
 * its message layer and its state stay on that thread. What limits the
 * whole server is shared under `lock`: the keys' session counts, the
 * connection caps and the session ids; the log callback is called under a
 * lock of its own, one entry at a time, from any worker. Credentials are
 * checked at the upgrade (LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION), before
 * the session is counted or any state of it is made; a refused connection
 * is upgraded only to carry its close code and reason, which browsers and
 * other WebSocket clients can read, where an HTTP status they cannot. */
/* SO_REUSEPORT, which POSIX does not name */
#define _DEFAULT_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ws.h"

/* Replies waiting for the socket past this many stop reading the session's
 * socket until they drain: a client that does not read cannot grow them. */
#define MF_WS_PENDING_MAX 8
#define MF_WS_SECRET_MAX 256
#define MF_WS_STOP_GRACE 1.0 /* seconds given to close frames at stop */
/* Descriptors kept free for the rest of the process: a connection that
 * would leave fewer is refused, so that accept never fails for want of
 * one (lws would retry it in a busy loop) and the process can still open
 * files. */
#define MF_WS_FD_RESERVE 32

/* Content types lws 4.1 does not know, or names differently (.js). */
static const struct lws_protocol_vhost_options MIME_MFM = {NULL, NULL, ".mfm",
                                                           "application/octet-stream"};
static const struct lws_protocol_vhost_options MIME_WASM = {&MIME_MFM, NULL, ".wasm",
                                                            "application/wasm"};
static const struct lws_protocol_vhost_options MIME_TYPES = {&MIME_WASM, NULL, ".js",
                                                             "text/javascript"};

/* The answer to a connection over the caps, sent before closing it. */
static const char OVER_CAPACITY[] = "HTTP/1.1 503 Service Unavailable\r\n"
                                    "Content-Type: text/plain\r\n"
                                    "Content-Length: 38\r\n"
                                    "Retry-After: 5\r\n"
                                    "Connection: close\r\n\r\n"
                                    "connection limit reached: retry later\n";

typedef struct reply {
    struct reply *next;
    size_t size;
    uint8_t bytes[]; /* LWS_PRE of room, then the message */
} reply;

typedef struct worker worker;

typedef struct session {
    mf_server *server;
    worker *worker;              /* the service thread it lives on */
    struct lws *wsi;
    struct session *prev, *next; /* the worker's live sessions */
    int32_t key;                 /* -1 until the credentials match */
    int32_t refuse;              /* close code to send at once, or 0 */
    const char *refuse_reason;
    int established;             /* counted against the key's plan */
    int64_t id;
    void *state;                 /* the message layer's, from the first message */
    uint8_t *rx;                 /* a message arriving in fragments */
    size_t rx_size, rx_capacity;
    reply *head, *tail;
    int pending, throttled;
    double start, last_message, tokens;
    double rate_clock;           /* seconds of the session counted into tokens */
    double ts_origin;            /* a frame's "ts" less this is its time in the session */
    int has_ts_origin;
    int32_t closing;             /* close code once decided, or 0 */
    const char *closing_reason;
    int64_t frames, errors;
    char peer[64];
} session;

/* A client address and its open connections; a slot with no connection
 * is free. The connections of one address share its slot through their
 * wsi's opaque user data. */
typedef struct {
    int family;
    uint8_t address[16]; /* IPv4, or the IPv6 /64 prefix */
    int32_t connections;
} peer;

typedef struct {
    char *id, *api_key, *socket_key;
    int32_t max_sessions;
    double max_fps, max_session_seconds, catch_up_seconds;
    int32_t active;
} server_key;

/* A service thread and what only it touches. */
struct worker {
    mf_server *server;
    int32_t index;
    void *local; /* the message layer's state for this thread */
    int made_local;
    struct lws_context *context;
    pthread_t thread;
    int running;
    session *sessions;
    int listen_fd;  /* lws's until the context is destroyed, once adopted */
    struct lws_vhost *vhost;
    mf_ws_buffer scratch; /* the reply being written */
};

struct mf_server {
    mf_server_config config; /* strings and keys below are our copies */
    server_key *keys;
    size_t key_count;
    mf_ws_handler handler;
    struct lws_protocols protocols[2];
    struct lws_http_mount *mounts; /* config.statics as lws serves them, linked */
    int32_t port;
    char address[INET6_ADDRSTRLEN]; /* bound, numeric */
    rlim_t fd_limit;
    worker *workers;
    int32_t worker_count;
    int started, stopped;
    atomic_int stop;
    /* Shared by the workers, under `lock`: the keys' `active`, and these. */
    pthread_mutex_t lock, log_lock;
    int locks_made;
    peer *peers;          /* max_connections slots */
    int32_t peers_used;   /* slots ever used: the scan's end */
    int32_t connections;
    int64_t next_id;
};

static void log_entry(session *s, const char *event, int32_t code, const char *reason)
{
    mf_server *server = s->server;
    if (!server->config.log)
        return;
    mf_server_log e;
    e.event = event;
    e.key_id = s->key >= 0 ? server->keys[s->key].id : NULL;
    e.peer = s->peer;
    e.session = s->id;
    e.code = code;
    e.reason = reason ? reason : "";
    e.frames = s->frames;
    e.errors = s->errors;
    e.seconds = s->start > 0 ? mf_ws_now() - s->start : 0.0;
    e.thread = s->worker->index;
    pthread_mutex_lock(&server->log_lock);
    server->config.log(server->config.log_user, &e);
    pthread_mutex_unlock(&server->log_lock);
}

/* One credential from the query or else a header; "" if neither. */
static const char *credential(struct lws *wsi, const char *arg, const char *header, char *buf,
                              size_t size)
{
    const char *v = lws_get_urlarg_by_name(wsi, arg, buf, (int)size);
    if (v)
        return v;
    if (lws_hdr_custom_copy(wsi, buf, (int)size, header, (int)strlen(header)) < 0)
        buf[0] = '\0';
    return buf;
}

/* The credentials from the query (?api_key=..&socket_key=..) or the
 * X-Api-Key / X-Socket-Key headers; the key index, or -1. Every key is
 * compared, matched or not, so the time taken does not tell which
 * prefix of which key was right. */
static int32_t find_key(mf_server *server, struct lws *wsi)
{
    char api_buf[MF_WS_SECRET_MAX + 16], sock_buf[MF_WS_SECRET_MAX + 16];
    const char *api = credential(wsi, "api_key=", MF_WS_API_KEY_HEADER, api_buf, sizeof api_buf);
    const char *sock =
        credential(wsi, "socket_key=", MF_WS_SOCKET_KEY_HEADER, sock_buf, sizeof sock_buf);
    int32_t found = -1;
    for (size_t k = 0; k < server->key_count; k++) {
        const int a = mf_ws_equal(api, server->keys[k].api_key);
        const int b = mf_ws_equal(sock, server->keys[k].socket_key);
        if (a & b & (found < 0))
            found = (int32_t)k;
    }
    return api[0] && sock[0] ? found : -1;
}

/* The slot of a client's address, or a free one for it; NULL if none is
 * free. A linear scan: connections of one address, e.g. a flood, find
 * their slot at once; many distinct addresses cost a pass over those in
 * use. */
static peer *find_peer(mf_server *server, const struct sockaddr_storage *from)
{
    peer key;
    memset(&key, 0, sizeof key);
    key.family = from->ss_family;
    if (from->ss_family == AF_INET) {
        memcpy(key.address, &((const struct sockaddr_in *)from)->sin_addr, 4);
    } else if (from->ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)from)->sin6_addr;
        /* An IPv4 client of a dual-stack socket ("::") is its IPv4 address. */
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            key.family = AF_INET;
            memcpy(key.address, a->s6_addr + 12, 4);
        } else {
            memcpy(key.address, a->s6_addr, 8);
        }
    }
    peer *free_slot = NULL;
    for (int32_t i = 0; i < server->peers_used; i++) {
        peer *p = &server->peers[i];
        if (p->connections == 0) {
            if (!free_slot)
                free_slot = p;
        } else if (p->family == key.family && memcmp(p->address, key.address, 16) == 0) {
            return p;
        }
    }
    if (!free_slot && server->peers_used < server->config.max_connections)
        free_slot = &server->peers[server->peers_used++];
    if (free_slot)
        *free_slot = key;
    return free_slot;
}

static void release_peer(mf_server *server, peer *p)
{
    pthread_mutex_lock(&server->lock);
    p->connections--;
    server->connections--;
    pthread_mutex_unlock(&server->lock);
}

/* A new connection, before lws reads from it: counted against its address
 * (until its wsi is destroyed) and given to lws, or answered 503 and
 * closed. */
static void on_accept(worker *w, int fd, const struct sockaddr_storage *from)
{
    mf_server *server = w->server;
    pthread_mutex_lock(&server->lock);
    peer *p = NULL;
    if (server->connections < server->config.max_connections &&
        (rlim_t)fd + MF_WS_FD_RESERVE < server->fd_limit)
        p = find_peer(server, from);
    const int admit = p && p->connections < server->config.max_connections_per_address;
    if (admit) {
        p->connections++;
        server->connections++;
    }
    pthread_mutex_unlock(&server->lock);
    if (!admit) {
        /* Best effort: the socket's send buffer is empty, so this fits. */
        (void)send(fd, OVER_CAPACITY, sizeof OVER_CAPACITY - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        close(fd);
        return;
    }
    lws_sock_file_fd_type desc;
    desc.sockfd = fd;
    const lws_adoption_type type =
        LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP | (server->config.tls_cert ? LWS_ADOPT_ALLOW_SSL : 0);
    /* lws closes the socket if it cannot adopt it. */
    struct lws *wsi = lws_adopt_descriptor_vhost(w->vhost, type, desc, NULL, NULL);
    if (wsi)
        lws_set_opaque_user_data(wsi, p);
    else
        release_peer(server, p);
}

/* The listening socket is readable: the connections waiting, a bounded
 * number per turn so that the sessions of this thread are served too. */
static void accept_waiting(worker *w)
{
    for (int n = 0; n < 64; n++) {
        struct sockaddr_storage from;
        socklen_t size = sizeof from;
        const int fd = accept(w->listen_fd, (struct sockaddr *)&from, &size);
        if (fd < 0)
            return;
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        on_accept(w, fd, &from);
    }
}

static void close_with(session *s, int32_t code, const char *reason)
{
    if (s->closing)
        return;
    s->closing = code;
    s->closing_reason = reason;
    lws_callback_on_writable(s->wsi);
}

/* Queues the scratch buffer as the next reply. */
static int queue_reply(session *s, const mf_ws_buffer *message)
{
    reply *r = malloc(sizeof *r + LWS_PRE + message->size);
    if (!r)
        return -1;
    r->next = NULL;
    r->size = message->size;
    memcpy(r->bytes + LWS_PRE, message->data, message->size);
    if (s->tail)
        s->tail->next = r;
    else
        s->head = r;
    s->tail = r;
    if (++s->pending >= MF_WS_PENDING_MAX && !s->throttled) {
        s->throttled = 1;
        lws_rx_flow_control(s->wsi, 0);
    }
    lws_callback_on_writable(s->wsi);
    return 0;
}

/* An error message of the transport's own answering a message. */
static void refuse_message(session *s, int32_t code, const char *reason)
{
    mf_server *server = s->server;
    mf_ws_buffer *out = &s->worker->scratch;
    out->size = 0;
    s->last_message = mf_ws_now();
    s->frames++;
    s->errors++;
    if (server->handler.error(s->worker->local, NULL, 0, code, reason, out) != MF_OK ||
        queue_reply(s, out) != 0)
        close_with(s, 1011, "the server could not answer a message");
}

/* The session's clock for its frame rate, in seconds since it started:
 * the wall clock's, or the frames' own when their timestamps (counted from
 * the session's first frame, at the time it arrived) run ahead of it, by
 * at most the plan's catch_up_seconds. A backlog sent again after a
 * reconnect is such a run: its frames were taken over the outage and
 * arrive at once, and each earns its token by its timestamp. A client
 * whose timestamps run fast gains at most max_fps * catch_up_seconds
 * frames per session. */
static double rate_clock(session *s, const server_key *key, double now, const uint8_t *data,
                         size_t size)
{
    const mf_ws_handler *handler = &s->server->handler;
    const double wall = now - s->start;
    double ts;
    if (!handler->frame_time || !handler->frame_time(s->worker->local, data, size, &ts))
        return wall;
    if (!s->has_ts_origin) {
        s->ts_origin = ts - wall;
        s->has_ts_origin = 1;
    }
    return fmax(wall, fmin(ts - s->ts_origin, wall + key->catch_up_seconds));
}

/* One whole message in: the rate, the message layer, a reply queued. */
static void on_message(session *s, const uint8_t *data, size_t size)
{
    mf_server *server = s->server;
    const server_key *key = &server->keys[s->key];
    const double now = mf_ws_now();
    void *local = s->worker->local;
    mf_ws_buffer *out = &s->worker->scratch;
    out->size = 0;
    s->last_message = now;
    if (!s->state) {
        mf_status st;
        if (!(s->state = server->handler.session_new(local, &st))) {
            close_with(s, 1011, "the server could not make the session's estimator");
            return;
        }
    }
    const double clock = rate_clock(s, key, now, data, size);
    if (clock > s->rate_clock) {
        s->tokens += (clock - s->rate_clock) * key->max_fps;
        s->rate_clock = clock;
    }
    if (s->tokens > key->max_fps)
        s->tokens = key->max_fps;
    int32_t code;
    if (s->tokens < 1.0) {
        code = MF_CLOSE_FRAME_RATE;
        if (server->handler.error(local, data, size, code, "frame rate exceeded", out) != MF_OK)
            out->size = 0;
    } else {
        s->tokens -= 1.0;
        code = server->handler.message(local, s->state, data, size, out);
    }
    s->frames++;
    s->errors += code != 0;
    if (out->size == 0 || queue_reply(s, out) != 0)
        close_with(s, 1011, "the server could not answer a message");
}

static void record_message(session *s, const uint8_t *data, size_t size, int binary)
{
    mf_server *server = s->server;
    if (!server->config.record)
        return;
    pthread_mutex_lock(&server->log_lock);
    server->config.record(server->config.record_user, s->id, data, size, binary);
    pthread_mutex_unlock(&server->log_lock);
}

static void on_receive(session *s, const uint8_t *in, size_t len)
{
    mf_server *server = s->server;
    if (s->refuse || s->closing)
        return;
    const int complete = lws_is_final_fragment(s->wsi) && lws_remaining_packet_payload(s->wsi) == 0;
    const int binary = lws_frame_is_binary(s->wsi);
    if (s->rx_size + len > server->config.max_message_bytes) {
        s->rx_size = 0;
        close_with(s, MF_CLOSE_TOO_LARGE, "message larger than the server's limit");
        return;
    }
    if (!(complete && s->rx_size == 0)) {
        /* a fragment: joined in s->rx until the message is complete */
        if (s->rx_size + len > s->rx_capacity) {
            uint8_t *grown = realloc(s->rx, s->rx_size + len);
            if (!grown) {
                close_with(s, 1011, "the server ran out of memory");
                return;
            }
            s->rx = grown;
            s->rx_capacity = s->rx_size + len;
        }
        memcpy(s->rx + s->rx_size, in, len);
        s->rx_size += len;
        if (!complete)
            return;
        in = s->rx;
        len = s->rx_size;
        s->rx_size = 0;
    }
    record_message(s, in, len, binary);
    if (binary)
        on_message(s, in, len);
    else /* text is refused whole: the error answers the complete message */
        refuse_message(s, MF_CLOSE_MALFORMED, "text message: the protocol's messages are binary");
}

static int on_writeable(session *s)
{
    if (s->refuse) {
        lws_close_reason(s->wsi, (enum lws_close_status)s->refuse,
                         (unsigned char *)s->refuse_reason, strlen(s->refuse_reason));
        return -1;
    }
    reply *r = s->head;
    if (r) {
        if (lws_write(s->wsi, r->bytes + LWS_PRE, r->size, LWS_WRITE_BINARY) < (int)r->size)
            return -1;
        s->head = r->next;
        if (!s->head)
            s->tail = NULL;
        free(r);
        if (--s->pending < MF_WS_PENDING_MAX / 2 && s->throttled) {
            s->throttled = 0;
            lws_rx_flow_control(s->wsi, 1);
        }
        if (s->head || s->closing)
            lws_callback_on_writable(s->wsi);
        return 0;
    }
    if (s->closing) {
        lws_close_reason(s->wsi, (enum lws_close_status)s->closing,
                         (unsigned char *)s->closing_reason, strlen(s->closing_reason));
        return -1;
    }
    return 0;
}

/* The idle timeout and the session's length, checked when the earlier of
 * the two falls due. */
static void on_timer(session *s)
{
    const server_key *key = &s->server->keys[s->key];
    const double now = mf_ws_now();
    const double idle_at = s->last_message + s->server->config.idle_timeout;
    const double end_at = s->start + key->max_session_seconds;
    if (now >= end_at) {
        close_with(s, MF_CLOSE_SESSION_TOO_LONG, "session longer than the plan allows");
        return;
    }
    if (now >= idle_at) {
        close_with(s, MF_CLOSE_IDLE, "no message within the idle timeout");
        return;
    }
    const double due = (idle_at < end_at ? idle_at : end_at) - now;
    lws_set_timer_usecs(s->wsi, (lws_usec_t)(due * 1e6) + 1000);
}

static void on_established(session *s, struct lws *wsi)
{
    mf_server *server = s->server;
    s->wsi = wsi;
    lws_get_peer_simple(wsi, s->peer, sizeof s->peer);
    if (!s->refuse) {
        /* Counted and checked at once: first come, first served across
         * the workers. */
        server_key *key = &server->keys[s->key];
        pthread_mutex_lock(&server->lock);
        if (key->active < key->max_sessions) {
            key->active++;
            s->established = 1;
            s->id = ++server->next_id;
        }
        pthread_mutex_unlock(&server->lock);
        if (!s->established) {
            s->refuse = MF_CLOSE_SESSION_LIMIT;
            s->refuse_reason = "session limit of this key reached";
        }
    }
    if (s->refuse) {
        log_entry(s, "refused", s->refuse, s->refuse_reason);
        lws_callback_on_writable(wsi);
        return;
    }
    s->start = s->last_message = mf_ws_now();
    s->tokens = server->keys[s->key].max_fps;
    s->next = s->worker->sessions;
    if (s->next)
        s->next->prev = s;
    s->worker->sessions = s;
    log_entry(s, "session_start", 0, NULL);
    on_timer(s);
}

static void on_closed(session *s)
{
    mf_server *server = s->server;
    if (s->established) {
        pthread_mutex_lock(&server->lock);
        server->keys[s->key].active--;
        pthread_mutex_unlock(&server->lock);
        log_entry(s, "session_end", s->closing, s->closing ? s->closing_reason : "client closed");
        if (s->prev)
            s->prev->next = s->next;
        else
            s->worker->sessions = s->next;
        if (s->next)
            s->next->prev = s->prev;
        s->established = 0;
    }
    if (s->state)
        server->handler.session_free(s->state);
    s->state = NULL;
    while (s->head) {
        reply *r = s->head;
        s->head = r->next;
        free(r);
    }
    s->tail = NULL;
    free(s->rx);
    s->rx = NULL;
}

/* 1 if the request's path is under a static mount, as lws matches them:
 * lws asks the callback for a file of one that it could not serve. */
static int under_mount(const mf_server *server, const char *uri)
{
    for (const struct lws_http_mount *m = server->mounts; uri && m; m = m->mount_next)
        if (strncmp(uri, m->mountpoint, m->mountpoint_len) == 0 &&
            (m->mountpoint_len == 1 || uri[m->mountpoint_len] == '\0' ||
             uri[m->mountpoint_len] == '/'))
            return 1;
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    worker *w = lws_context_user(lws_get_context(wsi));
    mf_server *server = w->server;
    session *s = user;
    switch (reason) {
    case LWS_CALLBACK_RAW_RX_FILE:
        accept_waiting(w);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (lws_get_opaque_user_data(wsi))
            release_peer(server, lws_get_opaque_user_data(wsi));
        return 0;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        memset(s, 0, sizeof *s);
        s->server = server;
        s->worker = w;
        s->key = find_key(server, wsi);
        if (s->key < 0) {
            s->refuse = MF_CLOSE_BAD_CREDENTIALS;
            s->refuse_reason = "api_key and socket_key do not match a key";
        }
        return 0;
    case LWS_CALLBACK_HTTP:
        /* Not an upgrade, nor a file lws served: answered at once rather
         * than left to time out. */
        if (under_mount(server, in))
            lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL);
        else
            lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST,
                                   "a mojofer.v1 WebSocket server: upgrade required");
        return -1;
    case LWS_CALLBACK_ESTABLISHED:
        on_established(s, wsi);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        on_receive(s, in, len);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return on_writeable(s);
    case LWS_CALLBACK_TIMER:
        if (s->established)
            on_timer(s);
        return 0;
    case LWS_CALLBACK_CLOSED:
        on_closed(s);
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (atomic_load(&server->stop))
            for (session *t = w->sessions; t; t = t->next)
                close_with(t, 1001, "server stopping");
        return 0;
    default:
        /* The static files' transactions: completed (keep-alive) or closed. */
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

mf_server_config mf_server_config_default(void)
{
    mf_server_config c;
    memset(&c, 0, sizeof c);
    c.host = "127.0.0.1";
    c.max_connections = 1024;
    c.max_connections_per_address = 64;
    c.handshake_timeout = 5.0;
    c.idle_timeout = 30.0;
    c.max_message_bytes = 64 * 1024;
    c.threads = 1;
    return c;
}

/* Resolves the host once, as mf_server_config documents, into the
 * numeric address to bind; MF_E_NETWORK if it does not resolve. */
static mf_status resolve_host(const char *host, char *numeric, size_t size, int *loopback)
{
    struct addrinfo hints, *found = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if (getaddrinfo(host, NULL, &hints, &found) != 0)
        return MF_E_NETWORK;
    const struct addrinfo *pick = found;
    for (const struct addrinfo *a = found; a; a = a->ai_next)
        if (a->ai_family == AF_INET) {
            pick = a;
            break;
        }
    mf_status st = MF_E_NETWORK;
    if ((pick->ai_family == AF_INET || pick->ai_family == AF_INET6) &&
        getnameinfo(pick->ai_addr, pick->ai_addrlen, numeric, (socklen_t)size, NULL, 0,
                    NI_NUMERICHOST) == 0) {
        *loopback = mf_ws_address_is_loopback(pick->ai_addr);
        st = MF_OK;
    }
    freeaddrinfo(found);
    return st;
}

/* 1 if keys[k]'s id is one of keys[0..k-1]'s. */
static int key_id_taken(const mf_server_key *keys, size_t k)
{
    for (size_t i = 0; i < k; i++)
        if (keys[i].id && strcmp(keys[i].id, keys[k].id) == 0)
            return 1;
    return 0;
}

/* The length of a static mount's url path without a trailing "/" (but
 * "/" itself), or 0 if it is not "/" or "/name[/name...]" of letters,
 * digits and - _ . ~, no name "." or "..". */
static size_t mount_path_length(const char *path)
{
    if (!path || path[0] != '/')
        return 0;
    size_t n = strlen(path);
    if (n > 1 && path[n - 1] == '/')
        n--;
    if (n > 200)
        return 0;
    size_t name = 0; /* where the current name begins */
    for (size_t i = 1; i <= n; i++) {
        if (i == n || path[i] == '/') {
            const size_t length = i - name - 1;
            if (n > 1 && (length == 0 || (length == 1 && path[name + 1] == '.') ||
                          (length == 2 && path[name + 1] == '.' && path[name + 2] == '.')))
                return 0;
            name = i;
        } else if (!isalnum((unsigned char)path[i]) && !strchr("-_.~", path[i])) {
            return 0;
        }
    }
    return n;
}

/* 1 if statics[k]'s url path is one of statics[0..k-1]'s. */
static int mount_path_taken(const mf_server_static *statics, size_t k)
{
    const size_t n = mount_path_length(statics[k].url_path);
    for (size_t i = 0; i < k; i++)
        if (mount_path_length(statics[i].url_path) == n &&
            strncmp(statics[i].url_path, statics[k].url_path, n) == 0)
            return 1;
    return 0;
}

const char *mf_server_static_problem(const mf_server_static *mount)
{
    struct stat st;
    if (!mount || !mount->directory || !mount->directory[0])
        return "static directory: no such folder";
    if (stat(mount->directory, &st) != 0)
        return errno == EACCES ? "static directory: permission denied"
                               : "static directory: no such folder";
    if (!S_ISDIR(st.st_mode))
        return "static directory: not a folder";
    if (access(mount->directory, R_OK | X_OK) != 0)
        return "static directory: permission denied";
    return NULL;
}

/* MF_OK, or MF_E_INVALID_ARGUMENT with *problem the first rule broken. */
static mf_status check_config(const mf_server_config *c, const char **problem)
{
    const char *why = NULL;
    if (!c || !c->host || !c->host[0])
        why = "a host to serve on is needed";
    else if (c->port < 0 || c->port > 65535)
        why = "port must be within 0..65535";
    else if (c->max_connections < 1)
        why = "max_connections must be at least 1";
    else if (c->max_connections_per_address < 1 ||
             c->max_connections_per_address > c->max_connections)
        why = "max_connections_per_address must be within 1..max_connections";
    else if (!(c->handshake_timeout > 0 && c->handshake_timeout <= 3600))
        why = "handshake_timeout must be a number of seconds in (0, 3600]";
    else if (!(isfinite(c->idle_timeout) && c->idle_timeout > 0))
        why = "idle_timeout must be a finite positive number of seconds";
    else if (c->max_message_bytes < 16)
        why = "max_message_bytes must be at least 16";
    else if (c->threads < 1 || c->threads > MF_SERVER_MAX_THREADS)
        why = "threads must be within 1..64";
    else if (c->key_count == 0 || !c->keys)
        why = "the server needs at least one key";
    else if (!c->tls_cert != !c->tls_key)
        why = "tls_cert and tls_key go together";
    else if (c->static_count > MF_SERVER_MAX_STATICS || (c->static_count && !c->statics))
        why = "statics: at most 16 static mounts, given as an array";
    for (size_t k = 0; !why && k < c->static_count; k++) {
        if (!mount_path_length(c->statics[k].url_path))
            why = "a static mount's url_path must be \"/\" or \"/name[/name...]\" of letters, "
                  "digits and - _ . ~";
        else if (mount_path_taken(c->statics, k))
            why = "static mounts' url paths must be distinct";
    }
    for (size_t k = 0; !why && k < c->key_count; k++) {
        const mf_server_key *key = &c->keys[k];
        if (!key->id)
            why = "every key needs an id";
        else if (key_id_taken(c->keys, k))
            why = "key ids must be unique: they name the keys in the logs";
        else if (!key->api_key || !key->socket_key || !key->api_key[0] || !key->socket_key[0] ||
                 strlen(key->api_key) >= MF_WS_SECRET_MAX || strlen(key->socket_key) >= MF_WS_SECRET_MAX)
            why = "a key's api_key and socket_key must be non-empty and under 256 bytes";
        else if (key->max_sessions < 1)
            why = "a key's max_sessions must be at least 1";
        else if (!(key->max_fps > 0))
            why = "a key's max_fps must be a positive number of frames per second";
        else if (!(key->max_session_seconds > 0))
            why = "a key's max_session_seconds must be a positive number of seconds";
        else if (!(isfinite(key->catch_up_seconds) && key->catch_up_seconds >= 0))
            why = "a key's catch_up_seconds must be a finite number of seconds >= 0";
    }
    *problem = why;
    return why ? MF_E_INVALID_ARGUMENT : MF_OK;
}

/* Opens a TLS file, or NULL with *problem naming why not, in a phrase
 * that begins with the file's setting, tls_key or tls_cert. */
static FILE *open_tls_file(const char *path, int is_key, const char **problem)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (f && fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        *problem = is_key ? "tls_key: a folder, not a file" : "tls_cert: a folder, not a file";
        return NULL;
    }
    if (!f)
        *problem = errno == ENOENT || errno == ENOTDIR
                       ? (is_key ? "tls_key: no such file" : "tls_cert: no such file")
                   : errno == EACCES ? (is_key ? "tls_key: permission denied" : "tls_cert: permission denied")
                                     : (is_key ? "tls_key: cannot be opened" : "tls_cert: cannot be opened");
    return f;
}

/* OpenSSL's passphrase callback: none is given, and *asked records that
 * one was wanted (the key is encrypted), rather than OpenSSL asking on a
 * terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *asked)
{
    (void)buf, (void)size, (void)rwflag;
    *(int *)asked = 1;
    return -1;
}

/* Why the TLS files cannot serve, or NULL: read as libwebsockets reads them
 * (a PEM certificate, a PEM private key that is its), so that a refusal
 * names the file and the cause, where libwebsockets only fails. */
static const char *tls_problem(const char *cert_path, const char *key_path)
{
    const char *why = NULL;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    int asked = 0;
    FILE *f = open_tls_file(cert_path, 0, &why);
    if (f) {
        cert = PEM_read_X509(f, NULL, no_passphrase, &asked);
        fclose(f);
        if (!cert)
            why = "tls_cert: no PEM certificate in it (-----BEGIN CERTIFICATE-----), or a damaged one";
    }
    if (!why && (f = open_tls_file(key_path, 1, &why))) {
        key = PEM_read_PrivateKey(f, NULL, no_passphrase, &asked);
        fclose(f);
        if (!key)
            why = asked ? "tls_key: encrypted, and the server cannot ask for its passphrase"
                        : "tls_key: no PEM private key in it (-----BEGIN ... PRIVATE KEY-----), or a "
                          "damaged one";
    }
    if (!why && X509_check_private_key(cert, key) != 1)
        why = "tls_key: not the private key of tls_cert";
    X509_free(cert);
    EVP_PKEY_free(key);
    ERR_clear_error(); /* what failed here is told by `why`, not left to libwebsockets */
    return why;
}

/* Why host:port cannot be bound, or NULL: a socket bound as libwebsockets
 * binds it (its own logs are off) tells the system's reason. */
static const char *bind_problem(const char *host, int32_t port)
{
    struct addrinfo hints, *found = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char service[16];
    snprintf(service, sizeof service, "%d", (int)port);
    if (getaddrinfo(host, service, &hints, &found) != 0)
        return "the host is neither an address nor a name that resolves";
    const char *why = NULL;
    for (const struct addrinfo *a = found; a && !why; a = a->ai_next) {
        const int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0)
            continue;
        const int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) != 0)
            why = errno == EADDRINUSE      ? "the port is in use"
                  : errno == EADDRNOTAVAIL ? "the address is not one of this machine's"
                  : errno == EACCES        ? "the port needs privileges (ports below 1024)"
                                           : "the address cannot be bound";
        close(fd);
    }
    freeaddrinfo(found);
    return why;
}

/* A listening socket on the server's address and port (0: any), or -1.
 * With `share`, SO_REUSEPORT: the workers' sockets share the port, and the
 * kernel spreads the connections over them. Debian's libwebsockets does
 * not set the option on the sockets it binds (LWS_MAX_SMP 1), so the
 * server binds its own and gives lws the connections it accepts. */
static int listen_socket(const char *address, int32_t port, int share)
{
    struct addrinfo hints, *found = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    char service[16];
    snprintf(service, sizeof service, "%d", (int)port);
    if (getaddrinfo(address, service, &hints, &found) != 0)
        return -1;
    const int one = 1, zero = 0;
    int fd = socket(found->ai_family, found->ai_socktype, found->ai_protocol);
    if (fd >= 0 &&
        (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || fcntl(fd, F_SETFL, O_NONBLOCK) != 0 ||
         setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
         (share && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) ||
         /* "::" serves IPv4 clients too, as a dual-stack socket */
         (found->ai_family == AF_INET6 &&
          setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) != 0) ||
         bind(fd, found->ai_addr, found->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0)) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(found);
    return fd;
}

/* The port a socket is bound to, or 0. */
static int32_t bound_port(int fd)
{
    struct sockaddr_storage a;
    socklen_t size = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &size) != 0)
        return 0;
    return a.ss_family == AF_INET    ? ntohs(((struct sockaddr_in *)&a)->sin_port)
           : a.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&a)->sin6_port)
                                     : 0;
}

/* A worker's libwebsockets context, serving the connections of its own
 * listening socket on server->port (set, when 0, to the port the first
 * worker bound); NULL if it cannot be made. */
static struct lws_context *make_context(mf_server *server, worker *w)
{
    w->listen_fd = listen_socket(server->address, server->port, server->worker_count > 1);
    const int32_t port = w->listen_fd >= 0 ? bound_port(w->listen_fd) : 0;
    if (port <= 0) {
        if (w->listen_fd >= 0)
            close(w->listen_fd);
        w->listen_fd = -1;
        return NULL;
    }
    /* lws logs to stderr by default: the core prints nothing. */
    lws_set_log_level(0, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    info.protocols = server->protocols;
    info.user = w;
    info.mounts = server->mounts;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
    /* A connection holding its HTTP header buffer without finishing the
     * handshake (timeout_secs_ah_idle, 10 s by default) and the other
     * network round trips of the handshake (timeout_secs: TLS accept). */
    const unsigned handshake = (unsigned)ceil(server->config.handshake_timeout);
    info.timeout_secs = handshake;
    info.timeout_secs_ah_idle = handshake;
    info.keepalive_timeout = (int)handshake;
    if (server->config.tls_cert) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = server->config.tls_cert;
        info.ssl_private_key_filepath = server->config.tls_key;
    }
    struct lws_context *context = lws_create_context(&info);
    w->vhost = context ? lws_get_vhost_by_name(context, "default") : NULL;
    lws_sock_file_fd_type desc;
    desc.filefd = w->listen_fd;
    /* lws polls the listening socket and calls LWS_CALLBACK_RAW_RX_FILE
     * when connections wait; the socket is lws's from here, closed with
     * the context (or at once, if it cannot be adopted). */
    const int adopted = w->vhost && lws_adopt_descriptor_vhost(w->vhost, LWS_ADOPT_RAW_FILE_DESC,
                                                               desc, MF_WIRE_PROTOCOL, NULL);
    if (!adopted) {
        if (!w->vhost)
            close(w->listen_fd);
        w->listen_fd = -1;
        lws_context_destroy(context);
        return NULL;
    }
    server->port = port;
    return context;
}

/* The config's statics as lws mounts of files, linked in order, with
 * copies of their strings; -1 when out of memory. */
static int make_mounts(mf_server *server, const mf_server_config *config)
{
    if (config->static_count == 0)
        return 0;
    if (!(server->mounts = calloc(config->static_count, sizeof *server->mounts)))
        return -1;
    for (size_t k = 0; k < config->static_count; k++) {
        struct lws_http_mount *m = &server->mounts[k];
        const mf_server_static *from = &config->statics[k];
        const size_t length = mount_path_length(from->url_path);
        char *path = malloc(length + 1);
        m->mountpoint = path;
        m->origin = mf_ws_copy_string(from->directory);
        if (!path || !m->origin)
            return -1;
        memcpy(path, from->url_path, length);
        path[length] = '\0';
        m->mountpoint_len = (unsigned char)length;
        m->origin_protocol = LWSMPRO_FILE;
        m->def = "index.html";
        m->extra_mimetypes = &MIME_TYPES;
        if (k > 0)
            server->mounts[k - 1].mount_next = m;
    }
    return 0;
}

mf_server *mf_ws_server_new(const mf_server_config *config, const mf_ws_handler *handler,
                            mf_status *status, const char **problem)
{
    const char *why = NULL;
    mf_status st = check_config(config, &why);
    mf_server *server = NULL;
    int loopback = 0;
    if (st != MF_OK)
        goto fail;
    st = MF_E_INVALID_ARGUMENT;
    why = "no message layer";
    if (!handler)
        goto fail;
    st = MF_E_IO;
    if (config->tls_cert && (why = tls_problem(config->tls_cert, config->tls_key)))
        goto fail;
    for (size_t k = 0; k < config->static_count; k++)
        if ((why = mf_server_static_problem(&config->statics[k])))
            goto fail;
    char address[INET6_ADDRSTRLEN];
    why = "the host does not resolve to an address";
    if ((st = resolve_host(config->host, address, sizeof address, &loopback)) != MF_OK)
        goto fail;
    st = MF_E_INVALID_ARGUMENT;
    why = "plain ws:// serves loopback only (127.x.x.x, ::1, localhost): give tls_cert and "
          "tls_key, or allow_remote_plain";
    if (!config->tls_cert && !config->allow_remote_plain && !loopback)
        goto fail;
    st = MF_E_NO_MEMORY;
    why = "out of memory";
    if (!(server = calloc(1, sizeof *server)))
        goto fail;
    server->config = *config;
    server->handler = *handler;
    server->handler.user_free = NULL; /* the caller's until the server is made */
    server->config.keys = NULL;
    server->config.statics = NULL; /* server->mounts hold them */
    server->config.host = mf_ws_copy_string(config->host);
    server->config.tls_cert = mf_ws_copy_string(config->tls_cert);
    server->config.tls_key = mf_ws_copy_string(config->tls_key);
    if (!(server->keys = calloc(config->key_count, sizeof *server->keys)) || !server->config.host ||
        (config->tls_cert && (!server->config.tls_cert || !server->config.tls_key)))
        goto fail;
    if (!(server->peers = calloc((size_t)config->max_connections, sizeof *server->peers)))
        goto fail;
    memcpy(server->address, address, sizeof address);
    struct rlimit files;
    server->fd_limit = getrlimit(RLIMIT_NOFILE, &files) == 0 ? files.rlim_cur : RLIM_INFINITY;
    server->key_count = config->key_count;
    for (size_t k = 0; k < config->key_count; k++) {
        const mf_server_key *from = &config->keys[k];
        server_key *to = &server->keys[k];
        to->id = mf_ws_copy_string(from->id);
        to->api_key = mf_ws_copy_string(from->api_key);
        to->socket_key = mf_ws_copy_string(from->socket_key);
        if (!to->id || !to->api_key || !to->socket_key)
            goto fail;
        to->max_sessions = from->max_sessions;
        to->max_fps = from->max_fps;
        to->max_session_seconds = from->max_session_seconds;
        to->catch_up_seconds = from->catch_up_seconds;
    }
    if (make_mounts(server, config) != 0)
        goto fail;
    server->protocols[0].name = MF_WIRE_PROTOCOL;
    server->protocols[0].callback = callback;
    server->protocols[0].per_session_data_size = sizeof(session);
    server->protocols[0].rx_buffer_size = 4096;
    atomic_init(&server->stop, 0);
    if (pthread_mutex_init(&server->lock, NULL) != 0)
        goto fail;
    if (pthread_mutex_init(&server->log_lock, NULL) != 0) {
        pthread_mutex_destroy(&server->lock);
        goto fail;
    }
    server->locks_made = 1;
    if (!(server->workers = calloc((size_t)config->threads, sizeof *server->workers)))
        goto fail;
    for (int32_t i = 0; i < config->threads; i++) {
        worker *w = &server->workers[i];
        w->server = server;
        w->index = i;
        w->local = handler->user;
        server->worker_count = i + 1;
        if (handler->thread_new) {
            if (!(w->local = handler->thread_new(handler->user, &st)))
                goto fail;
            w->made_local = 1;
        }
    }
    st = MF_E_NETWORK;
    /* The system's reason first: a context that libwebsockets 4.1 fails to
     * create leaks memory (lws_smd_register), and its logs are off. */
    if ((why = bind_problem(server->address, config->port)))
        goto fail;
    /* The first worker binds the port asked for (0: any); the others share
     * the port it got. */
    server->port = config->port;
    for (int32_t i = 0; i < server->worker_count; i++) {
        if (!(server->workers[i].context = make_context(server, &server->workers[i]))) {
            mf_server_stop(server); /* the address is free again for the diagnosis */
            why = bind_problem(server->address, config->port);
            if (!why)
                why = "the address cannot be bound";
            goto fail;
        }
    }
    server->handler.user_free = handler->user_free;
    *status = MF_OK;
    if (problem)
        *problem = NULL;
    return server;
fail:
    mf_server_free(server);
    *status = st;
    if (problem)
        *problem = why;
    return NULL;
}

int32_t mf_server_port(const mf_server *server)
{
    return server ? server->port : 0;
}

const char *mf_server_address(const mf_server *server)
{
    return server ? server->address : "";
}

static void *service(void *arg)
{
    worker *w = arg;
    double stop_at = 0;
    while (1) {
        if (atomic_load(&w->server->stop)) {
            const double now = mf_ws_now();
            if (stop_at == 0)
                stop_at = now + MF_WS_STOP_GRACE;
            if (!w->sessions || now >= stop_at)
                break;
        }
        lws_service(w->context, 0);
    }
    return NULL;
}

/* Asks the running workers to close their sessions and joins them. */
static void join_workers(mf_server *server)
{
    atomic_store(&server->stop, 1);
    for (int32_t i = 0; i < server->worker_count; i++)
        if (server->workers[i].running)
            lws_cancel_service(server->workers[i].context);
    for (int32_t i = 0; i < server->worker_count; i++)
        if (server->workers[i].running) {
            pthread_join(server->workers[i].thread, NULL);
            server->workers[i].running = 0;
        }
}

mf_status mf_server_start(mf_server *server)
{
    if (!server || server->started || server->stopped)
        return MF_E_INVALID_ARGUMENT;
    for (int32_t i = 0; i < server->worker_count; i++) {
        worker *w = &server->workers[i];
        if (pthread_create(&w->thread, NULL, service, w) != 0) {
            join_workers(server);
            server->stopped = 1;
            return MF_E_NO_MEMORY;
        }
        w->running = 1;
    }
    server->started = 1;
    return MF_OK;
}

mf_status mf_server_stop(mf_server *server)
{
    if (!server)
        return MF_E_INVALID_ARGUMENT;
    if (server->started && !server->stopped)
        join_workers(server);
    server->stopped = 1;
    /* Destroying a context closes what is left of it, each through on_closed. */
    for (int32_t i = 0; server->workers && i < server->worker_count; i++) {
        lws_context_destroy(server->workers[i].context);
        server->workers[i].context = NULL;
    }
    return MF_OK;
}

void mf_server_free(mf_server *server)
{
    if (!server)
        return;
    mf_server_stop(server);
    for (int32_t i = 0; server->workers && i < server->worker_count; i++) {
        worker *w = &server->workers[i];
        if (w->made_local && server->handler.thread_free)
            server->handler.thread_free(w->local);
        free(w->scratch.data);
    }
    free(server->workers);
    for (size_t k = 0; server->keys && k < server->key_count; k++) {
        free(server->keys[k].id);
        free(server->keys[k].api_key);
        free(server->keys[k].socket_key);
    }
    free(server->keys);
    free(server->peers);
    for (size_t k = 0; server->mounts && k < server->config.static_count; k++) {
        free((char *)server->mounts[k].mountpoint);
        free((char *)server->mounts[k].origin);
    }
    free(server->mounts);
    free((char *)server->config.host);
    free((char *)server->config.tls_cert);
    free((char *)server->config.tls_key);
    if (server->locks_made) {
        pthread_mutex_destroy(&server->lock);
        pthread_mutex_destroy(&server->log_lock);
    }
    if (server->handler.user_free)
        server->handler.user_free(server->handler.user);
    free(server);
}
