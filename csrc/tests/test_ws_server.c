/* The server's transport over loopback, with a stand-in message layer that
 * echoes, and a bare-socket WebSocket client so every byte is in the
 * test's hands (fragments, oversize messages, silence). */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "stream/ws.h"

/* ---- the stand-in message layer: echo; 0xc1 (never used in msgpack) is
 * malformed; errors are "E" and the code as text ---------------------- */

/* atomic: the sessions of several service threads count here */
static atomic_int sessions_made, sessions_freed;

static void *echo_new(void *user, mf_status *status)
{
    (void)user;
    sessions_made++;
    *status = MF_OK;
    return &sessions_made;
}

static void echo_free(void *session)
{
    (void)session;
    sessions_freed++;
}

static mf_status echo_error(void *user, const uint8_t *data, size_t size, int32_t code,
                            const char *reason, mf_ws_buffer *reply)
{
    (void)user, (void)data, (void)size, (void)reason;
    if (mf_ws_buffer_reserve(reply, 16) != MF_OK)
        return MF_E_NO_MEMORY;
    reply->size = (size_t)snprintf((char *)reply->data, 16, "E%d", (int)code);
    return MF_OK;
}

static int32_t echo_message(void *user, void *session, const uint8_t *data, size_t size,
                            mf_ws_buffer *reply)
{
    (void)session;
    if (size > 0 && data[0] == 0xc1) {
        echo_error(user, data, size, MF_CLOSE_MALFORMED, "malformed", reply);
        return MF_CLOSE_MALFORMED;
    }
    if (mf_ws_buffer_reserve(reply, size) != MF_OK)
        return MF_CLOSE_MALFORMED;
    memcpy(reply->data, data, size);
    reply->size = size;
    return 0;
}

/* A message "t=SECONDS" is a frame taken at that time. */
static int echo_frame_time(void *user, const uint8_t *data, size_t size, double *timestamp)
{
    (void)user;
    char text[32];
    if (size < 3 || size >= sizeof text || memcmp(data, "t=", 2) != 0)
        return 0;
    memcpy(text, data + 2, size - 2);
    text[size - 2] = '\0';
    *timestamp = strtod(text, NULL);
    return 1;
}

static const mf_ws_handler ECHO = {NULL, echo_new, echo_free, echo_message, echo_error,
                                   NULL, NULL, NULL,     NULL};
static const mf_ws_handler ECHO_TIMED = {NULL, echo_new, echo_free, echo_message, echo_error,
                                         echo_frame_time, NULL, NULL, NULL};

typedef struct {
    int starts, ends, refusals, last_code;
    char last_key[32];
    int per_thread[MF_SERVER_MAX_THREADS]; /* session starts */
    atomic_int in_call;                    /* calls under way: never above 1 */
    int overlapped;
} log_counts;

static void count_log(void *user, const mf_server_log *e)
{
    log_counts *c = user;
    if (atomic_fetch_add(&c->in_call, 1) > 0)
        c->overlapped = 1;
    if (strcmp(e->event, "session_start") == 0 && e->thread >= 0 && e->thread < MF_SERVER_MAX_THREADS)
        c->per_thread[e->thread]++;
    c->starts += strcmp(e->event, "session_start") == 0;
    c->ends += strcmp(e->event, "session_end") == 0;
    c->refusals += strcmp(e->event, "refused") == 0;
    c->last_code = e->code;
    snprintf(c->last_key, sizeof c->last_key, "%s", e->key_id ? e->key_id : "-");
    atomic_fetch_sub(&c->in_call, 1);
}

/* ---- a bare WebSocket client -------------------------------------------- */

