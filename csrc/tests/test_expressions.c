/* The expression classifier on synthetic models: a face-like reference of
 * 68 points on an ellipse, small MLPs with known weights; person baselines. */
#include <math.h>
#include <string.h>

#include "fixtures.h"
#include "harness.h"

enum {
    VALUES = 2 * MF_LANDMARKS,
    FEATURES = 2 * (VALUES + MF_ACTION_UNITS) + 1,
    HIDDEN = 5,
    TENSORS = 10,
    NAME_BYTES = 256, /* room for either name list */
    FACES = 20 /* more than one internal batch */
};

typedef struct {
    float reference[VALUES], neutral[VALUES], mean[FEATURES], std[FEATURES];
    float w0[HIDDEN * FEATURES], b0[HIDDEN], w1[MF_EMOTIONS * HIDDEN], b1[MF_EMOTIONS];
    int32_t emotion_names[NAME_BYTES], unit_names[NAME_BYTES];
    fx_tensor tensors[TENSORS];
    size_t count;
} synthetic;

/* A name list (mojofer.h's format notes) of the count names name_of gives: its length. */
static uint32_t name_list(int32_t *out, const char *(*name_of)(int32_t), int32_t count)
{
    uint32_t n = 0;
    for (int32_t i = 0; i < count; i++)
        for (const char *c = name_of(i);; c++) {
            out[n++] = (unsigned char)*c;
            if (!*c)
                break;
        }
    return n;
}

/* A two-layer MLP with small deterministic weights. */
static void synthetic_init(synthetic *s)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < MF_LANDMARKS; i++) {
        const double t = 2.0 * 3.14159265358979 * i / MF_LANDMARKS;
        s->reference[2 * i] = (float)(0.8 * cos(t));
        s->reference[2 * i + 1] = (float)(0.9 * sin(t));
    }
    /* the neutral face: the reference with its lower lids 0.1 below the upper */
    memcpy(s->neutral, s->reference, sizeof s->neutral);
    const int upper[] = {37, 38, 43, 44}, lower[] = {41, 40, 47, 46};
    for (int k = 0; k < 4; k++)
        s->neutral[2 * lower[k] + 1] = s->neutral[2 * upper[k] + 1] + 0.1f;
    for (int i = 0; i < FEATURES; i++)
        s->std[i] = 0.5f;
    for (int i = 0; i < HIDDEN * FEATURES; i++)
        s->w0[i] = (float)sin(0.37 * i);
    for (int i = 0; i < MF_EMOTIONS * HIDDEN; i++)
        s->w1[i] = (float)cos(0.71 * i);
    for (int i = 0; i < HIDDEN; i++)
        s->b0[i] = 0.1f * (float)i;
    for (int i = 0; i < MF_EMOTIONS; i++)
        s->b1[i] = 0.2f * (float)i;
    const uint32_t emotion_bytes = name_list(s->emotion_names, mf_emotion_name, MF_EMOTIONS);
    const uint32_t unit_bytes = name_list(s->unit_names, mf_action_unit_name, MF_ACTION_UNITS);
    const fx_tensor all[TENSORS] = {
        {"reference", MF_DTYPE_F32, 2, {MF_LANDMARKS, 2}, s->reference},
        {"neutral_shape", MF_DTYPE_F32, 2, {MF_LANDMARKS, 2}, s->neutral},
        {"feature_mean", MF_DTYPE_F32, 1, {FEATURES}, s->mean},
        {"feature_std", MF_DTYPE_F32, 1, {FEATURES}, s->std},
        {"layer0.weight", MF_DTYPE_F32, 2, {HIDDEN, FEATURES}, s->w0},
        {"layer0.bias", MF_DTYPE_F32, 1, {HIDDEN}, s->b0},
        {"layer1.weight", MF_DTYPE_F32, 2, {MF_EMOTIONS, HIDDEN}, s->w1},
        {"layer1.bias", MF_DTYPE_F32, 1, {MF_EMOTIONS}, s->b1},
        {"emotion_names", MF_DTYPE_I32, 1, {emotion_bytes}, s->emotion_names},
        {"action_unit_names", MF_DTYPE_I32, 1, {unit_bytes}, s->unit_names},
    };
    memcpy(s->tensors, all, sizeof all);
    s->count = TENSORS;
}

