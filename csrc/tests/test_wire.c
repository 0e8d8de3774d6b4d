/* The protocol's messages: round trips, the strict decoder's refusals with
 * their codes, and hostile bytes (every truncation, every single-byte
 * change, random bytes, lying length prefixes) that must give a clear
 * refusal and never a crash. Messages that msgpack-c does not make for us
 * are packed by hand with its packer. */
#include <math.h>
#include <string.h>

#include <msgpack.h>

#include "harness.h"
#include "mojofer_stream.h"

enum { FACES = 3, EVENTS = 4, BUF = 8192 };

static mf_keypoints keypoints(int32_t id, int with_pose)
{
    mf_keypoints k;
    memset(&k, 0, sizeof k);
    k.face_id = id;
    for (int i = 0; i < 2 * MF_LANDMARKS; i++)
        k.landmarks[i] = 100.0f + 0.37f * (float)i * ((float)id + 1.0f) - (i % 3 == 0 ? 1e-3f : 0.0f);
    k.has_pose = with_pose;
    if (with_pose)
        k.pose = (mf_pose){12.5f, -3.25f, 1.0f};
    return k;
}

static void test_frame_round_trip(void)
{
    const mf_keypoints in[FACES] = {keypoints(4, 0), keypoints(-7, 1), keypoints(INT32_MAX, 0)};
    uint8_t buf[BUF];
    size_t n;
    CHECK_STATUS(mf_wire_encode_frame(42, 1.25, in, FACES, buf, sizeof buf, &n), MF_OK);
    CHECK(n > 0 && n <= MF_WIRE_FRAME_BYTES(FACES));
    mf_keypoints out[FACES];
    uint64_t seq = 0;
    double ts = 0;
    size_t count = 0;
    mf_wire_error err;
    mf_wire_type type = 0;
    CHECK_STATUS(mf_wire_peek(buf, n, &type, &err), MF_OK);
    CHECK(type == MF_WIRE_FRAME);
    CHECK_STATUS(mf_wire_decode_frame(buf, n, &seq, &ts, out, FACES, &count, &err), MF_OK);
    CHECK(seq == 42 && ts == 1.25 && count == FACES && err.code == 0);
    CHECK(memcmp(in, out, sizeof in) == 0);
    /* too small a buffer, too few faces */
    CHECK_STATUS(mf_wire_encode_frame(42, 1.25, in, FACES, buf, 100, &n), MF_E_TOO_LARGE);
    CHECK(n == 0);
    CHECK_STATUS(mf_wire_encode_frame(42, 1.25, in, FACES, buf, sizeof buf, &n), MF_OK);
    CHECK_STATUS(mf_wire_decode_frame(buf, n, &seq, &ts, out, 2, &count, &err), MF_E_TOO_LARGE);
    CHECK(err.code == MF_WIRE_E_TOO_MANY && err.has_seq && err.seq == 42 && count == 0);
    /* an empty frame */
    CHECK_STATUS(mf_wire_encode_frame(0, 0.0, NULL, 0, buf, sizeof buf, &n), MF_OK);
    CHECK_STATUS(mf_wire_decode_frame(buf, n, &seq, &ts, out, FACES, &count, &err), MF_OK);
    CHECK(count == 0);
}

/* A frame packed by hand: "lm" as an array of numbers (ints, float32 and
 * float64 mixed), keys in another order, "pose" nil. */
static size_t packed_frame(uint8_t *buf, size_t capacity, int variant);

typedef struct {
    uint8_t *buf;
    size_t capacity, size;
} fixed;

static int fixed_write(void *data, const char *bytes, size_t n)
{
    fixed *f = data;
    if (n > f->capacity - f->size)
        return -1;
    memcpy(f->buf + f->size, bytes, n);
    f->size += n;
    return 0;
}

static void key(msgpack_packer *pk, const char *k)
{
    msgpack_pack_str_with_body(pk, k, strlen(k));
}

/* variant 0: valid; 1: an unknown key; 2: "lm" of 135 numbers; 3: "id" a
 * string; 4: "seq" negative; 5: "ts" NaN; 6: a repeated key; 7: no "ts";
 * 8: "t" "estimate"; 9: "t" "hello"; 10: "id" beyond int32 */
