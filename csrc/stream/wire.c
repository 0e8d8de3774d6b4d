/* The streaming protocol's messages (docs/protocol.md): msgpack-c packs
 * them into the caller's buffer; decoding is a strict reader over the
 * bytes in place. The reader never allocates and bounds-checks every read,
 * and a length prefix is only believed after it is compared with what the
 * caller's buffers hold and with the bytes left, so hostile input can
 * neither overrun nor make it allocate.
 */
#include <math.h>
#include <string.h>

#include <msgpack.h>

#include "mojofer_stream.h"

enum { LM_VALUES = 2 * MF_LANDMARKS, LM_BYTES = 4 * LM_VALUES, MAX_DEPTH = 16 };

/* ---- encoding ------------------------------------------------------------ */

typedef struct {
    uint8_t *buf;
    size_t capacity, size;
    int overflow;
} sink;

static int sink_write(void *data, const char *bytes, size_t n)
{
    sink *s = data;
    if (n > s->capacity - s->size) {
        s->overflow = 1;
        return -1;
    }
    memcpy(s->buf + s->size, bytes, n);
    s->size += n;
    return 0;
}

static void pack_key(msgpack_packer *pk, const char *key)
{
    msgpack_pack_str_with_body(pk, key, strlen(key));
}

static void pack_floats(msgpack_packer *pk, const float *v, int n)
{
    msgpack_pack_array(pk, (size_t)n);
    for (int i = 0; i < n; i++)
        msgpack_pack_float(pk, v[i]);
}

static void pack_header(msgpack_packer *pk, size_t keys, const char *type)
{
    msgpack_pack_map(pk, keys);
    pack_key(pk, "t");
    pack_key(pk, type);
}

static mf_status finish(const sink *s, size_t *written)
{
    *written = s->overflow ? 0 : s->size;
    return s->overflow ? MF_E_TOO_LARGE : MF_OK;
}

static void put_le32(uint8_t *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    p[0] = (uint8_t)u, p[1] = (uint8_t)(u >> 8), p[2] = (uint8_t)(u >> 16), p[3] = (uint8_t)(u >> 24);
}

