/* The detector on synthetic cascades. The basic one is a single stage of a
 * single stump whose feature is the left half of the window minus its right
 * half, so it fires on a square that is bright on the left and dark on the
 * right. */
#include <math.h>
#include <string.h>
#include <time.h>

#include "fixtures.h"
#include "harness.h"

enum {
    WIN = 12,         /* the cascade's window */
    SIDE = 24,        /* the pattern's side, found at pyramid factor 2 */
    SCENE_W = 96,
    SCENE_H = 80,
    PATTERN_X = 40,
    PATTERN_Y = 24,
    BACKGROUND = 110,
    BRIGHT = 200,
    DARK = 20,
    MAX_BOXES = 8,
    MAX_STAGES = 2,
    MAX_STUMPS = 3,
    MAX_FEATURES = 2
};

typedef struct {
    const char *kind;
    const char *omit;   /* a tensor to leave out, or NULL */
    const char *retype; /* a tensor to write with the other dtype, or NULL */
    int32_t window[2];
    int32_t stage_count, stump_count, feature_count;
    float stage_threshold[MAX_STAGES];
    int32_t stage_weak[MAX_STAGES + 1];
    int32_t stump_feature[MAX_STUMPS];
    float stump_threshold[MAX_STUMPS];
    float stump_leaf[MAX_STUMPS][2];
    float rect[MAX_FEATURES][3][5];
    float box_calibration[4];
} cascade;

static cascade edge_cascade(void)
{
    return (cascade){
        .kind = "face_detector",
        .window = {WIN, WIN},
        .stage_count = 1,
        .stump_count = 1,
        .feature_count = 1,
        .stage_threshold = {0.0f},
        .stage_weak = {0, 1},
        .stump_feature = {0},
        /* the feature must reach half the window's contrast (std. dev. x area) */
        .stump_threshold = {0.5f},
        .stump_leaf = {{-1.0f, 1.0f}},
        .rect = {{{0, 0, WIN / 2, WIN, 1.0f}, {WIN / 2, 0, WIN / 2, WIN, -1.0f}, {0}}},
        .box_calibration = {0.0f, 0.0f, 1.0f, 1.0f},
    };
}

/* Appends a stump with the same leaf whatever its feature says. */
static void add_constant_stump(cascade *c, float leaf)
{
    const int32_t k = c->stump_count++;
    c->stump_feature[k] = 0;
    c->stump_threshold[k] = 0.0f;
    c->stump_leaf[k][0] = c->stump_leaf[k][1] = leaf;
}

static mf_model *cascade_model(const cascade *c, mf_status *status)
{
    const uint32_t stages = (uint32_t)c->stage_count, stumps = (uint32_t)c->stump_count;
    const fx_tensor all[] = {
        {"window", MF_DTYPE_I32, 1, {2}, c->window},
        {"stage_threshold", MF_DTYPE_F32, 1, {stages}, c->stage_threshold},
        {"stage_weak", MF_DTYPE_I32, 1, {stages + 1}, c->stage_weak},
        {"stump_feature", MF_DTYPE_I32, 1, {stumps}, c->stump_feature},
        {"stump_threshold", MF_DTYPE_F32, 1, {stumps}, c->stump_threshold},
        {"stump_leaf", MF_DTYPE_F32, 2, {stumps, 2}, c->stump_leaf},
        {"rect", MF_DTYPE_F32, 3, {(uint32_t)c->feature_count, 3, 5}, c->rect},
        {"box_calibration", MF_DTYPE_F32, 1, {4}, c->box_calibration},
    };
    enum { ALL = sizeof all / sizeof all[0] };
    fx_tensor kept[ALL];
    size_t count = 0;
    for (size_t i = 0; i < ALL; i++) {
        if (c->omit && strcmp(all[i].name, c->omit) == 0)
            continue;
        kept[count] = all[i];
        if (c->retype && strcmp(all[i].name, c->retype) == 0)
            kept[count].dtype = all[i].dtype == MF_DTYPE_F32 ? MF_DTYPE_I32 : MF_DTYPE_F32;
        count++;
    }
    const mf_limits limits = mf_limits_default();
    fx_file file = fx_model_file(c->kind, kept, count);
    mf_model *model = mf_model_from_memory(file.bytes, file.size, &limits, status);
    fx_file_free(&file);
    return model;
}

/* A model and the detector that refers to it. */
typedef struct {
    mf_model *model;
    mf_detector *detector;
} rig;

