/* The landmark regressor on synthetic models. The mean shape is an ellipse
 * of 68 points (centred, so the similarity of a scaled, rotated copy is
 * exactly that scale and rotation); the box shape is the ellipse mapped into
 * the middle of the box on a 1/256 grid, so that the initial points of an
 * integer box are exact in float. */
#include <math.h>
#include <string.h>

#include "fixtures.h"
#include "harness.h"

enum {
    VALUES = 2 * MF_LANDMARKS,
    ROW = MF_LANDMARK_FEATURES + 1, /* a regressor row: features and the bias */
    STAGES = 2,
    BASIS = 2, /* translation along x, along y */
    TENSORS = 7,
    TREE_TENSORS = 6,
    TREES = 2, /* one level of two trees of depth 1 on two pixels */
    SIDE = 96, /* the test frame */
};

typedef struct {
    float mean_shape[VALUES], box_shape[VALUES];
    float stage_radius[STAGES];
    float shape_basis[VALUES * BASIS];
    /* room for one stage more than the model has, for the wrong-count case */
    float regressor[(STAGES + 1) * BASIS * ROW];
    float quality[ROW];
    int32_t hog[3];
    int32_t tree_anchor[2], tree_point[TREES], tree_split[TREES * 2];
    float tree_offset[4], tree_threshold[TREES], tree_leaf[TREES * 2 * 2];
    fx_tensor tensors[TENSORS + TREE_TENSORS];
    size_t count;
} synthetic;

static const float QUALITY_BIAS = 0.25f;

/* A model whose regressors are all zero: it leaves every shape where it is. */
static void synthetic_init(synthetic *s)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < MF_LANDMARKS; i++) {
        const double t = 2.0 * 3.14159265358979 * i / MF_LANDMARKS;
        s->mean_shape[2 * i] = (float)(0.8 * cos(t));
        s->mean_shape[2 * i + 1] = (float)(0.9 * sin(t));
        s->box_shape[2 * i] = roundf((0.4f * s->mean_shape[2 * i] + 0.5f) * 256.0f) / 256.0f;
        s->box_shape[2 * i + 1] = roundf((0.4f * s->mean_shape[2 * i + 1] + 0.5f) * 256.0f) / 256.0f;
        /* orthonormal: each column has 68 entries of 1/sqrt(68) */
        s->shape_basis[(2 * i) * BASIS + 0] = 1.0f / sqrtf((float)MF_LANDMARKS);
        s->shape_basis[(2 * i + 1) * BASIS + 1] = 1.0f / sqrtf((float)MF_LANDMARKS);
    }
    s->stage_radius[0] = 0.4f;
    s->stage_radius[1] = 0.2f;
    s->quality[ROW - 1] = QUALITY_BIAS;
    s->hog[0] = MF_HOG_CELLS;
    s->hog[1] = MF_HOG_CELL;
    s->hog[2] = MF_HOG_BINS;
    const fx_tensor all[TENSORS] = {
        {"mean_shape", MF_DTYPE_F32, 2, {MF_LANDMARKS, 2}, s->mean_shape},
        {"box_shape", MF_DTYPE_F32, 2, {MF_LANDMARKS, 2}, s->box_shape},
        {"stage_radius", MF_DTYPE_F32, 1, {STAGES}, s->stage_radius},
        {"shape_basis", MF_DTYPE_F32, 2, {VALUES, BASIS}, s->shape_basis},
        {"regressor", MF_DTYPE_F32, 3, {STAGES, BASIS, ROW}, s->regressor},
        {"quality", MF_DTYPE_F32, 1, {ROW}, s->quality},
        {"hog", MF_DTYPE_I32, 1, {3}, s->hog},
    };
    memcpy(s->tensors, all, sizeof all);
    s->count = TENSORS;
}

/* Adds a tree level to a model: two trees of depth 1 comparing pixel 0
 * (at point 0) with pixel 1 (at point 17), moving points 3 and 40, all
 * leaves zero; a threshold of -1e30 sends every face right, +1e30 left. */
static void add_trees(synthetic *s)
{
    s->tree_anchor[0] = 0;
    s->tree_anchor[1] = 17;
    s->tree_point[0] = 3;
    s->tree_point[1] = 40;
    for (int t = 0; t < TREES; t++) {
        s->tree_split[2 * t] = 0;
        s->tree_split[2 * t + 1] = 1;
    }
    const fx_tensor trees[TREE_TENSORS] = {
        {"tree_anchor", MF_DTYPE_I32, 2, {1, 2}, s->tree_anchor},
        {"tree_offset", MF_DTYPE_F32, 3, {1, 2, 2}, s->tree_offset},
        {"tree_point", MF_DTYPE_I32, 2, {1, TREES}, s->tree_point},
        {"tree_split", MF_DTYPE_I32, 4, {1, TREES, 1, 2}, s->tree_split},
        {"tree_threshold", MF_DTYPE_F32, 3, {1, TREES, 1}, s->tree_threshold},
        {"tree_leaf", MF_DTYPE_F32, 4, {1, TREES, 2, 2}, s->tree_leaf},
    };
    memcpy(s->tensors + s->count, trees, sizeof trees);
    s->count += TREE_TENSORS;
}

static fx_tensor *tensor_named(synthetic *s, const char *name)
{
    for (size_t i = 0; i < s->count; i++)
        if (strcmp(s->tensors[i].name, name) == 0)
            return &s->tensors[i];
    return NULL;
}

