/* The streaming client: libwebsockets on a thread of its own; the caller's
 * thread only queues frames and takes replies, under one mutex, and never
 * waits for the network.
 *
 * Every frame gets one reply. Frames stay queued, in seq order, until the
 * server's reply with their seq (or a later one: the server answers in
 * order) arrives; after a reconnect all of them are sent again. A frame
 * that cannot be queued, or is still unanswered when the client gives up,
 * gets an error message made here (docs/protocol.md, "Client"). */
#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ws.h"

#define MF_CLIENT_STOP_GRACE 1.0 /* seconds given to the close handshake */

typedef struct {
    uint64_t seq;
    size_t size;
    uint8_t *bytes;
} frame;

typedef struct reply {
    struct reply *next;
    size_t size;
    uint8_t bytes[];
} reply;

struct mf_client {
    char *address, *path, *api_key, *socket_key;
    int port, tls;
    mf_client_config config;
    struct lws_context *context;
    struct lws_protocols protocols[2];
    pthread_t thread;
    int started;
    atomic_int stop;

    pthread_mutex_t lock; /* guards the fields down to `answered` */
    pthread_cond_t changed;
    frame *ring;          /* frames not yet answered: [head, head + count) mod capacity */
    size_t capacity, head, count;
    size_t sent;          /* of them, sent on the current connection */
    reply *first, *last;  /* replies not yet taken */
    size_t replies;
    uint64_t next_seq;
    int32_t connected, refused, last_close;
    int64_t connects;

    /* the service thread's own */
    struct lws *wsi;
    int connecting, retry_scheduled;
    lws_sorted_usec_list_t retry;
    double backoff;
    int32_t close_code;
    mf_ws_buffer rx, tx;
    double stop_at;
};

/* Appends a reply (lock held). */
static int push_reply(mf_client *c, const uint8_t *data, size_t size)
{
    reply *r = malloc(sizeof *r + size);
    if (!r)
        return -1;
    r->next = NULL;
    r->size = size;
    memcpy(r->bytes, data, size);
    if (c->last)
        c->last->next = r;
    else
        c->first = r;
    c->last = r;
    c->replies++;
    pthread_cond_broadcast(&c->changed);
    return 0;
}

/* The error message for frame `seq`, made here (lock held). */
static void push_error(mf_client *c, uint64_t seq, int32_t code, const char *reason)
{
    uint8_t buf[MF_WIRE_MAX_REASON + 64];
    size_t size;
    const mf_wire_error e = {code, reason, 1, seq};
    if (mf_wire_encode_error(&e, buf, sizeof buf, &size) == MF_OK)
        push_reply(c, buf, size);
}

/* Answers every queued frame with an error (lock held). */
static void fail_all(mf_client *c, int32_t code, const char *reason)
{
    while (c->count) {
        frame *f = &c->ring[c->head];
        push_error(c, f->seq, code, reason);
        free(f->bytes);
        c->head = (c->head + 1) % c->capacity;
        c->count--;
    }
    c->sent = 0;
    pthread_cond_broadcast(&c->changed);
}

static void on_reply(mf_client *c, const uint8_t *data, size_t size)
{
    /* acknowledgement is the transport's business, the rest of the reply
     * the caller's */
    uint64_t seq = 0;
    int32_t has_seq = 0;
    if (mf_wire_peek_seq(data, size, &has_seq, &seq, NULL) != MF_OK)
        has_seq = 0;
    pthread_mutex_lock(&c->lock);
    while (has_seq && c->count && c->ring[c->head].seq <= seq) {
        free(c->ring[c->head].bytes);
        c->head = (c->head + 1) % c->capacity;
        c->count--;
        if (c->sent)
            c->sent--;
    }
    push_reply(c, data, size);
    pthread_mutex_unlock(&c->lock);
}

static void connect_now(lws_sorted_usec_list_t *sul);

/* After a connection ends: a close the server meant for good answers the
 * queue; otherwise reconnect (with backoff) while frames wait. */
static void on_disconnected(mf_client *c)
{
    c->wsi = NULL;
    c->connecting = 0;
    const int32_t code = c->close_code;
    c->close_code = 0;
    pthread_mutex_lock(&c->lock);
    c->connected = 0;
    c->sent = 0;
    if (code)
        c->last_close = code;
    if (code == MF_CLOSE_BAD_CREDENTIALS || code == MF_CLOSE_VERSION) {
        c->refused = code;
        fail_all(c, code, code == MF_CLOSE_VERSION ? "the server does not speak this protocol version"
                                                  : "the server refused the api_key and socket_key");
    } else if (code == MF_CLOSE_TOO_LARGE && c->count) {
        /* The first unanswered frame is the one the server could not take:
         * sent again, it would be refused again. */
        frame *f = &c->ring[c->head];
        push_error(c, f->seq, code, "frame larger than the server's message limit");
        free(f->bytes);
        c->head = (c->head + 1) % c->capacity;
        c->count--;
    }
    const int retry = c->count > 0 && !c->refused && !atomic_load(&c->stop);
    pthread_mutex_unlock(&c->lock);
    if (retry && !c->retry_scheduled) {
        c->retry_scheduled = 1;
        lws_sul_schedule(c->context, 0, &c->retry, connect_now, (lws_usec_t)(c->backoff * 1e6));
        c->backoff = c->backoff * 2 < c->config.backoff_max ? c->backoff * 2 : c->config.backoff_max;
    }
}