typedef struct {
    mf_model *model;
    mf_expression_classifier *classifier;
} rig;

static mf_status rig_open_kind(rig *r, const synthetic *s, const char *kind)
{
    const mf_limits limits = mf_limits_default();
    mf_status status;
    fx_file file = fx_model_file(kind, s->tensors, s->count);
    r->classifier = NULL;
    r->model = mf_model_from_memory(file.bytes, file.size, &limits, &status);
    fx_file_free(&file);
    if (r->model)
        r->classifier = mf_expression_classifier_new(r->model, &limits, &status);
    CHECKF((r->classifier != NULL) == (status == MF_OK), "classifier and status %d disagree",
           (int)status);
    return status;
}

static void rig_close(rig *r)
{
    mf_expression_classifier_free(r->classifier);
    mf_model_free(r->model);
}

static mf_status open_status(const synthetic *s)
{
    rig r;
    mf_status st = rig_open_kind(&r, s, "expressions");
    rig_close(&r);
    return st;
}

/* Face i of a batch: the reference scaled, rotated, moved, and deformed. */
static void make_face(const synthetic *s, int i, float *points)
{
    const double scale = 50.0 + 7.0 * i, angle = 0.05 * i - 0.4;
    const double c = scale * cos(angle), sn = scale * sin(angle);
    for (int p = 0; p < MF_LANDMARKS; p++) {
        const double x = s->reference[2 * p] + 0.03 * sin(1.3 * p + i);
        const double y = s->reference[2 * p + 1] + 0.03 * cos(0.7 * p * i);
        points[2 * p] = (float)(c * x - sn * y + 100.0 + i);
        points[2 * p + 1] = (float)(sn * x + c * y + 120.0 - i);
    }
}

static int32_t mirror_of(int32_t p)
{
    static const int32_t MIRROR[MF_LANDMARKS] = {
        16, 15, 14, 13, 12, 11, 10, 9,  8,  7,  6,  5,  4,  3,  2,  1,  0,  26, 25, 24, 23, 22, 21,
        20, 19, 18, 17, 27, 28, 29, 30, 35, 34, 33, 32, 31, 45, 44, 43, 42, 47, 46, 39, 38, 37, 36,
        41, 40, 54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65};
    return MIRROR[p];
}

/* `shape` flipped left-right (x negated, points renumbered) into `out`. */
static void mirror_shape(const float *shape, float *out)
{
    for (int p = 0; p < MF_LANDMARKS; p++) {
        out[2 * p] = -shape[2 * mirror_of(p)];
        out[2 * p + 1] = shape[2 * mirror_of(p) + 1];
    }
}

/* FACES faces (make_face) and their mirror images. */
static void make_faces(const synthetic *s, float *faces, float *mirrored)
{
    for (int i = 0; i < FACES; i++) {
        make_face(s, i, faces + i * VALUES);
        mirror_shape(faces + i * VALUES, mirrored + i * VALUES);
    }
}