static size_t packed_frame(uint8_t *buf, size_t capacity, int variant)
{
    fixed f = {buf, capacity, 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &f, fixed_write);
    msgpack_pack_map(&pk, variant == 1 || variant == 6 ? 5 : variant == 7 ? 3 : 4);
    key(&pk, "faces");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 3);
    key(&pk, "pose");
    msgpack_pack_nil(&pk);
    key(&pk, "lm");
    const int values = variant == 2 ? 135 : 2 * MF_LANDMARKS;
    msgpack_pack_array(&pk, (size_t)values);
    for (int i = 0; i < values; i++) {
        if (i % 3 == 0)
            msgpack_pack_int32(&pk, 100 + i);
        else if (i % 3 == 1)
            msgpack_pack_float(&pk, 100.5f + (float)i);
        else
            msgpack_pack_double(&pk, 100.25 + i);
    }
    key(&pk, "id");
    if (variant == 3)
        key(&pk, "seven");
    else if (variant == 10)
        msgpack_pack_int64(&pk, (int64_t)INT32_MAX + 1);
    else
        msgpack_pack_int32(&pk, 7);
    key(&pk, "seq");
    variant == 4 ? msgpack_pack_int32(&pk, -1) : msgpack_pack_uint64(&pk, UINT64_MAX);
    if (variant != 7) {
        key(&pk, "ts");
        msgpack_pack_double(&pk, variant == 5 ? NAN : 3.5);
    }
    key(&pk, "t");
    key(&pk, variant == 8 ? "estimate" : variant == 9 ? "hello" : "frame");
    if (variant == 1) {
        key(&pk, "extra");
        msgpack_pack_true(&pk);
    }
    if (variant == 6) {
        key(&pk, "ts");
        msgpack_pack_double(&pk, 3.5);
    }
    return f.size;
}

static void test_frame_by_hand(void)
{
    uint8_t buf[BUF];
    mf_keypoints out[FACES];
    uint64_t seq;
    double ts;
    size_t count, n = packed_frame(buf, sizeof buf, 0);
    mf_wire_error err;
    CHECK_STATUS(mf_wire_decode_frame(buf, n, &seq, &ts, out, FACES, &count, &err), MF_OK);
    CHECK(count == 1 && seq == UINT64_MAX && ts == 3.5 && out[0].face_id == 7 && !out[0].has_pose);
    CHECK(out[0].landmarks[0] == 100.0f && out[0].landmarks[1] == 101.5f && out[0].landmarks[2] == 102.25f);
    static const struct {
        int variant;
        int32_t code;
    } refusals[] = {{1, MF_WIRE_E_SCHEMA}, {2, MF_WIRE_E_SCHEMA}, {3, MF_WIRE_E_SCHEMA},
                    {4, MF_WIRE_E_SCHEMA}, {5, MF_WIRE_E_INVALID}, {6, MF_WIRE_E_SCHEMA},
                    {7, MF_WIRE_E_SCHEMA}, {8, MF_WIRE_E_TYPE},    {9, MF_WIRE_E_TYPE},
                    {10, MF_WIRE_E_SCHEMA}};
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        n = packed_frame(buf, sizeof buf, refusals[i].variant);
        const mf_status st = mf_wire_decode_frame(buf, n, &seq, &ts, out, FACES, &count, &err);
        CHECKF(st == MF_E_INVALID_ARGUMENT && err.code == refusals[i].code && err.reason && count == 0,
               "variant %d: status %d, code %d (%s)", refusals[i].variant, (int)st, (int)err.code,
               err.reason ? err.reason : "no reason");
    }
    /* bytes after the map */
    n = packed_frame(buf, sizeof buf, 0);
    buf[n] = 0xc0;
    CHECK_STATUS(mf_wire_decode_frame(buf, n + 1, &seq, &ts, out, FACES, &count, &err),
                 MF_E_INVALID_ARGUMENT);
    CHECK(err.code == MF_WIRE_E_MALFORMED);
}

