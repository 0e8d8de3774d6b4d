/* Face detection: a boosted cascade of Haar-like features over an image
 * pyramid, evaluated as OpenCV's CascadeClassifier evaluates the same model
 * (variance-normalised features, stage thresholds, the same window steps and
 * the same grouping). The exhaustive search (mf_detect_params.exhaustive)
 * visits every window OpenCV visits, so a cascade converted from OpenCV finds
 * the same faces; the default coarse-to-fine search visits a quarter of the
 * windows of every other level and looks closer only where the cascade
 * responds (see COARSE_TO_FINE), for nearly the same faces at a fraction of
 * the time (models/README.md has the measurements).
 *
 * Model tensors (kind "face_detector", written by mojofer.train detector):
 *   window          i32 [2]       window width, height
 *   stage_threshold f32 [S]
 *   stage_weak      i32 [S+1]     stumps of stage s: [stage_weak[s], stage_weak[s+1])
 *   stump_feature   i32 [K]       the feature a stump thresholds
 *   stump_threshold f32 [K]
 *   stump_leaf      f32 [K, 2]    value below, value at or above the threshold
 *   rect            f32 [F, 3, 5] x, y, w, h, weight; weight 0 marks an unused rect; weights
 *                                 are integers within +-16 (OpenCV's Haar cascades use -1, 2, 3),
 *                                 so features are summed exactly in integers
 *   box_calibration f32 [4]       dx, dy, sw, sh: face box = (x + dx*w, y + dy*h, sw*w, sh*h);
 *                                 |dx|, |dy| <= 4, sw and sh within 1/64..4
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "anonymize.h"

/* Grouping compares every pair of raw detections (as OpenCV's does), so
 * their number bounds its time as well as memory: 8192 take a fraction of
 * a second even when every window of a frame passes (65536 took seconds,
 * over 10 under the fuzzer that found it); real frames give a few hundred. */
enum { RECTS_PER_FEATURE = 3, MAX_RAW_DETECTIONS = 1 << 13 };
/* Seeds (below) are kept per call up to this many: a frame whose coarse
 * levels hold more windows that deep in the cascade is pathological. */
enum { MAX_SEEDS = 1 << 16 };
static const float STAGE_SUM_MARGIN = 1e-3f;
static const double FLAT_WINDOW = 0.1; /* OpenCV's HaarEvaluator::setWindow bound */
static const double GROUP_EPS = 0.2;
/* 3 rects x 16 x (256 x 256 pixels of 255) stays within int32 */
static const float MAX_RECT_WEIGHT = 16.0f;
static const float MAX_BOX_SHIFT = 4.0f, MIN_BOX_SCALE = 1.0f / 64, MAX_BOX_SCALE = 4.0f;

/* A stump with its feature's rectangles inlined, bound to the integral
 * images' stride: evaluation touches one record.
 * rest_max lets a window leave a stage as soon as it can no longer reach
 * the stage threshold, with exactly the result of the full sum. */
typedef struct {
    int32_t corner[RECTS_PER_FEATURE][4];
    int32_t weight[RECTS_PER_FEATURE];
    float threshold;
    float leaf[2];
    float rest_max; /* the most the stage's later stumps can still add */
} stump_t;

typedef struct {
    int32_t x, y, w, h;
} rect_t;

/* How the pyramid is searched. Levels are coarse or fine. A coarse level
 * evaluates every grid-th window of OpenCV's window grid each way; the grid
 * neighbours of a window that passes `promising` stages are evaluated too,
 * and so on from every window that passes `spreading` stages. A fine level
 * (every other level when fine_levels) is built and searched only around
 * the windows of the coarse levels on either side that passed `seeding`
 * stages. Thresholds above a cascade's stage count mean all its stages. */
typedef struct {
    int32_t grid, fine_levels, promising, spreading, seeding;
} search_t;

#define NEVER INT32_MAX /* a threshold no window reaches */
static const search_t EXHAUSTIVE = {1, 0, NEVER, NEVER, NEVER};
/* Chosen on the AFW photos at 640x480 and 640x480 scenes (models/README.md):
 * it finds what the exhaustive search finds there (recall 0.754 with the
 * landmark check for both) with a quarter of its time. A sparser grid, or
 * fewer promising windows, lost faces; the responses of a face fall from all
 * 25 stages to under 8 within 2 to 3 pixels of a level. */
static const search_t COARSE_TO_FINE = {2, 1, 8, 10, 20};
/* cells around a fine level's seeds that it builds, for the search to spread */
enum { REGION_MARGIN = 4 };