static float get_le32(const uint8_t *p)
{
    const uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

mf_status mf_wire_encode_frame(uint64_t seq, double timestamp, const mf_keypoints *faces,
                               size_t count, uint8_t *buf, size_t capacity, size_t *written)
{
    if (written)
        *written = 0;
    if (!buf || !written || (count && !faces))
        return MF_E_INVALID_ARGUMENT;
    sink s = {buf, capacity, 0, 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &s, sink_write);
    pack_header(&pk, 4, "frame");
    pack_key(&pk, "seq");
    msgpack_pack_uint64(&pk, seq);
    pack_key(&pk, "ts");
    msgpack_pack_double(&pk, timestamp);
    pack_key(&pk, "faces");
    msgpack_pack_array(&pk, count);
    uint8_t lm[LM_BYTES];
    for (size_t i = 0; i < count && !s.overflow; i++) {
        const mf_keypoints *k = &faces[i];
        msgpack_pack_map(&pk, k->has_pose ? 3 : 2);
        pack_key(&pk, "id");
        msgpack_pack_int32(&pk, k->face_id);
        pack_key(&pk, "lm");
        for (int j = 0; j < LM_VALUES; j++)
            put_le32(lm + 4 * j, k->landmarks[j]);
        msgpack_pack_bin_with_body(&pk, lm, LM_BYTES);
        if (k->has_pose) {
            const float pose[3] = {k->pose.yaw, k->pose.pitch, k->pose.roll};
            pack_key(&pk, "pose");
            pack_floats(&pk, pose, 3);
        }
    }
    return finish(&s, written);
}

mf_status mf_wire_encode_estimate(uint64_t seq, double timestamp, const mf_estimate *faces,
                                  size_t count, const mf_estimate_event *events,
                                  size_t events_count, uint8_t *buf, size_t capacity,
                                  size_t *written)
{
    if (written)
        *written = 0;
    if (!buf || !written || (count && !faces) || (events_count && !events))
        return MF_E_INVALID_ARGUMENT;
    for (size_t i = 0; i < count; i++)
        if (!mf_engagement_name(faces[i].cues.engagement) || !mf_interaction_name(faces[i].cues.status))
            return MF_E_INVALID_ARGUMENT;
    for (size_t i = 0; i < events_count; i++)
        if (!mf_cue_kind_name(events[i].kind) || !mf_event_state_name(events[i].kind, events[i].from) ||
            !mf_event_state_name(events[i].kind, events[i].to))
            return MF_E_INVALID_ARGUMENT;
    sink s = {buf, capacity, 0, 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &s, sink_write);
    pack_header(&pk, 5, "estimate");
    pack_key(&pk, "seq");
    msgpack_pack_uint64(&pk, seq);
    pack_key(&pk, "ts");
    msgpack_pack_double(&pk, timestamp);
    pack_key(&pk, "faces");
    msgpack_pack_array(&pk, count);
    for (size_t i = 0; i < count && !s.overflow; i++) {
        const mf_estimate *e = &faces[i];
        const mf_expression *x = &e->expression;
        const float pose[3] = {e->pose.yaw, e->pose.pitch, e->pose.roll};
        const float social[3] = {x->amusement, x->surprise, x->confusion};
        msgpack_pack_map(&pk, 9);
        pack_key(&pk, "id");
        msgpack_pack_int32(&pk, e->face_id);
        pack_key(&pk, "visible");
        e->visible ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
        pack_key(&pk, "pose");
        pack_floats(&pk, pose, 3);
        pack_key(&pk, "emotions");
        pack_floats(&pk, x->emotions, MF_EMOTIONS);
        pack_key(&pk, "social");
        pack_floats(&pk, social, 3);
        pack_key(&pk, "au");
        pack_floats(&pk, x->action_units, MF_ACTION_UNITS);
        pack_key(&pk, "attention");
        msgpack_pack_float(&pk, (float)e->cues.attention);
        pack_key(&pk, "engagement");
        pack_key(&pk, mf_engagement_name(e->cues.engagement));
        pack_key(&pk, "status");
        pack_key(&pk, mf_interaction_name(e->cues.status));
    }
    pack_key(&pk, "events");
    msgpack_pack_array(&pk, events_count);
    for (size_t i = 0; i < events_count && !s.overflow; i++) {
        const mf_estimate_event *e = &events[i];
        msgpack_pack_array(&pk, 5);
        msgpack_pack_double(&pk, e->timestamp);
        msgpack_pack_int32(&pk, e->face_id);
        pack_key(&pk, mf_cue_kind_name(e->kind));
        pack_key(&pk, mf_event_state_name(e->kind, e->from));
        pack_key(&pk, mf_event_state_name(e->kind, e->to));
    }
    return finish(&s, written);
}

/* Bytes of the longest prefix of `reason` of at most MF_WIRE_MAX_REASON
 * bytes that does not cut a UTF-8 sequence. */
static size_t reason_length(const char *reason)
{
    size_t n = strlen(reason);
    if (n <= MF_WIRE_MAX_REASON)
        return n;
    n = MF_WIRE_MAX_REASON;
    while (n > 0 && ((uint8_t)reason[n] & 0xC0) == 0x80) /* reason[n] continues a sequence */
        n--;
    return n;
}

mf_status mf_wire_encode_error(const mf_wire_error *error, uint8_t *buf, size_t capacity,
                               size_t *written)
{
    if (written)
        *written = 0;
    if (!error || !buf || !written)
        return MF_E_INVALID_ARGUMENT;
    const char *reason = error->reason ? error->reason : "";
    sink s = {buf, capacity, 0, 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &s, sink_write);
    pack_header(&pk, 4, "error");
    pack_key(&pk, "seq");
    error->has_seq ? msgpack_pack_uint64(&pk, error->seq) : msgpack_pack_nil(&pk);
    pack_key(&pk, "code");
    msgpack_pack_int32(&pk, error->code);
    pack_key(&pk, "reason");
    msgpack_pack_str_with_body(&pk, reason, reason_length(reason));
    return finish(&s, written);
}

/* ---- decoding ------------------------------------------------------------ */

typedef struct {
    const uint8_t *p, *end;
    mf_wire_error *error;
} reader;

/* Records the first refusal (later ones only follow from it); returns 0. */
static int refuse(reader *r, int32_t code, const char *reason)
{
    if (r->error->code == 0) {
        r->error->code = code;
        r->error->reason = reason;
    }
    return 0;
}

static int truncated(reader *r)
{
    return refuse(r, MF_WIRE_E_MALFORMED, "the message ends inside a value");
}

static int wrong(reader *r, const char *reason)
{
    return refuse(r, MF_WIRE_E_SCHEMA, reason);
}

static size_t left(const reader *r)
{
    return (size_t)(r->end - r->p);
}

static uint64_t big_endian(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Reads a length prefix of n bytes after the type byte. */
static int length(reader *r, int n, uint32_t *out)
{
    if (left(r) < (size_t)n + 1)
        return truncated(r);
    *out = (uint32_t)big_endian(r->p + 1, n);
    r->p += 1 + n;
    return 1;
}

/* Container headers: fix, 16 and 32 bit. */
static int read_container(reader *r, uint8_t fix, uint8_t fix_mask_bits, uint8_t b16, uint32_t *n,
                          const char *reason)
{
    if (!left(r))
        return truncated(r);
    const uint8_t b = *r->p;
    if ((b & (uint8_t)~fix_mask_bits) == fix) {
        *n = b & fix_mask_bits;
        r->p++;
        return 1;
    }
    if (b == b16)
        return length(r, 2, n);
    if (b == b16 + 1)
        return length(r, 4, n);
    return b == 0xc1 ? refuse(r, MF_WIRE_E_MALFORMED, "the byte 0xc1 is no msgpack") : wrong(r, reason);
}

static int read_map(reader *r, uint32_t *n, const char *reason)
{
    return read_container(r, 0x80, 0x0f, 0xde, n, reason);
}

static int read_array(reader *r, uint32_t *n, const char *reason)
{
    return read_container(r, 0x90, 0x0f, 0xdc, n, reason);
}

/* A string's bytes, in place. */
static int read_str(reader *r, const uint8_t **s, uint32_t *n, const char *reason)
{
    if (!left(r))
        return truncated(r);
    const uint8_t b = *r->p;
    if ((b & 0xe0) == 0xa0) {
        *n = b & 0x1f;
        r->p++;
    } else if (b == 0xd9 || b == 0xda || b == 0xdb) {
        if (!length(r, b == 0xd9 ? 1 : b == 0xda ? 2 : 4, n))
            return 0;
    } else {
        return b == 0xc1 ? refuse(r, MF_WIRE_E_MALFORMED, "the byte 0xc1 is no msgpack") : wrong(r, reason);
    }
    if (left(r) < *n)
        return truncated(r);
    *s = r->p;
    r->p += *n;
    return 1;
}

static int str_is(const uint8_t *s, uint32_t n, const char *name)
{
    return strlen(name) == n && memcmp(s, name, n) == 0;
}

/* Any integer or float as a double; *integer tells which it was, and
 * *u / *i hold an integer exactly (u for >= 0). */
typedef struct {
    double value;
    int integer, negative;
    uint64_t u;
    int64_t i;
} number;

static int read_number(reader *r, number *v, const char *reason)
{
    if (!left(r))
        return truncated(r);
    const uint8_t b = *r->p;
    memset(v, 0, sizeof *v);
    v->integer = 1;
    if (b <= 0x7f) {
        v->u = b, v->value = b, r->p++;
        return 1;
    }
    if (b >= 0xe0) {
        v->i = (int8_t)b, v->negative = 1, v->value = (double)v->i, r->p++;
        return 1;
    }
    int n;
    switch (b) {
    case 0xca: case 0xcb: {
        n = b == 0xca ? 4 : 8;
        if (left(r) < (size_t)n + 1)
            return truncated(r);
        const uint64_t bits = big_endian(r->p + 1, n);
        if (n == 4) {
            const uint32_t u = (uint32_t)bits;
            float f;
            memcpy(&f, &u, sizeof f);
            v->value = f;
        } else {
            memcpy(&v->value, &bits, sizeof v->value);
        }
        v->integer = 0;
        r->p += 1 + n;
        return 1;
    }
    case 0xcc: case 0xcd: case 0xce: case 0xcf:
        n = 1 << (b - 0xcc);
        if (left(r) < (size_t)n + 1)
            return truncated(r);
        v->u = big_endian(r->p + 1, n), v->value = (double)v->u;
        r->p += 1 + n;
        return 1;
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        n = 1 << (b - 0xd0);
        if (left(r) < (size_t)n + 1)
            return truncated(r);
        const uint64_t raw = big_endian(r->p + 1, n);
        const int shift = 64 - 8 * n;
        /* sign-extend through the unsigned type: no signed overflow */
        const uint64_t extended = (raw << shift & 0x8000000000000000u) ? raw | ~(UINT64_MAX >> shift) : raw;
        memcpy(&v->i, &extended, sizeof v->i);
        if (v->i >= 0)
            v->u = (uint64_t)v->i;
        else
            v->negative = 1;
        v->value = (double)v->i;
        r->p += 1 + n;
        return 1;
    }
    default:
        return b == 0xc1 ? refuse(r, MF_WIRE_E_MALFORMED, "the byte 0xc1 is no msgpack") : wrong(r, reason);
    }
}

static int read_int32(reader *r, int32_t *out, const char *reason)
{
    number v;
    if (!read_number(r, &v, reason))
        return 0;
    if (!v.integer || (v.negative ? v.i < INT32_MIN : v.u > INT32_MAX))
        return wrong(r, reason);
    *out = v.negative ? (int32_t)v.i : (int32_t)v.u;
    return 1;
}

static int read_uint64(reader *r, uint64_t *out, const char *reason)
{
    number v;
    if (!read_number(r, &v, reason))
        return 0;
    if (!v.integer || v.negative)
        return wrong(r, reason);
    *out = v.u;
    return 1;
}

static int read_float(reader *r, float *out, const char *reason)
{
    number v;
    if (!read_number(r, &v, reason))
        return 0;
    *out = (float)v.value;
    return 1;
}

/* An array of exactly n numbers as floats. */
static int read_floats(reader *r, float *out, uint32_t n, const char *reason)
{
    uint32_t len;
    if (!read_array(r, &len, reason))
        return 0;
    if (len != n)
        return wrong(r, reason);
    for (uint32_t i = 0; i < n; i++)
        if (!read_float(r, &out[i], reason))
            return 0;
    return 1;
}

static int read_bool(reader *r, int32_t *out, const char *reason)
{
    if (!left(r))
        return truncated(r);
    if (*r->p != 0xc2 && *r->p != 0xc3)
        return wrong(r, reason);
    *out = *r->p++ == 0xc3;
    return 1;
}

static int is_nil(reader *r)
{
    if (left(r) && *r->p == 0xc0) {
        r->p++;
        return 1;
    }
    return 0;
}

/* Skips one value of any type, nested at most MAX_DEPTH deep. Every
 * element takes at least one byte, so the loop ends with the input. */
static int skip(reader *r, int depth)
{
    if (depth > MAX_DEPTH)
        return refuse(r, MF_WIRE_E_MALFORMED, "values nested too deep");
    if (!left(r))
        return truncated(r);
    const uint8_t b = *r->p;
    uint32_t n;
    if ((b & 0xf0) == 0x80 || b == 0xde || b == 0xdf || (b & 0xf0) == 0x90 || b == 0xdc || b == 0xdd) {
        const int map = (b & 0xf0) == 0x80 || b == 0xde || b == 0xdf;
        if (!(map ? read_map(r, &n, "") : read_array(r, &n, "")))
            return 0;
        for (uint64_t i = 0; i < (uint64_t)n * (map ? 2 : 1); i++)
            if (!skip(r, depth + 1))
                return 0;
        return 1;
    }
    if ((b & 0xe0) == 0xa0 || b == 0xd9 || b == 0xda || b == 0xdb) {
        const uint8_t *s;
        return read_str(r, &s, &n, "");
    }
    size_t body; /* bytes after the type byte and length */
    switch (b) {
    case 0xc0: case 0xc2: case 0xc3:
        r->p++;
        return 1;
    case 0xc4: case 0xc5: case 0xc6: /* bin */
        if (!length(r, 1 << (b - 0xc4), &n))
            return 0;
        body = n;
        break;
    case 0xc7: case 0xc8: case 0xc9: /* ext: a type byte, then the data */
        if (!length(r, 1 << (b - 0xc7), &n))
            return 0;
        body = (size_t)n + 1;
        break;
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: /* fixext */
        r->p++;
        body = 1 + ((size_t)1 << (b - 0xd4));
        break;
    case 0xc1: return refuse(r, MF_WIRE_E_MALFORMED, "the byte 0xc1 is no msgpack");
    default: {
        number v;
        return read_number(r, &v, "");
    }
    }
    if (left(r) < body)
        return truncated(r);
    r->p += body;
    return 1;
}

/* The top-level map: its entry count, and "t" checked to be `type`
 * without moving the reader. */
static int open_message(reader *r, const char *type, uint32_t *keys)
{
    mf_wire_type found;
    if (mf_wire_peek(r->p, left(r), &found, r->error) != MF_OK)
        return 0;
    if (strcmp(type, found == MF_WIRE_FRAME ? "frame" : found == MF_WIRE_ESTIMATE ? "estimate" : "error"))
        return refuse(r, MF_WIRE_E_TYPE, "a message of another type than this end accepts");
    return read_map(r, keys, "a message must be a map");
}

/* The key of a map entry among `names` (bit i of *seen for names[i]);
 * refuses unknown and repeated keys. Returns the index + 1, or 0. */
static int read_key(reader *r, const char *const *names, int count, uint32_t *seen)
{
    const uint8_t *s;
    uint32_t n;
    if (!read_str(r, &s, &n, "map keys must be strings"))
        return 0;
    for (int i = 0; i < count; i++)
        if (str_is(s, n, names[i])) {
            if (*seen & 1u << i)
                return wrong(r, "a key is repeated");
            *seen |= 1u << i;
            return i + 1;
        }
    return wrong(r, "an unknown key");
}

static int skip_type(reader *r)
{
    const uint8_t *s;
    uint32_t n;
    return read_str(r, &s, &n, "\"t\" must be a string"); /* checked by open_message */
}

static int end_message(reader *r)
{
    return r->p == r->end ? 1 : refuse(r, MF_WIRE_E_MALFORMED, "bytes after the message's map");
}

static mf_status result(const reader *r)
{
    switch (r->error->code) {
    case 0: return MF_OK;
    case MF_WIRE_E_TOO_MANY: return MF_E_TOO_LARGE;
    default: return MF_E_INVALID_ARGUMENT;
    }
}

static int start(reader *r, const uint8_t *data, size_t size, mf_wire_error *error)
{
    *error = (mf_wire_error){0, NULL, 0, 0};
    /* NULL + 0 is undefined too: the end is computed only from a buffer */
    r->p = r->end = data, r->error = error;
    if (!data)
        return refuse(r, MF_WIRE_E_MALFORMED, "no message");
    r->end = data + size;
    return 1;
}

mf_status mf_wire_peek(const uint8_t *data, size_t size, mf_wire_type *type, mf_wire_error *error)
{
    mf_wire_error ignored;
    reader r;
    if (!type)
        return MF_E_INVALID_ARGUMENT;
    if (!start(&r, data, size, error ? error : &ignored))
        return result(&r);
    uint32_t n;
    if (!read_map(&r, &n, "a message must be a map"))
        return result(&r);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *key, *value;
        uint32_t key_n, value_n;
        if (!read_str(&r, &key, &key_n, "map keys must be strings"))
            return result(&r);
        if (!str_is(key, key_n, "t")) {
            if (!skip(&r, 1))
                return result(&r);
            continue;
        }
        if (!read_str(&r, &value, &value_n, "\"t\" must be a string"))
            return result(&r);
        if (str_is(value, value_n, "frame"))
            *type = MF_WIRE_FRAME;
        else if (str_is(value, value_n, "estimate"))
            *type = MF_WIRE_ESTIMATE;
        else if (str_is(value, value_n, "error"))
            *type = MF_WIRE_ERROR;
        else
            refuse(&r, MF_WIRE_E_TYPE, "\"t\" names no message of mojofer.v1");
        return result(&r);
    }
    wrong(&r, "the message has no \"t\"");
    return result(&r);
}