static void connect_now(lws_sorted_usec_list_t *sul)
{
    mf_client *c = lws_container_of(sul, mf_client, retry);
    c->retry_scheduled = 0;
    if (c->wsi || c->connecting || atomic_load(&c->stop))
        return;
    struct lws_client_connect_info info;
    memset(&info, 0, sizeof info);
    info.context = c->context;
    info.address = c->address;
    info.port = c->port;
    info.path = c->path;
    info.host = c->address;
    info.origin = c->address;
    info.protocol = MF_WIRE_PROTOCOL;
    info.userdata = c;
    info.pwsi = &c->wsi;
    if (c->tls)
        info.ssl_connection = LCCSCF_USE_SSL |
                              (c->config.allow_self_signed
                                   ? LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK
                                   : 0);
    c->connecting = 1;
    if (!lws_client_connect_via_info(&info))
        on_disconnected(c);
}

static int on_writeable(mf_client *c, struct lws *wsi)
{
    if (atomic_load(&c->stop)) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)"client closing", 14);
        return -1;
    }
    pthread_mutex_lock(&c->lock);
    frame f = {0, 0, NULL};
    if (c->sent < c->count)
        f = c->ring[(c->head + c->sent) % c->capacity];
    pthread_mutex_unlock(&c->lock);
    if (!f.bytes)
        return 0;
    /* lws_write masks the payload in place: a copy goes out, so that the
     * frame can be sent again after a reconnect. Only this thread frees
     * frames, so f stays valid unlocked. */
    if (mf_ws_buffer_reserve(&c->tx, LWS_PRE + f.size) != MF_OK)
        return -1;
    memcpy(c->tx.data + LWS_PRE, f.bytes, f.size);
    if (lws_write(wsi, c->tx.data + LWS_PRE, f.size, LWS_WRITE_BINARY) < (int)f.size)
        return -1;
    pthread_mutex_lock(&c->lock);
    const int more = ++c->sent < c->count;
    pthread_mutex_unlock(&c->lock);
    if (more)
        lws_callback_on_writable(wsi);
    return 0;
}

static int on_receive(mf_client *c, struct lws *wsi, const uint8_t *in, size_t len)
{
    if (c->rx.size + len > c->config.max_message_bytes)
        return -1;
    if (mf_ws_buffer_reserve(&c->rx, c->rx.size + len) != MF_OK)
        return -1;
    memcpy(c->rx.data + c->rx.size, in, len);
    c->rx.size += len;
    if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
        on_reply(c, c->rx.data, c->rx.size);
        c->rx.size = 0;
    }
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    (void)user;
    mf_client *c = lws_context_user(lws_get_context(wsi));
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        unsigned char **p = in, *end = *p + len;
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)MF_WS_API_KEY_HEADER,
                                        (const unsigned char *)c->api_key,
                                        (int)strlen(c->api_key), p, end) ||
            lws_add_http_header_by_name(wsi, (const unsigned char *)MF_WS_SOCKET_KEY_HEADER,
                                        (const unsigned char *)c->socket_key,
                                        (int)strlen(c->socket_key), p, end))
            return -1;
        return 0;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        c->connecting = 0;
        c->backoff = c->config.backoff_min;
        c->rx.size = 0;
        pthread_mutex_lock(&c->lock);
        c->connected = 1;
        c->connects++;
        c->sent = 0;
        pthread_cond_broadcast(&c->changed);
        pthread_mutex_unlock(&c->lock);
        lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return on_writeable(c, wsi);
    case LWS_CALLBACK_CLIENT_RECEIVE:
        return on_receive(c, wsi, in, len);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (len >= 2)
            c->close_code = ((const uint8_t *)in)[0] << 8 | ((const uint8_t *)in)[1];
        return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (wsi == c->wsi || c->connecting)
            on_disconnected(c);
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (c->wsi && !c->connecting)
            lws_callback_on_writable(c->wsi);
        else if (!c->wsi && !c->connecting && !c->retry_scheduled && !atomic_load(&c->stop)) {
            pthread_mutex_lock(&c->lock);
            const int waiting = c->count > 0 && !c->refused;
            pthread_mutex_unlock(&c->lock);
            if (waiting)
                connect_now(&c->retry);
        }
        return 0;
    default:
        return 0;
    }
}