static mf_status rig_open(rig *r, const cascade *c, const mf_limits *limits)
{
    mf_status status;
    r->detector = NULL;
    r->model = cascade_model(c, &status);
    if (r->model)
        r->detector = mf_detector_new(r->model, limits, &status);
    return status;
}

static void rig_close(rig *r)
{
    mf_detector_free(r->detector);
    mf_model_free(r->model);
}

static mf_status detector_status(const cascade *c)
{
    const mf_limits limits = mf_limits_default();
    rig r;
    const mf_status status = rig_open(&r, c, &limits);
    CHECKF((r.detector != NULL) == (status == MF_OK), "detector and status %d disagree",
           (int)status);
    rig_close(&r);
    return status;
}

typedef struct {
    mf_status status;
    size_t count;
    mf_box boxes[MAX_BOXES];
} found;

static found detect(mf_detector *detector, const mf_image *image, const mf_detect_params *params)
{
    found f;
    memset(&f, 0, sizeof f);
    f.status = mf_detect(detector, image, params, f.boxes, MAX_BOXES, &f.count);
    return f;
}

static int same_found(const found *a, const found *b)
{
    if (a->status != b->status || a->count != b->count)
        return 0;
    for (size_t i = 0; i < a->count; i++) {
        const mf_box *p = &a->boxes[i], *q = &b->boxes[i];
        if (p->x != q->x || p->y != q->y || p->w != q->w || p->h != q->h || p->score != q->score)
            return 0;
    }
    return 1;
}

static int box_near(const mf_box *box, double x, double y, double side, double tolerance)
{
    return fabs(box->x - x) <= tolerance && fabs(box->y - y) <= tolerance &&
           fabs(box->w - side) <= tolerance && fabs(box->h - side) <= tolerance;
}

/* Searches only SIDE-pixel faces, which the WIN-pixel window sees at factor
 * 2, at every window: the edge cascade fires within a pixel or two of the
 * pattern only, where the coarse-to-fine search may not look (it relies on
 * a real cascade's responses spreading a few pixels); these tests are about
 * the cascade's evaluation, which both searches share. */
static mf_detect_params side_params(void)
{
    mf_detect_params params = mf_detect_params_default();
    params.min_size = SIDE;
    params.max_size = SIDE;
    params.scale_factor = 2.0f;
    params.exhaustive = 1;
    return params;
}

/* The SIDE-pixel square the edge cascade fires on, at (x, y). */
static void draw_pattern(uint8_t *gray, int32_t width, int32_t x, int32_t y)
{
    for (int32_t row = y; row < y + SIDE; row++)
        for (int32_t col = x; col < x + SIDE; col++)
            gray[(size_t)row * (size_t)width + (size_t)col] = col < x + SIDE / 2 ? BRIGHT : DARK;
}

/* The scene: a flat background holding the pattern at (PATTERN_X, PATTERN_Y). */
static void draw_scene(uint8_t gray[SCENE_H * SCENE_W])
{
    memset(gray, BACKGROUND, SCENE_H * SCENE_W);
    draw_pattern(gray, SCENE_W, PATTERN_X, PATTERN_Y);
}

static void test_detect_params_default(void)
{
    const mf_detect_params p = mf_detect_params_default();
    CHECK(p.min_size == 24);
    CHECK(p.max_size == 0);
    CHECK(p.scale_factor == 1.1f);
    CHECK(p.min_neighbors == 3);
    CHECK(p.exhaustive == 0);
}