static void sample_estimates(mf_estimate *faces, mf_estimate_event *events)
{
    memset(faces, 0, 2 * sizeof *faces);
    for (int f = 0; f < 2; f++) {
        mf_estimate *e = &faces[f];
        e->face_id = f ? -3 : 9;
        e->visible = !f;
        e->pose = (mf_pose){1.5f * (float)f, -2.0f, 0.25f};
        for (int k = 0; k < MF_EMOTIONS; k++)
            e->expression.emotions[k] = (float)(k + 1) / 28.0f;
        e->expression.amusement = 0.5f, e->expression.surprise = 0.125f, e->expression.confusion = 0.75f;
        for (int k = 0; k < MF_ACTION_UNITS; k++)
            e->expression.action_units[k] = 0.01f * (float)k - 0.02f;
        e->cues.attention = 0.75;
        e->cues.engagement = MF_ENGAGEMENT_ENGAGED;
        e->cues.status = f ? MF_INTERACTION_LONG_INTERRUPTION : MF_INTERACTION_READY;
    }
    events[0] = (mf_estimate_event){0.5, 9, MF_CUE_FACE, MF_FACE_ABSENT, MF_FACE_VISIBLE};
    events[1] = (mf_estimate_event){1.5, 9, MF_CUE_ENGAGEMENT, MF_ENGAGEMENT_ENGAGING, MF_ENGAGEMENT_ENGAGED};
    events[2] = (mf_estimate_event){1.5, 9, MF_CUE_INTERACTION, MF_INTERACTION_POSSIBLE, MF_INTERACTION_READY};
}

static void test_estimate_round_trip(void)
{
    mf_estimate in[2], out[FACES];
    mf_estimate_event ev[3], ev_out[EVENTS];
    sample_estimates(in, ev);
    uint8_t buf[BUF];
    size_t n, count, events_count;
    CHECK_STATUS(mf_wire_encode_estimate(77, 2.5, in, 2, ev, 3, buf, sizeof buf, &n), MF_OK);
    CHECK(n <= MF_WIRE_ESTIMATE_BYTES(2, 3));
    uint64_t seq;
    double ts;
    mf_wire_error err;
    CHECK_STATUS(mf_wire_decode_estimate(buf, n, &seq, &ts, out, FACES, &count, ev_out, EVENTS,
                                         &events_count, &err),
                 MF_OK);
    CHECK(seq == 77 && ts == 2.5 && count == 2 && events_count == 3);
    for (size_t i = 0; i < 2; i++) {
        CHECK(out[i].face_id == in[i].face_id && out[i].visible == in[i].visible);
        CHECK(memcmp(&out[i].pose, &in[i].pose, sizeof in[i].pose) == 0);
        CHECK(memcmp(&out[i].expression, &in[i].expression, sizeof in[i].expression) == 0);
        CHECK(out[i].cues.attention == in[i].cues.attention && out[i].cues.status == in[i].cues.status &&
              out[i].cues.engagement == in[i].cues.engagement);
    }
    CHECK(memcmp(ev, ev_out, sizeof ev) == 0);
    /* small buffers on either side */
    CHECK_STATUS(mf_wire_decode_estimate(buf, n, &seq, &ts, out, 1, &count, ev_out, EVENTS,
                                         &events_count, &err),
                 MF_E_TOO_LARGE);
    CHECK_STATUS(mf_wire_decode_estimate(buf, n, &seq, &ts, out, FACES, &count, ev_out, 2,
                                         &events_count, &err),
                 MF_E_TOO_LARGE);
    CHECK_STATUS(mf_wire_encode_estimate(77, 2.5, in, 2, ev, 3, buf, 50, &n), MF_E_TOO_LARGE);
    /* names that do not exist are not sent */
    in[0].cues.status = 9;
    CHECK_STATUS(mf_wire_encode_estimate(77, 2.5, in, 2, ev, 3, buf, sizeof buf, &n),
                 MF_E_INVALID_ARGUMENT);
    /* a frame is not an estimate */
    const mf_keypoints k = keypoints(1, 0);
    CHECK_STATUS(mf_wire_encode_frame(1, 0.0, &k, 1, buf, sizeof buf, &n), MF_OK);
    CHECK_STATUS(mf_wire_decode_estimate(buf, n, &seq, &ts, out, FACES, &count, ev_out, EVENTS,
                                         &events_count, &err),
                 MF_E_INVALID_ARGUMENT);
    CHECK(err.code == MF_WIRE_E_TYPE);
}