/* One pyramid level: its image is the frame scaled by 1/factor, and its
 * windows sit on a grid `step` pixels apart (OpenCV's steps), cols x rows. */
typedef struct {
    double factor;
    int32_t w, h, step, cols, rows;
    /* the cells searched, [col0, col1) x [row0, row1), and the pixels they
     * cover, bw x bh from (x0, y0): the whole level but at fine levels */
    int32_t col0, row0, col1, row1, x0, y0, bw, bh;
} level_t;

/* A window that passed `seeding` stages at a coarse level: its top-left
 * corner in frame pixels, where the neighbouring fine levels look. */
typedef struct {
    float x, y;
} seed_t;

struct mf_detector {
    mf_limits limits;
    int32_t win_w, win_h;
    int32_t stage_count, stump_count, feature_count;
    const float *stage_threshold, *stump_threshold, *stump_leaf, *rect, *calibration;
    const int32_t *stage_weak, *stump_feature;
    stump_t *stumps;
    int32_t bound_stride; /* the integral stride the stumps' corners are bound to; 0: none */
    /* scratch, grown on demand */
    uint8_t *gray, *level;
    uint32_t *sum, *sqsum;
    int32_t *taps;
    size_t pixel_capacity, integral_capacity, taps_capacity;
    rect_t *raw;
    size_t raw_count, raw_capacity;
    level_t *levels;
    size_t *level_seeds; /* level i's seeds: [level_seeds[i], level_seeds[i + 1]) */
    size_t level_capacity;
    seed_t *seeds;
    size_t seed_count, seed_capacity;
    uint8_t *visited; /* per window of the current level's grid */
    int32_t *pending; /* windows queued for evaluation */
    size_t pending_count, cell_capacity;
    search_t search; /* this call's, thresholds within the stage count */
};

mf_detect_params mf_detect_params_default(void)
{
    mf_detect_params p;
    p.min_size = 24;
    p.max_size = 0;
    p.scale_factor = 1.1f;
    p.min_neighbors = 3;
    p.exhaustive = 0;
    return p;
}

static void prepare_stumps(mf_detector *d);

/* Loads the tensors and checks every index so evaluation needs no checks. */
static mf_status load_cascade(mf_detector *d, const mf_model *model)
{
    mf_tensor t, stages, feature, threshold, leaf, rects;
    mf_status st;
    if (strcmp(mf_model_kind(model), "face_detector") != 0)
        return MF_E_MODEL_KIND;
    if ((st = mf_model_expect(model, "window", MF_DTYPE_I32, 2, &t)) != MF_OK)
        return st;
    d->win_w = ((const int32_t *)t.data)[0];
    d->win_h = ((const int32_t *)t.data)[1];
    if (d->win_w < 3 || d->win_h < 3 || d->win_w > 256 || d->win_h > 256)
        return MF_E_MODEL_MISSING;
    if ((st = mf_model_expect(model, "stage_threshold", MF_DTYPE_F32, -1, &t)) ||
        (st = mf_model_expect(model, "stage_weak", MF_DTYPE_I32, t.count + 1, &stages)) ||
        (st = mf_model_expect(model, "stump_feature", MF_DTYPE_I32, -1, &feature)) ||
        (st = mf_model_expect(model, "stump_threshold", MF_DTYPE_F32, feature.count, &threshold)) ||
        (st = mf_model_expect(model, "stump_leaf", MF_DTYPE_F32, 2 * feature.count, &leaf)) ||
        (st = mf_model_expect(model, "rect", MF_DTYPE_F32, -1, &rects)))
        return st;
    d->stage_threshold = t.data;
    d->stage_count = (int32_t)t.count;
    if ((st = mf_model_expect(model, "box_calibration", MF_DTYPE_F32, 4, &t)) != MF_OK)
        return st;
    d->calibration = t.data;
    /* boxes are placed with it: a shift within MAX_BOX_SHIFT windows, a size
     * of MIN_BOX_SCALE to MAX_BOX_SCALE windows (NaN fails too) */
    for (int i = 0; i < 4; i++)
        if (!(i < 2 ? fabsf(d->calibration[i]) <= MAX_BOX_SHIFT
                    : d->calibration[i] >= MIN_BOX_SCALE && d->calibration[i] <= MAX_BOX_SCALE))
            return MF_E_MODEL_MISSING;
    d->stage_weak = stages.data;
    d->stump_feature = feature.data;
    d->stump_threshold = threshold.data;
    d->stump_leaf = leaf.data;
    d->rect = rects.data;
    d->stump_count = (int32_t)feature.count;
    d->feature_count = (int32_t)(rects.count / (RECTS_PER_FEATURE * 5));
    if (rects.count % (RECTS_PER_FEATURE * 5) || d->stage_weak[0] != 0 ||
        d->stage_weak[d->stage_count] != d->stump_count)
        return MF_E_MODEL_MISSING;
    for (int32_t s = 0; s < d->stage_count; s++)
        if (d->stage_weak[s + 1] <= d->stage_weak[s] || !isfinite(d->stage_threshold[s]))
            return MF_E_MODEL_MISSING;
    for (int32_t k = 0; k < d->stump_count; k++)
        if (d->stump_feature[k] < 0 || d->stump_feature[k] >= d->feature_count ||
            !isfinite(d->stump_threshold[k]) || !isfinite(d->stump_leaf[2 * k]) ||
            !isfinite(d->stump_leaf[2 * k + 1]))
            return MF_E_MODEL_MISSING;
    for (int32_t f = 0; f < d->feature_count; f++)
        for (int r = 0; r < RECTS_PER_FEATURE; r++) {
            const float *v = d->rect + ((size_t)f * RECTS_PER_FEATURE + r) * 5;
            if (v[4] == 0.0f)
                continue;
            /* written so that NaN fails too */
            if (!(v[0] >= 0 && v[1] >= 0 && v[2] >= 1 && v[3] >= 1 && v[0] + v[2] <= d->win_w &&
                  v[1] + v[3] <= d->win_h) ||
                !(fabsf(v[4]) <= MAX_RECT_WEIGHT) || v[4] != floorf(v[4]))
                return MF_E_MODEL_MISSING;
        }
    d->stumps = malloc(sizeof *d->stumps * (size_t)d->stump_count);
    return d->stumps ? MF_OK : MF_E_NO_MEMORY;
}