static void test_detector_model_checks(void)
{
    cascade c = edge_cascade();
    CHECK_STATUS(detector_status(&c), MF_OK);

    c.kind = "face_landmarks";
    CHECK_STATUS(detector_status(&c), MF_E_MODEL_KIND);
    c.kind = "face_detector_2";
    CHECK_STATUS(detector_status(&c), MF_E_MODEL_KIND);

    const char *names[] = {"window", "stage_threshold", "stage_weak", "stump_feature",
                           "stump_threshold", "stump_leaf", "rect", "box_calibration"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        c = edge_cascade();
        c.omit = names[i];
        CHECKF(detector_status(&c) == MF_E_MODEL_MISSING, "a detector loads without %s",
               names[i]);
    }

    const char *retyped[] = {"window", "stage_weak", "stump_leaf", "rect"};
    for (size_t i = 0; i < sizeof retyped / sizeof retyped[0]; i++) {
        c = edge_cascade();
        c.retype = retyped[i];
        CHECKF(detector_status(&c) == MF_E_MODEL_MISSING, "a detector loads with %s retyped",
               retyped[i]);
    }

    c = edge_cascade();
    add_constant_stump(&c, 1.0f); /* a stump that no stage owns */
    CHECK_STATUS(detector_status(&c), MF_E_MODEL_MISSING);

    const int32_t bad_features[] = {1, -1, 1000000};
    for (size_t i = 0; i < sizeof bad_features / sizeof bad_features[0]; i++) {
        c = edge_cascade();
        c.stump_feature[0] = bad_features[i];
        CHECK_STATUS(detector_status(&c), MF_E_MODEL_MISSING);
    }

    const int32_t bad_windows[][2] = {{2, WIN}, {WIN, 0}, {257, WIN}, {WIN, -5}};
    for (size_t i = 0; i < sizeof bad_windows / sizeof bad_windows[0]; i++) {
        c = edge_cascade();
        memcpy(c.window, bad_windows[i], sizeof c.window);
        CHECK_STATUS(detector_status(&c), MF_E_MODEL_MISSING);
    }

    const int32_t bad_stages[][2] = {{0, 0}, {0, 2}, {1, 1}, {-1, 1}};
    for (size_t i = 0; i < sizeof bad_stages / sizeof bad_stages[0]; i++) {
        c = edge_cascade();
        memcpy(c.stage_weak, bad_stages[i], sizeof bad_stages[i]);
        CHECK_STATUS(detector_status(&c), MF_E_MODEL_MISSING);
    }

    float *const bad_numbers[] = {&c.stage_threshold[0], &c.stump_threshold[0],
                                  &c.stump_leaf[0][0], &c.stump_leaf[0][1], &c.rect[0][1][4]};
    for (size_t i = 0; i < sizeof bad_numbers / sizeof bad_numbers[0]; i++) {
        for (int sign = -1; sign <= 1; sign += 2) {
            c = edge_cascade();
            *bad_numbers[i] = (float)sign * INFINITY;
            CHECKF(detector_status(&c) == MF_E_MODEL_MISSING, "number %zu = %+d inf loads", i,
                   sign);
        }
        c = edge_cascade();
        *bad_numbers[i] = NAN;
        CHECKF(detector_status(&c) == MF_E_MODEL_MISSING, "number %zu = NaN loads", i);
    }

    /* rectangles must lie inside the window: x, y, w, h in turn */
    const float bad_rects[][4] = {
        {-1, 0, 6, 12},  {7, 0, 6, 12},  {0, -1, 6, 12}, {0, 1, 6, 12},
        {0, 0, 0, 12},   {0, 0, 6, 0},   {0, 0, 13, 12}, {0, 0, 6, 13},
        {NAN, 0, 6, 12}, {0, NAN, 6, 12}, {0, 0, NAN, 12}, {0, 0, 6, NAN},
    };
    for (size_t i = 0; i < sizeof bad_rects / sizeof bad_rects[0]; i++) {
        c = edge_cascade();
        memcpy(c.rect[0][0], bad_rects[i], sizeof bad_rects[i]);
        CHECKF(detector_status(&c) == MF_E_MODEL_MISSING, "rect {%g, %g, %g, %g} loads",
               bad_rects[i][0], bad_rects[i][1], bad_rects[i][2], bad_rects[i][3]);
    }
    /* weights are small integers, summed exactly in int32 */
    const float bad_weights[] = {0.5f, -1.25f, 17.0f, -17.0f, 1e9f};
    for (size_t i = 0; i < sizeof bad_weights / sizeof bad_weights[0]; i++) {
        c = edge_cascade();
        c.rect[0][1][4] = bad_weights[i];
        CHECKF(detector_status(&c) == MF_E_MODEL_MISSING, "rect weight %g loads", bad_weights[i]);
    }
    c = edge_cascade();
    c.rect[0][1][4] = -16.0f;
    CHECK_STATUS(detector_status(&c), MF_OK);
    /* an unused rectangle (weight 0) is not checked */
    c = edge_cascade();
    memcpy(c.rect[0][2], (float[5]){-9, -9, 99, 99, 0.0f}, sizeof c.rect[0][2]);
    CHECK_STATUS(detector_status(&c), MF_OK);

    /* the calibration places boxes: bounded, not only finite */
    const float bad_calibrations[][4] = {
        {1e30f, 0, 1, 1}, {0, -1e30f, 1, 1}, {0, 0, 1e30f, 1}, {0, 0, 1, 1e30f},
        {5.0f, 0, 1, 1},  {0, 0, 4.5f, 1},   {0, 0, 1e-30f, 1},
    };
    for (size_t i = 0; i < sizeof bad_calibrations / sizeof bad_calibrations[0]; i++) {
        c = edge_cascade();
        memcpy(c.box_calibration, bad_calibrations[i], sizeof c.box_calibration);
        CHECKF(detector_status(&c) == MF_E_MODEL_MISSING, "calibration {%g, %g, %g, %g} loads",
               bad_calibrations[i][0], bad_calibrations[i][1], bad_calibrations[i][2],
               bad_calibrations[i][3]);
    }
}

