/* Helpers of anonymize/ (frame -> keypoints); not part of the public API.
 * anonymize/ includes base/ only. */
#ifndef MOJOFER_ANONYMIZE_H
#define MOJOFER_ANONYMIZE_H

#include "base/base.h"

/* Similarity (a, b, cx, cy) taking mean_shape onto shape in least squares:
 * p = [a -b; b a] m + (cx, cy). */
void mf_similarity(const float *mean_shape, const float *shape, float *a, float *b, float *cx,
                   float *cy);

#endif
