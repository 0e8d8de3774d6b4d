/* 68-point landmark regression in two cascades, both in the frame of the
 * current shape estimate, so the regressors see faces at one canonical
 * scale and rotation:
 *  - supervised descent (cascaded linear regression) on HOG-like
 *    descriptors sampled around each point: each stage is two sgemv,
 *    descriptors to shape-basis coefficients, coefficients to point moves;
 *  - then, where the model has them, levels of regression trees on
 *    differences of single pixels placed relative to the points (Kazemi &
 *    Sullivan 2014), each tree local to one point (its pixels near that
 *    point, its leaves that point's move, as in Ren et al. 2014): a level
 *    sums the leaves reached and projects the moves onto the shape basis,
 *    which keeps the shape plausible. Their nonlinear capacity corrects
 *    what the linear stages cannot.
 *
 * Model tensors (kind "landmarks", written by mojofer.train landmarks):
 *   mean_shape   f32 [68, 2]          canonical shape: centred, outer eye corners 1 apart
 *   box_shape    f32 [68, 2]          initial shape in face-box units: (p - box.xy) / box.wh
 *                                     (both shapes within +-10)
 *   stage_radius f32 [S]              patch half-width per stage, canonical units
 *   shape_basis  f32 [136, K]         orthonormal directions a shape may move in
 *   pose_axis    f32 [136]            optional, with pose_edges: a direction in canonical
 *                                     shape space (head turn)
 *   pose_edges   f32 [C - 1]          ascending: a shape whose canonical offset from the
 *                                     mean projects onto pose_axis between edges c-1
 *                                     and c uses the regressors of pose cluster c;
 *                                     without the pair, C = 1
 *   regressor    f32 [S, C, K, F + 1] canonical shape update = B R[s, c] [features; 1]
 *   quality      f32 [F + 1]          predicted error (NME units) of the shape entering
 *                                     the last stage = q . [its features; 1]
 *   hog          i32 [3]              cells per side, cell size, orientation bins (must be
 *                                     MF_HOG_CELLS, MF_HOG_CELL, MF_HOG_BINS)
 * and optionally the tree levels (all six or none; L levels of T trees of
 * depth D, nodes numbered heap-wise: node n's children are 2n+1 (the pixel
 * difference not above the threshold) and 2n+2):
 *   tree_anchor    i32 [L, P]          the point each of a level's P pixels is placed from
 *   tree_offset    f32 [L, P, 2]       the pixel's offset from that point, canonical units
 *   tree_point     i32 [L, T]          the point a tree moves
 *   tree_split     i32 [L, T, 2^D - 1, 2]  the pixels (u, v) a node compares
 *   tree_threshold f32 [L, T, 2^D - 1] a node goes right when pixel u - pixel v > this
 *   tree_leaf      f32 [L, T, 2^D, 2]  a leaf's move of the tree's point, canonical units
 *                                     (a level's update = B B^T (sum of the moves))
 * with F = 68 * MF_POINT_FEATURES. mojofer/train/reference.py holds the
 * NumPy reference of this file; tests keep the two equal.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "anonymize.h"

enum { SHAPE_VALUES = 2 * MF_LANDMARKS, MAX_STAGES = 16, MAX_BASIS = SHAPE_VALUES, MAX_CLUSTERS = 8,
       MAX_TREE_LEVELS = 32, MAX_TREES = 4096, MAX_TREE_DEPTH = 8, MAX_TREE_PIXELS = 2048 };
/* mean_shape (outer eye corners 1 apart) and box_shape (box units) lie
 * within a few units of 0 in any model; this bounds them well beyond that */
static const float MAX_SHAPE_VALUE = 10.0f;
static const double MIN_SHAPE_RADIUS = 1e-2; /* root mean square, of the mean shape */

/* The luma of the part of the frame the patches read, converted once per
 * fit rather than once per sample (a sample reads four pixels). A large
 * face is read on a coarser grid, so that the cost of a fit stays flat in
 * the face's size and the descriptors see faces near the scale they were
 * trained at: grid point (i, j) of step s is pixel (s i + s/2, s j + s/2)
 * (integer s/2). The region is a window of that grid. */
typedef struct {
    uint8_t *data;
    size_t capacity;
    int32_t step, grid_width, grid_height;
    float offset, inverse_step; /* frame x = step * grid x + offset */
    int32_t x0, y0, width, height; /* grid units; width == 0: empty */
} luma_roi;
struct mf_landmarker {
    mf_limits limits;
    int32_t stage_count, basis_size, cluster_count;
    const float *mean_shape, *box_shape, *stage_radius, *shape_basis, *regressor, *quality;
    const float *pose_axis, *pose_edges;
    int32_t tree_levels, tree_count, tree_depth, tree_pixels; /* tree_levels == 0: no trees */
    const int32_t *tree_anchor, *tree_point, *tree_split;
    const float *tree_offset, *tree_threshold, *tree_leaf;
    float features[MF_LANDMARK_FEATURES + 1]; /* the last is the constant 1 */
    float pixel_x[MAX_TREE_PIXELS], pixel_y[MAX_TREE_PIXELS], pixel[MAX_TREE_PIXELS];
    float coefficients[MAX_BASIS];
    float delta[SHAPE_VALUES];
    luma_roi roi; /* of the frame being fitted */
};