/* An unused rectangle (weight 0) may hold anything, NaN and huge values
 * included: detection never converts it to pixel offsets (it did, to int,
 * before checking the weight: undefined behaviour, seen under UBSan). */
static void test_unused_rect_never_converted(void)
{
    const float junk[][5] = {{NAN, NAN, NAN, NAN, 0.0f}, {3e38f, -3e38f, 1e30f, -1e30f, 0.0f}};
    static uint8_t scene[SCENE_H * SCENE_W];
    draw_scene(scene);
    const mf_image image = fx_view(scene, SCENE_W, SCENE_H, MF_GRAY);
    const mf_limits limits = mf_limits_default();
    const mf_detect_params params = side_params();
    rig clean;
    const cascade plain = edge_cascade();
    CHECK_STATUS(rig_open(&clean, &plain, &limits), MF_OK);
    const found want = detect(clean.detector, &image, &params);
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        cascade c = edge_cascade();
        memcpy(c.rect[0][2], junk[i], sizeof c.rect[0][2]);
        rig r;
        CHECK_STATUS(rig_open(&r, &c, &limits), MF_OK);
        if (r.detector) {
            const found f = detect(r.detector, &image, &params);
            CHECK(same_found(&f, &want) && f.count == 1);
        }
        rig_close(&r);
    }
    rig_close(&clean);
}

static void test_detect_pattern(void)
{
    const mf_limits limits = mf_limits_default();
    const mf_detect_params params = side_params();
    const cascade c = edge_cascade();
    rig r;
    CHECK_STATUS(rig_open(&r, &c, &limits), MF_OK);

    static uint8_t scene[SCENE_H * SCENE_W];
    draw_scene(scene);
    const mf_image image = fx_view(scene, SCENE_W, SCENE_H, MF_GRAY);
    found f = detect(r.detector, &image, &params);
    CHECK_STATUS(f.status, MF_OK);
    CHECKF(f.count == 1, "%zu boxes for one pattern", f.count);
    if (f.count >= 1) {
        CHECKF(box_near(&f.boxes[0], PATTERN_X, PATTERN_Y, SIDE, 2.0),
               "box (%g, %g, %g, %g) is not near (%d, %d, %d, %d)", f.boxes[0].x, f.boxes[0].y,
               f.boxes[0].w, f.boxes[0].h, PATTERN_X, PATTERN_Y, SIDE, SIDE);
        CHECKF(f.boxes[0].score > params.min_neighbors, "score %g", f.boxes[0].score);
    }
    const found first = f;
    f = detect(r.detector, &image, &params);
    CHECK(same_found(&f, &first)); /* a second call on the same detector gives the same */

    mf_detect_params strict = params;
    strict.min_neighbors = (int32_t)first.boxes[0].score;
    f = detect(r.detector, &image, &strict);
    CHECK(f.status == MF_OK && f.count == 0);

    memset(scene, BACKGROUND, sizeof scene);
    f = detect(r.detector, &image, &params);
    CHECK(f.status == MF_OK && f.count == 0);

    /* edges the other way: dark to bright left to right, and bright above dark */
    for (int32_t y = 0; y < SCENE_H; y++)
        for (int32_t x = 0; x < SCENE_W; x++)
            scene[y * SCENE_W + x] = x < SCENE_W / 2 ? DARK : BRIGHT;
    f = detect(r.detector, &image, &params);
    CHECK(f.status == MF_OK && f.count == 0);
    for (int32_t y = 0; y < SCENE_H; y++)
        memset(scene + y * SCENE_W, y < SCENE_H / 2 ? BRIGHT : DARK, SCENE_W);
    f = detect(r.detector, &image, &params);
    CHECK(f.status == MF_OK && f.count == 0);

    /* smaller than the window: nothing to scan, on a used detector and a new one */
    const mf_image tiny = fx_view(scene, WIN - 1, WIN - 1, MF_GRAY);
    const mf_detect_params defaults = mf_detect_params_default();
    f = detect(r.detector, &tiny, &defaults);
    CHECK(f.status == MF_OK && f.count == 0);
    rig fresh;
    CHECK_STATUS(rig_open(&fresh, &c, &limits), MF_OK);
    f = detect(fresh.detector, &tiny, &defaults);
    CHECK(f.status == MF_OK && f.count == 0);
    rig_close(&fresh);
    rig_close(&r);
}