static void omit_tensor(synthetic *s, const char *name)
{
    fx_tensor *t = tensor_named(s, name);
    size_t at = (size_t)(t - s->tensors);
    memmove(t, t + 1, (s->count - at - 1) * sizeof *t);
    s->count--;
}

/* A model and the landmarker that refers to it. */
typedef struct {
    mf_model *model;
    mf_landmarker *landmarker;
} rig;

static mf_status rig_open_kind(rig *r, const synthetic *s, const char *kind,
                               const mf_limits *limits)
{
    const mf_limits defaults = mf_limits_default();
    mf_status status;
    fx_file file = fx_model_file(kind, s->tensors, s->count);
    r->landmarker = NULL;
    r->model = mf_model_from_memory(file.bytes, file.size, &defaults, &status);
    fx_file_free(&file);
    if (r->model)
        r->landmarker = mf_landmarker_new(r->model, limits, &status);
    CHECKF((r->landmarker != NULL) == (status == MF_OK), "landmarker and status %d disagree",
           (int)status);
    return status;
}

static mf_status rig_open(rig *r, const synthetic *s)
{
    const mf_limits defaults = mf_limits_default();
    return rig_open_kind(r, s, "landmarks", &defaults);
}

static void rig_close(rig *r)
{
    mf_landmarker_free(r->landmarker);
    mf_model_free(r->model);
}

static mf_status landmarker_status(const synthetic *s)
{
    rig r;
    const mf_status status = rig_open(&r, s);
    rig_close(&r);
    return status;
}

/* A textured gray frame: features are not all zero anywhere. */
static const uint8_t *test_frame(void)
{
    static uint8_t pixels[SIDE * SIDE];
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++)
            pixels[y * SIDE + x] = (uint8_t)((x * 7 + y * 13 + (x * y) % 17) & 0xff);
    return pixels;
}

/* The initial points of `box`, as the documented box_shape mapping. */
static void box_points(const synthetic *s, const mf_box *box, float *points)
{
    for (int i = 0; i < MF_LANDMARKS; i++) {
        points[2 * i] = box->x + s->box_shape[2 * i] * box->w;
        points[2 * i + 1] = box->y + s->box_shape[2 * i + 1] * box->h;
    }
}

/* The least-squares similarity (a, b) taking the centred mean shape onto
 * `shape`, in double, independently of the core's. */
static void similarity_of(const float *mean_shape, const float *shape, double *a, double *b)
{
    double mx = 0, my = 0, dot = 0, cross = 0, norm = 0;
    for (int i = 0; i < MF_LANDMARKS; i++) {
        mx += shape[2 * i] / MF_LANDMARKS;
        my += shape[2 * i + 1] / MF_LANDMARKS;
    }
    for (int i = 0; i < MF_LANDMARKS; i++) {
        const double u = mean_shape[2 * i], v = mean_shape[2 * i + 1];
        const double x = shape[2 * i] - mx, y = shape[2 * i + 1] - my;
        dot += u * x + v * y;
        cross += u * y - v * x;
        norm += u * u + v * v;
    }
    *a = dot / norm;
    *b = cross / norm;
}

static int all_finite(const float *points)
{
    for (int i = 0; i < VALUES; i++)
        if (!isfinite(points[i]))
            return 0;
    return 1;
}

static void test_valid_model_loads(void)
{
    synthetic s;
    synthetic_init(&s);
    CHECK_STATUS(landmarker_status(&s), MF_OK);
}

static void test_wrong_kind(void)
{
    synthetic s;
    synthetic_init(&s);
    const mf_limits defaults = mf_limits_default();
    rig r;
    CHECK_STATUS(rig_open_kind(&r, &s, "face_detector", &defaults), MF_E_MODEL_KIND);
    rig_close(&r);
    CHECK_STATUS(rig_open_kind(&r, &s, "landmarks2", &defaults), MF_E_MODEL_KIND);
    rig_close(&r);
}

static void test_missing_tensors(void)
{
    static const char *names[TENSORS] = {"mean_shape", "box_shape", "stage_radius", "shape_basis",
                                         "regressor",  "quality",   "hog"};
    for (size_t i = 0; i < TENSORS; i++) {
        synthetic s;
        synthetic_init(&s);
        omit_tensor(&s, names[i]);
        CHECKF(landmarker_status(&s) == MF_E_MODEL_MISSING, "model without %s loads", names[i]);
        synthetic_init(&s); /* and with the other dtype */
        fx_tensor *t = tensor_named(&s, names[i]);
        t->dtype = t->dtype == MF_DTYPE_F32 ? MF_DTYPE_I32 : MF_DTYPE_F32;
        CHECKF(landmarker_status(&s) == MF_E_MODEL_MISSING, "model with a retyped %s loads",
               names[i]);
    }
}