/* NaN clamps to lo, so no NaN reaches an index computation */
static inline float clampf(float v, float lo, float hi) { return v >= lo ? (v <= hi ? v : hi) : lo; }

/* Grid points along a side of n pixels at `step`. */
static int32_t grid_size(int32_t n, int32_t step)
{
    return (n - 1 - step / 2) / step + 1;
}

/* Sets the grid a fit reads a frame on: the step for a face of `scale`
 * pixels per canonical unit (the outer eye corners' distance), made finer
 * where the grid would have fewer than 2 points a side. Empties the region. */
static void roi_grid(luma_roi *roi, const mf_image *im, float scale)
{
    int32_t step = 1;
    if (scale >= MF_LANDMARK_READ_SCALE) /* the bound keeps the int conversion defined */
        step = (int32_t)fminf(scale / MF_LANDMARK_READ_SCALE + 0.5f, 1e6f);
    while (step > 1 && (grid_size(im->width, step) < 2 || grid_size(im->height, step) < 2))
        step--;
    roi->step = step;
    roi->inverse_step = 1.0f / (float)step;
    roi->offset = (float)(step / 2);
    roi->grid_width = grid_size(im->width, step);
    roi->grid_height = grid_size(im->height, step);
    roi->width = 0;
}

/* One row of grid points from column gx0: at step > 1 every step-th
 * pixel, read through a strided view of the frame (one conversion a point,
 * whatever the step). */
static void grid_row(const luma_roi *roi, const mf_image *im, int32_t gx0, int32_t gy, int32_t count,
                     uint8_t *out)
{
    const int32_t s = roi->step;
    if (s == 1) {
        mf_luma_row(im, gx0, gy, count, out);
        return;
    }
    mf_image strided = *im;
    strided.pixel_stride = im->pixel_stride * s;
    strided.data = im->data + (ptrdiff_t)(s * gx0 + s / 2) * im->pixel_stride;
    mf_luma_row(&strided, 0, s * gy + s / 2, count, out);
}

/* Makes `roi` cover frame positions [x0, x1] x [y0, y1] (clamped to the
 * grid), converting a region `margin` frame pixels larger when it does not yet. */
static mf_status roi_cover(luma_roi *roi, const mf_image *im, float x0, float y0, float x1,
                           float y1, float margin)
{
    const float gw = (float)(roi->grid_width - 1), gh = (float)(roi->grid_height - 1);
    const float inv = roi->inverse_step, off = roi->offset;
    int32_t need_x0 = (int32_t)clampf(floorf((x0 - off) * inv), 0.0f, gw);
    int32_t need_y0 = (int32_t)clampf(floorf((y0 - off) * inv), 0.0f, gh);
    int32_t need_x1 = (int32_t)clampf(ceilf((x1 - off) * inv) + 1.0f, 0.0f, gw);
    int32_t need_y1 = (int32_t)clampf(ceilf((y1 - off) * inv) + 1.0f, 0.0f, gh);
    if (roi->width > 0 && need_x0 >= roi->x0 && need_y0 >= roi->y0 &&
        need_x1 < roi->x0 + roi->width && need_y1 < roi->y0 + roi->height)
        return MF_OK;
    /* a margin past the grid's side adds nothing: clamped before it becomes
     * an int, and the sums taken in 64 bits */
    const float side = (float)(roi->grid_width > roi->grid_height ? roi->grid_width : roi->grid_height);
    const int64_t m = (int64_t)clampf(margin * inv, 0.0f, side);
    const int32_t rx0 = (int32_t)(need_x0 - m > 0 ? need_x0 - m : 0);
    const int32_t ry0 = (int32_t)(need_y0 - m > 0 ? need_y0 - m : 0);
    const int32_t rx1 = (int32_t)(need_x1 + m < roi->grid_width ? need_x1 + m : roi->grid_width - 1);
    const int32_t ry1 = (int32_t)(need_y1 + m < roi->grid_height ? need_y1 + m : roi->grid_height - 1);
    size_t size = (size_t)(rx1 - rx0 + 1) * (size_t)(ry1 - ry0 + 1);
    if (size > roi->capacity) {
        uint8_t *grown = realloc(roi->data, size);
        if (!grown)
            return MF_E_NO_MEMORY;
        roi->data = grown;
        roi->capacity = size;
    }
    roi->x0 = rx0;
    roi->y0 = ry0;
    roi->width = rx1 - rx0 + 1;
    roi->height = ry1 - ry0 + 1;
    for (int32_t y = 0; y < roi->height; y++)
        grid_row(roi, im, rx0, ry0 + y, roi->width, roi->data + (size_t)y * roi->width);
    return MF_OK;
}


/* Bilinear luma at grid coordinates (u, v), clamped to the grid (edge
 * replication). */