/* The calibration maps the window's box to the face box. */
static void test_detect_calibration(void)
{
    const mf_limits limits = mf_limits_default();
    static uint8_t scene[SCENE_H * SCENE_W];
    draw_scene(scene);
    const mf_image image = fx_view(scene, SCENE_W, SCENE_H, MF_GRAY);

    cascade c = edge_cascade();
    rig plain, calibrated;
    CHECK_STATUS(rig_open(&plain, &c, &limits), MF_OK);
    const float cal[4] = {0.25f, 0.125f, 0.5f, 0.75f};
    memcpy(c.box_calibration, cal, sizeof cal);
    CHECK_STATUS(rig_open(&calibrated, &c, &limits), MF_OK);

    mf_detect_params params = side_params();
    const found want = detect(plain.detector, &image, &params);
    /* min_size and max_size bound the calibrated box */
    params.min_size = params.max_size = (int32_t)(cal[2] * SIDE);
    const found got = detect(calibrated.detector, &image, &params);
    CHECK_STATUS(got.status, MF_OK);
    CHECK(got.count == 1 && want.count == 1);
    if (got.count == 1 && want.count == 1) {
        const mf_box *w = &want.boxes[0], *g = &got.boxes[0];
        CHECK(fabsf(g->x - (w->x + cal[0] * w->w)) < 1e-3f);
        CHECK(fabsf(g->y - (w->y + cal[1] * w->h)) < 1e-3f);
        CHECK(fabsf(g->w - cal[2] * w->w) < 1e-3f);
        CHECK(fabsf(g->h - cal[3] * w->h) < 1e-3f);
        CHECK(g->score == w->score);
    }
    rig_close(&plain);
    rig_close(&calibrated);
}

/* Cascades that differ from the edge cascade only in how they compute the
 * same decision find exactly the same boxes. */
static void test_detect_stages(void)
{
    const mf_limits limits = mf_limits_default();
    const mf_detect_params params = side_params();
    static uint8_t scene[SCENE_H * SCENE_W];
    draw_scene(scene);
    const mf_image image = fx_view(scene, SCENE_W, SCENE_H, MF_GRAY);
    const cascade edge = edge_cascade();
    rig r;
    CHECK_STATUS(rig_open(&r, &edge, &limits), MF_OK);
    const found want = detect(r.detector, &image, &params);
    rig_close(&r);
    CHECK(want.status == MF_OK && want.count == 1);

    enum { VARIANTS = 5 };
    cascade variants[VARIANTS];
    /* a stage whose first stump votes no but whose second can still carry it */
    cascade *c = &variants[0];
    *c = edge;
    c->stump_count = 0;
    add_constant_stump(c, -1.0f);
    c->stump_feature[1] = 0;
    c->stump_threshold[1] = edge.stump_threshold[0];
    c->stump_leaf[1][0] = -1.0f;
    c->stump_leaf[1][1] = 2.0f;
    c->stump_count = 2;
    c->stage_weak[1] = 2;
    c->stage_threshold[0] = 0.5f;
    /* a second stage that every window passes */
    c = &variants[1];
    *c = edge;
    add_constant_stump(c, 1.0f);
    c->stage_count = 2;
    c->stage_weak[2] = 2;
    c->stage_threshold[1] = 0.5f;
    /* the edge feature from three rectangles: left, right top, right bottom */
    c = &variants[2];
    *c = edge;
    memcpy(c->rect[0][1], (float[5]){WIN / 2, 0, WIN / 2, WIN / 2, -1.0f}, sizeof c->rect[0][1]);
    memcpy(c->rect[0][2], (float[5]){WIN / 2, WIN / 2, WIN / 2, WIN / 2, -1.0f},
           sizeof c->rect[0][2]);
    /* ... and from the whole window minus twice the right half */
    c = &variants[3];
    *c = edge;
    memcpy(c->rect[0][0], (float[5]){0, 0, WIN, WIN, 1.0f}, sizeof c->rect[0][0]);
    c->rect[0][1][4] = -2.0f;
    /* the edge as the second of two features */
    c = &variants[4];
    *c = edge;
    memcpy(c->rect[1], edge.rect[0], sizeof c->rect[1]);
    memcpy(c->rect[0][0], (float[5]){1, 1, 2, 2, 1.0f}, sizeof c->rect[0][0]);
    c->feature_count = 2;
    c->stump_feature[0] = 1;

    for (int i = 0; i < VARIANTS; i++) {
        CHECK_STATUS(rig_open(&r, &variants[i], &limits), MF_OK);
        const found f = detect(r.detector, &image, &params);
        CHECKF(same_found(&f, &want), "variant %d: status %d, %zu boxes differ", i, (int)f.status,
               f.count);
        rig_close(&r);
    }

    /* a second stage that every window fails */
    cascade rejecting = edge;
    add_constant_stump(&rejecting, -1.0f);
    rejecting.stage_count = 2;
    rejecting.stage_weak[2] = 2;
    rejecting.stage_threshold[1] = 0.0f;
    CHECK_STATUS(rig_open(&r, &rejecting, &limits), MF_OK);
    const found none = detect(r.detector, &image, &params);
    CHECK(none.status == MF_OK && none.count == 0);
    rig_close(&r);
}