static void test_hog_mismatch(void)
{
    const int32_t bad[][3] = {{MF_HOG_CELLS + 1, MF_HOG_CELL, MF_HOG_BINS},
                              {MF_HOG_CELLS, MF_HOG_CELL * 2, MF_HOG_BINS},
                              {MF_HOG_CELLS, MF_HOG_CELL, MF_HOG_BINS + 1},
                              {0, 0, 0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        synthetic s;
        synthetic_init(&s);
        memcpy(s.hog, bad[i], sizeof s.hog);
        CHECK_STATUS(landmarker_status(&s), MF_E_MODEL_MISSING);
    }
    synthetic s;
    synthetic_init(&s);
    tensor_named(&s, "hog")->dims[0] = 2; /* two of the three values */
    CHECK_STATUS(landmarker_status(&s), MF_E_MODEL_MISSING);
}

static void test_shape_basis_dims(void)
{
    synthetic s;
    synthetic_init(&s);
    fx_tensor *basis = tensor_named(&s, "shape_basis");
    basis->dims[0] = BASIS; /* transposed: [K, 136] */
    basis->dims[1] = VALUES;
    CHECK_STATUS(landmarker_status(&s), MF_E_MODEL_MISSING);

    synthetic_init(&s);
    basis = tensor_named(&s, "shape_basis");
    basis->ndim = 1; /* flat [136 * K] */
    basis->dims[0] = VALUES * BASIS;
    CHECK_STATUS(landmarker_status(&s), MF_E_MODEL_MISSING);

    synthetic_init(&s);
    basis = tensor_named(&s, "shape_basis");
    basis->ndim = 3; /* [136, 1, K]: the right count, the wrong rank */
    basis->dims[1] = 1;
    basis->dims[2] = BASIS;
    CHECK_STATUS(landmarker_status(&s), MF_E_MODEL_MISSING);

    synthetic_init(&s);
    basis = tensor_named(&s, "shape_basis");
    basis->dims[0] = VALUES - 2; /* 67 points */
    CHECK_STATUS(landmarker_status(&s), MF_E_MODEL_MISSING);
}

static void test_regressor_count(void)
{
    const uint32_t bad[][3] = {
        {STAGES - 1, BASIS, ROW}, {STAGES + 1, BASIS, ROW}, {STAGES, BASIS - 1, ROW},
        {STAGES, BASIS, ROW - 1}, {STAGES, BASIS, MF_LANDMARK_FEATURES - 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        synthetic s;
        synthetic_init(&s);
        memcpy(tensor_named(&s, "regressor")->dims, bad[i], sizeof bad[i]);
        CHECK_STATUS(landmarker_status(&s), MF_E_MODEL_MISSING);
    }
    synthetic s;
    synthetic_init(&s);
    tensor_named(&s, "quality")->dims[0] = ROW - 1; /* the bias left out */
    CHECK_STATUS(landmarker_status(&s), MF_E_MODEL_MISSING);
    synthetic_init(&s);
    tensor_named(&s, "mean_shape")->dims[0] = MF_LANDMARKS - 1;
    CHECK_STATUS(landmarker_status(&s), MF_E_MODEL_MISSING);
    synthetic_init(&s);
    tensor_named(&s, "box_shape")->dims[0] = MF_LANDMARKS - 1;
    CHECK_STATUS(landmarker_status(&s), MF_E_MODEL_MISSING);
}

static void test_bad_values(void)
{
    const float radii[] = {0.0f, -0.1f, NAN, INFINITY, 10.0f};
    for (size_t i = 0; i < sizeof radii / sizeof radii[0]; i++) {
        synthetic s;
        synthetic_init(&s);
        s.stage_radius[1] = radii[i];
        CHECKF(landmarker_status(&s) == MF_E_MODEL_MISSING, "stage radius %g accepted",
               (double)radii[i]);
    }
    synthetic s;
    synthetic_init(&s);
    s.stage_radius[0] = 9.5f; /* large but allowed */
    CHECK_STATUS(landmarker_status(&s), MF_OK);

    synthetic_init(&s);
    s.mean_shape[7] = NAN;
    CHECK_STATUS(landmarker_status(&s), MF_E_MODEL_MISSING);
    synthetic_init(&s);
    s.box_shape[100] = INFINITY;
    CHECK_STATUS(landmarker_status(&s), MF_E_MODEL_MISSING);
    synthetic_init(&s);
    memset(s.mean_shape, 0, sizeof s.mean_shape); /* no scale to measure a shape against */
    CHECK_STATUS(landmarker_status(&s), MF_E_MODEL_MISSING);
    synthetic_init(&s);
    for (int i = 0; i < MF_LANDMARKS; i++)
        s.mean_shape[2 * i] += 0.5f; /* not centred: the similarity fit would be wrong */
    CHECK_STATUS(landmarker_status(&s), MF_E_MODEL_MISSING);
}

static void test_zero_regressor_keeps_the_start(void)
{
    synthetic s;
    synthetic_init(&s);
    rig r;
    CHECK_STATUS(rig_open(&r, &s), MF_OK);
    const mf_image image = fx_view(test_frame(), SIDE, SIDE, MF_GRAY);
    const mf_box box = {12.0f, 20.0f, 64.0f, 48.0f, 0.0f};
    float want[VALUES], points[VALUES], quality = -1.0f;
    box_points(&s, &box, want);
    CHECK_STATUS(mf_landmarks_from_box(r.landmarker, &image, &box, points, VALUES, &quality),
                 MF_OK);
    CHECK(memcmp(points, want, sizeof want) == 0);
    CHECK(quality == QUALITY_BIAS); /* the quality's weights on the features are zero too */
    CHECK_STATUS(mf_landmarks_from_box(r.landmarker, &image, &box, points, VALUES, NULL), MF_OK);
    CHECK(memcmp(points, want, sizeof want) == 0);

    /* tracking starts from the mean shape posed like the given points */
    float tracked[VALUES], posed[VALUES];
    double a, b;
    similarity_of(s.mean_shape, want, &a, &b);
    double cx = 0, cy = 0;
    for (int i = 0; i < MF_LANDMARKS; i++) {
        cx += want[2 * i] / MF_LANDMARKS;
        cy += want[2 * i + 1] / MF_LANDMARKS;
    }
    for (int i = 0; i < MF_LANDMARKS; i++) {
        posed[2 * i] = (float)(a * s.mean_shape[2 * i] - b * s.mean_shape[2 * i + 1] + cx);
        posed[2 * i + 1] = (float)(b * s.mean_shape[2 * i] + a * s.mean_shape[2 * i + 1] + cy);
    }
    quality = -1.0f;
    CHECK_STATUS(mf_landmarks_from_points(r.landmarker, &image, want, tracked, VALUES, &quality),
                 MF_OK);
    for (int i = 0; i < VALUES; i++)
        CHECKF(fabsf(tracked[i] - posed[i]) < 1e-3f, "tracked start %d: %g vs %g", i, tracked[i], posed[i]);
    CHECK(quality == QUALITY_BIAS);
    /* in place gives the same */
    memcpy(points, want, sizeof want);
    CHECK_STATUS(mf_landmarks_from_points(r.landmarker, &image, points, points, VALUES, NULL),
                 MF_OK);
    CHECK(memcmp(points, tracked, sizeof tracked) == 0);
    rig_close(&r);
}

static void test_quality_reads_the_last_features(void)
{
    /* quality = sum of the last stage's features + bias: the bias alone on a
     * uniform frame (no gradient: every descriptor is zero), more elsewhere */
    synthetic s;
    synthetic_init(&s);
    for (int i = 0; i < ROW - 1; i++)
        s.quality[i] = 1.0f;
    rig r;
    CHECK_STATUS(rig_open(&r, &s), MF_OK);
    static uint8_t flat[SIDE * SIDE];
    memset(flat, 90, sizeof flat);
    const mf_box box = {12.0f, 20.0f, 64.0f, 48.0f, 0.0f};
    float points[VALUES], quality = -1.0f;
    const mf_image uniform = fx_view(flat, SIDE, SIDE, MF_GRAY);
    CHECK_STATUS(mf_landmarks_from_box(r.landmarker, &uniform, &box, points, VALUES, &quality),
                 MF_OK);
    CHECK(quality == QUALITY_BIAS);
    const mf_image textured = fx_view(test_frame(), SIDE, SIDE, MF_GRAY);
    CHECK_STATUS(mf_landmarks_from_box(r.landmarker, &textured, &box, points, VALUES, &quality),
                 MF_OK);
    /* each point's descriptor has a norm below 1, so its sum is below sqrt(32) */
    CHECKF(quality > QUALITY_BIAS + 1.0f &&
               quality < QUALITY_BIAS + MF_LANDMARKS * sqrtf((float)MF_POINT_FEATURES),
           "quality %g", (double)quality);
    rig_close(&r);
}

/* Every stage moves every point by (u, v) in canonical units, which is
 * (a u - b v, b u + a v) in the frame; a translation leaves (a, b) as they
 * are, so the stages add up. */
static void check_bias_moves(const synthetic *s, const float *start, const float *moved, float u,
                             float v)
{
    double a, b;
    similarity_of(s->mean_shape, start, &a, &b);
    const double dx = STAGES * (a * u - b * v), dy = STAGES * (b * u + a * v);
    double worst = 0;
    for (int i = 0; i < MF_LANDMARKS; i++) {
        worst = fmax(worst, fabs(moved[2 * i] - (start[2 * i] + dx)));
        worst = fmax(worst, fabs(moved[2 * i + 1] - (start[2 * i + 1] + dy)));
    }
    CHECKF(worst < 1e-3, "points off by %g px from the similarity's move (%g, %g)", worst, dx, dy);
}

static void test_bias_only_regressor_translates(void)
{
    const float u = 0.05f, v = -0.03f; /* canonical units: the mean shape is about 1.7 wide */
    synthetic s;
    synthetic_init(&s);
    for (int stage = 0; stage < STAGES; stage++) {
        /* the basis columns are x and y translations of norm 1, so a
         * coefficient c moves each point by c / sqrt(68) */
        s.regressor[(stage * BASIS + 0) * ROW + ROW - 1] = u * sqrtf((float)MF_LANDMARKS);
        s.regressor[(stage * BASIS + 1) * ROW + ROW - 1] = v * sqrtf((float)MF_LANDMARKS);
    }
    rig r;
    CHECK_STATUS(rig_open(&r, &s), MF_OK);
    const mf_image image = fx_view(test_frame(), SIDE, SIDE, MF_GRAY);

    /* from a box: a scaled, unrotated start (b ~ 0) */
    const mf_box box = {12.0f, 20.0f, 64.0f, 64.0f, 0.0f};
    float start[VALUES], points[VALUES];
    box_points(&s, &box, start);
    CHECK_STATUS(mf_landmarks_from_box(r.landmarker, &image, &box, points, VALUES, NULL), MF_OK);
    check_bias_moves(&s, start, points, u, v);

    /* from points: the mean shape scaled by 30 and turned by 0.5 rad, so
     * the canonical move turns with it */
    const double scale = 30.0, angle = 0.5;
    for (int i = 0; i < MF_LANDMARKS; i++) {
        const double mx = s.mean_shape[2 * i], my = s.mean_shape[2 * i + 1];
        start[2 * i] = (float)(48.0 + scale * (cos(angle) * mx - sin(angle) * my));
        start[2 * i + 1] = (float)(40.0 + scale * (sin(angle) * mx + cos(angle) * my));
    }
    double a, b;
    similarity_of(s.mean_shape, start, &a, &b);
    CHECKF(fabs(a - scale * cos(angle)) < 1e-4 && fabs(b - scale * sin(angle)) < 1e-4,
           "similarity (%g, %g) of a turned mean shape", a, b);
    CHECK_STATUS(mf_landmarks_from_points(r.landmarker, &image, start, points, VALUES, NULL),
                 MF_OK);
    check_bias_moves(&s, start, points, u, v);
    memcpy(points, start, sizeof start); /* in place gives the same */
    CHECK_STATUS(mf_landmarks_from_points(r.landmarker, &image, points, points, VALUES, NULL),
                 MF_OK);
    check_bias_moves(&s, start, points, u, v);
    rig_close(&r);
}

static void test_bad_boxes(void)
{
    synthetic s;
    synthetic_init(&s);
    rig r;
    CHECK_STATUS(rig_open(&r, &s), MF_OK);
    const mf_image image = fx_view(test_frame(), SIDE, SIDE, MF_GRAY);
    const float big = 4.0f * SIDE + 1.0f;
    const mf_box bad[] = {
        {10, 10, 0.5f, 20, 0},      {10, 10, 20, 0.5f, 0},    {10, 10, 0, 0, 0},
        {10, 10, -20, 20, 0},       {10, 10, 20, -20, 0},     {NAN, 10, 20, 20, 0},
        {10, NAN, 20, 20, 0},       {10, 10, NAN, 20, 0},     {10, 10, 20, NAN, 0},
        {INFINITY, 10, 20, 20, 0},  {10, -INFINITY, 20, 20, 0}, {10, 10, INFINITY, 20, 0},
        {SIDE, 10, 20, 20, 0},      {10, SIDE, 20, 20, 0},    {-20, 10, 20, 20, 0},
        {10, -20, 20, 20, 0},       {-500, -500, 20, 20, 0},  {0, 0, big, 20, 0},
        {0, 0, 20, big, 0},
    };
    float points[VALUES];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        for (int k = 0; k < VALUES; k++)
            points[k] = -7.0f;
        CHECKF(mf_landmarks_from_box(r.landmarker, &image, &bad[i], points, VALUES, NULL) ==
                   MF_E_INVALID_ARGUMENT,
               "box %zu (%g, %g, %g, %g) accepted", i, (double)bad[i].x, (double)bad[i].y,
               (double)bad[i].w, (double)bad[i].h);
        CHECKF(points[0] == -7.0f && points[VALUES - 1] == -7.0f, "box %zu wrote points", i);
    }
    /* boxes that overlap the frame by a pixel are fitted */
    const mf_box edge[] = {{-19, -19, 20, 20, 0}, {SIDE - 1, SIDE - 1, 20, 20, 0},
                           {-40, 30, 80, 40, 0}, {0, 0, 4.0f * SIDE, 4.0f * SIDE, 0}};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
        CHECK_STATUS(mf_landmarks_from_box(r.landmarker, &image, &edge[i], points, VALUES, NULL),
                     MF_OK);
        CHECK(all_finite(points));
    }
    rig_close(&r);
}