static inline float sample_grid(const luma_roi *roi, float u, float v)
{
    u = clampf(u, 0.0f, (float)(roi->grid_width - 1));
    v = clampf(v, 0.0f, (float)(roi->grid_height - 1));
    int32_t u0 = (int32_t)u, v0 = (int32_t)v;
    int32_t du = u0 + 1 < roi->grid_width ? 1 : 0, dv = v0 + 1 < roi->grid_height ? roi->width : 0;
    float fu = u - (float)u0, fv = v - (float)v0;
    const uint8_t *p = roi->data + (size_t)(v0 - roi->y0) * roi->width + (u0 - roi->x0);
    float top = p[0] + fu * (float)(p[du] - p[0]);
    float bottom = p[dv] + fu * (float)(p[dv + du] - p[dv]);
    return top + fv * (bottom - top);
}

/* The same at frame position (x, y). */
static inline float sample(const luma_roi *roi, float x, float y)
{
    return sample_grid(roi, (x - roi->offset) * roi->inverse_step, (y - roi->offset) * roi->inverse_step);
}

/* Orientation in [0, pi) without atan2: an octant fold and the polynomial
 * atan(t) ~ t*pi/4 + 0.273*t*(1-t) on [0, 1] (error < 0.004 rad), cheap and
 * exactly reproducible in the NumPy reference. */
static inline float orientation(float dx, float dy)
{
    const float pi = 3.14159265358979f;
    /* unsigned: fold the lower half-plane onto the upper (selects, not
     * branches, so the gradient loop vectorises) */
    const int flip = dy < 0.0f || (dy == 0.0f && dx < 0.0f);
    const float sx = flip ? -dx : dx, sy = flip ? -dy : dy;
    const float ax = fabsf(sx), ay = fabsf(sy);
    const float big = ax > ay ? ax : ay, small = ax > ay ? ay : ax;
    const float t = big > 0.0f ? small / big : 0.0f;
    float a = t * (pi / 4.0f) + 0.273f * t * (1.0f - t);
    a = ay > ax ? pi / 2.0f - a : a;
    return sx < 0.0f ? pi - a : a;
}

void mf_similarity(const float *mean_shape, const float *shape, float *a, float *b, float *cx,
                   float *cy)
{
    double mx = 0, my = 0;
    for (int i = 0; i < MF_LANDMARKS; i++) {
        mx += shape[2 * i];
        my += shape[2 * i + 1];
    }
    mx /= MF_LANDMARKS;
    my /= MF_LANDMARKS;
    double dot = 0, cross = 0, norm = 0;
    for (int i = 0; i < MF_LANDMARKS; i++) {
        double u = mean_shape[2 * i], v = mean_shape[2 * i + 1];
        double x = shape[2 * i] - mx, y = shape[2 * i + 1] - my;
        dot += u * x + v * y;
        cross += u * y - v * x;
        norm += u * u + v * v;
    }
    *a = (float)(dot / norm);
    *b = (float)(cross / norm);
    *cx = (float)mx;
    *cy = (float)my;
}

enum { PATCH_SIDE = MF_HOG_GRID + 2, PATCH_SAMPLES = PATCH_SIDE * PATCH_SIDE,
       GRADIENTS = MF_HOG_GRID * MF_HOG_GRID };

/* The patch's luma samples, row by row: grid point (gx, gy) of the patch
 * at frame position (ox, oy) + gx (xx, xy) + gy (yx, yy). The work is split
 * into passes over small arrays (positions, then loads, then blends) so the
 * compiler can vectorise all but the loads. */
static void sample_patch(const luma_roi *roi, float ox, float oy, float xx, float xy, float yx,
                         float yy, float *patch)
{
    /* in grid coordinates from here on */
    const float inv = roi->inverse_step;
    ox = (ox - roi->offset) * inv;
    oy = (oy - roi->offset) * inv;
    xx *= inv;
    xy *= inv;
    yx *= inv;
    yy *= inv;
    float x[PATCH_SAMPLES], y[PATCH_SAMPLES];
    for (int gy = 0; gy < PATCH_SIDE; gy++)
        for (int gx = 0; gx < PATCH_SIDE; gx++) {
            x[gy * PATCH_SIDE + gx] = ox + (float)gx * xx + (float)gy * yx;
            y[gy * PATCH_SIDE + gx] = oy + (float)gx * xy + (float)gy * yy;
        }
    /* the patch's corners bound it: inside the grid, no clamping is needed */
    const float last = PATCH_SIDE - 1;
    const float cx[4] = {ox, ox + last * xx, ox + last * yx, ox + last * (xx + yx)};
    const float cy[4] = {oy, oy + last * xy, oy + last * yy, oy + last * (xy + yy)};
    int inside = 1;
    for (int c = 0; c < 4; c++)
        inside &= cx[c] >= 0.0f && cy[c] >= 0.0f && cx[c] < (float)(roi->grid_width - 1) &&
                  cy[c] < (float)(roi->grid_height - 1);
    if (!inside) {
        for (int k = 0; k < PATCH_SAMPLES; k++)
            patch[k] = sample_grid(roi, x[k], y[k]);
        return;
    }
    int32_t at[PATCH_SAMPLES];
    float fx[PATCH_SAMPLES], fy[PATCH_SAMPLES];
    for (int k = 0; k < PATCH_SAMPLES; k++) {
        const int32_t x0 = (int32_t)x[k], y0 = (int32_t)y[k];
        fx[k] = x[k] - (float)x0;
        fy[k] = y[k] - (float)y0;
        at[k] = (y0 - roi->y0) * roi->width + (x0 - roi->x0);
    }
    float p00[PATCH_SAMPLES], p01[PATCH_SAMPLES], p10[PATCH_SAMPLES], p11[PATCH_SAMPLES];
    for (int k = 0; k < PATCH_SAMPLES; k++) {
        const uint8_t *p = roi->data + at[k], *q = p + roi->width;
        p00[k] = p[0];
        p01[k] = p[1];
        p10[k] = q[0];
        p11[k] = q[1];
    }
    for (int k = 0; k < PATCH_SAMPLES; k++) {
        const float top = p00[k] + fx[k] * (p01[k] - p00[k]);
        const float bottom = p10[k] + fx[k] * (p11[k] - p10[k]);
        patch[k] = top + fy[k] * (bottom - top);
    }
}