/* Colour views, flips and channel reversals of one scene see the same faces. */
static void test_detect_views(void)
{
    const mf_limits limits = mf_limits_default();
    const mf_detect_params params = side_params();
    const cascade c = edge_cascade();
    rig r;
    CHECK_STATUS(rig_open(&r, &c, &limits), MF_OK);

    static uint8_t scene[SCENE_H * SCENE_W], mirrored[SCENE_H * SCENE_W];
    static uint8_t rgb[SCENE_H * SCENE_W * 3], rgba[SCENE_H * SCENE_W * 4];
    draw_scene(scene);
    for (size_t i = 0; i < (size_t)SCENE_W * SCENE_H; i++) {
        memset(rgb + 3 * i, scene[i], 3);
        memset(rgba + 4 * i, scene[i], 3);
        rgba[4 * i + 3] = (uint8_t)(i * 37); /* alpha, to be ignored */
    }
    for (int32_t y = 0; y < SCENE_H; y++)
        for (int32_t x = 0; x < SCENE_W; x++)
            mirrored[y * SCENE_W + x] = scene[y * SCENE_W + SCENE_W - 1 - x];

    const mf_image gray_view = fx_view(scene, SCENE_W, SCENE_H, MF_GRAY);
    const found want = detect(r.detector, &gray_view, &params);
    CHECK(want.status == MF_OK && want.count == 1);

    mf_image views[6];
    views[0] = fx_view(rgb, SCENE_W, SCENE_H, MF_RGB);
    views[1] = fx_view(rgb, SCENE_W, SCENE_H, MF_BGR);
    views[2] = fx_view(rgba, SCENE_W, SCENE_H, MF_RGBA);
    views[3] = fx_view(rgba, SCENE_W, SCENE_H, MF_BGRA);
    views[4] = fx_view(rgb + 2, SCENE_W, SCENE_H, MF_BGR); /* channels reversed in place */
    views[4].channel_stride = -1;
    views[5] = fx_view(mirrored + SCENE_W - 1, SCENE_W, SCENE_H, MF_GRAY); /* flipped back */
    views[5].pixel_stride = -1;
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) {
        const found f = detect(r.detector, &views[i], &params);
        CHECKF(same_found(&f, &want), "view %zu: status %d, %zu boxes differ from the gray view's",
               i, (int)f.status, f.count);
    }

    /* upside down: the box moves to the mirrored row */
    mf_image flipped = fx_view(scene + (SCENE_H - 1) * SCENE_W, SCENE_W, SCENE_H, MF_GRAY);
    flipped.row_stride = -SCENE_W;
    const found f = detect(r.detector, &flipped, &params);
    CHECK(f.status == MF_OK && f.count == 1);
    if (f.count == 1 && want.count == 1) {
        const mf_box *b = &f.boxes[0], *w = &want.boxes[0];
        CHECKF(fabsf(b->y - (SCENE_H - w->y - w->h)) <= 1.0f && b->x == w->x && b->w == w->w &&
                   b->h == w->h,
               "flipped box (%g, %g, %g, %g) against (%g, %g, %g, %g)", b->x, b->y, b->w, b->h,
               w->x, w->y, w->w, w->h);
    }
    rig_close(&r);
}