mf_status mf_wire_peek_seq(const uint8_t *data, size_t size, int32_t *has_seq, uint64_t *seq,
                           mf_wire_error *error)
{
    mf_wire_error ignored;
    reader r;
    if (!has_seq || !seq)
        return MF_E_INVALID_ARGUMENT;
    *has_seq = 0;
    if (!start(&r, data, size, error ? error : &ignored))
        return result(&r);
    uint32_t n;
    if (!read_map(&r, &n, "a message must be a map"))
        return result(&r);
    int found = 0;
    uint64_t value = 0;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *key;
        uint32_t key_n;
        if (!read_str(&r, &key, &key_n, "map keys must be strings"))
            return result(&r);
        /* a number that read_seq would take (an integer, not negative, in
         * any encoding) is a seq; any other value is skipped, the map still
         * read to its end */
        const int number_next = left(&r) && (*r.p <= 0x7f || *r.p >= 0xe0 ||
                                             (*r.p >= 0xca && *r.p <= 0xd3));
        if (str_is(key, key_n, "seq") && number_next && !found) {
            number v;
            if (!read_number(&r, &v, ""))
                return result(&r);
            found = v.integer && !v.negative;
            value = v.u;
        } else if (!skip(&r, 1)) {
            return result(&r);
        }
    }
    if (!end_message(&r))
        return result(&r);
    *has_seq = found;
    if (found)
        *seq = value;
    return MF_OK;
}