/* The normalised orientation histograms of a patch's central gradients. */
static void describe_patch(const float *patch, float bin_width, float *hist)
{
    float mag[GRADIENTS], pos[GRADIENTS];
    for (int gy = 0; gy < MF_HOG_GRID; gy++) {
        const float *row = patch + (gy + 1) * PATCH_SIDE + 1;
        for (int gx = 0; gx < MF_HOG_GRID; gx++) {
            const float dx = row[gx + 1] - row[gx - 1], dy = row[gx + PATCH_SIDE] - row[gx - PATCH_SIDE];
            mag[gy * MF_HOG_GRID + gx] = sqrtf(dx * dx + dy * dy);
            /* pos in [-0.5, BINS - 0.5); shifted by one so truncation floors */
            pos[gy * MF_HOG_GRID + gx] = orientation(dx, dy) / bin_width + 0.5f;
        }
    }
    memset(hist, 0, sizeof(float) * MF_POINT_FEATURES);
    for (int k = 0; k < GRADIENTS; k++) {
        const int lower = (int)pos[k];
        const float w = pos[k] - (float)lower;
        const int b0 = lower == 0 ? MF_HOG_BINS - 1 : lower - 1;
        const int b1 = lower == MF_HOG_BINS ? 0 : lower;
        const int gy = k / MF_HOG_GRID, gx = k % MF_HOG_GRID;
        const int cell = (gy / MF_HOG_CELL) * MF_HOG_CELLS + gx / MF_HOG_CELL;
        hist[cell * MF_HOG_BINS + b0] += mag[k] * (1.0f - w);
        hist[cell * MF_HOG_BINS + b1] += mag[k] * w;
    }
    float energy = MF_HOG_EPSILON;
    for (int k = 0; k < MF_POINT_FEATURES; k++)
        energy += hist[k] * hist[k];
    const float scale = 1.0f / sqrtf(energy);
    for (int k = 0; k < MF_POINT_FEATURES; k++)
        hist[k] *= scale;
}

/* The bounding box of a shape's points. */
static void shape_bounds(const float *shape, float *x0, float *y0, float *x1, float *y1)
{
    *x0 = *x1 = shape[0];
    *y0 = *y1 = shape[1];
    for (int i = 1; i < MF_LANDMARKS; i++) {
        *x0 = fminf(*x0, shape[2 * i]);
        *x1 = fmaxf(*x1, shape[2 * i]);
        *y0 = fminf(*y0, shape[2 * i + 1]);
        *y1 = fmaxf(*y1, shape[2 * i + 1]);
    }
}

/* A face region to start from: a finite box of at least a pixel a side, at
 * most four frames wide, overlapping the frame. */
static int usable_region(const mf_image *im, float x, float y, float w, float h)
{
    return isfinite(x) && isfinite(y) && w >= 1.0f && h >= 1.0f && w <= 4.0f * im->width &&
           h <= 4.0f * im->height && x + w > 0.0f && y + h > 0.0f && x < im->width &&
           y < im->height;
}

/* A shape's size: pixels per canonical unit (the outer eye corners' distance). */
static float shape_scale(const float *mean_shape, const float *shape)
{
    float a, b, cx, cy;
    mf_similarity(mean_shape, shape, &a, &b, &cx, &cy);
    return hypotf(a, b);
}