mf_detector *mf_detector_new(const mf_model *model, const mf_limits *limits, mf_status *status)
{
    mf_status st = MF_OK;
    mf_detector *d = NULL;
    if (!model || !limits) {
        st = MF_E_INVALID_ARGUMENT;
        goto done;
    }
    d = calloc(1, sizeof *d);
    if (!d) {
        st = MF_E_NO_MEMORY;
        goto done;
    }
    d->limits = *limits;
    if ((st = load_cascade(d, model)) == MF_OK)
        prepare_stumps(d);
done:
    if (st != MF_OK) {
        mf_detector_free(d);
        d = NULL;
    }
    if (status)
        *status = st;
    return d;
}

void mf_detector_free(mf_detector *d)
{
    if (!d)
        return;
    free(d->stumps);
    free(d->gray);
    free(d->level);
    free(d->sum);
    free(d->sqsum);
    free(d->taps);
    free(d->raw);
    free(d->levels);
    free(d->level_seeds);
    free(d->seeds);
    free(d->visited);
    free(d->pending);
    free(d);
}

static mf_status reserve_scratch(mf_detector *d, int32_t w, int32_t h)
{
    size_t pixels = (size_t)w * (size_t)h, integral = (size_t)(w + 1) * (size_t)(h + 1);
    if (pixels > d->pixel_capacity) {
        free(d->gray);
        free(d->level);
        d->gray = malloc(pixels);
        d->level = malloc(pixels);
        d->pixel_capacity = d->gray && d->level ? pixels : 0;
        if (!d->pixel_capacity)
            return MF_E_NO_MEMORY;
    }
    if (integral > d->integral_capacity) {
        free(d->sum);
        free(d->sqsum);
        d->sum = malloc(integral * sizeof *d->sum);
        d->sqsum = malloc(integral * sizeof *d->sqsum);
        d->integral_capacity = d->sum && d->sqsum ? integral : 0;
        if (!d->integral_capacity)
            return MF_E_NO_MEMORY;
    }
    if ((size_t)w * 3 > d->taps_capacity) {
        free(d->taps);
        d->taps = malloc((size_t)w * 3 * sizeof *d->taps);
        d->taps_capacity = d->taps ? (size_t)w * 3 : 0;
        if (!d->taps)
            return MF_E_NO_MEMORY;
    }
    return MF_OK;
}

/* Integral images of sums and squared sums. They wrap modulo 2^32, which
 * keeps rectangle sums exact: no window sum reaches 2^32. */