static void test_detect_capacity(void)
{
    mf_limits limits = mf_limits_default();
    const mf_detect_params params = side_params();
    const cascade c = edge_cascade();
    rig r;
    CHECK_STATUS(rig_open(&r, &c, &limits), MF_OK);

    static uint8_t scene[SCENE_H * SCENE_W];
    const int32_t xs[2] = {8, 56};
    memset(scene, BACKGROUND, sizeof scene);
    for (int i = 0; i < 2; i++)
        draw_pattern(scene, SCENE_W, xs[i], PATTERN_Y);
    const mf_image image = fx_view(scene, SCENE_W, SCENE_H, MF_GRAY);

    const found all = detect(r.detector, &image, &params);
    CHECK_STATUS(all.status, MF_OK);
    CHECKF(all.count == 2, "%zu boxes for two patterns", all.count);
    if (all.count == 2) {
        CHECK(all.boxes[0].score >= all.boxes[1].score);
        const int left_first = all.boxes[0].x < all.boxes[1].x;
        for (int i = 0; i < 2; i++)
            CHECK(box_near(&all.boxes[left_first ? i : 1 - i], xs[i], PATTERN_Y, SIDE, 2.0));
    }

    mf_box one[1];
    size_t count = 99;
    CHECK_STATUS(mf_detect(r.detector, &image, &params, one, 1, &count), MF_OK);
    CHECK(count == 1 && memcmp(&one[0], &all.boxes[0], sizeof one[0]) == 0);
    count = 99;
    CHECK_STATUS(mf_detect(r.detector, &image, &params, NULL, 0, &count), MF_OK);
    CHECK(count == 0);
    CHECK_STATUS(mf_detect(r.detector, &image, &params, NULL, 1, &count), MF_E_INVALID_ARGUMENT);
    rig_close(&r);

    limits.max_faces = 1;
    CHECK_STATUS(rig_open(&r, &c, &limits), MF_OK);
    const found capped = detect(r.detector, &image, &params);
    CHECK(capped.status == MF_OK && capped.count == 1);
    rig_close(&r);
}

static void test_detect_arguments(void)
{
    mf_limits limits = mf_limits_default();
    const cascade c = edge_cascade();
    rig r;
    CHECK_STATUS(rig_open(&r, &c, &limits), MF_OK);
    static uint8_t scene[SCENE_H * SCENE_W];
    draw_scene(scene);
    const mf_image image = fx_view(scene, SCENE_W, SCENE_H, MF_GRAY);
    const mf_detect_params good = side_params();
    mf_box boxes[MAX_BOXES];
    size_t count = 99;

    CHECK_STATUS(mf_detect(NULL, &image, &good, boxes, MAX_BOXES, &count), MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_detect(r.detector, NULL, &good, boxes, MAX_BOXES, &count),
                 MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_detect(r.detector, &image, NULL, boxes, MAX_BOXES, &count),
                 MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_detect(r.detector, &image, &good, boxes, MAX_BOXES, NULL),
                 MF_E_INVALID_ARGUMENT);

    mf_detect_params bad[9];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        bad[i] = good;
    bad[0].min_size = 0;
    bad[1].min_size = -24;
    bad[2].max_size = -1;
    bad[3].scale_factor = 1.0f;
    bad[4].scale_factor = 5.0f;
    bad[5].scale_factor = NAN;
    bad[6].scale_factor = -2.0f;
    bad[7].scale_factor = INFINITY;
    bad[8].min_neighbors = -1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        count = 99;
        CHECKF(mf_detect(r.detector, &image, &bad[i], boxes, MAX_BOXES, &count) ==
                       MF_E_INVALID_ARGUMENT && count == 0,
               "bad params %zu accepted", i);
    }

    mf_image broken = image;
    broken.channels = 3;
    CHECK_STATUS(mf_detect(r.detector, &broken, &good, boxes, MAX_BOXES, &count),
                 MF_E_INVALID_ARGUMENT);
    rig_close(&r);

    limits.max_image_pixels = (int64_t)SCENE_W * SCENE_H - 1;
    CHECK_STATUS(rig_open(&r, &c, &limits), MF_OK);
    CHECK_STATUS(mf_detect(r.detector, &image, &good, boxes, MAX_BOXES, &count),
                 MF_E_IMAGE_TOO_LARGE);
    rig_close(&r);
    limits = mf_limits_default();
    limits.max_image_side = SCENE_W - 1;
    CHECK_STATUS(rig_open(&r, &c, &limits), MF_OK);
    CHECK_STATUS(mf_detect(r.detector, &image, &good, boxes, MAX_BOXES, &count),
                 MF_E_IMAGE_TOO_LARGE);
    rig_close(&r);
}

/* The coarse-to-fine search finds the pattern where its sparse grid lands on
 * it (the first column of windows), with the raw detections around it: the
 * same box as the exhaustive search. Two pyramid levels around the pattern's
 * scale make the upper one fine, searched from the lower one's seeds. */