/* The descriptors, reading the frame through `roi`. */
static mf_status features(const mf_image *im, luma_roi *roi, const float *shape,
                          const float *mean_shape, float radius, float *out)
{
    float a, b, cx, cy;
    mf_similarity(mean_shape, shape, &a, &b, &cx, &cy);
    const float step = radius / (MF_HOG_GRID / 2.0f);
    const float bin_width = 3.14159265358979f / MF_HOG_BINS;
    /* a patch reaches (GRID + 1) / 2 steps from its point along both axes */
    const float reach = (MF_HOG_GRID + 1) / 2.0f * step * (fabsf(a) + fabsf(b)) + 1.0f;
    float x0, y0, x1, y1;
    shape_bounds(shape, &x0, &y0, &x1, &y1);
    /* the margin lets later stages, whose points move less and whose patches
     * are smaller, reuse the region */
    const float margin = 0.25f * fmaxf(x1 - x0, y1 - y0);
    mf_status st = roi_cover(roi, im, x0 - reach, y0 - reach, x1 + reach, y1 + reach, margin);
    if (st != MF_OK)
        return st;
    const float first = -(MF_HOG_GRID + 1) / 2.0f * step;
    const float xx = a * step, xy = b * step, yx = -b * step, yy = a * step;
    for (int i = 0; i < MF_LANDMARKS; i++) {
        /* grid point (gx, gy) sits at origin + gx * along_x + gy * along_y */
        const float ox = shape[2 * i] + (a - b) * first, oy = shape[2 * i + 1] + (b + a) * first;
        float patch[PATCH_SAMPLES];
        sample_patch(roi, ox, oy, xx, xy, yx, yy, patch);
        describe_patch(patch, bin_width, out + (size_t)i * MF_POINT_FEATURES);
    }
    return MF_OK;
}

mf_status mf_landmark_features(const mf_image *im, const float *shape, const float *mean_shape,
                               float radius, float *out)
{
    luma_roi roi;
    memset(&roi, 0, sizeof roi);
    roi_grid(&roi, im, shape_scale(mean_shape, shape));
    mf_status st = features(im, &roi, shape, mean_shape, radius, out);
    free(roi.data);
    return st;
}

/* The tree levels, where the model has them (tree_leaf present: all six
 * tensors, in agreeing shapes, every index in range, every value finite). */
static mf_status load_trees(mf_landmarker *lm, const mf_model *model)
{
    mf_tensor anchor, offset, point, split, threshold, leaf;
    mf_status st;
    if (mf_model_tensor(model, "tree_leaf", &leaf) != MF_OK)
        return MF_OK;
    if ((st = mf_model_expect(model, "tree_leaf", MF_DTYPE_F32, -1, &leaf)) != MF_OK ||
        (st = mf_model_expect(model, "tree_anchor", MF_DTYPE_I32, -1, &anchor)) != MF_OK ||
        (st = mf_model_expect(model, "tree_offset", MF_DTYPE_F32, -1, &offset)) != MF_OK ||
        (st = mf_model_expect(model, "tree_point", MF_DTYPE_I32, -1, &point)) != MF_OK ||
        (st = mf_model_expect(model, "tree_split", MF_DTYPE_I32, -1, &split)) != MF_OK ||
        (st = mf_model_expect(model, "tree_threshold", MF_DTYPE_F32, -1, &threshold)) != MF_OK)
        return st;
    if (leaf.ndim != 4 || anchor.ndim != 2 || split.ndim != 4)
        return MF_E_MODEL_MISSING;
    const int64_t levels = leaf.dims[0], trees = leaf.dims[1], leaves = leaf.dims[2];
    const int64_t pixels = anchor.dims[1];
    int32_t depth = 0;
    while (depth <= MAX_TREE_DEPTH && ((int64_t)1 << depth) < leaves)
        depth++;
    if (levels < 1 || levels > MAX_TREE_LEVELS || trees < 1 || trees > MAX_TREES || depth < 1 ||
        depth > MAX_TREE_DEPTH || ((int64_t)1 << depth) != leaves || leaf.dims[3] != 2 ||
        point.count != levels * trees ||
        pixels < 2 || pixels > MAX_TREE_PIXELS || anchor.dims[0] != levels ||
        offset.count != levels * pixels * 2 || split.dims[0] != levels || split.dims[1] != trees ||
        split.dims[2] != leaves - 1 || split.dims[3] != 2 || threshold.count != levels * trees * (leaves - 1))
        return MF_E_MODEL_MISSING;
    const int32_t *anchors = anchor.data, *points = point.data, *splits = split.data;
    for (int64_t i = 0; i < anchor.count; i++)
        if (anchors[i] < 0 || anchors[i] >= MF_LANDMARKS)
            return MF_E_MODEL_MISSING;
    for (int64_t i = 0; i < point.count; i++)
        if (points[i] < 0 || points[i] >= MF_LANDMARKS)
            return MF_E_MODEL_MISSING;
    for (int64_t i = 0; i < split.count; i++)
        if (splits[i] < 0 || splits[i] >= pixels)
            return MF_E_MODEL_MISSING;
    const float *offsets = offset.data;
    for (int64_t i = 0; i < offset.count; i++) /* placed like the shapes: bounded, NaN failing */
        if (!(fabsf(offsets[i]) <= MAX_SHAPE_VALUE))
            return MF_E_MODEL_MISSING;
    if (!mf_all_finite(threshold.data, threshold.count) || !mf_all_finite(leaf.data, leaf.count))
        return MF_E_MODEL_MISSING;
    lm->tree_levels = (int32_t)levels;
    lm->tree_count = (int32_t)trees;
    lm->tree_depth = depth;
    lm->tree_pixels = (int32_t)pixels;
    lm->tree_anchor = anchors;
    lm->tree_offset = offsets;
    lm->tree_point = points;
    lm->tree_split = splits;
    lm->tree_threshold = threshold.data;
    lm->tree_leaf = leaf.data;
    return MF_OK;
}