static void integrate(const uint8_t *img, int32_t w, int32_t h, size_t stride, uint32_t *sum,
                      uint32_t *sqsum)
{
    memset(sum, 0, stride * sizeof *sum);
    memset(sqsum, 0, stride * sizeof *sqsum);
    for (int32_t y = 0; y < h; y++) {
        uint32_t row = 0, sqrow = 0;
        uint32_t *s = sum + (y + 1) * stride, *q = sqsum + (y + 1) * stride;
        const uint32_t *sp = s - stride, *qp = q - stride;
        s[0] = q[0] = 0;
        for (int32_t x = 0; x < w; x++) {
            uint32_t v = img[(size_t)y * w + x];
            row += v;
            sqrow += v * v;
            s[x + 1] = sp[x + 1] + row;
            q[x + 1] = qp[x + 1] + sqrow;
        }
    }
}

/* The parts of the stumps that do not depend on the integral stride. */
static void prepare_stumps(mf_detector *d)
{
    for (int32_t k = 0; k < d->stump_count; k++) {
        stump_t *sp = &d->stumps[k];
        const float *v = d->rect + (size_t)d->stump_feature[k] * RECTS_PER_FEATURE * 5;
        for (int r = 0; r < RECTS_PER_FEATURE; r++)
            sp->weight[r] = (int32_t)v[r * 5 + 4];
        sp->threshold = d->stump_threshold[k];
        sp->leaf[0] = d->stump_leaf[2 * k];
        sp->leaf[1] = d->stump_leaf[2 * k + 1];
    }
    for (int32_t st = 0; st < d->stage_count; st++) {
        float rest = 0.0f;
        for (int32_t k = d->stage_weak[st + 1] - 1; k >= d->stage_weak[st]; k--) {
            /* the margin covers float rounding of the front-to-back sum, so an
             * early exit never rejects a window the full sum would pass */
            d->stumps[k].rest_max = rest + STAGE_SUM_MARGIN;
            rest += fmaxf(d->stumps[k].leaf[0], d->stumps[k].leaf[1]);
        }
    }
}

/* Binds the stumps' rectangle corners to an integral image's stride. */
static void bind_stumps(mf_detector *d, int32_t stride)
{
    if (stride == d->bound_stride)
        return;
    for (int32_t k = 0; k < d->stump_count; k++) {
        stump_t *sp = &d->stumps[k];
        const float *v = d->rect + (size_t)d->stump_feature[k] * RECTS_PER_FEATURE * 5;
        for (int r = 0; r < RECTS_PER_FEATURE; r++, v += 5) {
            /* an unused rectangle's numbers were never checked: not converted */
            const int used = v[4] != 0.0f;
            const int32_t x = used ? (int32_t)v[0] : 0, y = used ? (int32_t)v[1] : 0;
            const int32_t w = used ? (int32_t)v[2] : 0, h = used ? (int32_t)v[3] : 0;
            sp->corner[r][0] = y * stride + x;
            sp->corner[r][1] = y * stride + x + w;
            sp->corner[r][2] = (y + h) * stride + x;
            sp->corner[r][3] = (y + h) * stride + x + w;
        }
    }
    d->bound_stride = stride;
}

static inline uint32_t box_sum(const uint32_t *p, const int32_t c[4])
{
    return p[c[0]] - p[c[1]] - p[c[2]] + p[c[3]];
}

/* Returns the number of stages passed; == stage_count means a face. */
static int32_t run_window(const mf_detector *d, const uint32_t *sum, const uint32_t *sqsum,
                          const int32_t norm[4], double norm_area)
{
    /* the variance in double: in float, area*sqsum - sum^2 cancels catastrophically */
    double s = (double)box_sum(sum, norm), q = (double)box_sum(sqsum, norm);
    double var = norm_area * q - s * s;
    /* as OpenCV: a window too flat to hold a face (std. dev. under about
     * 10 grey levels) is rejected before any stage */
    if (!(var > 0.0) || norm_area >= FLAT_WINDOW * sqrt(var))
        return 0;
    const float nf = (float)sqrt(var);
    const stump_t *sp = d->stumps;
    for (int32_t st = 0; st < d->stage_count; st++) {
        const float threshold = d->stage_threshold[st];
        float stage_sum = 0.0f;
        for (const stump_t *end = d->stumps + d->stage_weak[st + 1]; sp < end; sp++) {
            int32_t value = sp->weight[0] * (int32_t)box_sum(sum, sp->corner[0]) +
                            sp->weight[1] * (int32_t)box_sum(sum, sp->corner[1]);
            if (sp->weight[2] != 0)
                value += sp->weight[2] * (int32_t)box_sum(sum, sp->corner[2]);
            stage_sum += sp->leaf[(float)value >= sp->threshold * nf];
            if (stage_sum + sp->rest_max < threshold)
                return st;
        }
    }
    return d->stage_count;
}