static const char *const FRAME_KEYS[] = {"t", "seq", "ts", "faces"};
static const char *const FACE_KEYS[] = {"id", "lm", "pose"};

static int read_landmarks(reader *r, float *out)
{
    static const char *why = "\"lm\" must be a bin of 544 bytes (136 little-endian float32) or an array of 136 numbers";
    if (left(r) && (*r->p == 0xc4 || *r->p == 0xc5 || *r->p == 0xc6)) {
        uint32_t n;
        if (!length(r, 1 << (*r->p - 0xc4), &n))
            return 0;
        if (n != LM_BYTES)
            return wrong(r, why);
        if (left(r) < LM_BYTES)
            return truncated(r);
        for (int j = 0; j < LM_VALUES; j++)
            out[j] = get_le32(r->p + 4 * j);
        r->p += LM_BYTES;
        return 1;
    }
    return read_floats(r, out, LM_VALUES, why);
}

static int read_keypoints(reader *r, mf_keypoints *k)
{
    uint32_t keys, seen = 0;
    memset(k, 0, sizeof *k);
    if (!read_map(r, &keys, "each face must be a map"))
        return 0;
    for (uint32_t i = 0; i < keys; i++) {
        float pose[3];
        switch (read_key(r, FACE_KEYS, 3, &seen)) {
        case 0: return 0;
        case 1:
            if (!read_int32(r, &k->face_id, "\"id\" must be an int32"))
                return 0;
            break;
        case 2:
            if (!read_landmarks(r, k->landmarks))
                return 0;
            break;
        case 3:
            if (is_nil(r))
                break;
            if (!read_floats(r, pose, 3, "\"pose\" must be [yaw, pitch, roll] in degrees or nil"))
                return 0;
            k->has_pose = 1;
            k->pose = (mf_pose){pose[0], pose[1], pose[2]};
            break;
        }
    }
    return (seen & 3) == 3 ? 1 : wrong(r, "each face needs \"id\" and \"lm\"");
}

