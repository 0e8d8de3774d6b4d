/* libFuzzer harness: image views. The input describes a view (channel
 * order, width, height, row/pixel/channel strides in bytes, the offset of
 * pixel (0, 0)) over the buffer that follows it:
 *
 *   u8 order (mod 6), u8 width, u8 height (mod 65), i16 row_stride,
 *   i16 pixel_stride, i16 channel_stride, u16 offset (little-endian, mod
 *   the buffer's size), then the buffer
 *
 * A view that reaches outside its buffer is the caller's error, which
 * mf_image_check cannot see (a view carries no buffer size), so the harness
 * keeps only views inside the buffer; through those, every consumer must
 * read only the view's pixels (ASan watches the buffer's edges: libFuzzer
 * hands over an allocation of exactly the input's size). mf_image_check
 * runs on every view, limits included; the accepted ones are converted to
 * gray and read by the detector and the landmarker, its tree level too (the seed models,
 * loaded once from csrc/fuzz/seeds/model, the harness running from the
 * repository root). Seeds: csrc/fuzz/seeds/image (make_seeds.py). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

enum { HEADER = 11 };

static struct {
    mf_model *detector_model, *landmark_model;
    mf_detector *detector;
    mf_landmarker *landmarker;
} models;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const mf_limits limits = mf_limits_default();
    models.detector_model = mf_model_load("csrc/fuzz/seeds/model/face_detector.mfm", &limits, NULL);
    models.landmark_model = mf_model_load("csrc/fuzz/seeds/model/landmarks_trees.mfm", &limits, NULL);
    if (models.detector_model)
        models.detector = mf_detector_new(models.detector_model, &limits, NULL);
    if (models.landmark_model)
        models.landmarker = mf_landmarker_new(models.landmark_model, &limits, NULL);
    if (!models.detector || !models.landmarker) {
        fprintf(stderr, "fuzz_image: run from the repository root (seed models not found)\n");
        exit(1);
    }
    return 0;
}

static int16_t read_i16(const uint8_t *p) { return (int16_t)(uint16_t)(p[0] | p[1] << 8); }

/* The lowest and highest byte offsets the view addresses, from pixel
 * (0, 0): an offset is linear in x, y and the channel, so the extremes
 * are at the corners. */
static void extent(const mf_image *v, int64_t *lo, int64_t *hi)
{
    const int64_t spans[3] = {(int64_t)(v->width - 1) * v->pixel_stride,
                              (int64_t)(v->height - 1) * v->row_stride,
                              (int64_t)(v->channels - 1) * v->channel_stride};
    *lo = *hi = 0;
    for (int i = 0; i < 3; i++) {
        if (spans[i] < 0)
            *lo += spans[i];
        else
            *hi += spans[i];
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HEADER)
        return 0;
    static const int32_t CHANNELS[6] = {0, 1, 3, 3, 4, 4};
    const uint8_t *buffer = data + HEADER;
    const int64_t buffer_size = (int64_t)(size - HEADER);
    const uint16_t offset = (uint16_t)(data[9] | data[10] << 8);
    mf_image view;
    view.order = (mf_channel_order)(data[0] % 6); /* 0: no order */
    view.channels = CHANNELS[view.order] ? CHANNELS[view.order] : 1 + data[0] % 4;
    /* up to 64 a side: strides and orders are the point, not big frames
     * (0 stays possible: an empty view must be refused) */
    view.width = data[1] % 65;
    view.height = data[2] % 65;
    view.row_stride = read_i16(data + 3);
    view.pixel_stride = read_i16(data + 5);
    view.channel_stride = read_i16(data + 7);
    view.data = buffer_size > 0 ? buffer + offset % buffer_size : NULL;

    mf_limits tight = mf_limits_default();
    tight.max_image_side = 1 + data[1] / 65;
    tight.max_image_pixels = 1 + data[2] * 8;
    mf_image_check(&view, &tight);
    const mf_limits limits = mf_limits_default();
    if (mf_image_check(&view, &limits) != MF_OK)
        return 0;
    int64_t lo, hi;
    extent(&view, &lo, &hi);
    const int64_t at = view.data - buffer;
    if (at + lo < 0 || at + hi >= buffer_size)
        return 0; /* outside its buffer: not a view a caller may pass */

    uint8_t *gray = malloc((size_t)view.width * (size_t)view.height);
    if (!gray)
        return 0;
    mf_image_to_gray(&view, gray);
    free(gray);
    mf_detect_params params = mf_detect_params_default();
    params.min_size = 1;
    params.min_neighbors = 0;
    mf_box boxes[4];
    size_t count;
    mf_detect(models.detector, &view, &params, boxes, 4, &count);
    float points[2 * MF_LANDMARKS], quality;
    const mf_box whole = {0.0f, 0.0f, (float)view.width, (float)view.height, 1.0f};
    mf_landmarks_from_box(models.landmarker, &view, &whole, points, 2 * MF_LANDMARKS, &quality);
    /* a box half off the frame: the region and the patches clamp to it */
    const mf_box shifted = {(float)view.width * 0.6f, -(float)view.height * 0.4f,
                            (float)view.width, (float)view.height, 1.0f};
    mf_landmarks_from_box(models.landmarker, &view, &shifted, points, 2 * MF_LANDMARKS, &quality);
    return 0;
}