static mf_status add_raw(mf_detector *d, rect_t r)
{
    if (d->raw_count == d->raw_capacity) {
        if (d->raw_capacity >= MAX_RAW_DETECTIONS)
            return MF_OK; /* enough evidence already; more would only cost memory */
        size_t cap = d->raw_capacity ? d->raw_capacity * 2 : 256;
        rect_t *grown = realloc(d->raw, cap * sizeof *grown);
        if (!grown)
            return MF_E_NO_MEMORY;
        d->raw = grown;
        d->raw_capacity = cap;
    }
    d->raw[d->raw_count++] = r;
    return MF_OK;
}

static mf_status add_seed(mf_detector *d, float x, float y)
{
    if (d->seed_count == d->seed_capacity) {
        if (d->seed_capacity >= MAX_SEEDS)
            return MF_OK; /* the fine levels refine around the first ones */
        size_t cap = d->seed_capacity ? d->seed_capacity * 2 : 256;
        seed_t *grown = realloc(d->seeds, cap * sizeof *grown);
        if (!grown)
            return MF_E_NO_MEMORY;
        d->seeds = grown;
        d->seed_capacity = cap;
    }
    d->seeds[d->seed_count++] = (seed_t){x, y};
    return MF_OK;
}

static mf_status reserve_levels(mf_detector *d, size_t count)
{
    if (count + 1 <= d->level_capacity)
        return MF_OK;
    size_t cap = 2 * (count + 1);
    level_t *levels = realloc(d->levels, cap * sizeof *levels);
    if (levels)
        d->levels = levels;
    size_t *seeds = realloc(d->level_seeds, cap * sizeof *seeds);
    if (seeds)
        d->level_seeds = seeds;
    if (!levels || !seeds)
        return MF_E_NO_MEMORY;
    d->level_capacity = cap;
    return MF_OK;
}

static mf_status reserve_cells(mf_detector *d, size_t cells)
{
    if (cells <= d->cell_capacity)
        return MF_OK;
    free(d->visited);
    free(d->pending);
    d->visited = malloc(cells);
    d->pending = malloc(cells * sizeof *d->pending);
    d->cell_capacity = d->visited && d->pending ? cells : 0;
    return d->cell_capacity ? MF_OK : MF_E_NO_MEMORY;
}

/* Fine levels lie between two coarse ones: the odd ones but the last. */
static int is_fine(const mf_detector *d, size_t i, size_t count)
{
    return d->search.fine_levels && i % 2 == 1 && i + 1 < count;
}

/* Limits the level's search to the cells [col0, col1) x [row0, row1). */
static void set_region(const mf_detector *d, level_t *lv, int32_t col0, int32_t row0,
                       int32_t col1, int32_t row1)
{
    lv->col0 = col0 > 0 ? col0 : 0;
    lv->row0 = row0 > 0 ? row0 : 0;
    lv->col1 = col1 < lv->cols ? col1 : lv->cols;
    lv->row1 = row1 < lv->rows ? row1 : lv->rows;
    lv->x0 = lv->col0 * lv->step;
    lv->y0 = lv->row0 * lv->step;
    lv->bw = (lv->col1 - 1) * lv->step + d->win_w - lv->x0;
    lv->bh = (lv->row1 - 1) * lv->step + d->win_h - lv->y0;
}

/* Resizes the frame's gray image to the level's region and integrates it;
 * clears the level's visited cells. Every level's integral images have the
 * frame's stride, so the stumps are bound once per frame size. */
static void build_level(mf_detector *d, const level_t *lv, int32_t W, int32_t H)
{
    const uint8_t *img = d->gray;
    if (lv->w != W || lv->h != H || lv->bw != W || lv->bh != H) {
        mf_gray_resize_region(d->gray, W, H, lv->w, lv->h, lv->x0, lv->y0, lv->bw, lv->bh,
                              d->level, d->taps);
        img = d->level;
    }
    integrate(img, lv->bw, lv->bh, (size_t)W + 1, d->sum, d->sqsum);
    bind_stumps(d, W + 1);
    memset(d->visited, 0, (size_t)lv->cols * (size_t)lv->rows);
    d->pending_count = 0;
}