static void test_bad_points(void)
{
    synthetic s;
    synthetic_init(&s);
    rig r;
    CHECK_STATUS(rig_open(&r, &s), MF_OK);
    const mf_image image = fx_view(test_frame(), SIDE, SIDE, MF_GRAY);
    const mf_box box = {12.0f, 20.0f, 64.0f, 48.0f, 0.0f};
    float good[VALUES], initial[VALUES], points[VALUES];
    box_points(&s, &box, good);

    enum { NOT_A_NUMBER, INFINITE, ONE_POINT, FLAT, THIN, LEFT, ABOVE, RIGHT, BELOW, HUGE, CASES };
    for (int c = 0; c < CASES; c++) {
        memcpy(initial, good, sizeof good);
        if (c == NOT_A_NUMBER)
            initial[33] = NAN;
        if (c == INFINITE)
            initial[0] = -INFINITY;
        for (int i = 0; i < MF_LANDMARKS; i++) {
            float *x = &initial[2 * i], *y = &initial[2 * i + 1];
            switch (c) {
            case ONE_POINT: *x = *y = 40.0f; break;
            case FLAT: *y = 40.0f; break;                           /* no height */
            case THIN: *x = 40.0f + 0.01f * (float)(i % 2); break; /* under a pixel wide */
            case LEFT: *x -= 200.0f; break;
            case ABOVE: *y -= 200.0f; break;
            case RIGHT: *x += SIDE - 10.0f; break;
            case BELOW: *y += SIDE - 18.0f; break;
            case HUGE: *x = (*x - 48.0f) * 20.0f; break; /* wider than 4 frames */
            default: break;
            }
        }
        for (int k = 0; k < VALUES; k++)
            points[k] = -7.0f;
        CHECKF(mf_landmarks_from_points(r.landmarker, &image, initial, points, VALUES, NULL) ==
                   MF_E_INVALID_ARGUMENT,
               "bad initial points, case %d, accepted", c);
        CHECKF(points[0] == -7.0f && points[VALUES - 1] == -7.0f, "case %d wrote points", c);
    }
    rig_close(&r);
}