static void *service(void *arg)
{
    mf_client *c = arg;
    connect_now(&c->retry);
    while (1) {
        if (atomic_load(&c->stop)) {
            if (c->stop_at == 0)
                c->stop_at = mf_ws_now() + MF_CLIENT_STOP_GRACE;
            if ((!c->wsi && !c->connecting) || mf_ws_now() >= c->stop_at)
                break;
        }
        lws_service(c->context, 0);
    }
    return NULL;
}

mf_client_config mf_client_config_default(void)
{
    mf_client_config c;
    memset(&c, 0, sizeof c);
    c.max_pending = 256;
    c.max_message_bytes = 1 << 20;
    c.backoff_min = 0.05;
    c.backoff_max = 5.0;
    return c;
}

/* Splits ws[s]://host[:port][/path] into the client's fields. */
static mf_status parse_url(mf_client *c, const char *url)
{
    char *copy = mf_ws_copy_string(url);
    const char *scheme, *address, *path;
    int port;
    mf_status st = MF_E_NO_MEMORY;
    if (!copy)
        return st;
    st = MF_E_INVALID_ARGUMENT;
    if (lws_parse_uri(copy, &scheme, &address, &port, &path) != 0 || !address[0])
        goto done;
    if (strcmp(scheme, "wss") == 0)
        c->tls = 1;
    else if (strcmp(scheme, "ws") != 0)
        goto done;
    if (!c->tls && !c->config.allow_remote_plain && !mf_ws_host_is_loopback(address))
        goto done;
    c->port = strstr(url + strlen(scheme) + 3, ":") ? port : (c->tls ? 443 : 80);
    st = MF_E_NO_MEMORY;
    c->address = mf_ws_copy_string(address);
    const size_t n = strlen(path);
    if (!c->address || !(c->path = malloc(n + 2)))
        goto done;
    c->path[0] = '/';
    memcpy(c->path + 1, path, n + 1);
    st = MF_OK;
done:
    free(copy);
    return st;
}

mf_client *mf_client_new(const mf_client_config *config, mf_status *status)
{
    mf_client *c = NULL;
    mf_status st = MF_E_INVALID_ARGUMENT;
    if (!config || !config->url || !config->api_key || !config->socket_key ||
        !config->api_key[0] || !config->socket_key[0] || config->max_pending < 1 ||
        config->max_message_bytes < 16 || !(config->backoff_min > 0) ||
        !(config->backoff_max >= config->backoff_min))
        goto fail;
    st = MF_E_NO_MEMORY;
    if (!(c = calloc(1, sizeof *c)))
        goto fail;
    c->config = *config;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->changed, NULL);
    atomic_init(&c->stop, 0);
    if ((st = parse_url(c, config->url)) != MF_OK)
        goto fail;
    st = MF_E_NO_MEMORY;
    c->config.url = NULL;
    c->api_key = mf_ws_copy_string(config->api_key);
    c->socket_key = mf_ws_copy_string(config->socket_key);
    c->capacity = config->max_pending;
    if (!c->api_key || !c->socket_key || !(c->ring = calloc(c->capacity, sizeof *c->ring)))
        goto fail;
    c->config.api_key = c->config.socket_key = NULL;
    c->backoff = config->backoff_min;
    c->protocols[0].name = MF_WIRE_PROTOCOL;
    c->protocols[0].callback = callback;
    c->protocols[0].rx_buffer_size = 4096;

    lws_set_log_level(0, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = c->protocols;
    info.user = c;
    if (c->tls)
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    st = MF_E_NETWORK;
    if (!(c->context = lws_create_context(&info)))
        goto fail;
    st = MF_E_NO_MEMORY;
    if (pthread_create(&c->thread, NULL, service, c) != 0)
        goto fail;
    c->started = 1;
    *status = MF_OK;
    return c;
fail:
    mf_client_free(c);
    *status = st;
    return NULL;
}

/* Queues an encoded frame under the next seq (lock held by the caller). */
static mf_status queue_frame(mf_client *c, const uint8_t *message, size_t size, uint64_t seq)
{
    if (c->refused) {
        push_error(c, seq, c->refused, "the server refused this client for good");
        return MF_OK;
    }
    if (atomic_load(&c->stop)) {
        push_error(c, seq, MF_CLIENT_E_CLOSED, "the client is closed");
        return MF_OK;
    }
    if (c->count + c->replies >= c->capacity) {
        push_error(c, seq, MF_CLIENT_E_QUEUE_FULL,
                   "the client's queue is full: frames wait for answers or replies to be taken");
        return MF_OK;
    }
    uint8_t *bytes = malloc(size);
    if (!bytes)
        return MF_E_NO_MEMORY;
    memcpy(bytes, message, size);
    frame *f = &c->ring[(c->head + c->count) % c->capacity];
    f->seq = seq;
    f->size = size;
    f->bytes = bytes;
    c->count++;
    return MF_OK;
}

