#include "base.h"

static int32_t channels_of(mf_channel_order order)
{
    switch (order) {
    case MF_GRAY: return 1;
    case MF_RGB: case MF_BGR: return 3;
    case MF_RGBA: case MF_BGRA: return 4;
    }
    return 0;
}

mf_status mf_image_check(const mf_image *image, const mf_limits *limits)
{
    if (!image || !limits || !image->data)
        return MF_E_INVALID_ARGUMENT;
    if (image->width <= 0 || image->height <= 0)
        return MF_E_INVALID_ARGUMENT;
    if (channels_of(image->order) == 0 || image->channels != channels_of(image->order))
        return MF_E_INVALID_ARGUMENT;
    if (image->width > limits->max_image_side || image->height > limits->max_image_side ||
        (int64_t)image->width * image->height > limits->max_image_pixels)
        return MF_E_IMAGE_TOO_LARGE;
    return MF_OK;
}

/* Fixed-point BT.601 luma with rounding, the weights OpenCV's cvtColor uses,
 * so that our detector sees the same gray image OpenCV's would. */
enum { GRAY_SHIFT = 14, W_R = 4899, W_G = 9617, W_B = 1868 };

void mf_luma_row(const mf_image *image, int32_t x0, int32_t y, int32_t count, uint8_t *out)
{
    const ptrdiff_t ps = image->pixel_stride, cs = image->channel_stride;
    const uint8_t *p = image->data + (ptrdiff_t)y * image->row_stride + (ptrdiff_t)x0 * ps;
    if (image->order == MF_GRAY) {
        for (int32_t x = 0; x < count; x++, p += ps)
            out[x] = *p;
        return;
    }
    const int bgr = image->order == MF_BGR || image->order == MF_BGRA;
    const ptrdiff_t r_at = (bgr ? 2 : 0) * cs, b_at = (bgr ? 0 : 2) * cs;
    for (int32_t x = 0; x < count; x++, p += ps) {
        uint32_t v = W_R * p[r_at] + W_G * p[cs] + W_B * p[b_at];
        out[x] = (uint8_t)((v + (1u << (GRAY_SHIFT - 1))) >> GRAY_SHIFT);
    }
}

void mf_image_to_gray(const mf_image *image, uint8_t *gray)
{
    for (int32_t y = 0; y < image->height; y++)
        mf_luma_row(image, 0, y, image->width, gray + (size_t)y * (size_t)image->width);
}

/* Pixel-centre aligned bilinear sampling, weights in 1/256. The column
 * taps are computed once per call into `scratch` (3 * dst_w entries). */
static void bilinear_taps(int32_t src_n, int32_t dst_n, int32_t i, int32_t *i0, int32_t *i1,
                          int32_t *w)
{
    double f = (i + 0.5) * ((double)src_n / dst_n) - 0.5;
    if (f < 0) f = 0;
    *i0 = (int32_t)f;
    if (*i0 > src_n - 1) *i0 = src_n - 1;
    *i1 = *i0 + 1 < src_n ? *i0 + 1 : src_n - 1;
    *w = (int32_t)((f - *i0) * 256.0 + 0.5);
}

void mf_gray_resize(const uint8_t *src, int32_t src_w, int32_t src_h, uint8_t *dst,
                    int32_t dst_w, int32_t dst_h, int32_t *scratch)
{
    mf_gray_resize_region(src, src_w, src_h, dst_w, dst_h, 0, 0, dst_w, dst_h, dst, scratch);
}

void mf_gray_resize_region(const uint8_t *src, int32_t src_w, int32_t src_h, int32_t dst_w,
                           int32_t dst_h, int32_t x0, int32_t y0, int32_t w, int32_t h,
                           uint8_t *dst, int32_t *scratch)
{
    int32_t *c0 = scratch, *c1 = scratch + w, *wx = scratch + 2 * (size_t)w;
    for (int32_t x = 0; x < w; x++)
        bilinear_taps(src_w, dst_w, x0 + x, &c0[x], &c1[x], &wx[x]);
    for (int32_t y = 0; y < h; y++) {
        int32_t y_top, y_bottom, wy;
        bilinear_taps(src_h, dst_h, y0 + y, &y_top, &y_bottom, &wy);
        const uint8_t *r0 = src + (size_t)y_top * src_w, *r1 = src + (size_t)y_bottom * src_w;
        uint8_t *out = dst + (size_t)y * w;
        for (int32_t x = 0; x < w; x++) {
            uint32_t top = r0[c0[x]] * (uint32_t)(256 - wx[x]) + r0[c1[x]] * (uint32_t)wx[x];
            uint32_t bottom = r1[c0[x]] * (uint32_t)(256 - wx[x]) + r1[c1[x]] * (uint32_t)wx[x];
            out[x] = (uint8_t)((top * (uint32_t)(256 - wy) + bottom * (uint32_t)wy + 32768) >> 16);
        }
    }
}