static mf_status load_landmarks(mf_landmarker *lm, const mf_model *model)
{
    mf_tensor t;
    mf_status st;
    if (strcmp(mf_model_kind(model), "landmarks") != 0)
        return MF_E_MODEL_KIND;
    if ((st = mf_model_expect(model, "hog", MF_DTYPE_I32, 3, &t)) != MF_OK)
        return st;
    const int32_t *hog = t.data;
    if (hog[0] != MF_HOG_CELLS || hog[1] != MF_HOG_CELL || hog[2] != MF_HOG_BINS)
        return MF_E_MODEL_MISSING;
    if ((st = mf_model_expect(model, "stage_radius", MF_DTYPE_F32, -1, &t)) != MF_OK)
        return st;
    lm->stage_radius = t.data;
    lm->stage_count = (int32_t)t.count;
    if (lm->stage_count < 1 || lm->stage_count > MAX_STAGES)
        return MF_E_MODEL_MISSING;
    if ((st = mf_model_expect(model, "shape_basis", MF_DTYPE_F32, -1, &t)) != MF_OK)
        return st;
    lm->shape_basis = t.data;
    lm->basis_size = (int32_t)(t.count / SHAPE_VALUES);
    if (t.ndim != 2 || t.dims[0] != SHAPE_VALUES || lm->basis_size < 1 || lm->basis_size > MAX_BASIS)
        return MF_E_MODEL_MISSING;
    lm->cluster_count = 1;
    if (mf_model_tensor(model, "pose_edges", &t) == MF_OK) {
        if ((st = mf_model_expect(model, "pose_edges", MF_DTYPE_F32, -1, &t)) != MF_OK)
            return st;
        lm->pose_edges = t.data;
        lm->cluster_count = (int32_t)t.count + 1;
        if ((st = mf_model_expect(model, "pose_axis", MF_DTYPE_F32, SHAPE_VALUES, &t)) != MF_OK)
            return st;
        lm->pose_axis = t.data;
    }
    if (lm->cluster_count > MAX_CLUSTERS)
        return MF_E_MODEL_MISSING;
    for (int32_t c = 0; c + 1 < lm->cluster_count; c++)
        if (!isfinite(lm->pose_edges[c]) || (c > 0 && !(lm->pose_edges[c] > lm->pose_edges[c - 1])))
            return MF_E_MODEL_MISSING;
    const int64_t row = MF_LANDMARK_FEATURES + 1;
    if ((st = mf_model_expect(model, "regressor", MF_DTYPE_F32,
                              (int64_t)lm->stage_count * lm->cluster_count * lm->basis_size * row,
                              &t)) != MF_OK)
        return st;
    lm->regressor = t.data;
    if ((st = mf_model_expect(model, "quality", MF_DTYPE_F32, row, &t)) != MF_OK)
        return st;
    lm->quality = t.data;
    if ((st = mf_model_expect(model, "mean_shape", MF_DTYPE_F32, SHAPE_VALUES, &t)) != MF_OK)
        return st;
    lm->mean_shape = t.data;
    if ((st = mf_model_expect(model, "box_shape", MF_DTYPE_F32, SHAPE_VALUES, &t)) != MF_OK)
        return st;
    lm->box_shape = t.data;
    double norm = 0, centre_x = 0, centre_y = 0;
    for (int i = 0; i < SHAPE_VALUES; i++) {
        /* both become coordinates: bounded, NaN failing too */
        if (!(fabsf(lm->mean_shape[i]) <= MAX_SHAPE_VALUE && fabsf(lm->box_shape[i]) <= MAX_SHAPE_VALUE))
            return MF_E_MODEL_MISSING;
        norm += (double)lm->mean_shape[i] * lm->mean_shape[i];
        *(i % 2 ? &centre_y : &centre_x) += lm->mean_shape[i];
    }
    for (int s = 0; s < lm->stage_count; s++)
        if (!(lm->stage_radius[s] > 0.0f && lm->stage_radius[s] < 10.0f))
            return MF_E_MODEL_MISSING;
    /* mf_similarity relies on a centred mean shape */
    if (fabs(centre_x) + fabs(centre_y) > 1e-3 * MF_LANDMARKS * sqrt(norm / MF_LANDMARKS))
        return MF_E_MODEL_MISSING;
    /* a shape of any size a face can have in those units, not a point */
    if (!(sqrt(norm / MF_LANDMARKS) >= MIN_SHAPE_RADIUS))
        return MF_E_MODEL_MISSING;
    const float *weights[] = {lm->shape_basis, lm->regressor, lm->quality, lm->pose_axis};
    const int64_t counts[] = {(int64_t)SHAPE_VALUES * lm->basis_size,
                              (int64_t)lm->stage_count * lm->cluster_count * lm->basis_size * row,
                              row, lm->pose_axis ? SHAPE_VALUES : 0};
    for (int w = 0; w < 4; w++)
        for (int64_t i = 0; i < counts[w]; i++)
            if (!isfinite(weights[w][i]))
                return MF_E_MODEL_MISSING;
    return load_trees(lm, model);
}