static void test_null_and_capacity(void)
{
    synthetic s;
    synthetic_init(&s);
    rig r;
    CHECK_STATUS(rig_open(&r, &s), MF_OK);
    mf_landmarker *lm = r.landmarker;
    const mf_image image = fx_view(test_frame(), SIDE, SIDE, MF_GRAY);
    const mf_box box = {12.0f, 20.0f, 64.0f, 48.0f, 0.0f};
    float initial[VALUES], points[VALUES];
    box_points(&s, &box, initial);

    CHECK_STATUS(mf_landmarks_from_box(NULL, &image, &box, points, VALUES, NULL),
                 MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_landmarks_from_box(lm, NULL, &box, points, VALUES, NULL), MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_landmarks_from_box(lm, &image, NULL, points, VALUES, NULL),
                 MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_landmarks_from_box(lm, &image, &box, NULL, VALUES, NULL), MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_landmarks_from_box(lm, &image, &box, points, VALUES - 1, NULL),
                 MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_landmarks_from_box(lm, &image, &box, points, 0, NULL), MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_landmarks_from_box(lm, &image, &box, points, VALUES + 10, NULL), MF_OK);

    CHECK_STATUS(mf_landmarks_from_points(NULL, &image, initial, points, VALUES, NULL),
                 MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_landmarks_from_points(lm, NULL, initial, points, VALUES, NULL),
                 MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_landmarks_from_points(lm, &image, NULL, points, VALUES, NULL),
                 MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_landmarks_from_points(lm, &image, initial, NULL, VALUES, NULL),
                 MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_landmarks_from_points(lm, &image, initial, points, VALUES - 1, NULL),
                 MF_E_INVALID_ARGUMENT);

    /* a malformed view is refused before anything is read */
    mf_image bad = image;
    bad.channels = 3;
    CHECK_STATUS(mf_landmarks_from_box(lm, &bad, &box, points, VALUES, NULL), MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_landmarks_from_points(lm, &bad, initial, points, VALUES, NULL),
                 MF_E_INVALID_ARGUMENT);
    bad = image;
    bad.data = NULL;
    CHECK_STATUS(mf_landmarks_from_box(lm, &bad, &box, points, VALUES, NULL), MF_E_INVALID_ARGUMENT);

    const mf_limits defaults = mf_limits_default();
    mf_status status = MF_OK;
    CHECK(mf_landmarker_new(NULL, &defaults, &status) == NULL);
    CHECK_STATUS(status, MF_E_INVALID_ARGUMENT);
    status = MF_OK;
    CHECK(mf_landmarker_new(r.model, NULL, &status) == NULL);
    CHECK_STATUS(status, MF_E_INVALID_ARGUMENT);
    CHECK(mf_landmarker_new(NULL, NULL, NULL) == NULL); /* the status is optional */
    mf_landmarker *quiet = mf_landmarker_new(r.model, &defaults, NULL);
    CHECK(quiet != NULL);
    mf_landmarker_free(quiet);
    mf_landmarker_free(NULL);
    rig_close(&r);
}