static void push_cell(mf_detector *d, const level_t *lv, int32_t col, int32_t row)
{
    if (col < lv->col0 || row < lv->row0 || col >= lv->col1 || row >= lv->row1)
        return;
    const size_t cell = (size_t)row * (size_t)lv->cols + (size_t)col;
    if (d->visited[cell])
        return;
    d->visited[cell] = 1;
    d->pending[d->pending_count++] = (int32_t)cell;
}

/* Evaluates the window at a grid cell: a raw detection if it passes every
 * stage, a seed if it passes `seeding` ones at a coarse level. Returns the
 * stages passed. */
static int32_t evaluate(mf_detector *d, const level_t *lv, int32_t cell, int coarse, mf_status *st)
{
    const int32_t stride = d->bound_stride;
    const int32_t norm[4] = {stride + 1, stride + d->win_w - 1, (d->win_h - 1) * stride + 1,
                             (d->win_h - 1) * stride + d->win_w - 1};
    const double norm_area = (double)(d->win_w - 2) * (d->win_h - 2);
    const int32_t x = cell % lv->cols * lv->step, y = cell / lv->cols * lv->step;
    const size_t at = (size_t)(y - lv->y0) * stride + (size_t)(x - lv->x0);
    const int32_t passed = run_window(d, d->sum + at, d->sqsum + at, norm, norm_area);
    *st = MF_OK;
    if (passed == d->stage_count) {
        rect_t r = {(int32_t)lround(x * lv->factor), (int32_t)lround(y * lv->factor),
                    (int32_t)lround(d->win_w * lv->factor), (int32_t)lround(d->win_h * lv->factor)};
        *st = add_raw(d, r);
    }
    if (coarse && passed >= d->search.seeding && *st == MF_OK)
        *st = add_seed(d, (float)(x * lv->factor), (float)(y * lv->factor));
    return passed;
}

/* Queues the unvisited cells of the 3x3 block around (col, row). */
static void push_block(mf_detector *d, const level_t *lv, int32_t col, int32_t row)
{
    for (int32_t dy = -1; dy <= 1; dy++)
        for (int32_t dx = -1; dx <= 1; dx++)
            push_cell(d, lv, col + dx, row + dy);
}

/* Evaluates the pending windows; each that passes `spreading` stages queues
 * its unvisited grid neighbours, so the search follows the region where the
 * cascade responds and stops where it does not. */
static mf_status drain(mf_detector *d, const level_t *lv, int coarse)
{
    mf_status st;
    while (d->pending_count > 0) {
        const int32_t cell = d->pending[--d->pending_count];
        if (evaluate(d, lv, cell, coarse, &st) >= d->search.spreading)
            push_block(d, lv, cell % lv->cols, cell / lv->cols);
        if (st != MF_OK)
            return st;
    }
    return MF_OK;
}

/* A coarse level: a sparse grid of windows, then the neighbours of the
 * promising ones. */
static mf_status scan_coarse(mf_detector *d, const level_t *lv)
{
    mf_status st;
    const int32_t grid = d->search.grid;
    for (int32_t row = 0; row < lv->rows; row += grid) {
        for (int32_t col = 0; col < lv->cols; col += grid) {
            const int32_t cell = row * lv->cols + col;
            if (d->visited[cell])
                continue;
            d->visited[cell] = 1;
            const int32_t passed = evaluate(d, lv, cell, 1, &st);
            if (st != MF_OK)
                return st;
            if (passed >= d->search.promising) {
                push_block(d, lv, cell % lv->cols, cell / lv->cols);
                if ((st = drain(d, lv, 1)) != MF_OK)
                    return st;
            } else if (passed == 0) {
                /* rejected at once: the next window likely is too (OpenCV's
                 * rule, kept on the sparse grid: dropping it there cost 10%
                 * more time for the same faces on the AFW photos) */
                col += grid;
            }
        }
    }
    return MF_OK;
}

static void seed_cell(const level_t *lv, seed_t seed, int32_t *col, int32_t *row)
{
    *col = (int32_t)lround(seed.x / lv->factor / lv->step);
    *row = (int32_t)lround(seed.y / lv->factor / lv->step);
}

/* A fine level: built only over its neighbours' seeds (with a margin for
 * the search to spread) and searched from them. */