static void test_model_checks(void)
{
    synthetic s;
    synthetic_init(&s);
    CHECK_STATUS(open_status(&s), MF_OK);
    rig r;
    CHECK_STATUS(rig_open_kind(&r, &s, "landmarks"), MF_E_MODEL_KIND);
    rig_close(&r);

    const char *names[] = {"reference", "neutral_shape", "feature_mean", "feature_std",
                           "layer0.weight", "layer0.bias", "layer1.bias", "emotion_names",
                           "action_unit_names"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        synthetic t;
        synthetic_init(&t);
        for (size_t i = 0; i < t.count; i++)
            if (strcmp(t.tensors[i].name, names[k]) == 0) {
                memmove(&t.tensors[i], &t.tensors[i + 1], (t.count - i - 1) * sizeof t.tensors[0]);
                t.count--;
                break;
            }
        CHECKF(open_status(&t) == MF_E_MODEL_MISSING || open_status(&t) == MF_E_MODEL_CORRUPT,
               "without %s: %s", names[k], mf_status_str(open_status(&t)));
    }
    /* dropping layer1.weight leaves a one-layer MLP with HIDDEN outputs, not 7 */
    synthetic t;
    synthetic_init(&t);
    memmove(&t.tensors[6], &t.tensors[7], (t.count - 7) * sizeof t.tensors[0]);
    t.count--;
    CHECK_STATUS(open_status(&t), MF_E_MODEL_CORRUPT);

    synthetic_init(&t);
    t.w0[3] = NAN;
    CHECK_STATUS(open_status(&t), MF_E_MODEL_CORRUPT);
    synthetic_init(&t);
    t.b1[2] = INFINITY;
    CHECK_STATUS(open_status(&t), MF_E_MODEL_CORRUPT);
    synthetic_init(&t);
    t.std[10] = 0.0f;
    CHECK_STATUS(open_status(&t), MF_E_MODEL_CORRUPT);
    synthetic_init(&t);
    t.reference[5] = NAN;
    CHECK_STATUS(open_status(&t), MF_E_MODEL_CORRUPT);
    synthetic_init(&t);
    t.neutral[2 * 41 + 1] = t.neutral[2 * 37 + 1] - 0.5f; /* eye closure needs an open neutral eye */
    CHECK_STATUS(open_status(&t), MF_E_MODEL_CORRUPT);
    synthetic_init(&t);
    t.neutral[7] = NAN;
    CHECK_STATUS(open_status(&t), MF_E_MODEL_CORRUPT);
    synthetic_init(&t);
    t.tensors[4].dims[1] = FEATURES - 1; /* the first layer must take every feature */
    CHECK_STATUS(open_status(&t), MF_E_MODEL_CORRUPT);

    /* a model whose recorded names are not the core's, in its order, is refused */
    synthetic_init(&t);
    t.emotion_names[0] = 'N'; /* "Neutral" */
    CHECK_STATUS(open_status(&t), MF_E_MODEL_NAMES);
    synthetic_init(&t);
    t.tensors[8].dims[0] -= 1; /* the last NUL missing */
    CHECK_STATUS(open_status(&t), MF_E_MODEL_NAMES);
    synthetic_init(&t);
    t.unit_names[t.tensors[9].dims[0]] = 'x'; /* a tenth unit, "x" */
    t.unit_names[t.tensors[9].dims[0] + 1] = 0;
    t.tensors[9].dims[0] += 2;
    CHECK_STATUS(open_status(&t), MF_E_MODEL_NAMES);
    synthetic_init(&t);
    t.tensors[8].dtype = MF_DTYPE_F32; /* a list of another type is no list */
    CHECK_STATUS(open_status(&t), MF_E_MODEL_MISSING);

    mf_status st;
    const mf_limits limits = mf_limits_default();
    CHECK(mf_expression_classifier_new(NULL, &limits, &st) == NULL);
    CHECK_STATUS(st, MF_E_INVALID_ARGUMENT);
    mf_expression_classifier_free(NULL);
}