static void test_error_round_trip(void)
{
    uint8_t buf[BUF];
    char reason[MF_WIRE_MAX_REASON + 1];
    size_t n;
    int32_t has_seq, code;
    uint64_t seq = 0;
    mf_wire_error err, e = {MF_WIRE_E_INVALID, "landmarks not finite", 1, 5};
    CHECK_STATUS(mf_wire_encode_error(&e, buf, sizeof buf, &n), MF_OK);
    CHECK(n <= MF_WIRE_ERROR_BYTES);
    CHECK_STATUS(mf_wire_decode_error(buf, n, &has_seq, &seq, &code, reason, sizeof reason, &err), MF_OK);
    CHECK(has_seq && seq == 5 && code == MF_WIRE_E_INVALID && strcmp(reason, "landmarks not finite") == 0);
    e.has_seq = 0;
    CHECK_STATUS(mf_wire_encode_error(&e, buf, sizeof buf, &n), MF_OK);
    CHECK_STATUS(mf_wire_decode_error(buf, n, &has_seq, &seq, &code, reason, sizeof reason, &err), MF_OK);
    CHECK(!has_seq);
    /* a long reason is cut at 256 bytes, not inside a character: 255 x 'a' then 'e' acute */
    char longer[300];
    memset(longer, 'a', 255);
    memcpy(longer + 255, "\xc3\xa9 and more", sizeof "\xc3\xa9 and more"); /* with its NUL */
    e.reason = longer;
    CHECK_STATUS(mf_wire_encode_error(&e, buf, sizeof buf, &n), MF_OK);
    CHECK(n <= MF_WIRE_ERROR_BYTES);
    CHECK_STATUS(mf_wire_decode_error(buf, n, &has_seq, &seq, &code, reason, sizeof reason, &err), MF_OK);
    CHECK(strlen(reason) == 255);
    CHECK_STATUS(mf_wire_decode_error(buf, n, &has_seq, &seq, &code, reason, 10, &err),
                 MF_E_INVALID_ARGUMENT);
}

/* Decodes `data` as each message type; every answer must be OK or a
 * refusal with a code and a reason. */
static int decodes_cleanly(const uint8_t *data, size_t size)
{
    mf_keypoints faces[FACES];
    mf_estimate estimates[FACES];
    mf_estimate_event events[EVENTS];
    char reason[MF_WIRE_MAX_REASON + 1];
    uint64_t seq;
    double ts;
    size_t count, events_count;
    int32_t has_seq, code;
    mf_wire_type type;
    mf_wire_error err;
    mf_status st[4];
    int32_t codes[4];
    st[0] = mf_wire_peek(data, size, &type, &err), codes[0] = err.code;
    st[1] = mf_wire_decode_frame(data, size, &seq, &ts, faces, FACES, &count, &err), codes[1] = err.code;
    st[2] = mf_wire_decode_estimate(data, size, &seq, &ts, estimates, FACES, &count, events, EVENTS,
                                    &events_count, &err);
    codes[2] = err.code;
    st[3] = mf_wire_decode_error(data, size, &has_seq, &seq, &code, reason, sizeof reason, &err);
    codes[3] = err.code;
    for (int i = 0; i < 4; i++) {
        const int refused = st[i] == MF_E_INVALID_ARGUMENT || st[i] == MF_E_TOO_LARGE;
        const int known = codes[i] == MF_WIRE_E_MALFORMED || codes[i] == MF_WIRE_E_SCHEMA ||
                          codes[i] == MF_WIRE_E_TYPE || codes[i] == MF_WIRE_E_TOO_MANY ||
                          codes[i] == MF_WIRE_E_INVALID;
        if (!(st[i] == MF_OK ? codes[i] == 0 : refused && known))
            return 0;
    }
    return 1;
}

static uint32_t next_random(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return *state >> 8;
}