static void test_limits_set_at_creation(void)
{
    synthetic s;
    synthetic_init(&s);
    mf_limits small = mf_limits_default();
    small.max_image_side = SIDE - 1;
    rig r;
    CHECK_STATUS(rig_open_kind(&r, &s, "landmarks", &small), MF_OK);
    const mf_image image = fx_view(test_frame(), SIDE, SIDE, MF_GRAY);
    const mf_box box = {12.0f, 20.0f, 64.0f, 48.0f, 0.0f};
    float initial[VALUES], points[VALUES];
    box_points(&s, &box, initial);
    CHECK_STATUS(mf_landmarks_from_box(r.landmarker, &image, &box, points, VALUES, NULL),
                 MF_E_IMAGE_TOO_LARGE);
    CHECK_STATUS(mf_landmarks_from_points(r.landmarker, &image, initial, points, VALUES, NULL),
                 MF_E_IMAGE_TOO_LARGE);
    const mf_image smaller = fx_view(test_frame(), SIDE - 1, SIDE - 1, MF_GRAY);
    CHECK_STATUS(mf_landmarks_from_box(r.landmarker, &smaller, &box, points, VALUES, NULL), MF_OK);
    rig_close(&r);
}

static void test_channel_orders_agree(void)
{
    /* the same luma through gray, RGB, BGR, RGBA and a flipped, strided view */
    synthetic s;
    synthetic_init(&s);
    for (int stage = 0; stage < STAGES; stage++)
        for (int k = 0; k < BASIS; k++)
            for (int f = 0; f < ROW; f++) /* small, so that the points move a little */
                s.regressor[(stage * BASIS + k) * ROW + f] = 0.02f * (float)((f * 31 + k * 7) % 13 - 6);
    rig r;
    CHECK_STATUS(rig_open(&r, &s), MF_OK);
    const uint8_t *gray = test_frame();
    static uint8_t rgb[SIDE * SIDE * 3], rgba[SIDE * SIDE * 4], flipped[SIDE * SIDE];
    for (int i = 0; i < SIDE * SIDE; i++) {
        rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = gray[i];
        rgba[4 * i] = rgba[4 * i + 1] = rgba[4 * i + 2] = gray[i];
        rgba[4 * i + 3] = (uint8_t)i; /* alpha is ignored */
    }
    for (int y = 0; y < SIDE; y++)
        memcpy(flipped + (size_t)(SIDE - 1 - y) * SIDE, gray + (size_t)y * SIDE, SIDE);
    mf_image views[5] = {fx_view(gray, SIDE, SIDE, MF_GRAY), fx_view(rgb, SIDE, SIDE, MF_RGB),
                         fx_view(rgb, SIDE, SIDE, MF_BGR), fx_view(rgba, SIDE, SIDE, MF_RGBA),
                         fx_view(flipped + (size_t)(SIDE - 1) * SIDE, SIDE, SIDE, MF_GRAY)};
    views[4].row_stride = -SIDE; /* the upside-down copy read bottom-up is the frame */
    const mf_box box = {12.0f, 20.0f, 64.0f, 48.0f, 0.0f};
    float want[VALUES], points[VALUES], want_quality, quality;
    CHECK_STATUS(mf_landmarks_from_box(r.landmarker, &views[0], &box, want, VALUES, &want_quality),
                 MF_OK);
    float start[VALUES];
    box_points(&s, &box, start);
    CHECK(memcmp(want, start, sizeof start) != 0); /* the model does move the points */
    for (int v = 1; v < 5; v++) {
        CHECK_STATUS(mf_landmarks_from_box(r.landmarker, &views[v], &box, points, VALUES, &quality),
                     MF_OK);
        CHECKF(memcmp(points, want, sizeof want) == 0 && quality == want_quality,
               "view %d gives other points", v);
    }
    rig_close(&r);
}