static mf_status scan_fine(mf_detector *d, level_t *lv, const seed_t *seeds, size_t count,
                           int32_t W, int32_t H)
{
    mf_status st;
    int32_t col0 = INT32_MAX, row0 = INT32_MAX, col1 = INT32_MIN, row1 = INT32_MIN;
    for (size_t i = 0; i < count; i++) {
        int32_t col, row;
        seed_cell(lv, seeds[i], &col, &row);
        col0 = col < col0 ? col : col0;
        row0 = row < row0 ? row : row0;
        col1 = col > col1 ? col : col1;
        row1 = row > row1 ? row : row1;
    }
    set_region(d, lv, col0 - REGION_MARGIN, row0 - REGION_MARGIN, col1 + REGION_MARGIN + 1,
               row1 + REGION_MARGIN + 1);
    if (lv->col0 >= lv->col1 || lv->row0 >= lv->row1)
        return MF_OK;
    build_level(d, lv, W, H);
    for (size_t i = 0; i < count; i++) {
        int32_t col, row;
        seed_cell(lv, seeds[i], &col, &row);
        push_block(d, lv, col, row);
        if ((st = drain(d, lv, 0)) != MF_OK)
            return st;
    }
    return MF_OK;
}

static int similar(rect_t a, rect_t b)
{
    double delta = GROUP_EPS * (fmin(a.w, b.w) + fmin(a.h, b.h)) * 0.5;
    return abs(a.x - b.x) <= delta && abs(a.y - b.y) <= delta &&
           abs(a.x + a.w - b.x - b.w) <= delta && abs(a.y + a.h - b.y - b.h) <= delta;
}