/* A message's "seq", remembered in the error so a refusal can name it. */
static int read_seq(reader *r, uint64_t *seq)
{
    if (!read_uint64(r, seq, "\"seq\" must be an unsigned integer"))
        return 0;
    r->error->has_seq = 1;
    r->error->seq = *seq;
    return 1;
}

static int read_time(reader *r, double *timestamp)
{
    number ts;
    if (!read_number(r, &ts, "\"ts\" must be a number of seconds"))
        return 0;
    *timestamp = ts.value;
    return 1;
}

/* An array's length, refused with MF_WIRE_E_TOO_MANY beyond `capacity`. */
static int read_items(reader *r, uint32_t *n, size_t capacity, const char *reason,
                      const char *too_many)
{
    if (!read_array(r, n, reason))
        return 0;
    return *n <= capacity ? 1 : refuse(r, MF_WIRE_E_TOO_MANY, too_many);
}

static mf_status decode_frame(reader *rd, uint64_t *seq, double *timestamp, mf_keypoints *faces,
                              size_t capacity, size_t *count)
{
    reader r = *rd;
    uint32_t keys, seen = 0, n;
    if (!open_message(&r, "frame", &keys))
        return result(&r);
    for (uint32_t i = 0; i < keys; i++) {
        int ok = 1;
        switch (read_key(&r, FRAME_KEYS, 4, &seen)) {
        case 0: return result(&r);
        case 1: ok = skip_type(&r); break;
        case 2: ok = read_seq(&r, seq); break;
        case 3:
            ok = read_time(&r, timestamp) &&
                 (isfinite(*timestamp) || refuse(&r, MF_WIRE_E_INVALID, "\"ts\" must be finite"));
            break;
        case 4:
            ok = read_items(&r, &n, capacity, "\"faces\" must be an array",
                            "more faces than the server takes in one frame");
            for (uint32_t j = 0; ok && j < n; j++)
                ok = read_keypoints(&r, &faces[j]);
            *count = ok ? n : 0;
            break;
        }
        if (!ok)
            return result(&r);
    }
    if (seen != 0xf)
        wrong(&r, "a frame needs \"t\", \"seq\", \"ts\" and \"faces\"");
    else
        end_message(&r);
    return result(&r);
}