/* A model whose first basis direction scales the shape about its centre
 * (the second rotates it): a large coefficient spreads the points far. */
static void scaling_model(synthetic *s)
{
    synthetic_init(s);
    double norm = 0;
    for (int i = 0; i < VALUES; i++)
        norm += (double)s->mean_shape[i] * s->mean_shape[i];
    norm = sqrt(norm);
    for (int i = 0; i < MF_LANDMARKS; i++) {
        const float u = s->mean_shape[2 * i], v = s->mean_shape[2 * i + 1];
        s->shape_basis[(2 * i) * BASIS + 0] = (float)(u / norm);
        s->shape_basis[(2 * i + 1) * BASIS + 0] = (float)(v / norm);
        s->shape_basis[(2 * i) * BASIS + 1] = (float)(-v / norm);
        s->shape_basis[(2 * i + 1) * BASIS + 1] = (float)(u / norm);
    }
}

/* Finite but huge weights (the checksum valid) move the points beyond any
 * frame: the stage that does it is caught, before the next one computes a
 * region from them (an int overflow, then a huge allocation, before). */
static void test_absurd_points_after_a_stage(void)
{
    const mf_image image = fx_view(test_frame(), SIDE, SIDE, MF_GRAY);
    const mf_box box = {12.0f, 20.0f, 64.0f, 48.0f, 0.0f};
    const float biases[] = {1e30f, -1e30f, 3e38f, 1e7f};
    for (int stage = 0; stage < STAGES; stage++)
        for (size_t i = 0; i < sizeof biases / sizeof biases[0]; i++) {
            synthetic s;
            scaling_model(&s);
            s.regressor[(size_t)stage * BASIS * ROW + ROW - 1] = biases[i];
            rig r;
            CHECK_STATUS(rig_open(&r, &s), MF_OK);
            float points[VALUES], start[VALUES];
            box_points(&s, &box, start);
            CHECKF(mf_landmarks_from_box(r.landmarker, &image, &box, points, VALUES, NULL) ==
                       MF_E_MODEL_CORRUPT,
                   "stage %d with bias %g: not refused", stage, (double)biases[i]);
            CHECKF(mf_landmarks_from_points(r.landmarker, &image, start, points, VALUES, NULL) ==
                       MF_E_MODEL_CORRUPT,
                   "tracking, stage %d with bias %g: not refused", stage, (double)biases[i]);
            rig_close(&r);
        }
    /* a moderate move stays allowed */
    synthetic s;
    scaling_model(&s);
    s.regressor[ROW - 1] = 1.0f;
    rig r;
    CHECK_STATUS(rig_open(&r, &s), MF_OK);
    float points[VALUES];
    CHECK_STATUS(mf_landmarks_from_box(r.landmarker, &image, &box, points, VALUES, NULL), MF_OK);
    CHECK(all_finite(points));
    rig_close(&r);
}

/* Shapes that become coordinates are bounded at load, not only finite. */
static void test_shapes_bounded_at_load(void)
{
    synthetic s;
    synthetic_init(&s);
    s.box_shape[9] = 1e30f;
    CHECK_STATUS(landmarker_status(&s), MF_E_MODEL_MISSING);
    synthetic_init(&s);
    s.box_shape[9] = -11.0f;
    CHECK_STATUS(landmarker_status(&s), MF_E_MODEL_MISSING);
    synthetic_init(&s);
    for (int i = 0; i < VALUES; i++)
        s.mean_shape[i] *= 1e20f; /* centred still, but no face in canonical units */
    CHECK_STATUS(landmarker_status(&s), MF_E_MODEL_MISSING);
    synthetic_init(&s);
    for (int i = 0; i < VALUES; i++)
        s.mean_shape[i] *= 1e-6f; /* nearly a point: fitting it to a face scales by 1e6 */
    CHECK_STATUS(landmarker_status(&s), MF_E_MODEL_MISSING);
}

/* The moves of the leaves reached add up, projected onto the shape basis:
 * with the basis of x and y translations, tree 0 (right) moving point 3 by
 * 68 u and tree 1 (left) moving point 40 by 68 v translate every point by
 * (u, v), turned and scaled like the face. */