mf_landmarker *mf_landmarker_new(const mf_model *model, const mf_limits *limits, mf_status *status)
{
    mf_status st = MF_OK;
    mf_landmarker *lm = NULL;
    if (!model || !limits) {
        st = MF_E_INVALID_ARGUMENT;
        goto done;
    }
    lm = calloc(1, sizeof *lm);
    if (!lm) {
        st = MF_E_NO_MEMORY;
        goto done;
    }
    lm->limits = *limits;
    st = load_landmarks(lm, model);
done:
    if (st != MF_OK) {
        mf_landmarker_free(lm);
        lm = NULL;
    }
    if (status)
        *status = st;
    return lm;
}

void mf_landmarker_free(mf_landmarker *lm)
{
    if (!lm)
        return;
    free(lm->roi.data);
    free(lm);
}

/* The pose cluster of a shape: its canonical offset from the mean shape,
 * projected on pose_axis, placed among pose_edges. */
static int32_t pose_cluster(const mf_landmarker *lm, const float *points, float a, float b,
                            float cx, float cy)
{
    if (lm->cluster_count == 1)
        return 0;
    const float inv = 1.0f / (a * a + b * b);
    float t = 0.0f;
    for (int i = 0; i < MF_LANDMARKS; i++) {
        float x = points[2 * i] - cx, y = points[2 * i + 1] - cy;
        float u = (a * x + b * y) * inv - lm->mean_shape[2 * i];
        float v = (-b * x + a * y) * inv - lm->mean_shape[2 * i + 1];
        t += lm->pose_axis[2 * i] * u + lm->pose_axis[2 * i + 1] * v;
    }
    int32_t c = 0;
    while (c + 1 < lm->cluster_count && t >= lm->pose_edges[c])
        c++;
    return c;
}

/* A shape the next stage can read from: finite, every coordinate within
 * +-MF_POINTS_MAX (what mf_points_check accepts), so that the region and
 * the patches computed from it stay within int range. */
static int shape_in_range(const float *points)
{
    for (int i = 0; i < SHAPE_VALUES; i++)
        if (!(fabsf(points[i]) <= MF_POINTS_MAX)) /* NaN fails too */
            return 0;
    return 1;
}

/* Moves `points` by a canonical update in the shape basis, through the
 * similarity (a, b) that poses the mean shape like them. */
static void apply_update(mf_landmarker *lm, float *points, float a, float b)
{
    cblas_sgemv(CblasRowMajor, CblasNoTrans, SHAPE_VALUES, lm->basis_size, 1.0f, lm->shape_basis,
                lm->basis_size, lm->coefficients, 1, 0.0f, lm->delta, 1);
    for (int i = 0; i < MF_LANDMARKS; i++) {
        float u = lm->delta[2 * i], v = lm->delta[2 * i + 1];
        points[2 * i] += a * u - b * v;
        points[2 * i + 1] += b * u + a * v;
    }
}

/* One tree level: the level's pixels placed from the points, every tree
 * walked on their differences, the moves of the leaves reached summed per
 * point, projected onto the shape basis and applied. */
static mf_status tree_level(mf_landmarker *lm, const mf_image *im, float *points, int32_t level)
{
    const int32_t pixels = lm->tree_pixels;
    const int32_t splits = (1 << lm->tree_depth) - 1;
    const int32_t *anchor = lm->tree_anchor + (size_t)level * pixels;
    const float *offset = lm->tree_offset + (size_t)level * pixels * 2;
    float a, b, cx, cy;
    mf_similarity(lm->mean_shape, points, &a, &b, &cx, &cy);
    float x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
    for (int32_t p = 0; p < pixels; p++) {
        const float u = offset[2 * p], v = offset[2 * p + 1];
        const float x = points[2 * anchor[p]] + a * u - b * v;
        const float y = points[2 * anchor[p] + 1] + b * u + a * v;
        lm->pixel_x[p] = x;
        lm->pixel_y[p] = y;
        x0 = fminf(x0, x);
        y0 = fminf(y0, y);
        x1 = fmaxf(x1, x);
        y1 = fmaxf(y1, y);
    }
    mf_status st = roi_cover(&lm->roi, im, x0, y0, x1, y1, 0.0f);
    if (st != MF_OK)
        return st;
    for (int32_t p = 0; p < pixels; p++)
        lm->pixel[p] = sample(&lm->roi, lm->pixel_x[p], lm->pixel_y[p]);
    float moves[SHAPE_VALUES] = {0};
    for (int32_t t = 0; t < lm->tree_count; t++) {
        const size_t tree = (size_t)level * lm->tree_count + t;
        const int32_t *split = lm->tree_split + tree * splits * 2;
        const float *threshold = lm->tree_threshold + tree * splits;
        int32_t node = 0;
        while (node < splits) {
            const float difference = lm->pixel[split[2 * node]] - lm->pixel[split[2 * node + 1]];
            node = 2 * node + (difference > threshold[node] ? 2 : 1);
        }
        const float *leaf = lm->tree_leaf + (tree * (splits + 1) + (size_t)(node - splits)) * 2;
        const int32_t point = lm->tree_point[tree];
        moves[2 * point] += leaf[0];
        moves[2 * point + 1] += leaf[1];
    }
    cblas_sgemv(CblasRowMajor, CblasTrans, SHAPE_VALUES, lm->basis_size, 1.0f, lm->shape_basis,
                lm->basis_size, moves, 1, 0.0f, lm->coefficients, 1);
    apply_update(lm, points, a, b);
    return shape_in_range(points) ? MF_OK : MF_E_MODEL_CORRUPT;
}