mf_status mf_client_send(mf_client *client, double timestamp, const mf_keypoints *faces,
                         size_t count, uint64_t *seq)
{
    if (!client || !seq || (count && !faces))
        return MF_E_INVALID_ARGUMENT;
    uint8_t stack[4096], *buf = stack;
    size_t capacity = sizeof stack, size;
    mf_status st;
    pthread_mutex_lock(&client->lock);
    const uint64_t s = client->next_seq + 1;
    while ((st = mf_wire_encode_frame(s, timestamp, faces, count, buf, capacity, &size)) ==
               MF_E_TOO_LARGE &&
           capacity < client->config.max_message_bytes) {
        if (buf != stack)
            free(buf);
        capacity *= 2;
        if (!(buf = malloc(capacity))) {
            st = MF_E_NO_MEMORY;
            break;
        }
    }
    if (st == MF_OK && (st = queue_frame(client, buf, size, s)) == MF_OK)
        *seq = client->next_seq = s;
    pthread_mutex_unlock(&client->lock);
    if (buf != stack)
        free(buf);
    /* after mf_client_close the frame was answered at once and no service
     * thread (nor context) is left to wake */
    if (st == MF_OK && !atomic_load(&client->stop))
        lws_cancel_service(client->context);
    return st;
}

mf_status mf_client_receive(mf_client *client, double timeout, uint8_t *buf, size_t capacity,
                            size_t *size)
{
    if (!client || !size || (capacity && !buf) || !(timeout >= 0))
        return MF_E_INVALID_ARGUMENT;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    const double end = (double)until.tv_sec + 1e-9 * (double)until.tv_nsec + timeout;
    until.tv_sec = (time_t)end;
    until.tv_nsec = (long)((end - (double)until.tv_sec) * 1e9);
    pthread_mutex_lock(&client->lock);
    while (!client->first && timeout > 0)
        if (pthread_cond_timedwait(&client->changed, &client->lock, &until) != 0)
            break;
    mf_status st = MF_OK;
    reply *r = client->first;
    *size = r ? r->size : 0;
    if (r && r->size > capacity) {
        st = MF_E_TOO_LARGE;
    } else if (r) {
        memcpy(buf, r->bytes, r->size);
        client->first = r->next;
        if (!client->first)
            client->last = NULL;
        client->replies--;
        free(r);
    }
    pthread_mutex_unlock(&client->lock);
    return st;
}

size_t mf_client_flush(mf_client *client, double timeout)
{
    if (!client)
        return 0;
    const double end = mf_ws_now() + timeout;
    pthread_mutex_lock(&client->lock);
    while (client->count > 0 && mf_ws_now() < end) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 20 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000L)
            until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&client->changed, &client->lock, &until);
    }
    const size_t left = client->count;
    pthread_mutex_unlock(&client->lock);
    return left;
}

void mf_client_state_get(mf_client *client, mf_client_state *out)
{
    memset(out, 0, sizeof *out);
    if (!client)
        return;
    pthread_mutex_lock(&client->lock);
    out->connected = client->connected;
    out->connects = client->connects;
    out->waiting = client->count;
    out->replies = client->replies;
    out->last_close = client->last_close;
    pthread_mutex_unlock(&client->lock);
}

void mf_client_close(mf_client *client)
{
    if (!client || !client->started)
        return;
    atomic_store(&client->stop, 1);
    lws_cancel_service(client->context);
    pthread_join(client->thread, NULL);
    client->started = 0;
    lws_context_destroy(client->context);
    client->context = NULL;
    pthread_mutex_lock(&client->lock);
    fail_all(client, MF_CLIENT_E_CLOSED, "the client was closed before the server answered");
    pthread_mutex_unlock(&client->lock);
}

void mf_client_free(mf_client *client)
{
    if (!client)
        return;
    mf_client_close(client);
    lws_context_destroy(client->context);
    for (size_t i = 0; i < client->count; i++)
        free(client->ring[(client->head + i) % client->capacity].bytes);
    while (client->first) {
        reply *r = client->first;
        client->first = r->next;
        free(r);
    }
    free(client->ring);
    free(client->rx.data);
    free(client->tx.data);
    free(client->address);
    free(client->path);
    free(client->api_key);
    free(client->socket_key);
    pthread_mutex_destroy(&client->lock);
    pthread_cond_destroy(&client->changed);
    free(client);
}