static void test_trees_add_the_leaves_reached(void)
{
    const float u = 0.05f, v = -0.03f;
    synthetic s;
    synthetic_init(&s);
    add_trees(&s);
    s.tree_threshold[0] = -1e30f; /* right: leaf 1 */
    s.tree_threshold[1] = 1e30f;  /* left: leaf 0 */
    s.tree_leaf[(0 * 2 + 1) * 2 + 0] = u * MF_LANDMARKS; /* tree 0, leaf 1: x */
    s.tree_leaf[(0 * 2 + 0) * 2 + 0] = 100.0f;          /* tree 0, leaf 0: never reached */
    s.tree_leaf[(1 * 2 + 0) * 2 + 1] = v * MF_LANDMARKS; /* tree 1, leaf 0: y */
    s.tree_leaf[(1 * 2 + 1) * 2 + 1] = 100.0f;          /* tree 1, leaf 1: never reached */
    rig r;
    CHECK_STATUS(rig_open(&r, &s), MF_OK);
    const mf_image image = fx_view(test_frame(), SIDE, SIDE, MF_GRAY);
    const double scale = 30.0, angle = 0.5;
    float start[VALUES], points[VALUES];
    for (int i = 0; i < MF_LANDMARKS; i++) {
        const double mx = s.mean_shape[2 * i], my = s.mean_shape[2 * i + 1];
        start[2 * i] = (float)(48.0 + scale * (cos(angle) * mx - sin(angle) * my));
        start[2 * i + 1] = (float)(40.0 + scale * (sin(angle) * mx + cos(angle) * my));
    }
    CHECK_STATUS(mf_landmarks_from_points(r.landmarker, &image, start, points, VALUES, NULL), MF_OK);
    const double dx = scale * (cos(angle) * u - sin(angle) * v), dy = scale * (sin(angle) * u + cos(angle) * v);
    double worst = 0;
    for (int i = 0; i < MF_LANDMARKS; i++) {
        worst = fmax(worst, fabs(points[2 * i] - (start[2 * i] + dx)));
        worst = fmax(worst, fabs(points[2 * i + 1] - (start[2 * i + 1] + dy)));
    }
    CHECKF(worst < 1e-3, "points off by %g px from the leaves' move (%g, %g)", worst, dx, dy);
    rig_close(&r);

    /* absurd leaves are caught like absurd regressors */
    s.tree_leaf[(0 * 2 + 1) * 2 + 0] = 1e30f;
    CHECK_STATUS(rig_open(&r, &s), MF_OK);
    CHECK_STATUS(mf_landmarks_from_points(r.landmarker, &image, start, points, VALUES, NULL),
                 MF_E_MODEL_CORRUPT);
    rig_close(&r);
}

static void test_trees_checked_at_load(void)
{
    synthetic s;
    synthetic_init(&s);
    add_trees(&s);
    CHECK_STATUS(landmarker_status(&s), MF_OK);
    static const char *names[TREE_TENSORS] = {"tree_anchor", "tree_offset", "tree_point",
                                              "tree_split", "tree_threshold", "tree_leaf"};
    for (size_t i = 0; i < TREE_TENSORS; i++) {
        synthetic_init(&s);
        add_trees(&s);
        omit_tensor(&s, names[i]);
        /* without tree_leaf there are no trees; without any other, the model is broken */
        CHECKF(landmarker_status(&s) == (i == TREE_TENSORS - 1 ? MF_OK : MF_E_MODEL_MISSING),
               "trees without %s", names[i]);
    }
    struct { const char *what; int32_t *i; float *f; float value; } bad[] = {
        {"anchor 68", &s.tree_anchor[1], NULL, MF_LANDMARKS},
        {"anchor -1", &s.tree_anchor[0], NULL, -1},
        {"moved point 68", &s.tree_point[1], NULL, MF_LANDMARKS},
        {"split pixel 2 of 2", &s.tree_split[1], NULL, 2},
        {"offset NaN", NULL, &s.tree_offset[2], NAN},
        {"offset 11", NULL, &s.tree_offset[0], 11.0f},
        {"threshold infinite", NULL, &s.tree_threshold[1], INFINITY},
        {"leaf NaN", NULL, &s.tree_leaf[3], NAN},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        synthetic_init(&s);
        add_trees(&s);
        if (bad[i].i)
            *bad[i].i = (int32_t)bad[i].value;
        else
            *bad[i].f = bad[i].value;
        CHECKF(landmarker_status(&s) == MF_E_MODEL_MISSING, "trees with %s load", bad[i].what);
    }
    /* shapes that disagree: leaves that are not moves of a point, a depth
     * whose split count does not match */
    synthetic_init(&s);
    add_trees(&s);
    tensor_named(&s, "tree_leaf")->dims[3] = 1;
    tensor_named(&s, "tree_leaf")->dims[2] = 4;
    CHECK_STATUS(landmarker_status(&s), MF_E_MODEL_MISSING);
    synthetic_init(&s);
    add_trees(&s);
    tensor_named(&s, "tree_split")->dims[1] = 1;
    tensor_named(&s, "tree_split")->dims[2] = 2;
    CHECK_STATUS(landmarker_status(&s), MF_E_MODEL_MISSING);
}

void test_landmarks(void)
{
    test_valid_model_loads();
    test_wrong_kind();
    test_missing_tensors();
    test_hog_mismatch();
    test_shape_basis_dims();
    test_regressor_count();
    test_bad_values();
    test_zero_regressor_keeps_the_start();
    test_quality_reads_the_last_features();
    test_bias_only_regressor_translates();
    test_bad_boxes();
    test_bad_points();
    test_null_and_capacity();
    test_limits_set_at_creation();
    test_channel_orders_agree();
    test_absurd_points_after_a_stage();
    test_shapes_bounded_at_load();
    test_trees_add_the_leaves_reached();
    test_trees_checked_at_load();
}