mf_status mf_wire_decode_frame(const uint8_t *data, size_t size, uint64_t *seq, double *timestamp,
                               mf_keypoints *faces, size_t capacity, size_t *count,
                               mf_wire_error *error)
{
    mf_wire_error ignored;
    reader r;
    if (!seq || !timestamp || !count || (capacity && !faces))
        return MF_E_INVALID_ARGUMENT;
    *count = 0;
    if (!start(&r, data, size, error ? error : &ignored))
        return result(&r);
    const mf_status st = decode_frame(&r, seq, timestamp, faces, capacity, count);
    if (st != MF_OK)
        *count = 0;
    return st;
}

static const char *const ESTIMATE_KEYS[] = {"t", "seq", "ts", "faces", "events"};
static const char *const ESTIMATE_FACE_KEYS[] = {"id", "visible", "pose", "emotions", "social",
                                                 "au", "attention", "engagement", "status"};

/* A state name of an event of `kind` (an mf_cue_kind), or with kind -1 a
 * cue kind's name: the names are the C core's own, listed until NULL. */
static const char *state_name(int32_t kind, int32_t value)
{
    return kind < 0 ? mf_cue_kind_name(value) : mf_event_state_name(kind, value);
}

static int read_name(reader *r, int32_t kind, int32_t *out, const char *reason)
{
    const uint8_t *s;
    uint32_t n;
    if (!read_str(r, &s, &n, reason))
        return 0;
    const char *name;
    for (int32_t i = 0; (name = state_name(kind, i)); i++)
        if (str_is(s, n, name)) {
            *out = i;
            return 1;
        }
    return wrong(r, reason);
}