static void test_hostile_bytes(void)
{
    uint8_t valid[3][BUF], mutated[BUF];
    size_t sizes[3];
    const mf_keypoints k[2] = {keypoints(1, 1), keypoints(2, 0)};
    mf_estimate est[2];
    mf_estimate_event ev[3];
    sample_estimates(est, ev);
    const mf_wire_error e = {MF_WIRE_E_SCHEMA, "why", 1, 3};
    mf_wire_encode_frame(9, 0.5, k, 2, valid[0], BUF, &sizes[0]);
    mf_wire_encode_estimate(9, 0.5, est, 2, ev, 3, valid[1], BUF, &sizes[1]);
    mf_wire_encode_error(&e, valid[2], BUF, &sizes[2]);
    int truncations = 1, flips = 1, noise = 1;
    for (int m = 0; m < 3; m++) {
        truncations &= decodes_cleanly(valid[m], sizes[m]);
        for (size_t cut = 0; cut < sizes[m]; cut++) {
            truncations &= decodes_cleanly(valid[m], cut);
            if (m == 0) { /* a cut frame never decodes */
                mf_keypoints faces[FACES];
                uint64_t seq;
                double ts;
                size_t count;
                mf_wire_error err;
                truncations &= mf_wire_decode_frame(valid[m], cut, &seq, &ts, faces, FACES, &count,
                                                    &err) == MF_E_INVALID_ARGUMENT &&
                               err.code == MF_WIRE_E_MALFORMED;
            }
        }
        uint32_t state = 12345u + (uint32_t)m;
        for (size_t i = 0; i < sizes[m]; i++)
            for (int t = 0; t < 4; t++) {
                memcpy(mutated, valid[m], sizes[m]);
                mutated[i] = (uint8_t)next_random(&state);
                flips &= decodes_cleanly(mutated, sizes[m]);
            }
    }
    uint32_t state = 99u;
    for (int round = 0; round < 20000; round++) {
        const size_t n = next_random(&state) % 64;
        for (size_t i = 0; i < n; i++)
            mutated[i] = (uint8_t)next_random(&state);
        if (round % 2) /* start like a map, so the decoder gets further */
            mutated[0] = (uint8_t)(0x80 | (next_random(&state) & 0x0f));
        noise &= decodes_cleanly(mutated, n);
    }
    CHECK(truncations);
    CHECK(flips);
    CHECK(noise);
    /* lying length prefixes: an array32 of 4 billion faces, a bin32 of 4 GB */
    static const uint8_t huge_faces[] = {0x84, 0xa1, 't', 0xa5, 'f', 'r', 'a', 'm', 'e', 0xa5,
                                         'f', 'a', 'c', 'e', 's', 0xdd, 0xff, 0xff, 0xff, 0xff};
    mf_keypoints faces[FACES];
    uint64_t seq;
    double ts;
    size_t count;
    mf_wire_error err;
    CHECK_STATUS(mf_wire_decode_frame(huge_faces, sizeof huge_faces, &seq, &ts, faces, FACES, &count, &err),
                 MF_E_TOO_LARGE);
    CHECK(err.code == MF_WIRE_E_TOO_MANY);
    static const uint8_t huge_skip[] = {0x82, 0xa1, 'x', 0xc6, 0xff, 0xff, 0xff, 0xff, 0x00};
    mf_wire_type type;
    CHECK_STATUS(mf_wire_peek(huge_skip, sizeof huge_skip, &type, &err), MF_E_INVALID_ARGUMENT);
    CHECK(err.code == MF_WIRE_E_MALFORMED);
    /* nesting deeper than the skipper goes */
    uint8_t deep[64] = {0x82, 0xa1, 'x'};
    memset(deep + 3, 0x91, 40);
    deep[43] = 0xc0;
    CHECK_STATUS(mf_wire_peek(deep, 44, &type, &err), MF_E_INVALID_ARGUMENT);
    CHECK(err.code == MF_WIRE_E_MALFORMED);
    static const uint8_t not_map[] = {0x93, 0x01, 0x02, 0x03}, reserved[] = {0xc1};
    CHECK_STATUS(mf_wire_peek(not_map, sizeof not_map, &type, &err), MF_E_INVALID_ARGUMENT);
    CHECK(err.code == MF_WIRE_E_SCHEMA);
    CHECK_STATUS(mf_wire_peek(reserved, 1, &type, &err), MF_E_INVALID_ARGUMENT);
    CHECK(err.code == MF_WIRE_E_MALFORMED);
    CHECK_STATUS(mf_wire_peek(NULL, 0, &type, &err), MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_wire_peek(reserved, 1, NULL, &err), MF_E_INVALID_ARGUMENT);
}

/* The client acknowledges frames by the seq of whatever the server sends
 * back, reading nothing else of it. */
