/* What the WebSocket server (server.c) and client (client.c) both need:
 * one copy of each, so the two ends agree on the credentials' headers,
 * on what loopback is and on how a message buffer grows. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "ws.h"

double mf_ws_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

char *mf_ws_copy_string(const char *s)
{
    if (!s)
        return NULL;
    const size_t n = strlen(s) + 1;
    char *c = malloc(n);
    if (c)
        memcpy(c, s, n);
    return c;
}

mf_status mf_ws_buffer_reserve(mf_ws_buffer *buffer, size_t capacity)
{
    if (capacity <= buffer->capacity)
        return MF_OK;
    size_t grown = buffer->capacity ? buffer->capacity : 256;
    while (grown < capacity)
        grown *= 2;
    uint8_t *data = realloc(buffer->data, grown);
    if (!data)
        return MF_E_NO_MEMORY;
    buffer->data = data;
    buffer->capacity = grown;
    return MF_OK;
}

int mf_ws_equal(const char *given, const char *secret)
{
    const size_t n = strlen(secret), m = strlen(given);
    volatile unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(secret[i] ^ (i < m ? given[i] : 0));
    return diff == 0;
}

int mf_ws_host_is_loopback(const char *host)
{
    return strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 ||
           strncmp(host, "127.", 4) == 0;
}

int mf_ws_address_is_loopback(const struct sockaddr *address)
{
    if (address->sa_family == AF_INET) {
        const uint8_t *a = (const uint8_t *)&((const struct sockaddr_in *)address)->sin_addr;
        return a[0] == 127;
    }
    if (address->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)address)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return 0;
}
