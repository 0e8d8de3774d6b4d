/* Head pose on a synthetic model: 68 points on a bumpy ellipse (centred,
 * not flat), weights that differ by point and yaw. Points projected from the
 * model itself at a known rotation, with the camera the model assumes, must
 * give that rotation back. Also the landmark check all estimators share. */
#include <math.h>
#include <string.h>

#include "fixtures.h"
#include "harness.h"

enum {
    VALUES = 2 * MF_LANDMARKS,
    YAWS = 3,
    TENSORS = 4,
    BIG_YAWS = 65, /* one more than a model may have */
};

static const double PI = 3.14159265358979323846;
static const float DISTANCE = 500.0f;

typedef struct {
    float points[MF_LANDMARKS * 3];
    float weights[BIG_YAWS * MF_LANDMARKS];
    float weight_yaw[BIG_YAWS];
    float distance;
    fx_tensor tensors[TENSORS];
    size_t count;
} synthetic;

static void synthetic_init(synthetic *s, float distance)
{
    memset(s, 0, sizeof *s);
    double centre[3] = {0, 0, 0};
    for (int i = 0; i < MF_LANDMARKS; i++) {
        const double t = 2.0 * PI * i / MF_LANDMARKS;
        s->points[3 * i] = (float)(70.0 * cos(t));
        s->points[3 * i + 1] = (float)(80.0 * sin(t));
        s->points[3 * i + 2] = (float)(30.0 * cos(3.0 * t) + 20.0 * sin(2.0 * t));
        for (int a = 0; a < 3; a++)
            centre[a] += s->points[3 * i + a] / MF_LANDMARKS;
    }
    for (int i = 0; i < MF_LANDMARKS; i++)
        for (int a = 0; a < 3; a++)
            s->points[3 * i + a] -= (float)centre[a];
    for (int k = 0; k < YAWS; k++) {
        s->weight_yaw[k] = -30.0f + 30.0f * (float)k;
        for (int i = 0; i < MF_LANDMARKS; i++)
            s->weights[k * MF_LANDMARKS + i] = 0.25f + 0.25f * (float)((i * 7 + k * 3) % 5);
    }
    s->distance = distance;
    const fx_tensor all[TENSORS] = {
        {"points", MF_DTYPE_F32, 2, {MF_LANDMARKS, 3}, s->points},
        {"weights", MF_DTYPE_F32, 2, {YAWS, MF_LANDMARKS}, s->weights},
        {"weight_yaw", MF_DTYPE_F32, 1, {YAWS}, s->weight_yaw},
        {"distance", MF_DTYPE_F32, 1, {1}, &s->distance},
    };
    memcpy(s->tensors, all, sizeof all);
    s->count = TENSORS;
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

typedef struct {
    mf_model *model;
    mf_pose_estimator *estimator;
} rig;

static mf_status rig_open_kind(rig *r, const synthetic *s, const char *kind)
{
    const mf_limits defaults = mf_limits_default();
    mf_status status;
    fx_file file = fx_model_file(kind, s->tensors, s->count);
    r->estimator = NULL;
    r->model = mf_model_from_memory(file.bytes, file.size, &defaults, &status);
    fx_file_free(&file);
    if (r->model)
        r->estimator = mf_pose_estimator_new(r->model, &defaults, &status);
    CHECKF((r->estimator != NULL) == (status == MF_OK), "estimator and status %d disagree", (int)status);
    return status;
}

static mf_status rig_open(rig *r, const synthetic *s)
{
    return rig_open_kind(r, s, "head_pose");
}

static void rig_close(rig *r)
{
    mf_pose_estimator_free(r->estimator);
    mf_model_free(r->model);
}

static mf_status estimator_status(const synthetic *s)
{
    rig r;
    const mf_status status = rig_open(&r, s);
    rig_close(&r);
    return status;
}

/* R = Rz(roll) Ry(yaw) Rx(pitch) as mojofer.h documents it. */
static void pose_matrix(double yaw, double pitch, double roll, double r[3][3])
{
    const double y = yaw * PI / 180, p = pitch * PI / 180, q = roll * PI / 180;
    const double rx[3][3] = {{1, 0, 0}, {0, cos(p), sin(p)}, {0, -sin(p), cos(p)}};
    const double ry[3][3] = {{cos(y), 0, -sin(y)}, {0, 1, 0}, {sin(y), 0, cos(y)}};
    const double rz[3][3] = {{cos(q), -sin(q), 0}, {sin(q), cos(q), 0}, {0, 0, 1}};
    double ryx[3][3];
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            ryx[a][b] = ry[a][0] * rx[0][b] + ry[a][1] * rx[1][b] + ry[a][2] * rx[2][b];
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            r[a][b] = rz[a][0] * ryx[0][b] + rz[a][1] * ryx[1][b] + rz[a][2] * ryx[2][b];
}

/* The model's points seen at a pose: scale and shift in pixels, perspective
 * from `distance` model units away (0: orthographic). */
static void project(const synthetic *s, double yaw, double pitch, double roll, double scale,
                    double shift_x, double shift_y, double distance, float *points)
{
    double r[3][3];
    pose_matrix(yaw, pitch, roll, r);
    for (int i = 0; i < MF_LANDMARKS; i++) {
        const float *p = s->points + 3 * i;
        double y[3];
        for (int a = 0; a < 3; a++)
            y[a] = r[a][0] * p[0] + r[a][1] * p[1] + r[a][2] * p[2];
        const double d = distance > 0 ? 1.0 + y[2] / distance : 1.0;
        points[2 * i] = (float)(scale * y[0] / d + shift_x);
        points[2 * i + 1] = (float)(scale * y[1] / d + shift_y);
    }
}

static void test_valid_models_load(void)
{
    synthetic s;
    synthetic_init(&s, 0.0f);
    CHECK_STATUS(estimator_status(&s), MF_OK);
    synthetic_init(&s, DISTANCE);
    CHECK_STATUS(estimator_status(&s), MF_OK);
    synthetic_init(&s, DISTANCE); /* one row of weights for every yaw */
    tensor_named(&s, "weights")->dims[0] = 1;
    tensor_named(&s, "weight_yaw")->dims[0] = 1;
    CHECK_STATUS(estimator_status(&s), MF_OK);
}

static void test_wrong_kind(void)
{
    synthetic s;
    synthetic_init(&s, DISTANCE);
    rig r;
    CHECK_STATUS(rig_open_kind(&r, &s, "landmarks"), MF_E_MODEL_KIND);
    rig_close(&r);
    CHECK_STATUS(rig_open_kind(&r, &s, "head_pose2"), MF_E_MODEL_KIND);
    rig_close(&r);
}

static void test_missing_tensors(void)
{
    static const char *names[TENSORS] = {"points", "weights", "weight_yaw", "distance"};
    for (size_t i = 0; i < TENSORS; i++) {
        synthetic s;
        synthetic_init(&s, DISTANCE);
        omit_tensor(&s, names[i]);
        CHECKF(estimator_status(&s) == MF_E_MODEL_MISSING, "model without %s loads", names[i]);
        synthetic_init(&s, DISTANCE);
        tensor_named(&s, names[i])->dtype = MF_DTYPE_I32;
        CHECKF(estimator_status(&s) == MF_E_MODEL_MISSING, "model with an int32 %s loads", names[i]);
    }
}

static void test_wrong_shapes(void)
{
    synthetic s;
    synthetic_init(&s, DISTANCE);
    fx_tensor *t = tensor_named(&s, "points");
    t->dims[0] = 3; /* transposed */
    t->dims[1] = MF_LANDMARKS;
    CHECK_STATUS(estimator_status(&s), MF_E_MODEL_MISSING);
    synthetic_init(&s, DISTANCE);
    t = tensor_named(&s, "points");
    t->ndim = 1; /* flat */
    t->dims[0] = 3 * MF_LANDMARKS;
    t->dims[1] = 1;
    CHECK_STATUS(estimator_status(&s), MF_E_MODEL_MISSING);
    synthetic_init(&s, DISTANCE);
    tensor_named(&s, "points")->dims[0] = MF_LANDMARKS - 1;
    CHECK_STATUS(estimator_status(&s), MF_E_MODEL_MISSING);

    synthetic_init(&s, DISTANCE);
    t = tensor_named(&s, "weights");
    t->dims[0] = MF_LANDMARKS; /* transposed */
    t->dims[1] = YAWS;
    CHECK_STATUS(estimator_status(&s), MF_E_MODEL_MISSING);
    synthetic_init(&s, DISTANCE);
    tensor_named(&s, "weights")->dims[0] = YAWS - 1; /* fewer rows than yaws */
    CHECK_STATUS(estimator_status(&s), MF_E_MODEL_MISSING);
    synthetic_init(&s, DISTANCE);
    t = tensor_named(&s, "weight_yaw"); /* more yaws than rows */
    t->dims[0] = YAWS + 1;
    s.weight_yaw[YAWS] = 60.0f;
    CHECK_STATUS(estimator_status(&s), MF_E_MODEL_MISSING);
    synthetic_init(&s, DISTANCE);
    tensor_named(&s, "distance")->dims[0] = 2;
    CHECK_STATUS(estimator_status(&s), MF_E_MODEL_MISSING);

    /* too many yaws, even with a row of weights for each */
    synthetic_init(&s, DISTANCE);
    for (int k = 0; k < BIG_YAWS; k++) {
        s.weight_yaw[k] = (float)k;
        for (int i = 0; i < MF_LANDMARKS; i++)
            s.weights[k * MF_LANDMARKS + i] = 1.0f;
    }
    tensor_named(&s, "weight_yaw")->dims[0] = BIG_YAWS;
    tensor_named(&s, "weights")->dims[0] = BIG_YAWS;
    CHECK_STATUS(estimator_status(&s), MF_E_MODEL_MISSING);
    tensor_named(&s, "weight_yaw")->dims[0] = BIG_YAWS - 1;
    tensor_named(&s, "weights")->dims[0] = BIG_YAWS - 1;
    CHECK_STATUS(estimator_status(&s), MF_OK);
}

static void test_bad_values(void)
{
    synthetic s;
    const float bad_numbers[] = {NAN, INFINITY, -INFINITY};
    for (size_t b = 0; b < 3; b++) {
        synthetic_init(&s, DISTANCE);
        s.points[100] = bad_numbers[b];
        CHECK_STATUS(estimator_status(&s), MF_E_MODEL_MISSING);
        synthetic_init(&s, DISTANCE);
        s.weights[70] = bad_numbers[b];
        CHECK_STATUS(estimator_status(&s), MF_E_MODEL_MISSING);
        synthetic_init(&s, DISTANCE);
        s.weight_yaw[1] = bad_numbers[b];
        CHECK_STATUS(estimator_status(&s), MF_E_MODEL_MISSING);
        synthetic_init(&s, DISTANCE);
        s.distance = bad_numbers[b];
        CHECK_STATUS(estimator_status(&s), MF_E_MODEL_MISSING);
    }
    const float bad_weights[] = {0.0f, -1.0f, -0.0f};
    for (size_t b = 0; b < 3; b++) {
        synthetic_init(&s, DISTANCE);
        s.weights[2 * MF_LANDMARKS + 5] = bad_weights[b];
        CHECKF(estimator_status(&s) == MF_E_MODEL_MISSING, "weight %g accepted", (double)bad_weights[b]);
    }
    synthetic_init(&s, DISTANCE); /* yaws not ascending */
    s.weight_yaw[2] = s.weight_yaw[1];
    CHECK_STATUS(estimator_status(&s), MF_E_MODEL_MISSING);
    synthetic_init(&s, DISTANCE);
    s.weight_yaw[0] = 45.0f;
    CHECK_STATUS(estimator_status(&s), MF_E_MODEL_MISSING);

    synthetic_init(&s, -DISTANCE);
    CHECK_STATUS(estimator_status(&s), MF_E_MODEL_MISSING);
    synthetic_init(&s, 100.0f); /* nearer than twice the face's radius (~80) */
    CHECK_STATUS(estimator_status(&s), MF_E_MODEL_MISSING);

    synthetic_init(&s, DISTANCE); /* not centred */
    for (int i = 0; i < MF_LANDMARKS; i++)
        s.points[3 * i + 2] += 10.0f;
    CHECK_STATUS(estimator_status(&s), MF_E_MODEL_MISSING);
    synthetic_init(&s, DISTANCE); /* flat */
    for (int i = 0; i < MF_LANDMARKS; i++)
        s.points[3 * i + 2] = 0.0f;
    CHECK_STATUS(estimator_status(&s), MF_E_MODEL_MISSING);
    synthetic_init(&s, DISTANCE); /* all zero */
    memset(s.points, 0, sizeof s.points);
    CHECK_STATUS(estimator_status(&s), MF_E_MODEL_MISSING);
}

static void test_null_arguments(void)
{
    synthetic s;
    synthetic_init(&s, DISTANCE);
    rig r;
    CHECK_STATUS(rig_open(&r, &s), MF_OK);
    float points[VALUES];
    project(&s, 10, 5, 0, 2.0, 100, 100, 0, points);
    mf_pose pose;
    CHECK_STATUS(mf_pose_estimate(NULL, points, &pose), MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_pose_estimate(r.estimator, NULL, &pose), MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_pose_estimate(r.estimator, points, NULL), MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_pose_estimate(r.estimator, points, &pose), MF_OK);

    const mf_limits defaults = mf_limits_default();
    mf_status status = MF_OK;
    CHECK(mf_pose_estimator_new(NULL, &defaults, &status) == NULL);
    CHECK_STATUS(status, MF_E_INVALID_ARGUMENT);
    status = MF_OK;
    CHECK(mf_pose_estimator_new(r.model, NULL, &status) == NULL);
    CHECK_STATUS(status, MF_E_INVALID_ARGUMENT);
    CHECK(mf_pose_estimator_new(NULL, NULL, NULL) == NULL); /* the status is optional */
    mf_pose_estimator *quiet = mf_pose_estimator_new(r.model, &defaults, NULL);
    CHECK(quiet != NULL);
    mf_pose_estimator_free(quiet);
    mf_pose_estimator_free(NULL);
    rig_close(&r);
}

static void test_bad_points(void)
{
    synthetic s;
    synthetic_init(&s, DISTANCE);
    rig r;
    CHECK_STATUS(rig_open(&r, &s), MF_OK);
    float good[VALUES], points[VALUES];
    project(&s, 10, 5, 0, 2.0, 100, 100, 0, good);
    enum { NOT_A_NUMBER, INFINITE, MINUS_INFINITE, HUGE, ALL_HUGE, ONE_POINT, LINE, FLAT, EYES, CASES };
    for (int c = 0; c < CASES; c++) {
        memcpy(points, good, sizeof good);
        switch (c) {
        case NOT_A_NUMBER: points[71] = NAN; break;
        case INFINITE: points[0] = INFINITY; break;
        case MINUS_INFINITE: points[VALUES - 1] = -INFINITY; break;
        case HUGE: points[40] = 1e9f; break;
        case EYES: /* the outer eye corners on one spot */
            points[2 * 45] = points[2 * 36];
            points[2 * 45 + 1] = points[2 * 36 + 1];
            break;
        default: break;
        }
        for (int i = 0; i < MF_LANDMARKS; i++) {
            float *x = &points[2 * i], *y = &points[2 * i + 1];
            switch (c) {
            case ALL_HUGE: *x += 2e6f; break;
            case ONE_POINT: *x = *y = 40.0f; break;
            case LINE: *y = 2.0f * *x + 1.0f; break;
            case FLAT: *y = 40.0f + 1e-5f * *x; break; /* a hair off a line */
            default: break;
            }
        }
        mf_pose pose = {-7.0f, -7.0f, -7.0f};
        CHECKF(mf_pose_estimate(r.estimator, points, &pose) == MF_E_INVALID_ARGUMENT,
               "bad points, case %d, accepted", c);
        CHECKF(pose.yaw == -7.0f && pose.pitch == -7.0f && pose.roll == -7.0f, "case %d wrote a pose", c);
        CHECKF(mf_points_check(points) == MF_E_INVALID_ARGUMENT, "case %d passes the check", c);
    }
    CHECK_STATUS(mf_points_check(NULL), MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_points_check(good), MF_OK);
    /* far from the origin but within the bound, and tiny: still faces */
    for (int i = 0; i < MF_LANDMARKS; i++) {
        points[2 * i] = good[2 * i] - 100.0f + 9.99e5f;
        points[2 * i + 1] = good[2 * i + 1] - 100.0f - 9.99e5f;
    }
    CHECK_STATUS(mf_points_check(points), MF_OK);
    for (int i = 0; i < VALUES; i++)
        points[i] = (good[i] - 100.0f) * 1e-2f;
    CHECK_STATUS(mf_points_check(points), MF_OK);
    rig_close(&r);
}

/* The model's own points at a known pose give the pose back. */
static void check_recovers(const rig *r, const synthetic *s, double distance, double scale)
{
    static const double poses[][3] = {
        {0, 0, 0},     {20, 0, 0},   {-20, 0, 0},   {0, 25, 0},   {0, -25, 0},    {0, 0, 15},
        {0, 0, -15},   {35, -20, 10}, {-45, 30, -25}, {60, 40, 30}, {-60, -40, -30}, {12.5, -7.25, 3.5},
    };
    for (size_t k = 0; k < sizeof poses / sizeof poses[0]; k++) {
        float points[VALUES];
        project(s, poses[k][0], poses[k][1], poses[k][2], scale, 320.0, 240.0, distance, points);
        mf_pose pose;
        CHECK_STATUS(mf_pose_estimate(r->estimator, points, &pose), MF_OK);
        const double error = fmax(fabs(pose.yaw - poses[k][0]),
                                  fmax(fabs(pose.pitch - poses[k][1]), fabs(pose.roll - poses[k][2])));
        CHECKF(error < 0.01, "pose (%g, %g, %g) came back as (%g, %g, %g), distance %g, scale %g",
               poses[k][0], poses[k][1], poses[k][2], (double)pose.yaw, (double)pose.pitch,
               (double)pose.roll, distance, scale);
    }
}

static void test_exact_poses(void)
{
    synthetic s;
    rig r;
    synthetic_init(&s, 0.0f); /* orthographic */
    CHECK_STATUS(rig_open(&r, &s), MF_OK);
    check_recovers(&r, &s, 0.0, 1.7);
    check_recovers(&r, &s, 0.0, 0.02); /* any scale */
    check_recovers(&r, &s, 0.0, 300.0);
    rig_close(&r);
    synthetic_init(&s, DISTANCE); /* perspective */
    CHECK_STATUS(rig_open(&r, &s), MF_OK);
    check_recovers(&r, &s, DISTANCE, 1.7);
    check_recovers(&r, &s, DISTANCE, 300.0);
    rig_close(&r);
}

static void test_image_rotation_is_roll(void)
{
    /* turning the picture about any point adds the turn to the roll alone */
    synthetic s;
    synthetic_init(&s, DISTANCE);
    rig r;
    CHECK_STATUS(rig_open(&r, &s), MF_OK);
    float points[VALUES], turned[VALUES];
    project(&s, 25, -10, 5, 2.0, 200.0, 150.0, DISTANCE, points);
    const double angle = 20.0 * PI / 180, c = cos(angle), sn = sin(angle);
    for (int i = 0; i < MF_LANDMARKS; i++) {
        const double x = points[2 * i] - 50.0, y = points[2 * i + 1] - 70.0;
        turned[2 * i] = (float)(c * x - sn * y + 50.0);
        turned[2 * i + 1] = (float)(sn * x + c * y + 70.0);
    }
    mf_pose pose;
    CHECK_STATUS(mf_pose_estimate(r.estimator, turned, &pose), MF_OK);
    CHECKF(fabs(pose.yaw - 25.0) < 0.01 && fabs(pose.pitch + 10.0) < 0.01 && fabs(pose.roll - 25.0) < 0.01,
           "turned picture: (%g, %g, %g)", (double)pose.yaw, (double)pose.pitch, (double)pose.roll);
    rig_close(&r);
}

void test_pose(void)
{
    test_valid_models_load();
    test_wrong_kind();
    test_missing_tensors();
    test_wrong_shapes();
    test_bad_values();
    test_null_arguments();
    test_bad_points();
    test_exact_poses();
    test_image_rotation_is_roll();
}