static int read_estimate(reader *r, mf_estimate *e)
{
    uint32_t keys, seen = 0;
    memset(e, 0, sizeof *e);
    if (!read_map(r, &keys, "each face must be a map"))
        return 0;
    mf_expression *x = &e->expression;
    for (uint32_t i = 0; i < keys; i++) {
        float v[3] = {0.0f, 0.0f, 0.0f};
        int ok = 1;
        switch (read_key(r, ESTIMATE_FACE_KEYS, 9, &seen)) {
        case 0: return 0;
        case 1: ok = read_int32(r, &e->face_id, "\"id\" must be an int32"); break;
        case 2: ok = read_bool(r, &e->visible, "\"visible\" must be a bool"); break;
        case 3:
            ok = read_floats(r, v, 3, "\"pose\" must be 3 numbers");
            e->pose = (mf_pose){v[0], v[1], v[2]};
            break;
        case 4: ok = read_floats(r, x->emotions, MF_EMOTIONS, "\"emotions\" must be 7 numbers"); break;
        case 5:
            ok = read_floats(r, v, 3, "\"social\" must be 3 numbers");
            x->amusement = v[0], x->surprise = v[1], x->confusion = v[2];
            break;
        case 6: ok = read_floats(r, x->action_units, MF_ACTION_UNITS, "\"au\" must be 9 numbers"); break;
        case 7:
            ok = read_float(r, v, "\"attention\" must be a number");
            e->cues.attention = v[0];
            break;
        case 8:
            ok = read_name(r, MF_CUE_ENGAGEMENT, &e->cues.engagement,
                           "\"engagement\" must name an engagement phase");
            break;
        case 9:
            ok = read_name(r, MF_CUE_INTERACTION, &e->cues.status,
                           "\"status\" must name an interaction status");
            break;
        }
        if (!ok)
            return 0;
    }
    return seen == 0x1ff ? 1 : wrong(r, "an estimated face lacks a key");
}

static int read_event(reader *r, mf_estimate_event *e)
{
    static const char *why = "each event must be [ts, id, kind, from, to]";
    uint32_t n;
    number ts;
    if (!read_array(r, &n, why))
        return 0;
    if (n != 5)
        return wrong(r, why);
    if (!read_number(r, &ts, why) || !read_int32(r, &e->face_id, why) ||
        !read_name(r, -1, &e->kind, why))
        return 0;
    e->timestamp = ts.value;
    return read_name(r, e->kind, &e->from, why) && read_name(r, e->kind, &e->to, why);
}

