/* Helpers shared by the core's .c files; not part of the public API. */
#ifndef MOJOFER_INTERNAL_H
#define MOJOFER_INTERNAL_H

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

/* A tensor of the given dtype and element count (count < 0: any count). */
mf_status mf_model_expect(const mf_model *model, const char *name, mf_dtype dtype,
                          int64_t count, mf_tensor *out);

/* Landmark descriptors: per point, a HOG_CELLS x HOG_CELLS grid of cells of
 * HOG_CELL x HOG_CELL gradients, HOG_BINS unsigned orientations each. */
#define MF_HOG_CELLS 2
#define MF_HOG_CELL 4
#define MF_HOG_BINS 8
#define MF_HOG_GRID (MF_HOG_CELLS * MF_HOG_CELL)
#define MF_HOG_EPSILON 1e4f
#define MF_POINT_FEATURES (MF_HOG_CELLS * MF_HOG_CELLS * MF_HOG_BINS)
#define MF_LANDMARK_FEATURES (MF_LANDMARKS * MF_POINT_FEATURES)

/* Similarity (a, b, cx, cy) taking mean_shape onto shape in least squares:
 * p = [a -b; b a] m + (cx, cy). */
void mf_similarity(const float *mean_shape, const float *shape, float *a, float *b, float *cx,
                   float *cy);

/* The MF_LANDMARK_FEATURES descriptors of `shape` in a checked view. */
mf_status mf_landmark_features(const mf_image *image, const float *shape, const float *mean_shape,
                          float radius, float *out);

/* Landmarks given to an estimator (2 * MF_LANDMARKS floats): MF_OK, or
 * MF_E_INVALID_ARGUMENT for NULL, a coordinate that is not finite or beyond
 * +-MF_POINTS_MAX, or a shape that is no face: outer eye corners (36, 45)
 * closer than MF_POINTS_MIN_EYES, or all points on a line (the points'
 * spread across their main direction under MF_POINTS_MIN_SPREAD of their
 * spread along it). */
#define MF_POINTS_MAX 1e6f
#define MF_POINTS_MIN_EYES 1e-3f
#define MF_POINTS_MIN_SPREAD 1e-3
mf_status mf_points_check(const float *points);
/* The rule mf_points_check finds broken, as a static phrase ("landmarks not
 * finite"), or NULL for points it accepts. */
const char *mf_points_problem(const float *points);

/* 1 if all n values are finite (no NaN or infinity), else 0. */
int mf_all_finite(const float *values, int64_t n);

/* The one rule for a state machine's clock: 0 if timestamp t may follow
 * `previous` (started: there was one), else 1 with the sentence naming why
 * written into problem[size]; the cues and the estimator both say it. */
int mf_time_refused(double t, int started, double previous, char *problem, size_t size);

/* A ReLU MLP held in a model's layer<i>.weight / layer<i>.bias tensors (mlp.c). */
#define MF_MLP_MAX_LAYERS 8
#define MF_MLP_MAX_WIDTH 1024
typedef struct {
    int32_t layer_count;
    int32_t sizes[MF_MLP_MAX_LAYERS + 1]; /* sizes[0] inputs ... sizes[layer_count] outputs */
    const float *weight[MF_MLP_MAX_LAYERS], *bias[MF_MLP_MAX_LAYERS];
} mf_mlp;

/* Finds and checks the layers: shapes chain from `inputs` to `outputs`, finite. */
mf_status mf_mlp_load(mf_mlp *mlp, const mf_model *model, int32_t inputs, int32_t outputs);

/* Logits (rows x outputs) of `rows` input rows; scratch holds
 * 2 x rows x MF_MLP_MAX_WIDTH floats. */
void mf_mlp_forward(const mf_mlp *mlp, const float *x, int32_t rows, float *scratch,
                    float *logits);

#endif