static void test_coarse_to_fine(void)
{
    const mf_limits limits = mf_limits_default();
    const cascade c = edge_cascade();
    rig r;
    CHECK_STATUS(rig_open(&r, &c, &limits), MF_OK);
    static uint8_t scene[SCENE_H * SCENE_W];
    memset(scene, BACKGROUND, sizeof scene);
    draw_pattern(scene, SCENE_W, 0, PATTERN_Y);
    const mf_image image = fx_view(scene, SCENE_W, SCENE_H, MF_GRAY);

    mf_detect_params exhaustive = side_params(), coarse = side_params();
    coarse.exhaustive = 0;
    const found want = detect(r.detector, &image, &exhaustive);
    const found got = detect(r.detector, &image, &coarse);
    CHECK(want.status == MF_OK && want.count == 1);
    CHECKF(same_found(&got, &want), "status %d, %zu boxes differ from the exhaustive search's",
           (int)got.status, got.count);
    if (got.count == 1)
        CHECK(box_near(&got.boxes[0], 0, PATTERN_Y, SIDE, 2.0));

    /* levels at factors 1.1^8, 1.1^9 and 1.1^10: the middle one is fine */
    coarse.scale_factor = exhaustive.scale_factor = 1.1f;
    coarse.min_size = exhaustive.min_size = 2 * WIN;
    coarse.max_size = exhaustive.max_size = (int32_t)(2.7 * WIN);
    const found wide = detect(r.detector, &image, &exhaustive);
    const found fine = detect(r.detector, &image, &coarse);
    CHECK(wide.status == MF_OK && wide.count == 1 && fine.status == MF_OK && fine.count == 1);
    if (wide.count == 1 && fine.count == 1)
        CHECKF(box_near(&fine.boxes[0], wide.boxes[0].x, wide.boxes[0].y, wide.boxes[0].w, 1.0) &&
                   fine.boxes[0].score >= wide.boxes[0].score - 2,
               "box (%g, %g, %g) score %g against (%g, %g, %g) score %g", fine.boxes[0].x,
               fine.boxes[0].y, fine.boxes[0].w, fine.boxes[0].score, wide.boxes[0].x,
               wide.boxes[0].y, wide.boxes[0].w, wide.boxes[0].score);

    mf_detect_params bad = coarse;
    bad.exhaustive = 2;
    size_t count = 99;
    mf_box boxes[MAX_BOXES];
    CHECK(mf_detect(r.detector, &image, &bad, boxes, MAX_BOXES, &count) == MF_E_INVALID_ARGUMENT &&
          count == 0);
    rig_close(&r);
}

/* A cascade that passes every window that is not flat, on a textured
 * frame: tens of thousands of windows pass, all one cluster. Grouping
 * compares all pairs of raw detections, so their number is capped (8192,
 * the first found); at the old cap, 65536, this took seconds (the fuzzer
 * found the hang). */
static void test_every_window_fires(void)
{
    enum { SIDE_ALL = 256 };
    cascade c = edge_cascade();
    c.stump_leaf[0][0] = c.stump_leaf[0][1] = 1.0f; /* above the stage threshold 0 */
    const mf_limits limits = mf_limits_default();
    rig r;
    CHECK_STATUS(rig_open(&r, &c, &limits), MF_OK);
    static uint8_t texture[SIDE_ALL * SIDE_ALL];
    for (int y = 0; y < SIDE_ALL; y++)
        for (int x = 0; x < SIDE_ALL; x++)
            texture[y * SIDE_ALL + x] = (uint8_t)((x * 7 + y * 13 + (x * y) % 17) & 0xff);
    const mf_image image = fx_view(texture, SIDE_ALL, SIDE_ALL, MF_GRAY);
    mf_detect_params params = mf_detect_params_default();
    params.min_size = 1;
    const clock_t start = clock();
    found f = detect(r.detector, &image, &params);
    const double seconds = (double)(clock() - start) / CLOCKS_PER_SEC;
    CHECK_STATUS(f.status, MF_OK);
    CHECKF(f.count == 1 && f.boxes[0].score == 8192.0f, "%zu boxes, the first of score %g",
           f.count, f.count ? f.boxes[0].score : 0.0f);
    CHECKF(seconds < 1.0, "detection took %.2f s of CPU", seconds);
    rig_close(&r);
}

void test_detect(void)
{
    test_detect_params_default();
    test_detector_model_checks();
    test_detect_pattern();
    test_detect_calibration();
    test_detect_stages();
    test_detect_views();
    test_detect_capacity();
    test_detect_arguments();
    test_unused_rect_never_converted();
    test_every_window_fires();
    test_coarse_to_fine();
}
