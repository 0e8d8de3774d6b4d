/* libFuzzer harness: the wire decoders (csrc/stream/wire.c) on arbitrary bytes.
 * Every decoder reads every input; whatever one accepts is encoded again
 * and must decode to the same values, so the harness finds both memory
 * errors (under ASan/UBSan) and disagreements between the two directions.
 * Built and run by `make fuzz` (see the Makefile); seeds in
 * csrc/fuzz/seeds/wire (csrc/fuzz/make_seeds.py). */
#include <stdlib.h>
#include <string.h>

#include "mojofer_stream.h"

enum { MAX_FACES = 16, MAX_EVENTS = 64 };

/* A frame that decoded: encoded again, it decodes to the same faces. */
static void check_frame_round_trip(uint64_t seq, double ts, const mf_keypoints *faces, size_t n)
{
    static uint8_t buf[MF_WIRE_FRAME_BYTES(MAX_FACES)];
    static mf_keypoints again[MAX_FACES];
    size_t written = 0, count = 0;
    uint64_t seq2 = 0;
    double ts2 = 0;
    mf_wire_error error;
    if (mf_wire_encode_frame(seq, ts, faces, n, buf, sizeof buf, &written) != MF_OK)
        abort(); /* the buffer size is documented to always suffice */
    if (mf_wire_decode_frame(buf, written, &seq2, &ts2, again, MAX_FACES, &count, &error) != MF_OK ||
        seq2 != seq || memcmp(&ts2, &ts, sizeof ts) != 0 || count != n)
        abort();
    for (size_t i = 0; i < n; i++)
        if (again[i].face_id != faces[i].face_id || again[i].has_pose != faces[i].has_pose ||
            memcmp(again[i].landmarks, faces[i].landmarks, sizeof faces[i].landmarks) != 0 ||
            (faces[i].has_pose && memcmp(&again[i].pose, &faces[i].pose, sizeof faces[i].pose) != 0))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mf_keypoints faces[MAX_FACES];
    static mf_estimate estimates[MAX_FACES];
    static mf_estimate_event events[MAX_EVENTS];
    static uint8_t buf[MF_WIRE_ESTIMATE_BYTES(MAX_FACES, MAX_EVENTS)];
    char reason[MF_WIRE_MAX_REASON + 1];
    mf_wire_error error;
    mf_wire_type type;
    uint64_t seq;
    double ts;
    size_t count, events_count, written;
    int32_t has_seq, code;

    mf_wire_peek(data, size, &type, &error);
    /* what a decoder accepts, the client's seq reader reads the same seq of */
    uint64_t peeked = 0;
    int32_t has_peeked = 0;
    const int whole = mf_wire_peek_seq(data, size, &has_peeked, &peeked, &error) == MF_OK;
    if (mf_wire_decode_frame(data, size, &seq, &ts, faces, MAX_FACES, &count, &error) == MF_OK) {
        if (!whole || !has_peeked || peeked != seq)
            abort();
        check_frame_round_trip(seq, ts, faces, count);
    }
    if (mf_wire_decode_estimate(data, size, &seq, &ts, estimates, MAX_FACES, &count, events,
                                MAX_EVENTS, &events_count, &error) == MF_OK) {
        if (!whole || !has_peeked || peeked != seq)
            abort();
        if (mf_wire_encode_estimate(seq, ts, estimates, count, events, events_count, buf,
                                    sizeof buf, &written) != MF_OK)
            abort(); /* what decodes is encodable in the documented size */
    }
    if (mf_wire_decode_error(data, size, &has_seq, &seq, &code, reason, sizeof reason, &error) ==
        MF_OK) {
        if (strlen(reason) > MF_WIRE_MAX_REASON || !whole || has_peeked != has_seq ||
            (has_seq && peeked != seq))
            abort();
    }
    /* a short reason buffer is refused, never overrun */
    mf_wire_decode_error(data, size, &has_seq, &seq, &code, reason, 8, &error);
    return 0;
}