/* Runs the cascade from the shape in `points`, refining it in place. A
 * start out of range is the caller's (MF_E_INVALID_ARGUMENT); a stage that
 * moves the points out of range has absurd weights (MF_E_MODEL_CORRUPT),
 * caught before the next stage reads the frame around them. */
static mf_status refine(mf_landmarker *lm, const mf_image *im, float *points, float *quality)
{
    const int row = MF_LANDMARK_FEATURES + 1, k = lm->basis_size;
    mf_status st;
    if (!shape_in_range(points))
        return MF_E_INVALID_ARGUMENT;
    roi_grid(&lm->roi, im, shape_scale(lm->mean_shape, points)); /* a new frame */
    lm->features[MF_LANDMARK_FEATURES] = 1.0f;
    for (int s = 0; s < lm->stage_count; s++) {
        st = features(im, &lm->roi, points, lm->mean_shape, lm->stage_radius[s], lm->features);
        if (st != MF_OK)
            return st;
        float a, b, cx, cy;
        mf_similarity(lm->mean_shape, points, &a, &b, &cx, &cy);
        const float *r = lm->regressor +
                         ((size_t)s * lm->cluster_count + pose_cluster(lm, points, a, b, cx, cy)) * k * row;
        cblas_sgemv(CblasRowMajor, CblasNoTrans, k, row, 1.0f, r, row, lm->features, 1, 0.0f,
                    lm->coefficients, 1);
        apply_update(lm, points, a, b);
        if (!shape_in_range(points))
            return MF_E_MODEL_CORRUPT;
    }
    if (quality) { /* from the last stage's features: no extra extraction */
        *quality = cblas_sdot(row, lm->quality, 1, lm->features, 1);
        if (!isfinite(*quality))
            return MF_E_MODEL_CORRUPT;
    }
    for (int32_t level = 0; level < lm->tree_levels; level++)
        if ((st = tree_level(lm, im, points, level)) != MF_OK)
            return st;
    return MF_OK;
}


mf_status mf_landmarks_from_box(mf_landmarker *lm, const mf_image *image, const mf_box *box,
                                float *points, size_t capacity, float *quality)
{
    mf_status st;
    if (!lm || !image || !box || !points || capacity < SHAPE_VALUES)
        return MF_E_INVALID_ARGUMENT;
    if ((st = mf_image_check(image, &lm->limits)) != MF_OK)
        return st;
    if (!usable_region(image, box->x, box->y, box->w, box->h))
        return MF_E_INVALID_ARGUMENT;
    for (int i = 0; i < MF_LANDMARKS; i++) {
        points[2 * i] = box->x + lm->box_shape[2 * i] * box->w;
        points[2 * i + 1] = box->y + lm->box_shape[2 * i + 1] * box->h;
    }
    return refine(lm, image, points, quality);
}

mf_status mf_landmarks_from_points(mf_landmarker *lm, const mf_image *image, const float *initial,
                                   float *points, size_t capacity, float *quality)
{
    mf_status st;
    if (!lm || !image || !initial || !points || capacity < SHAPE_VALUES)
        return MF_E_INVALID_ARGUMENT;
    if ((st = mf_image_check(image, &lm->limits)) != MF_OK)
        return st;
    if (!mf_all_finite(initial, SHAPE_VALUES))
        return MF_E_INVALID_ARGUMENT;
    float x0, y0, x1, y1;
    shape_bounds(initial, &x0, &y0, &x1, &y1);
    if (!usable_region(image, x0, y0, x1 - x0, y1 - y0))
        return MF_E_INVALID_ARGUMENT;
    /* Start from the mean shape posed like `initial`, not from `initial`
     * itself: re-running the cascade on its own output drifts frame after
     * frame, while a mean-shape start is what the regressors learned from. */
    float a, b, cx, cy;
    mf_similarity(lm->mean_shape, initial, &a, &b, &cx, &cy);
    for (int i = 0; i < MF_LANDMARKS; i++) {
        const float u = lm->mean_shape[2 * i], v = lm->mean_shape[2 * i + 1];
        points[2 * i] = a * u - b * v + cx;
        points[2 * i + 1] = b * u + a * v + cy;
    }
    return refine(lm, image, points, quality);
}