/* Connects and upgrades with `query` and extra header lines; the socket or -1. */
static int ws_connect(int port, const char *query, const char *headers)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET /%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mojofer.v1\r\n%s\r\n",
                     query, headers);
    if (write(fd, req, (size_t)n) != n)
        goto fail;
    char resp[2048];
    size_t got = 0;
    while (got < sizeof resp - 1) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 2000) != 1 || read(fd, resp + got, 1) != 1)
            goto fail;
        got++;
        if (got >= 4 && memcmp(resp + got - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    resp[got] = '\0';
    if (strncmp(resp, "HTTP/1.1 101", 12) != 0)
        goto fail;
    return fd;
fail:
    close(fd);
    return -1;
}

static int send_frame(int fd, int opcode, int fin, const void *data, size_t size)
{
    uint8_t head[14];
    size_t h = 0;
    head[h++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    if (size < 126) {
        head[h++] = (uint8_t)(0x80 | size);
    } else if (size < 65536) {
        head[h++] = 0x80 | 126;
        head[h++] = (uint8_t)(size >> 8);
        head[h++] = (uint8_t)size;
    } else {
        head[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            head[h++] = (uint8_t)((uint64_t)size >> (8 * i));
    }
    memset(head + h, 0, 4); /* a zero mask: the payload goes as it is */
    h += 4;
    if (write(fd, head, h) != (ssize_t)h)
        return -1;
    return size == 0 || write(fd, data, size) == (ssize_t)size ? 0 : -1;
}

static int read_exact(int fd, uint8_t *buf, size_t n, int timeout_ms)
{
    for (size_t got = 0; got < n;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, timeout_ms) != 1)
            return -1;
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* The next frame's payload size (its opcode in *opcode), or -1. */
static long recv_frame(int fd, int *opcode, uint8_t *buf, size_t capacity, int timeout_ms)
{
    uint8_t h[8];
    if (read_exact(fd, h, 2, timeout_ms) != 0)
        return -1;
    *opcode = h[0] & 0x0f;
    uint64_t size = h[1] & 0x7f;
    if (size == 126 || size == 127) {
        const size_t n = size == 126 ? 2 : 8;
        if (read_exact(fd, h, n, timeout_ms) != 0)
            return -1;
        size = 0;
        for (size_t i = 0; i < n; i++)
            size = size << 8 | h[i];
    }
    if (size > capacity || read_exact(fd, buf, (size_t)size, timeout_ms) != 0)
        return -1;
    return (long)size;
}

/* The close code the server ends with, skipping data frames; -1 if none. */
static int close_code(int fd, int timeout_ms)
{
    uint8_t buf[256];
    int opcode;
    long n;
    while ((n = recv_frame(fd, &opcode, buf, sizeof buf, timeout_ms)) >= 0)
        if (opcode == 8)
            return n >= 2 ? buf[0] << 8 | buf[1] : 0;
    return -1;
}

/* Sends `text` and reads the reply as a string into buf. */
static int round_trip(int fd, const char *text, char *buf, size_t capacity)
{
    int opcode;
    if (send_frame(fd, 2, 1, text, strlen(text)) != 0)
        return -1;
    long n = recv_frame(fd, &opcode, (uint8_t *)buf, capacity - 1, 2000);
    if (n < 0 || opcode != 2)
        return -1;
    buf[n] = '\0';
    return 0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A TCP connection to the loopback port from the loopback `source` that
 * sends nothing; the socket or -1. */
static int tcp_connect(int port, const char *source)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in from, to;
    memset(&from, 0, sizeof from);
    memset(&to, 0, sizeof to);
    from.sin_family = to.sin_family = AF_INET;
    inet_pton(AF_INET, source, &from.sin_addr);
    to.sin_port = htons((uint16_t)port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&from, sizeof from) == 0 &&
        connect(fd, (struct sockaddr *)&to, sizeof to) == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return -1;
}

/* What the server sends before closing, up to `capacity`-1 bytes; "" if
 * it sends nothing and keeps the connection for `timeout_ms`. */
static const char *answer(int fd, char *buf, size_t capacity, int timeout_ms)
{
    size_t got = 0;
    struct pollfd p = {fd, POLLIN, 0};
    while (got < capacity - 1 && poll(&p, 1, timeout_ms) == 1) {
        ssize_t r = read(fd, buf + got, capacity - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    return buf;
}

/* ---- tests -------------------------------------------------------------- */

static const mf_server_key KEYS[] = {
    {"alpha", "api-alpha", "sock-alpha", 1, 1000.0, 60.0, 0.0},
    {"slow", "api-slow", "sock-slow", 4, 4.0, 60.0, 0.0},
    {"brief", "api-brief", "sock-brief", 4, 1000.0, 0.3, 0.0},
    {"catch-up", "api-catch", "sock-catch", 4, 1.0, 60.0, 2.0},
    {"no-catch-up", "api-none", "sock-none", 4, 1.0, 60.0, 0.0},
};

/* The service threads of the servers the tests make: every test runs with
 * one, and those of the transport's rules again with several. */
static int32_t service_threads = 1;

static mf_server_config test_config(log_counts *counts)
{
    mf_server_config c = mf_server_config_default();
    c.threads = service_threads;
    c.keys = KEYS;
    c.key_count = sizeof KEYS / sizeof KEYS[0];
    c.idle_timeout = 0.4;
    c.max_message_bytes = 1000;
    c.log = count_log;
    c.log_user = counts;
    return c;
}

/* Each refusal of a config names its one cause. */
static void test_config_checks(void)
{
    mf_status st;
    const char *problem;
    mf_server_config c = test_config(NULL);
    c.key_count = 0;
    CHECK(!mf_ws_server_new(&c, &ECHO, &st, &problem) && st == MF_E_INVALID_ARGUMENT &&
          strcmp(problem, "the server needs at least one key") == 0);
    c = test_config(NULL);
    c.host = "0.0.0.0";
    CHECKF(!mf_ws_server_new(&c, &ECHO, &st, &problem) && st == MF_E_INVALID_ARGUMENT &&
               strncmp(problem, "plain ws:// serves loopback only", 32) == 0,
           "plain ws:// beyond loopback needs allow_remote_plain");
    c = test_config(NULL);
    c.tls_cert = "cert.pem";
    CHECKF(!mf_ws_server_new(&c, &ECHO, &st, &problem) && st == MF_E_INVALID_ARGUMENT &&
               strcmp(problem, "tls_cert and tls_key go together") == 0,
           "cert without key");
    c.tls_key = "key.pem";
    CHECKF(!mf_ws_server_new(&c, &ECHO, &st, &problem) && st == MF_E_IO &&
               strcmp(problem, "tls_cert: no such file") == 0,
           "a certificate file that is not there");
    mf_server_key bad = KEYS[0];
    bad.socket_key = "";
    c = test_config(NULL);
    c.keys = &bad;
    c.key_count = 1;
    CHECK(!mf_ws_server_new(&c, &ECHO, &st, &problem) && st == MF_E_INVALID_ARGUMENT &&
          strstr(problem, "socket_key"));
    bad = KEYS[0];
    bad.catch_up_seconds = -1.0;
    CHECK(!mf_ws_server_new(&c, &ECHO, &st, &problem) && st == MF_E_INVALID_ARGUMENT &&
          strstr(problem, "catch_up_seconds"));
    mf_server_key twins[2] = {KEYS[0], KEYS[1]};
    twins[1].id = KEYS[0].id;
    c.keys = twins;
    c.key_count = 2;
    CHECK(!mf_ws_server_new(&c, &ECHO, &st, &problem) && st == MF_E_INVALID_ARGUMENT &&
          strstr(problem, "key ids must be unique"));
    c.idle_timeout = INFINITY;
    c.keys = KEYS;
    CHECK(!mf_ws_server_new(&c, &ECHO, &st, &problem) && st == MF_E_INVALID_ARGUMENT &&
          strstr(problem, "idle_timeout"));

    c = test_config(NULL);
    mf_server *first = mf_ws_server_new(&c, &ECHO, &st, &problem);
    CHECK(first && problem == NULL);
    c.port = mf_server_port(first);
    CHECKF(!mf_ws_server_new(&c, &ECHO, &st, &problem) && st == MF_E_NETWORK &&
               strcmp(problem, "the port is in use") == 0,
           "a port taken by another server");
    mf_server_free(first);
    c = test_config(NULL);
    c.max_connections = 0;
    CHECKF(!mf_ws_server_new(&c, &ECHO, &st, NULL) && st == MF_E_INVALID_ARGUMENT, "max_connections 0");
    c = test_config(NULL);
    c.max_connections = 4;
    c.max_connections_per_address = 5;
    CHECKF(!mf_ws_server_new(&c, &ECHO, &st, NULL) && st == MF_E_INVALID_ARGUMENT,
           "a per-address cap over the total");
    c = test_config(NULL);
    c.handshake_timeout = 0;
    CHECKF(!mf_ws_server_new(&c, &ECHO, &st, NULL) && st == MF_E_INVALID_ARGUMENT, "handshake_timeout 0");
    c = test_config(NULL);
    c.host = "";
    CHECKF(!mf_ws_server_new(&c, &ECHO, &st, NULL) && st == MF_E_INVALID_ARGUMENT, "an empty host");
    c = test_config(NULL);
    c.host = "no-such-host.invalid";
    CHECKF(!mf_ws_server_new(&c, &ECHO, &st, NULL) && st == MF_E_NETWORK, "a host that does not resolve");
    c = test_config(NULL);
    c.host = "localhost";
    mf_server *server = mf_ws_server_new(&c, &ECHO, &st, NULL);
    CHECKF(server && strcmp(mf_server_address(server), "127.0.0.1") == 0,
           "localhost binds 127.0.0.1: %s", server ? mf_server_address(server) : "no server");
    mf_server_free(server);
    mf_server_free(NULL);
}

static void test_equal(void)
{
    CHECK(mf_ws_equal("secret", "secret"));
    CHECK(!mf_ws_equal("secreT", "secret"));
    CHECK(!mf_ws_equal("secret2", "secret"));
    CHECK(!mf_ws_equal("secre", "secret"));
    CHECK(!mf_ws_equal("", "secret"));
}

/* What the server and the client share (stream/transport.c). */
static void test_transport_helpers(void)
{
    CHECK(mf_ws_host_is_loopback("localhost") && mf_ws_host_is_loopback("::1"));
    CHECK(mf_ws_host_is_loopback("127.0.0.1") && mf_ws_host_is_loopback("127.9.8.7"));
    CHECK(!mf_ws_host_is_loopback("10.0.0.1") && !mf_ws_host_is_loopback("example.com"));
    CHECK(!mf_ws_host_is_loopback("::") && !mf_ws_host_is_loopback(""));
    struct sockaddr_in v4;
    memset(&v4, 0, sizeof v4);
    v4.sin_family = AF_INET;
    inet_pton(AF_INET, "127.1.2.3", &v4.sin_addr);
    CHECK(mf_ws_address_is_loopback((const struct sockaddr *)&v4));
    inet_pton(AF_INET, "10.0.0.1", &v4.sin_addr);
    CHECK(!mf_ws_address_is_loopback((const struct sockaddr *)&v4));
    struct sockaddr_in6 v6;
    memset(&v6, 0, sizeof v6);
    v6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::1", &v6.sin6_addr);
    CHECK(mf_ws_address_is_loopback((const struct sockaddr *)&v6));
    inet_pton(AF_INET6, "::ffff:127.0.0.2", &v6.sin6_addr);
    CHECK(mf_ws_address_is_loopback((const struct sockaddr *)&v6));
    inet_pton(AF_INET6, "::ffff:10.0.0.1", &v6.sin6_addr);
    CHECK(!mf_ws_address_is_loopback((const struct sockaddr *)&v6));
    inet_pton(AF_INET6, "::", &v6.sin6_addr);
    CHECK(!mf_ws_address_is_loopback((const struct sockaddr *)&v6));

    CHECK(mf_ws_copy_string(NULL) == NULL);
    char *copy = mf_ws_copy_string("key");
    CHECK(copy && strcmp(copy, "key") == 0);
    free(copy);

    mf_ws_buffer b = {NULL, 0, 0};
    CHECK_STATUS(mf_ws_buffer_reserve(&b, 3), MF_OK);
    memcpy(b.data, "abc", 3);
    CHECK_STATUS(mf_ws_buffer_reserve(&b, 5000), MF_OK);
    CHECK(b.capacity >= 5000 && memcmp(b.data, "abc", 3) == 0);
    free(b.data);
    const double t = mf_ws_now();
    CHECK(t > 0 && mf_ws_now() >= t);
}

static int layers_freed;

static void count_layer_free(void *user)
{
    (void)user;
    layers_freed++;
}

/* A server owns its message layer's `user` once made (user_free at
 * mf_server_free); a server that could not be made leaves it to the caller. */
static void test_handler_ownership(void)
{
    mf_ws_handler owned = ECHO;
    owned.user_free = count_layer_free;
    mf_server_config c = test_config(NULL);
    mf_status st;
    layers_freed = 0;
    c.max_connections = 0;
    CHECK(!mf_ws_server_new(&c, &owned, &st, NULL) && st == MF_E_INVALID_ARGUMENT);
    CHECK(layers_freed == 0);
    c = test_config(NULL);
    c.host = "no-such-host.invalid";
    CHECK(!mf_ws_server_new(&c, &owned, &st, NULL) && layers_freed == 0);
    c = test_config(NULL);
    mf_server *server = mf_ws_server_new(&c, &owned, &st, NULL);
    CHECK_STATUS(st, MF_OK);
    CHECK(layers_freed == 0);
    mf_server_free(server);
    CHECK(layers_freed == 1);
}

static void test_sessions(void)
{
    log_counts counts = {0};
    mf_server_config c = test_config(&counts);
    mf_status st;
    mf_server *server = mf_ws_server_new(&c, &ECHO, &st, NULL);
    CHECK_STATUS(st, MF_OK);
    if (!server)
        return;
    const int port = mf_server_port(server), made_before = sessions_made;
    CHECKF(port > 0, "an ephemeral port is bound: %d", port);
    CHECK_STATUS(mf_server_start(server), MF_OK);
    char buf[2048];

    int fd = ws_connect(port, "?api_key=api-alpha&socket_key=wrong", "");
    CHECKF(fd >= 0 && close_code(fd, 2000) == MF_CLOSE_BAD_CREDENTIALS, "wrong socket key: 4001");
    if (fd >= 0)
        close(fd);
    fd = ws_connect(port, "", "");
    CHECKF(fd >= 0 && close_code(fd, 2000) == MF_CLOSE_BAD_CREDENTIALS, "no keys: 4001");
    if (fd >= 0)
        close(fd);
    CHECKF(sessions_made == made_before, "no session state for refused credentials");

    int a = ws_connect(port, "?api_key=api-alpha&socket_key=sock-alpha", "");
    CHECK(a >= 0 && round_trip(a, "hello", buf, sizeof buf) == 0 && strcmp(buf, "hello") == 0);
    int b = ws_connect(port, "", "X-Api-Key: api-alpha\r\nX-Socket-Key: sock-alpha\r\n");
    CHECKF(b >= 0 && close_code(b, 2000) == MF_CLOSE_SESSION_LIMIT,
           "a second session over a limit of 1 (keys in headers): 4002");
    if (b >= 0)
        close(b);
    CHECK(a >= 0 && round_trip(a, "\xc1", buf, sizeof buf) == 0 && strcmp(buf, "E4007") == 0);
    CHECKF(a >= 0 && round_trip(a, "still here", buf, sizeof buf) == 0 &&
               strcmp(buf, "still here") == 0,
           "the session goes on after a malformed message");
    /* A message in three fragments is one message. */
    int opcode;
    CHECK(a >= 0 && send_frame(a, 2, 0, "ab", 2) == 0 && send_frame(a, 0, 0, "cd", 2) == 0 &&
          send_frame(a, 0, 1, "ef", 2) == 0 &&
          recv_frame(a, &opcode, (uint8_t *)buf, sizeof buf, 2000) == 6 &&
          memcmp(buf, "abcdef", 6) == 0);
    static uint8_t big[1001];
    memset(big, 'x', sizeof big);
    CHECKF(a >= 0 && send_frame(a, 2, 1, big, sizeof big) == 0 &&
               close_code(a, 2000) == MF_CLOSE_TOO_LARGE,
           "a message over max_message_bytes: 4006");
    if (a >= 0)
        close(a);
    sleep_ms(100);

    /* The slot is free again; silence ends it. */
    a = ws_connect(port, "?api_key=api-alpha&socket_key=sock-alpha", "");
    CHECK(a >= 0 && round_trip(a, "again", buf, sizeof buf) == 0);
    CHECKF(a >= 0 && close_code(a, 3000) == MF_CLOSE_IDLE, "idle timeout: 4005");
    if (a >= 0)
        close(a);

    /* 4 frames/s with a burst of 4: the fifth at once is refused, with an
     * error message, and the session goes on. */
    int s = ws_connect(port, "?api_key=api-slow&socket_key=sock-slow", "");
    for (int i = 0; i < 4; i++)
        CHECK(s >= 0 && round_trip(s, "ok", buf, sizeof buf) == 0 && strcmp(buf, "ok") == 0);
    CHECKF(s >= 0 && round_trip(s, "5", buf, sizeof buf) == 0 && strcmp(buf, "E4003") == 0,
           "frame rate exceeded: an error message, got %s", buf);
    sleep_ms(300);
    CHECK(s >= 0 && round_trip(s, "6", buf, sizeof buf) == 0 && strcmp(buf, "6") == 0);

    int brief = ws_connect(port, "?api_key=api-brief&socket_key=sock-brief", "");
    CHECK(brief >= 0 && round_trip(brief, "x", buf, sizeof buf) == 0);
    CHECKF(brief >= 0 && close_code(brief, 2000) == MF_CLOSE_SESSION_TOO_LONG,
           "max_session_seconds: 4004");
    if (brief >= 0)
        close(brief);

    /* Stop closes the live session with 1001 and joins. */
    CHECK_STATUS(mf_server_stop(server), MF_OK);
    CHECKF(s >= 0 && close_code(s, 2000) == 1001, "stop: 1001");
    if (s >= 0)
        close(s);
    CHECK_STATUS(mf_server_stop(server), MF_OK);
    mf_server_free(server);
    CHECKF(counts.refusals == 3 && counts.starts == 4 && counts.ends == 4,
           "log: %d refusals, %d starts, %d ends", counts.refusals, counts.starts, counts.ends);
    CHECKF(sessions_made == sessions_freed, "every session state freed: %d made, %d freed",
           sessions_made, sessions_freed);
}


/* ---- the client against the echoing server: a reply carries the frame's
 * seq, as an estimate would ------------------------------------------------ */

/* The seq and code (0 for an echoed frame) of the next reply; -1 if none. */
static int next_reply(mf_client *client, double timeout, uint64_t *seq, int32_t *code)
{
    uint8_t buf[4096];
    size_t size;
    if (mf_client_receive(client, timeout, buf, sizeof buf, &size) != MF_OK || size == 0)
        return -1;
    mf_wire_type type;
    mf_wire_error e;
    mf_keypoints face;
    double ts;
    size_t count;
    int32_t has_seq;
    char reason[MF_WIRE_MAX_REASON + 1];
    if (mf_wire_peek(buf, size, &type, &e) != MF_OK)
        return -1;
    *code = 0;
    if (type == MF_WIRE_FRAME)
        return mf_wire_decode_frame(buf, size, seq, &ts, &face, 1, &count, &e) == MF_OK ? 0 : -1;
    if (type == MF_WIRE_ERROR &&
        mf_wire_decode_error(buf, size, &has_seq, seq, code, reason, sizeof reason, &e) == MF_OK)
        return has_seq ? 0 : -1;
    return -1;
}

static mf_keypoints test_face(void)
{
    mf_keypoints k;
    memset(&k, 0, sizeof k);
    k.face_id = 1;
    for (int i = 0; i < MF_LANDMARKS; i++) {
        k.landmarks[2 * i] = (float)(i % 17) * 3.0f;
        k.landmarks[2 * i + 1] = (float)(i / 17) * 5.0f + (float)i * 0.1f;
    }
    return k;
}

static void test_client(void)
{
    log_counts counts = {0};
    mf_server_config c = test_config(&counts);
    c.max_message_bytes = 4096;
    c.idle_timeout = 5.0;
    mf_status st;
    mf_server *server = mf_ws_server_new(&c, &ECHO, &st, NULL);
    if (!server || mf_server_start(server) != MF_OK) {
        CHECK(!"echo server for the client");
        mf_server_free(server);
        return;
    }
    const int port = mf_server_port(server);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
    mf_client_config cc = mf_client_config_default();
    cc.url = url;
    cc.api_key = "api-alpha";
    cc.socket_key = "sock-alpha";
    cc.max_pending = 16;
    mf_client *client = mf_client_new(&cc, &st);
    CHECK_STATUS(st, MF_OK);
    if (!client) {
        mf_server_free(server);
        return;
    }
    const mf_keypoints face = test_face();
    uint64_t seq, got;
    int32_t code;
    int in_order = 1;
    for (uint64_t i = 1; i <= 5; i++) {
        CHECK(mf_client_send(client, 0.1 * (double)i, &face, 1, &seq) == MF_OK && seq == i);
        in_order &= next_reply(client, 2.0, &got, &code) == 0 && got == i && code == 0;
    }
    CHECKF(in_order, "five frames, five replies in order");

    /* The server goes away while frames are sent; a new one on the same
     * port answers every one of them, once. */
    mf_server_free(server);
    for (uint64_t i = 6; i <= 10; i++)
        CHECK(mf_client_send(client, 0.1 * (double)i, &face, 1, &seq) == MF_OK && seq == i);
    sleep_ms(200);
    c.port = port;
    server = mf_ws_server_new(&c, &ECHO, &st, NULL);
    CHECKF(server && mf_server_start(server) == MF_OK, "a new server on port %d", port);
    CHECKF(mf_client_flush(client, 10.0) == 0, "every frame answered after the restart");
    in_order = 1;
    for (uint64_t i = 6; i <= 10; i++)
        in_order &= next_reply(client, 1.0, &got, &code) == 0 && got == i && code == 0;
    CHECKF(in_order, "the frames sent while the server was away are answered in order");
    CHECKF(next_reply(client, 0.2, &got, &code) < 0, "and each once");
    mf_client_state state;
    mf_client_state_get(client, &state);
    CHECKF(state.connects == 2 && state.connected, "one reconnect: %lld connects",
           (long long)state.connects);

    /* A full queue answers at once, with an error of the client's own. */
    mf_server_free(server);
    server = NULL;
    int full = 0;
    for (int i = 0; i < 20; i++) {
        mf_client_send(client, 2.0 + i, &face, 1, &seq);
    }
    while (next_reply(client, 0.0, &got, &code) == 0)
        full += code == MF_CLIENT_E_QUEUE_FULL;
    CHECKF(full == 4, "16 queued, 4 refused by the full queue: %d", full);
    mf_client_close(client);
    int closed = 0;
    while (next_reply(client, 0.0, &got, &code) == 0)
        closed += code == MF_CLIENT_E_CLOSED;
    CHECKF(closed == 16, "closing answers the 16 unanswered frames: %d", closed);
    CHECKF(mf_client_send(client, 30.0, &face, 1, &seq) == MF_OK && seq == 31 &&
               next_reply(client, 0.0, &got, &code) == 0 && got == 31 && code == MF_CLIENT_E_CLOSED,
           "a send after close is answered at once with %d", MF_CLIENT_E_CLOSED);
    mf_client_free(client);

    /* Wrong keys: refused for good, every frame answered with 4001. */
    server = mf_ws_server_new(&c, &ECHO, &st, NULL);
    mf_server_start(server);
    cc.socket_key = "wrong";
    client = mf_client_new(&cc, &st);
    for (int i = 0; client && i < 3; i++)
        mf_client_send(client, i, &face, 1, &seq);
    int refused = 0;
    while (client && next_reply(client, 2.0, &got, &code) == 0)
        refused += code == MF_CLOSE_BAD_CREDENTIALS;
    CHECKF(refused == 3, "wrong keys: 3 frames answered with 4001, got %d", refused);
    mf_client_free(client);
    mf_server_free(server);
    mf_client_free(NULL);
}

/* A client that sends without reading: the server stops reading it after a
 * few unsent replies (its memory stays bounded), and once the client reads,
 * every reply arrives, in order. */
static void test_backpressure(void)
{
    mf_server_config c = test_config(NULL);
    c.idle_timeout = 5.0;
    c.log = NULL;
    mf_status st;
    mf_server *server = mf_ws_server_new(&c, &ECHO, &st, NULL);
    if (!server || mf_server_start(server) != MF_OK) {
        CHECK(!"echo server for backpressure");
        mf_server_free(server);
        return;
    }
    int fd = ws_connect(mf_server_port(server), "?api_key=api-alpha&socket_key=sock-alpha", "");
    static char text[600];
    int sent = 0, in_order = 1;
    for (int i = 0; fd >= 0 && i < 300; i++) {
        const int n = snprintf(text, sizeof text, "%04d", i);
        memset(text + n, 'p', sizeof text - (size_t)n);
        sent += send_frame(fd, 2, 1, text, sizeof text) == 0;
    }
    CHECKF(sent == 300, "300 frames sent unread: %d", sent);
    for (int i = 0; fd >= 0 && i < 300; i++) {
        uint8_t buf[1024];
        int opcode;
        char want[8];
        snprintf(want, sizeof want, "%04d", i);
        in_order &= recv_frame(fd, &opcode, buf, sizeof buf, 3000) == (long)sizeof text &&
                    memcmp(buf, want, 4) == 0;
    }
    CHECKF(fd >= 0 && in_order, "every reply, in order, once the client reads");
    if (fd >= 0)
        close(fd);
    mf_server_free(server);
}

/* Connections over the caps are answered 503 and closed before any byte of
 * theirs is read; the counts go down as connections close; a connection
 * that never upgrades is closed after the handshake timeout. */
static void test_connection_caps(void)
{
    mf_server_config c = test_config(NULL);
    c.log = NULL;
    c.max_connections = 3;
    c.max_connections_per_address = 2;
    c.handshake_timeout = 1.0;
    mf_status st;
    mf_server *server = mf_ws_server_new(&c, &ECHO, &st, NULL);
    if (!server || mf_server_start(server) != MF_OK) {
        CHECK(!"echo server for the connection caps");
        mf_server_free(server);
        return;
    }
    CHECKF(strcmp(mf_server_address(server), "127.0.0.1") == 0, "bound to %s",
           mf_server_address(server));
    const int port = mf_server_port(server);
    char buf[512];
    int a = tcp_connect(port, "127.0.0.1"), b = tcp_connect(port, "127.0.0.1");
    /* Accepted before the next connects: with several service threads,
     * which connection a thread accepts first is not the order of connect. */
    sleep_ms(100);
    int over = tcp_connect(port, "127.0.0.1");
    CHECKF(over >= 0 && strncmp(answer(over, buf, sizeof buf, 2000), "HTTP/1.1 503 ", 13) == 0,
           "a third connection from one address: 503, got '%.40s'", buf);
    int other = tcp_connect(port, "127.0.0.2");
    CHECKF(other >= 0 && strcmp(answer(other, buf, sizeof buf, 200), "") == 0,
           "another address under both caps is kept");
    sleep_ms(100);
    int fourth = tcp_connect(port, "127.0.0.3");
    CHECKF(fourth >= 0 && strncmp(answer(fourth, buf, sizeof buf, 2000), "HTTP/1.1 503 ", 13) == 0,
           "a fourth connection in all: 503");
    const double t0 = (double)time(NULL);
    CHECKF(a >= 0 && strcmp(answer(a, buf, sizeof buf, 4000), "") == 0 && (double)time(NULL) - t0 < 4,
           "a silent connection is closed after the handshake timeout");
    sleep_ms(100);
    int again = ws_connect(port, "?api_key=api-alpha&socket_key=sock-alpha", "");
    CHECKF(again >= 0 && round_trip(again, "back", buf, sizeof buf) == 0 && strcmp(buf, "back") == 0,
           "the closed connections freed their places");
    const int fds[] = {a, b, over, other, fourth, again};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    mf_server_free(server);
}

/* A backlog sent at once, its frames 1 s apart by their timestamps, to a
 * plan of 1 fps with 2 s of catch-up: the burst of 1 and 2 s of timestamps
 * (2 frames) pass, then the timestamps are too far ahead of the wall
 * clock; under the same plan without catch-up only the burst passes. */
static void test_catch_up(void)
{
    log_counts counts = {0};
    mf_server_config c = test_config(&counts);
    mf_status st;
    mf_server *server = mf_ws_server_new(&c, &ECHO_TIMED, &st, NULL);
    if (!server || mf_server_start(server) != MF_OK) {
        CHECK(!"echo server with frame times");
        mf_server_free(server);
        return;
    }
    const int port = mf_server_port(server);
    const char *query[2] = {"?api_key=api-catch&socket_key=sock-catch",
                            "?api_key=api-none&socket_key=sock-none"};
    const int admitted[2] = {3, 1};
    for (int plan = 0; plan < 2; plan++) {
        int fd = ws_connect(port, query[plan], "");
        char text[16], buf[64];
        int passed = 0, refused = 0;
        for (int i = 0; fd >= 0 && i < 6; i++) {
            snprintf(text, sizeof text, "t=%d", 100 + i);
            if (round_trip(fd, text, buf, sizeof buf) != 0)
                break;
            passed += strcmp(buf, text) == 0 && refused == 0;
            refused += strcmp(buf, "E4003") == 0;
        }
        CHECKF(passed == admitted[plan] && refused == 6 - admitted[plan],
               "plan %d: %d frames passed then %d refused, expected %d then the rest", plan, passed,
               refused, admitted[plan]);
        if (fd >= 0)
            close(fd);
    }
    mf_server_free(server);
}

/* ---- several service threads ------------------------------------------- */

/* A message layer with a state per thread that checks every call made
 * with it comes on that one thread. */
typedef struct {
    pthread_t owner;
    int owned;
} thread_state;

static atomic_int states_made, states_freed, wrong_thread;

static void *state_new(void *user, mf_status *status)
{
    (void)user;
    thread_state *t = calloc(1, sizeof *t);
    *status = t ? MF_OK : MF_E_NO_MEMORY;
    if (t)
        atomic_fetch_add(&states_made, 1);
    return t;
}

static void state_free(void *local)
{
    atomic_fetch_add(&states_freed, local != NULL);
    free(local);
}

static void check_thread(void *local)
{
    thread_state *t = local;
    if (!t->owned) {
        t->owner = pthread_self();
        t->owned = 1;
    } else if (!pthread_equal(t->owner, pthread_self())) {
        atomic_fetch_add(&wrong_thread, 1);
    }
}

static void *state_session_new(void *local, mf_status *status)
{
    check_thread(local);
    return echo_new(NULL, status);
}

static int32_t state_message(void *local, void *session, const uint8_t *data, size_t size,
                             mf_ws_buffer *reply)
{
    check_thread(local);
    return echo_message(NULL, session, data, size, reply);
}

static const mf_ws_handler PER_THREAD = {NULL, state_session_new, echo_free, state_message, echo_error,
                                         NULL, NULL, state_new, state_free};

typedef struct {
    int port;
    const char *query;
    int fd;
} opener;

static void *open_session(void *arg)
{
    opener *o = arg;
    o->fd = ws_connect(o->port, o->query, "");
    return NULL;
}

/* Opens `n` sessions at once, from as many threads, into fds[]. */
static void open_at_once(int port, const char *query, int *fds, int n)
{
    opener o[64];
    pthread_t t[64];
    for (int i = 0; i < n; i++) {
        o[i] = (opener){port, query, -1};
        if (pthread_create(&t[i], NULL, open_session, &o[i]) != 0)
            t[i] = pthread_self();
    }
    for (int i = 0; i < n; i++) {
        if (!pthread_equal(t[i], pthread_self()))
            pthread_join(t[i], NULL);
        fds[i] = o[i].fd;
    }
}

/* Four service threads on one port: sessions land on several of them, each
 * thread's message layer state is its own and used on it alone, a key's
 * session limit holds for the whole server exactly (first come, first
 * served), and stop closes the sessions of every thread. */
static void test_threads(void)
{
    mf_status st;
    const char *problem;
    mf_server_config c = test_config(NULL);
    c.threads = 0;
    CHECK(!mf_ws_server_new(&c, &ECHO, &st, &problem) && st == MF_E_INVALID_ARGUMENT &&
          strcmp(problem, "threads must be within 1..64") == 0);
    c.threads = MF_SERVER_MAX_THREADS + 1;
    CHECK(!mf_ws_server_new(&c, &ECHO, &st, &problem) && st == MF_E_INVALID_ARGUMENT);
    CHECK(mf_server_config_default().threads == 1);

    static const mf_server_key keys[] = {
        {"many", "api-many", "sock-many", 64, 1000.0, 60.0, 0.0},
        {"three", "api-three", "sock-three", 3, 1000.0, 60.0, 0.0},
    };
    log_counts counts = {0};
    c = test_config(&counts);
    c.keys = keys;
    c.key_count = 2;
    c.idle_timeout = 10.0;
    c.threads = 4;
    atomic_store(&states_made, 0);
    atomic_store(&states_freed, 0);
    atomic_store(&wrong_thread, 0);
    const int made_before = sessions_made, freed_before = sessions_freed;
    mf_server *server = mf_ws_server_new(&c, &PER_THREAD, &st, &problem);
    CHECKF(server && st == MF_OK, "four threads: %s", problem ? problem : "");
    if (!server || mf_server_start(server) != MF_OK) {
        mf_server_free(server);
        return;
    }
    CHECKF(atomic_load(&states_made) == 4, "one state per thread: %d", atomic_load(&states_made));
    const int port = mf_server_port(server);
    CHECKF(port > 0, "port 0: one port for every thread, %d", port);
    mf_server_config other = test_config(NULL);
    other.port = port;
    other.threads = 2;
    CHECKF(!mf_ws_server_new(&other, &ECHO, &st, &problem) && st == MF_E_NETWORK &&
               strcmp(problem, "the port is in use") == 0,
           "another server cannot share the port of one with several threads");

    enum { MANY = 24, THREE_TRIES = 10 };
    int many[MANY], three[THREE_TRIES];
    open_at_once(port, "?api_key=api-many&socket_key=sock-many", many, MANY);
    int answered = 0;
    char buf[64], text[16];
    for (int i = 0; i < MANY; i++) {
        snprintf(text, sizeof text, "s%d", i);
        answered += many[i] >= 0 && round_trip(many[i], text, buf, sizeof buf) == 0 &&
                    strcmp(buf, text) == 0;
    }
    CHECKF(answered == MANY, "every session answered: %d of %d", answered, MANY);
    int threads_used = 0;
    for (int t = 0; t < 4; t++)
        threads_used += counts.per_thread[t] > 0;
    CHECKF(threads_used >= 2, "sessions on several threads: %d, %d, %d, %d", counts.per_thread[0],
           counts.per_thread[1], counts.per_thread[2], counts.per_thread[3]);

    open_at_once(port, "?api_key=api-three&socket_key=sock-three", three, THREE_TRIES);
    int admitted = 0, limited = 0;
    for (int i = 0; i < THREE_TRIES; i++) {
        if (three[i] < 0)
            continue;
        if (round_trip(three[i], "x", buf, sizeof buf) == 0 && strcmp(buf, "x") == 0)
            admitted++;
        else
            limited += close_code(three[i], 2000) == MF_CLOSE_SESSION_LIMIT;
    }
    CHECKF(admitted == 3 && limited == THREE_TRIES - 3,
           "a limit of 3 across threads: %d admitted, %d refused with 4002", admitted, limited);

    CHECK_STATUS(mf_server_stop(server), MF_OK);
    int going_away = 0;
    for (int i = 0; i < MANY; i++)
        going_away += many[i] >= 0 && close_code(many[i], 2000) == 1001;
    CHECKF(going_away == MANY, "stop closes the sessions of every thread: %d of %d", going_away, MANY);
    for (int i = 0; i < MANY; i++)
        if (many[i] >= 0)
            close(many[i]);
    for (int i = 0; i < THREE_TRIES; i++)
        if (three[i] >= 0)
            close(three[i]);
    mf_server_free(server);
    CHECKF(atomic_load(&states_freed) == 4, "every thread's state freed: %d", atomic_load(&states_freed));
    CHECKF(atomic_load(&wrong_thread) == 0, "a thread's state used on another thread %d times",
           atomic_load(&wrong_thread));
    CHECKF(sessions_made - made_before == sessions_freed - freed_before,
           "every session state freed: %d made, %d freed", sessions_made - made_before,
           sessions_freed - freed_before);
    CHECKF(counts.starts == MANY + 3 && counts.ends == MANY + 3 && counts.refusals == THREE_TRIES - 3,
           "log: %d starts, %d ends, %d refusals", counts.starts, counts.ends, counts.refusals);
    CHECKF(!counts.overlapped, "the log is called one entry at a time");
}

/* ---- static files beside the WebSocket ---------------------------------- */

typedef struct {
    int status;
    char type[64];  /* Content-Type, "" if none */
    char body[4096];
    size_t body_size;
} http_answer;

/* One plain HTTP/1.1 request for `path` (sent as written, the client's
 * encoding included); 0 and *out filled when an answer came whole. */
static int http_get(int port, const char *path, http_answer *out)
{
    memset(out, 0, sizeof *out);
    int fd = tcp_connect(port, "127.0.0.1");
    if (fd < 0)
        return -1;
    char req[512], resp[8192];
    const int n = snprintf(req, sizeof req,
                           "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    size_t got = 0;
    const char *body = NULL;
    long length = -1;
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    /* Until the server closes, or the body its Content-Length announces is in. */
    struct pollfd p = {fd, POLLIN, 0};
    while (got < sizeof resp - 1 && poll(&p, 1, 2000) == 1) {
        const ssize_t r = read(fd, resp + got, sizeof resp - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        resp[got] = '\0';
        if (!body && (body = strstr(resp, "\r\n\r\n"))) {
            body += 4;
            for (const char *line = strstr(resp, "\r\n"); line && line < body; line = strstr(line + 2, "\r\n"))
                if (strncasecmp(line + 2, "content-length:", 15) == 0)
                    length = strtol(line + 17, NULL, 10);
                else if (strncasecmp(line + 2, "content-type:", 13) == 0)
                    sscanf(line + 15, " %63[^\r;]", out->type);
        }
        if (body && length >= 0 && resp + got - body >= length)
            break;
    }
    close(fd);
    resp[got] = '\0';
    if (!body || sscanf(resp, "HTTP/1.1 %d", &out->status) != 1)
        return -1;
    out->body_size = (size_t)(resp + got - body);
    if (out->body_size > sizeof out->body)
        return -1;
    memcpy(out->body, body, out->body_size);
    return 0;
}

/* 1 if `needle` occurs in the size bytes at `data`. */
static int contains(const char *data, size_t size, const char *needle)
{
    const size_t n = strlen(needle);
    for (size_t i = 0; i + n <= size; i++)
        if (memcmp(data + i, needle, n) == 0)
            return 1;
    return 0;
}

static int write_file(const char *dir, const char *name, const void *data, size_t size)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    const int ok = f && fwrite(data, 1, size, f) == size;
    if (f)
        fclose(f);
    return ok ? 0 : -1;
}

static void remove_tree(const char *base)
{
    static const char *const FILES[] = {"web/index.html", "web/app.js", "web/anon.wasm", "web/notes.xyz",
                                        "models/landmarks.mfm", "secret.txt", "web", "models", ""};
    char path[512];
    for (size_t i = 0; i < sizeof FILES / sizeof FILES[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", base, FILES[i]);
        remove(path);
    }
}

static const char INDEX[] = "<!doctype html><title>mojofer</title>";
static const char SCRIPT[] = "const answer = 42;\n";
static const uint8_t WASM[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};
static const uint8_t MODEL[] = {'M', 'F', 'M', '1', 0x00, 0xff, 0x00, 0x10, 0x7f};
static const char SECRET[] = "outside the served folders";

/* A file under a mount: 200, its bytes, its type. */
static void check_file(int port, const char *path, const void *bytes, size_t size, const char *type)
{
    http_answer a;
    const int answered = http_get(port, path, &a) == 0;
    CHECKF(answered && a.status == 200 && a.body_size == size &&
               memcmp(a.body, bytes, size) == 0 && strcmp(a.type, type) == 0,
           "GET %s: status %d, %zu bytes, type '%s'", path, a.status, a.body_size, a.type);
}

/* A request answered with status `want`. */
static void check_answer(int port, const char *path, int want)
{
    http_answer a;
    const int status = http_get(port, path, &a) == 0 ? a.status : -1;
    CHECKF(status == want, "GET %s: %d, want %d", path, status, want);
}

static void test_statics(void)
{
    char base[] = "/tmp/mf-statics-XXXXXX", web[64], models[64];
    if (!mkdtemp(base)) {
        CHECKF(0, "a temporary folder for the static files");
        return;
    }
    snprintf(web, sizeof web, "%s/web", base);
    snprintf(models, sizeof models, "%s/models", base);
    CHECK(mkdir(web, 0700) == 0 && mkdir(models, 0700) == 0);
    CHECK(write_file(web, "index.html", INDEX, strlen(INDEX)) == 0);
    CHECK(write_file(web, "app.js", SCRIPT, strlen(SCRIPT)) == 0);
    CHECK(write_file(web, "anon.wasm", WASM, sizeof WASM) == 0);
    CHECK(write_file(web, "notes.xyz", "?", 1) == 0);
    CHECK(write_file(models, "landmarks.mfm", MODEL, sizeof MODEL) == 0);
    CHECK(write_file(base, "secret.txt", SECRET, strlen(SECRET)) == 0);

    /* The folders and paths are checked at mf_server_new, one cause named. */
    mf_status st;
    const char *problem;
    mf_server_config c = test_config(NULL);
    mf_server_static bad[2] = {{"/", web}, {"/models", models}};
    c.statics = bad;
    c.static_count = 2;
    const char *const BAD_PATHS[] = {"models", "/a/../b", "/a//b", "/a b", "/..", "/a?x", ""};
    for (size_t i = 0; i < sizeof BAD_PATHS / sizeof BAD_PATHS[0]; i++) {
        bad[1].url_path = BAD_PATHS[i];
        CHECKF(!mf_ws_server_new(&c, &ECHO, &st, &problem) && st == MF_E_INVALID_ARGUMENT &&
                   strstr(problem, "url_path"),
               "url path '%s' refused", BAD_PATHS[i]);
    }
    bad[1].url_path = "//";
    CHECK(!mf_ws_server_new(&c, &ECHO, &st, &problem) && st == MF_E_INVALID_ARGUMENT);
    bad[1].url_path = "/";
    CHECKF(!mf_ws_server_new(&c, &ECHO, &st, &problem) && st == MF_E_INVALID_ARGUMENT &&
               strcmp(problem, "static mounts' url paths must be distinct") == 0,
           "two mounts at /");
    bad[0].url_path = "/models/";
    bad[1].url_path = "/models";
    CHECK(!mf_ws_server_new(&c, &ECHO, &st, &problem) && st == MF_E_INVALID_ARGUMENT &&
          strstr(problem, "distinct"));
    bad[0].url_path = "/";
    bad[1].directory = "/no/such/folder";
    CHECKF(!mf_ws_server_new(&c, &ECHO, &st, &problem) && st == MF_E_IO &&
               strcmp(problem, "static directory: no such folder") == 0,
           "a folder that is not there: %s", st == MF_E_IO ? problem : "not MF_E_IO");
    char file[96];
    snprintf(file, sizeof file, "%s/secret.txt", base);
    bad[1].directory = file;
    CHECK(!mf_ws_server_new(&c, &ECHO, &st, &problem) && st == MF_E_IO &&
          strcmp(problem, "static directory: not a folder") == 0);
    CHECK(strcmp(mf_server_static_problem(&bad[1]), "static directory: not a folder") == 0);
    CHECK(mf_server_static_problem(&bad[0]) == NULL);
    c.static_count = MF_SERVER_MAX_STATICS + 1;
    CHECK(!mf_ws_server_new(&c, &ECHO, &st, &problem) && st == MF_E_INVALID_ARGUMENT &&
          strstr(problem, "statics"));

    /* Served: the page at /, the models at /models/, the socket on / too. */
    const mf_server_static statics[] = {{"/", web}, {"/models/", models}};
    c = test_config(NULL);
    c.log = NULL;
    c.statics = statics;
    c.static_count = 2;
    mf_server *server = mf_ws_server_new(&c, &ECHO, &st, &problem);
    CHECKF(server != NULL, "a server with statics: %s", problem ? problem : "");
    if (!server || mf_server_start(server) != MF_OK) {
        mf_server_free(server);
        remove_tree(base);
        return;
    }
    const int port = mf_server_port(server);
    check_file(port, "/", INDEX, strlen(INDEX), "text/html");
    check_file(port, "/index.html", INDEX, strlen(INDEX), "text/html");
    check_file(port, "/app.js", SCRIPT, strlen(SCRIPT), "text/javascript");
    check_file(port, "/anon.wasm", WASM, sizeof WASM, "application/wasm");
    check_file(port, "/models/landmarks.mfm", MODEL, sizeof MODEL, "application/octet-stream");
    check_file(port, "/app.js?v=2", SCRIPT, strlen(SCRIPT), "text/javascript");
    http_answer a;
    check_answer(port, "/missing.js", 404);
    check_answer(port, "/models/missing.mfm", 404);
    check_answer(port, "/notes.xyz", 415);
    /* Nothing outside the folders, however the path is spelled. */
    const char *const ESCAPES[] = {"/../secret.txt",         "/models/../../secret.txt",
                                   "/%2e%2e/secret.txt",     "/models/%2e%2e/%2e%2e/secret.txt",
                                   "/..%2fsecret.txt",       "/models/..%2f..%2fsecret.txt",
                                   "/%2E%2E%2Fsecret.txt",   "/./../secret.txt",
                                   "//../secret.txt",        "/models/..\\..\\secret.txt"};
    for (size_t i = 0; i < sizeof ESCAPES / sizeof ESCAPES[0]; i++) {
        const int status = http_get(port, ESCAPES[i], &a) == 0 ? a.status : -1;
        CHECKF(status != 200 && (status < 0 || !contains(a.body, a.body_size, SECRET)),
               "GET %s stays inside: status %d", ESCAPES[i], status);
    }
    /* What resolves inside a folder is served from it. */
    check_file(port, "/models/../app.js", SCRIPT, strlen(SCRIPT), "text/javascript");
    char buf[256];
    int fd = ws_connect(port, "?api_key=api-alpha&socket_key=sock-alpha", "");
    CHECKF(fd >= 0 && round_trip(fd, "beside the page", buf, sizeof buf) == 0 &&
               strcmp(buf, "beside the page") == 0,
           "the WebSocket upgrade on / with a mount on /");
    if (fd >= 0)
        close(fd);
    mf_server_free(server);

    /* Under no mount, a plain request is answered 400 as without statics. */
    c.statics = statics + 1;
    c.static_count = 1;
    server = mf_ws_server_new(&c, &ECHO, &st, NULL);
    if (server && mf_server_start(server) == MF_OK) {
        const int p2 = mf_server_port(server);
        check_answer(p2, "/index.html", 400);
        check_file(p2, "/models/landmarks.mfm", MODEL, sizeof MODEL, "application/octet-stream");
    } else {
        CHECKF(0, "a server with one mount");
    }
    mf_server_free(server);
    c.static_count = 0;
    server = mf_ws_server_new(&c, &ECHO, &st, NULL);
    if (server && mf_server_start(server) == MF_OK)
        check_answer(mf_server_port(server), "/", 400);
    mf_server_free(server);
    remove_tree(base);
}

void test_ws_server(void)
{
    test_config_checks();
    test_equal();
    test_transport_helpers();
    test_handler_ownership();
    test_sessions();
    test_backpressure();
    test_connection_caps();
    test_client();
    test_catch_up();
    test_threads();
    test_statics();
    /* The transport's rules again, with several service threads. */
    service_threads = 3;
    test_sessions();
    test_connection_caps();
    test_backpressure();
    test_catch_up();
    test_statics();
    service_threads = 1;
}
