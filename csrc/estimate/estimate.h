/* Helpers of estimate/ (keypoints -> estimates); not part of the public API.
 * estimate/ includes base/ only, never anonymize/: nothing on this side of
 * the privacy boundary sees a pixel. */
#ifndef MOJOFER_ESTIMATE_H
#define MOJOFER_ESTIMATE_H

#include "base/base.h"

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

/* `points` (a face, 2 x MF_LANDMARKS) aligned as mf_expressions aligns it:
 * the frame of mf_face_baseline's shape. Refuses what mf_points_check does. */
mf_status mf_expression_align(const mf_expression_classifier *classifier, const float *points,
                              float *aligned);
/* How much a face at rest it is, by its reading against the population
 * (no baseline): P(neutral) + MF_BASELINE_MIN_CALM, so that a person whom
 * the population never reads as neutral still gets a baseline. */
#define MF_BASELINE_MIN_CALM 0.05f
float mf_calm(const mf_expression *plain);

typedef struct {
    float value, weight;
} mf_weighted;
/* Per value of 2 x MF_LANDMARKS, the weighted median over `count` >= 1
 * shapes of weights > 0: the smallest value at which the weights of the
 * values sorted before it and of it reach half of all (the lower one at a
 * tie); `column` holds count entries of scratch. */
void mf_weighted_median_shape(const float *shapes, const float *weights, size_t count,
                              mf_weighted *column, float *out);

/* The one rule for a state machine's clock: 0 if timestamp t may follow
 * `previous` (started: there was one), else 1 with the sentence naming why
 * written into problem[size]; the cues and the estimator both say it. */
int mf_time_refused(double t, int started, double previous, char *problem, size_t size);

#endif