static void test_outputs(void)
{
    synthetic s;
    synthetic_init(&s);
    rig r;
    if (rig_open_kind(&r, &s, "expressions") != MF_OK)
        return;
    static float faces[FACES * VALUES], mirrored[FACES * VALUES];
    static mf_expression batch[FACES], single, flipped;
    make_faces(&s, faces, mirrored);
    CHECK_STATUS(mf_expressions(r.classifier, faces, NULL, FACES, batch), MF_OK);
    double worst_batch = 0, worst_mirror = 0, worst_sum = 0;
    for (int i = 0; i < FACES; i++) {
        CHECK_STATUS(mf_expressions(r.classifier, faces + i * VALUES, NULL, 1, &single), MF_OK);
        CHECK_STATUS(mf_expressions(r.classifier, mirrored + i * VALUES, NULL, 1, &flipped), MF_OK);
        double sum = 0;
        for (int k = 0; k < MF_EMOTIONS; k++) {
            sum += batch[i].emotions[k];
            worst_batch = fmax(worst_batch, fabs(batch[i].emotions[k] - single.emotions[k]));
            worst_mirror = fmax(worst_mirror, fabs(flipped.emotions[k] - single.emotions[k]));
        }
        worst_sum = fmax(worst_sum, fabs(sum - 1.0));
        CHECK(batch[i].amusement == batch[i].emotions[1]);
        CHECK(batch[i].surprise == batch[i].emotions[3]);
        CHECK(batch[i].confusion >= 0.0f && batch[i].confusion <= 1.0f);
    }
    CHECKF(worst_batch < 1e-6, "a face in a batch differs from the same face alone by %g", worst_batch);
    CHECKF(worst_mirror < 1e-5, "a mirrored face's emotions differ by %g", worst_mirror);
    CHECKF(worst_sum < 1e-5, "emotions sum to 1 within %g", worst_sum);

    /* measured against itself as the baseline, fully trusted, a face
     * shows no action unit */
    mf_face_baseline own;
    CHECK_STATUS(mf_expression_baseline(r.classifier, faces, 1, &own), MF_OK);
    CHECK(own.weight == 1.0f / MF_BASELINE_SETTLED_FACES);
    own.weight = 1.0f;
    CHECK_STATUS(mf_expressions(r.classifier, faces, &own, 1, &single), MF_OK);
    for (int k = 0; k < MF_ACTION_UNITS; k++)
        CHECKF(fabsf(single.action_units[k]) < 1e-5f, "action unit %s is %g against itself",
               mf_action_unit_name(k), single.action_units[k]);
    CHECK(single.confusion == 0.0f);
    CHECK_STATUS(mf_expressions(r.classifier, faces, NULL, 0, batch), MF_OK);
    rig_close(&r);
}

/* Baselines: a weight-0 baseline reads as none, whatever its shape; a face
 * and its baseline mirrored together score as the pair unmirrored; the
 * baseline of a set is its per-coordinate median with weight count / 8. */