static mf_status decode_estimate(reader *rd, uint64_t *seq, double *timestamp, mf_estimate *faces,
                                 size_t capacity, size_t *count, mf_estimate_event *events,
                                 size_t events_capacity, size_t *events_count)
{
    reader r = *rd;
    uint32_t keys, seen = 0, n;
    if (!open_message(&r, "estimate", &keys))
        return result(&r);
    for (uint32_t i = 0; i < keys; i++) {
        int ok = 1;
        switch (read_key(&r, ESTIMATE_KEYS, 5, &seen)) {
        case 0: return result(&r);
        case 1: ok = skip_type(&r); break;
        case 2: ok = read_seq(&r, seq); break;
        case 3: ok = read_time(&r, timestamp); break;
        case 4:
            ok = read_items(&r, &n, capacity, "\"faces\" must be an array",
                            "more faces than the buffer holds");
            for (uint32_t j = 0; ok && j < n; j++)
                ok = read_estimate(&r, &faces[j]);
            *count = ok ? n : 0;
            break;
        case 5:
            ok = read_items(&r, &n, events_capacity, "\"events\" must be an array",
                            "more events than the buffer holds");
            for (uint32_t j = 0; ok && j < n; j++)
                ok = read_event(&r, &events[j]);
            *events_count = ok ? n : 0;
            break;
        }
        if (!ok)
            return result(&r);
    }
    if (seen != 0x1f)
        wrong(&r, "an estimate needs \"t\", \"seq\", \"ts\", \"faces\" and \"events\"");
    else
        end_message(&r);
    return result(&r);
}

mf_status mf_wire_decode_estimate(const uint8_t *data, size_t size, uint64_t *seq,
                                  double *timestamp, mf_estimate *faces, size_t capacity,
                                  size_t *count, mf_estimate_event *events, size_t events_capacity,
                                  size_t *events_count, mf_wire_error *error)
{
    mf_wire_error ignored;
    reader r;
    if (!seq || !timestamp || !count || !events_count || (capacity && !faces) ||
        (events_capacity && !events))
        return MF_E_INVALID_ARGUMENT;
    *count = *events_count = 0;
    if (!start(&r, data, size, error ? error : &ignored))
        return result(&r);
    const mf_status st = decode_estimate(&r, seq, timestamp, faces, capacity, count, events,
                                         events_capacity, events_count);
    if (st != MF_OK)
        *count = *events_count = 0;
    return st;
}

static const char *const ERROR_KEYS[] = {"t", "seq", "code", "reason"};

mf_status mf_wire_decode_error(const uint8_t *data, size_t size, int32_t *has_seq, uint64_t *seq,
                               int32_t *code, char *reason, size_t reason_capacity,
                               mf_wire_error *error)
{
    mf_wire_error ignored;
    reader r;
    if (!has_seq || !seq || !code || !reason || reason_capacity < MF_WIRE_MAX_REASON + 1)
        return MF_E_INVALID_ARGUMENT;
    *reason = '\0';
    *has_seq = 0;
    if (!start(&r, data, size, error ? error : &ignored))
        return result(&r);
    uint32_t keys, seen = 0, n;
    const uint8_t *s;
    if (!open_message(&r, "error", &keys))
        return result(&r);
    for (uint32_t i = 0; i < keys; i++) {
        int ok = 1;
        switch (read_key(&r, ERROR_KEYS, 4, &seen)) {
        case 0: return result(&r);
        case 1: ok = skip_type(&r); break;
        case 2:
            if (!is_nil(&r))
                ok = read_uint64(&r, seq, "\"seq\" must be an unsigned integer or nil") && (*has_seq = 1);
            break;
        case 3: ok = read_int32(&r, code, "\"code\" must be an int32"); break;
        case 4:
            ok = read_str(&r, &s, &n, "\"reason\" must be a string");
            if (ok && n > MF_WIRE_MAX_REASON)
                ok = wrong(&r, "\"reason\" is longer than 256 bytes");
            if (ok) {
                memcpy(reason, s, n);
                reason[n] = '\0';
            }
            break;
        }
        if (!ok)
            return result(&r);
    }
    if (seen != 0xf)
        wrong(&r, "an error needs \"t\", \"seq\", \"code\" and \"reason\"");
    else
        end_message(&r);
    return result(&r);
}
