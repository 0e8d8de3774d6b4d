/* Helpers of base/ shared by the whole core (anonymize/, estimate/, stream/);
 * not part of the public API. base/ includes nothing above it. */
#ifndef MOJOFER_BASE_H
#define MOJOFER_BASE_H

#include "mojofer.h"

/* CRC-32 (IEEE 802.3, the polynomial of zlib.crc32). */
uint32_t mf_crc32(const uint8_t *data, size_t size);

/* Luma of `count` pixels of row y from column x0 of a checked view. */
void mf_luma_row(const mf_image *image, int32_t x0, int32_t y, int32_t count, uint8_t *out);

/* Converts a checked view to 8-bit gray (BT.601 weights, as OpenCV) into a
 * contiguous width x height buffer. */
void mf_image_to_gray(const mf_image *image, uint8_t *gray);

/* Bilinear resize of a contiguous gray image; scratch holds 3 * dst_w. */
void mf_gray_resize(const uint8_t *src, int32_t src_w, int32_t src_h, uint8_t *dst,
                    int32_t dst_w, int32_t dst_h, int32_t *scratch);
/* The w x h block at (x0, y0) of that resize, the same pixels, into a
 * contiguous w x h buffer; scratch holds 3 * w. */
void mf_gray_resize_region(const uint8_t *src, int32_t src_w, int32_t src_h, int32_t dst_w,
                           int32_t dst_h, int32_t x0, int32_t y0, int32_t w, int32_t h,
                           uint8_t *dst, int32_t *scratch);

/* A tensor of the given dtype and element count (count < 0: any count). */
mf_status mf_model_expect(const mf_model *model, const char *name, mf_dtype dtype,
                          int64_t count, mf_tensor *out);

/* 1 if all n values are finite (no NaN or infinity), else 0. */
int mf_all_finite(const float *values, int64_t n);

#endif