static void test_peek_seq(void)
{
    mf_estimate faces[2];
    mf_estimate_event events[3];
    sample_estimates(faces, events);
    uint8_t buf[BUF];
    size_t n;
    uint64_t seq = 0;
    int32_t has_seq = -1;
    mf_wire_error err;
    CHECK_STATUS(mf_wire_encode_estimate(77, 2.5, faces, 2, events, 3, buf, sizeof buf, &n), MF_OK);
    CHECK_STATUS(mf_wire_peek_seq(buf, n, &has_seq, &seq, &err), MF_OK);
    CHECK(has_seq == 1 && seq == 77 && err.code == 0);
    const mf_wire_error with = {MF_WIRE_E_INVALID, "refused", 1, UINT64_MAX};
    CHECK_STATUS(mf_wire_encode_error(&with, buf, sizeof buf, &n), MF_OK);
    CHECK_STATUS(mf_wire_peek_seq(buf, n, &has_seq, &seq, NULL), MF_OK);
    CHECK(has_seq == 1 && seq == UINT64_MAX);
    const mf_wire_error without = {MF_WIRE_E_MALFORMED, "no seq", 0, 0};
    CHECK_STATUS(mf_wire_encode_error(&without, buf, sizeof buf, &n), MF_OK);
    seq = 5;
    CHECK_STATUS(mf_wire_peek_seq(buf, n, &has_seq, &seq, &err), MF_OK);
    CHECK(has_seq == 0 && seq == 5);
    /* a seq that is no unsigned integer is no seq; the map is still read */
    static const uint8_t negative[] = {0x82, 0xa1, 't', 0xa5, 'e', 'r', 'r', 'o', 'r',
                                       0xa3, 's', 'e', 'q', 0xff};
    CHECK_STATUS(mf_wire_peek_seq(negative, sizeof negative, &has_seq, &seq, &err), MF_OK);
    CHECK(has_seq == 0);
    /* a seq sent as a signed integer that is not negative (int 8, 0) is one
     * for the decoders, so it is for the client's reader too (fuzz_wire) */
    static const uint8_t signed_zero[] = {0x84, 0xa1, 't', 0xa5, 'f', 'r', 'a', 'm', 'e', 0xa3, 's',
                                          'e', 'q', 0xd0, 0x00, 0xa2, 't', 's', 0xcb, 0, 0, 0, 0,
                                          0, 0, 0, 0, 0xa5, 'f', 'a', 'c', 'e', 's', 0x90};
    mf_keypoints none[1];
    double ts;
    size_t count;
    uint64_t decoded = 9;
    CHECK_STATUS(mf_wire_decode_frame(signed_zero, sizeof signed_zero, &decoded, &ts, none, 1,
                                      &count, &err), MF_OK);
    seq = 9;
    CHECK_STATUS(mf_wire_peek_seq(signed_zero, sizeof signed_zero, &has_seq, &seq, &err), MF_OK);
    CHECK(has_seq == 1 && seq == 0 && decoded == 0);
    static const uint8_t signed_negative[] = {0x82, 0xa1, 't', 0xa5, 'e', 'r', 'r', 'o', 'r',
                                              0xa3, 's', 'e', 'q', 0xd0, 0xff};
    CHECK_STATUS(mf_wire_peek_seq(signed_negative, sizeof signed_negative, &has_seq, &seq, &err),
                 MF_OK);
    CHECK(has_seq == 0);
    /* what is not one whole map is refused, with the wire's codes */
    CHECK_STATUS(mf_wire_encode_estimate(9, 2.5, faces, 2, events, 3, buf, sizeof buf, &n), MF_OK);
    CHECK_STATUS(mf_wire_peek_seq(buf, n - 1, &has_seq, &seq, &err), MF_E_INVALID_ARGUMENT);
    CHECK(has_seq == 0 && err.code == MF_WIRE_E_MALFORMED);
    buf[n] = 0xc0;
    CHECK_STATUS(mf_wire_peek_seq(buf, n + 1, &has_seq, &seq, &err), MF_E_INVALID_ARGUMENT);
    CHECK(has_seq == 0 && err.code == MF_WIRE_E_MALFORMED);
    static const uint8_t not_a_map[] = {0x93, 0x01, 0x02, 0x03};
    CHECK_STATUS(mf_wire_peek_seq(not_a_map, sizeof not_a_map, &has_seq, &seq, &err),
                 MF_E_INVALID_ARGUMENT);
    CHECK(err.code == MF_WIRE_E_SCHEMA);
    CHECK_STATUS(mf_wire_peek_seq(NULL, 0, &has_seq, &seq, &err), MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_wire_peek_seq(buf, n, NULL, &seq, &err), MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_wire_peek_seq(buf, n, &has_seq, NULL, &err), MF_E_INVALID_ARGUMENT);
}

void test_wire(void)
{
    test_frame_round_trip();
    test_frame_by_hand();
    test_estimate_round_trip();
    test_error_round_trip();
    test_peek_seq();
    test_hostile_bytes();
}