static void test_baselines(void)
{
    synthetic s;
    synthetic_init(&s);
    rig r;
    if (rig_open_kind(&r, &s, "expressions") != MF_OK)
        return;
    static float faces[FACES * VALUES], mirrored[FACES * VALUES];
    static mf_expression plain[FACES], with[FACES], flipped[FACES];
    static mf_face_baseline none[FACES], bases[FACES], flipped_bases[FACES];
    make_faces(&s, faces, mirrored);
    for (int i = 0; i < FACES; i++) {
        /* the baseline of face i: faces i .. i+2 (the batch wraps round) */
        float three[3 * VALUES];
        for (int k = 0; k < 3; k++)
            memcpy(three + k * VALUES, faces + ((i + k) % FACES) * VALUES, VALUES * sizeof(float));
        CHECK_STATUS(mf_expression_baseline(r.classifier, three, 3, &bases[i]), MF_OK);
        CHECK(bases[i].weight == 3.0f / MF_BASELINE_SETTLED_FACES);
        none[i] = bases[i];
        none[i].weight = 0.0f;
        mirror_shape(bases[i].shape, flipped_bases[i].shape);
        flipped_bases[i].weight = bases[i].weight = 0.8f;
    }
    CHECK_STATUS(mf_expressions(r.classifier, faces, NULL, FACES, plain), MF_OK);
    CHECK_STATUS(mf_expressions(r.classifier, faces, none, FACES, with), MF_OK);
    CHECK(memcmp(plain, with, sizeof plain) == 0);
    CHECK_STATUS(mf_expressions(r.classifier, faces, bases, FACES, with), MF_OK);
    CHECK_STATUS(mf_expressions(r.classifier, mirrored, flipped_bases, FACES, flipped), MF_OK);
    double worst_mirror = 0, moved = 0;
    for (int i = 0; i < FACES; i++)
        for (int k = 0; k < MF_EMOTIONS; k++) {
            worst_mirror = fmax(worst_mirror, fabs(with[i].emotions[k] - flipped[i].emotions[k]));
            moved = fmax(moved, fabs(with[i].emotions[k] - plain[i].emotions[k]));
        }
    CHECKF(worst_mirror < 1e-5, "a mirrored face with its mirrored baseline differs by %g", worst_mirror);
    CHECKF(moved > 1e-3, "a baseline changes the emotions (by %g)", moved);

    /* the median of five shapes, each the aligned reference moved by 0..4
     * hundredths in x: the middle one, x + 0.02 */
    static float five[5 * VALUES];
    for (int k = 0; k < 5; k++) {
        make_face(&s, 0, five + k * VALUES);
        for (int p = 0; p < MF_LANDMARKS; p++)
            five[k * VALUES + 2 * p] += (float)((k * 7) % 5) * 0.01f * 57.0f; /* 57 px per unit */
    }
    mf_face_baseline median, centre;
    CHECK_STATUS(mf_expression_baseline(r.classifier, five, 5, &median), MF_OK);
    float middle[VALUES];
    make_face(&s, 0, middle);
    for (int p = 0; p < MF_LANDMARKS; p++)
        middle[2 * p] += 2 * 0.01f * 57.0f;
    CHECK_STATUS(mf_expression_baseline(r.classifier, middle, 1, &centre), MF_OK);
    double worst = 0;
    for (int v = 0; v < VALUES; v++)
        worst = fmax(worst, fabs(median.shape[v] - centre.shape[v]));
    CHECKF(worst < 1e-5, "the baseline of five shifted faces is the middle one's (off by %g)", worst);
    CHECK(median.weight == 5.0f / MF_BASELINE_SETTLED_FACES);
    static float nine[9 * VALUES];
    for (int k = 0; k < 9; k++)
        make_face(&s, k, nine + k * VALUES);
    CHECK_STATUS(mf_expression_baseline(r.classifier, nine, 9, &median), MF_OK);
    CHECK(median.weight == 1.0f);

    /* refused: bad baselines, points and arguments */
    mf_face_baseline bad = bases[0];
    const float bad_weights[] = {-0.1f, 1.5f, NAN};
    for (size_t k = 0; k < 3; k++) {
        bad.weight = bad_weights[k];
        CHECK_STATUS(mf_expressions(r.classifier, faces, &bad, 1, with), MF_E_INVALID_ARGUMENT);
    }
    bad = bases[0];
    const float bad_values[] = {NAN, INFINITY, 11.0f};
    for (size_t k = 0; k < 3; k++) {
        bad.shape[5] = bad_values[k];
        CHECK_STATUS(mf_expressions(r.classifier, faces, &bad, 1, with), MF_E_INVALID_ARGUMENT);
    }
    float flat[VALUES] = {0};
    CHECK_STATUS(mf_expression_baseline(r.classifier, flat, 1, &median), MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_expression_baseline(r.classifier, faces, 0, &median), MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_expression_baseline(NULL, faces, 1, &median), MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_expression_baseline(r.classifier, faces, 1, NULL), MF_E_INVALID_ARGUMENT);
    rig_close(&r);
}