static int32_t find_root(int32_t *parent, int32_t i)
{
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

typedef struct {
    double x, y, w, h;
    int32_t n;
} cluster_t;

/* A kept face and its place among the clusters: ties in score keep that
 * order, whatever the C library's qsort does with equal keys (glibc's keeps
 * them, emscripten's musl's need not), so every build lists the same faces
 * in the same order and a tracker gives them the same ids. */
typedef struct {
    mf_box box;
    size_t order;
} ranked_t;

static int by_score_desc(const void *a, const void *b)
{
    const ranked_t *p = a, *q = b;
    if (p->box.score != q->box.score)
        return p->box.score < q->box.score ? 1 : -1;
    return (p->order > q->order) - (p->order < q->order);
}

/* Groups raw detections as OpenCV's groupRectangles does: clusters of
 * similar rectangles, averaged; clusters with more than min_neighbors members
 * are kept unless they sit inside a stronger one. Writes calibrated boxes. */
static mf_status group(mf_detector *d, int32_t min_neighbors, mf_box *boxes, size_t capacity,
                       size_t *count)
{
    mf_status st = MF_OK;
    const size_t n = d->raw_count;
    int32_t *parent = malloc((n ? n : 1) * sizeof *parent);
    cluster_t *clusters = calloc(n ? n : 1, sizeof *clusters);
    ranked_t *found = malloc((n ? n : 1) * sizeof *found);
    size_t found_count = 0;
    *count = 0;
    if (!parent || !clusters || !found) {
        st = MF_E_NO_MEMORY;
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        parent[i] = (int32_t)i;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (similar(d->raw[i], d->raw[j])) {
                int32_t a = find_root(parent, (int32_t)i), b = find_root(parent, (int32_t)j);
                if (a != b)
                    parent[b] = a;
            }
    for (size_t i = 0; i < n; i++) {
        cluster_t *c = &clusters[find_root(parent, (int32_t)i)];
        c->x += d->raw[i].x;
        c->y += d->raw[i].y;
        c->w += d->raw[i].w;
        c->h += d->raw[i].h;
        c->n++;
    }
    for (size_t i = 0; i < n; i++) {
        cluster_t *c = &clusters[i];
        if (c->n > 0) {
            c->x /= c->n;
            c->y /= c->n;
            c->w /= c->n;
            c->h /= c->n;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const cluster_t *a = &clusters[i];
        if (a->n <= min_neighbors)
            continue;
        int nested = 0;
        for (size_t j = 0; j < n && !nested; j++) {
            const cluster_t *b = &clusters[j];
            if (j == i || b->n <= min_neighbors)
                continue;
            double dx = b->w * GROUP_EPS, dy = b->h * GROUP_EPS;
            nested = a->x >= b->x - dx && a->y >= b->y - dy && a->x + a->w <= b->x + b->w + dx &&
                     a->y + a->h <= b->y + b->h + dy && (b->n > (a->n > 3 ? a->n : 3) || a->n < 3);
        }
        if (nested)
            continue;
        const float *cal = d->calibration;
        found[found_count] = (ranked_t){{(float)(a->x + cal[0] * a->w), (float)(a->y + cal[1] * a->h),
                                         (float)(cal[2] * a->w), (float)(cal[3] * a->h), (float)a->n},
                                        found_count};
        found_count++;
    }
    qsort(found, found_count, sizeof *found, by_score_desc);
    *count = found_count < capacity ? found_count : capacity;
    for (size_t i = 0; i < *count; i++)
        boxes[i] = found[i].box;
done:
    free(parent);
    free(clusters);
    free(found);
    return st;
}

mf_status mf_detect(mf_detector *d, const mf_image *image, const mf_detect_params *params,
                    mf_box *boxes, size_t capacity, size_t *count)
{
    mf_status st;
    if (!d || !image || !params || !count || (!boxes && capacity > 0))
        return MF_E_INVALID_ARGUMENT;
    *count = 0;
    if ((st = mf_image_check(image, &d->limits)) != MF_OK)
        return st;
    if (params->min_size < 1 || params->max_size < 0 || !(params->scale_factor >= 1.01f) ||
        params->scale_factor > 4.0f || params->min_neighbors < 0 ||
        (params->exhaustive != 0 && params->exhaustive != 1))
        return MF_E_INVALID_ARGUMENT;
    const int32_t W = image->width, H = image->height;
    if ((st = reserve_scratch(d, W, H)) != MF_OK)
        return st;
    mf_image_to_gray(image, d->gray);
    d->raw_count = 0;
    d->seed_count = 0;
    const float box_w = d->calibration[2];
    size_t level_count = 0;
    if ((st = reserve_levels(d, level_count)) != MF_OK)
        return st;
    for (double factor = 1.0;; factor *= params->scale_factor) {
        int32_t lw = (int32_t)lround(W / factor), lh = (int32_t)lround(H / factor);
        double face_side = box_w * d->win_w * factor;
        if (lw < d->win_w || lh < d->win_h ||
            (params->max_size > 0 && face_side > params->max_size))
            break;
        if (face_side < params->min_size)
            continue;
        if ((st = reserve_levels(d, level_count + 1)) != MF_OK)
            return st;
        const int32_t step = factor > 2.0 ? 1 : 2;
        d->levels[level_count++] = (level_t){.factor = factor, .w = lw, .h = lh, .step = step,
                                             .cols = (lw - d->win_w) / step + 1,
                                             .rows = (lh - d->win_h) / step + 1};
    }
    size_t cells = 0;
    for (size_t i = 0; i < level_count; i++)
        if ((size_t)d->levels[i].cols * (size_t)d->levels[i].rows > cells)
            cells = (size_t)d->levels[i].cols * (size_t)d->levels[i].rows;
    if ((st = reserve_cells(d, cells)) != MF_OK)
        return st;
    d->search = params->exhaustive ? EXHAUSTIVE : COARSE_TO_FINE;
    int32_t *thresholds[] = {&d->search.promising, &d->search.spreading, &d->search.seeding};
    for (size_t i = 0; i < sizeof thresholds / sizeof thresholds[0]; i++)
        if (*thresholds[i] != NEVER && *thresholds[i] > d->stage_count)
            *thresholds[i] = d->stage_count; /* a short cascade: all its stages */
    /* the coarse levels (every other one, and the last) are scanned first,
     * each level's seeds kept apart; the fine levels between them then look
     * only around their neighbours' seeds */
    for (size_t i = 0; i < level_count; i++) {
        d->level_seeds[i] = d->seed_count;
        if (is_fine(d, i, level_count))
            continue;
        set_region(d, &d->levels[i], 0, 0, d->levels[i].cols, d->levels[i].rows);
        build_level(d, &d->levels[i], W, H);
        if ((st = scan_coarse(d, &d->levels[i])) != MF_OK)
            return st;
    }
    d->level_seeds[level_count] = d->seed_count;
    for (size_t i = 0; i < level_count; i++) {
        if (!is_fine(d, i, level_count))
            continue;
        /* fine levels add no seeds: those of levels i - 1 and i + 1 are contiguous */
        const size_t first = d->level_seeds[i - 1], last = d->level_seeds[i + 2];
        if (first == last)
            continue;
        if ((st = scan_fine(d, &d->levels[i], d->seeds + first, last - first, W, H)) != MF_OK)
            return st;
    }
    if (capacity > (size_t)d->limits.max_faces)
        capacity = (size_t)d->limits.max_faces;
    return group(d, params->min_neighbors, boxes, capacity, count);
}