static void test_bad_points(void)
{
    synthetic s;
    synthetic_init(&s);
    rig r;
    if (rig_open_kind(&r, &s, "expressions") != MF_OK)
        return;
    float face[VALUES];
    mf_expression out;
    mf_face_baseline b;
    make_face(&s, 0, face);
    const float bad[] = {NAN, INFINITY, -INFINITY, 2e6f};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        face[17] = bad[k];
        CHECK_STATUS(mf_expressions(r.classifier, face, NULL, 1, &out), MF_E_INVALID_ARGUMENT);
        CHECK_STATUS(mf_expression_baseline(r.classifier, face, 1, &b), MF_E_INVALID_ARGUMENT);
        make_face(&s, 0, face);
    }
    float flat[VALUES] = {0};
    CHECK_STATUS(mf_expressions(r.classifier, flat, NULL, 1, &out), MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_expressions(NULL, face, NULL, 1, &out), MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_expressions(r.classifier, NULL, NULL, 1, &out), MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_expressions(r.classifier, face, NULL, 1, NULL), MF_E_INVALID_ARGUMENT);
    rig_close(&r);
}

static void test_names(void)
{
    CHECK(strcmp(mf_emotion_name(0), "neutral") == 0);
    CHECK(strcmp(mf_emotion_name(MF_EMOTIONS - 1), "anger") == 0);
    CHECK(mf_emotion_name(MF_EMOTIONS) == NULL && mf_emotion_name(-1) == NULL);
    CHECK(strcmp(mf_action_unit_name(MF_ACTION_UNITS - 1), "eye_closure") == 0);
    CHECK(mf_action_unit_name(MF_ACTION_UNITS) == NULL);
    CHECK(strcmp(mf_social_emotion_name(0), "amusement") == 0);
    CHECK(strcmp(mf_social_emotion_name(MF_SOCIAL_EMOTIONS - 1), "confusion") == 0);
    CHECK(mf_social_emotion_name(MF_SOCIAL_EMOTIONS) == NULL && mf_social_emotion_name(-1) == NULL);
}

/* Finite weights large enough to overflow the logits give a status, not
 * NaN probabilities; the reference face is bounded at load. */
static void test_absurd_weights(void)
{
    synthetic s;
    synthetic_init(&s);
    for (int i = 0; i < MF_EMOTIONS * HIDDEN; i++)
        s.w1[i] = 3e38f;
    rig r;
    if (rig_open_kind(&r, &s, "expressions") == MF_OK) {
        float face[VALUES];
        mf_expression out;
        make_face(&s, 0, face);
        CHECK_STATUS(mf_expressions(r.classifier, face, NULL, 1, &out), MF_E_MODEL_CORRUPT);
    }
    rig_close(&r);
    synthetic_init(&s);
    s.reference[40] = 1e30f;
    CHECK_STATUS(open_status(&s), MF_E_MODEL_CORRUPT);
    synthetic_init(&s);
    s.std[3] = 1e-30f; /* standardising by it makes any offset huge */
    CHECK_STATUS(open_status(&s), MF_E_MODEL_CORRUPT);
}

/* A copy, for another thread, classifies as the original does, while the
 * original is freed first (the weights are the model's). */
static void test_copy(void)
{
    synthetic s;
    synthetic_init(&s);
    rig r;
    if (rig_open_kind(&r, &s, "expressions") != MF_OK)
        return;
    static float faces[FACES * VALUES];
    static mf_expression a[FACES], b[FACES];
    for (int i = 0; i < FACES; i++)
        make_face(&s, i, faces + i * VALUES);
    mf_status st;
    mf_expression_classifier *copy = mf_expression_classifier_copy(r.classifier, &st);
    CHECK(copy && st == MF_OK);
    CHECK_STATUS(mf_expressions(r.classifier, faces, NULL, FACES, a), MF_OK);
    mf_expression_classifier_free(r.classifier);
    r.classifier = NULL;
    CHECK(copy && mf_expressions(copy, faces, NULL, FACES, b) == MF_OK &&
          memcmp(a, b, sizeof a) == 0);
    mf_expression_classifier_free(copy);
    CHECK(mf_expression_classifier_copy(NULL, &st) == NULL && st == MF_E_INVALID_ARGUMENT);
    rig_close(&r);
}

void test_expressions(void)
{
    test_baselines();
    test_copy();
    test_model_checks();
    test_outputs();
    test_bad_points();
    test_names();
    test_absurd_weights();
}
