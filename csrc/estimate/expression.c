/* Expressions from 68 points: the shape is aligned to a reference face on
 * the points expressions barely move (eye corners, nose) and classified by a
 * small MLP (mlp.c) from two descriptions of it: against the population
 * (offsets from the reference, action-unit proxies against the mean neutral
 * face) and against the person's own resting face (the baseline: the same
 * offsets and units against it), plus how established that baseline is.
 * Resting faces differ between people far more than expressions move them;
 * the baseline lets the model read the change. A baseline of weight w is
 * blended with the mean neutral face, w * baseline + (1 - w) * neutral, so
 * weight 0 (no baseline yet) reads against the population alone. Each face
 * is classified together with its mirror image (and its baseline's) and the
 * two softmaxes are averaged, so a mirrored face scores exactly the same.
 *
 * Model tensors (kind "expressions", written by mojofer.train expressions):
 *   reference         f32 [68, 2]   mirror-symmetric mean face, outer eye corners 1 apart
 *                                   (every value within +-10)
 *   neutral_shape     f32 [68, 2]   the mirror-symmetric mean neutral training face, aligned
 *                                   (within +-10, eyes open)
 *   feature_mean      f32 [291]     standardisation of the features: 136 offsets from the
 *   feature_std       f32 [291]     reference, 9 units against the neutral shape, 136 offsets
 *                                   from the blended baseline, 9 units against it, its weight
 *                                   (every std >= 1e-6)
 *   layer<i>.weight/.bias           the MLP, 291 inputs -> MF_EMOTIONS logits (mlp.c)
 *   emotion_names     i32 [n]       the MLP's outputs, the core's EMOTION_NAMES in order
 *   action_unit_names i32 [n]       the features' units, ACTION_UNIT_NAMES in order
 *                                   (name lists: see the format notes in mojofer.h)
 * mojofer/train/expression_reference.py is the NumPy reference; the tests
 * keep the two equal.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "estimate.h"

enum {
    SHAPE_VALUES = 2 * MF_LANDMARKS,
    DESCRIPTION = SHAPE_VALUES + MF_ACTION_UNITS, /* offsets and units against one face */
    FEATURES = 2 * DESCRIPTION + 1,               /* population, baseline, baseline weight */
    BATCH_FACES = 16, /* faces per MLP batch; each is run with its mirror image */
    BATCH_ROWS = 2 * BATCH_FACES,
    EYE_CLOSURE = 8 /* the action unit given as a fraction of the neutral opening */
};

/* The confusion rule (no labelled data exists for it): brows drawn down and
 * together (brow_lowerer, inter-ocular units) between these bounds ramp
 * confusion from 0 to 1; narrowed lids raise it; a smile vetoes it. */
#define CONFUSION_BROW_LO 0.02f
#define CONFUSION_BROW_HI 0.08f
#define CONFUSION_LIDS_HI 0.3f

/* Outer eye corners 1 apart put every reference point within about 1 of
 * 0; feature deviations are at least about 1e-3 in any trained model. */
static const float MAX_REFERENCE = 10.0f, MIN_STD = 1e-6f;

static const int STABLE[] = {27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45};
enum { STABLE_COUNT = sizeof STABLE / sizeof STABLE[0] };

static const int MIRROR[MF_LANDMARKS] = {
    16, 15, 14, 13, 12, 11, 10, 9,  8,  7,  6,  5,  4,  3,  2,  1,  0,  26, 25, 24, 23, 22, 21,
    20, 19, 18, 17, 27, 28, 29, 30, 35, 34, 33, 32, 31, 45, 44, 43, 42, 47, 46, 39, 38, 37, 36,
    41, 40, 54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65};

static const char *const EMOTION_NAMES[MF_EMOTIONS] = {
    "neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger"};

static const char *const ACTION_UNIT_NAMES[MF_ACTION_UNITS] = {
    "brow_raise_inner", "brow_raise_outer",   "brow_lowerer", "cheek_raise", "lip_corner_pull",
    "lip_corner_depress", "lips_part", "jaw_drop",     "eye_closure"};

/* mf_expression's social fields, in their order */
static const char *const SOCIAL_EMOTION_NAMES[MF_SOCIAL_EMOTIONS] = {"amusement", "surprise",
                                                                     "confusion"};

/* The face a description is read against: the baseline blended with the
 * model's neutral shape by its weight (mirrored with the face), and that
 * face's measures and eye opening (the neutral's if its eyes are shut). */
typedef struct {
    double shape[SHAPE_VALUES];
    double measures[MF_ACTION_UNITS];
    double opening;
} resting_face;

struct mf_expression_classifier {
    const float *reference, *neutral_shape, *feature_mean, *feature_std;
    resting_face population; /* the neutral shape's (weight-0 baselines read against it) */
    mf_mlp mlp;
    float features[BATCH_ROWS * FEATURES];
    float logits[BATCH_ROWS * MF_EMOTIONS];
    float scratch[2 * BATCH_ROWS * MF_MLP_MAX_WIDTH];
};

const char *mf_emotion_name(int32_t index)
{
    return index >= 0 && index < MF_EMOTIONS ? EMOTION_NAMES[index] : NULL;
}

const char *mf_action_unit_name(int32_t index)
{
    return index >= 0 && index < MF_ACTION_UNITS ? ACTION_UNIT_NAMES[index] : NULL;
}

const char *mf_social_emotion_name(int32_t index)
{
    return index >= 0 && index < MF_SOCIAL_EMOTIONS ? SOCIAL_EMOTION_NAMES[index] : NULL;
}

/* `points` mapped onto the reference by the least-squares similarity of
 * their STABLE points; mirrored (x negated, points renumbered) if asked. */
static void align(const float *reference, const float *points, int mirrored, double *q)
{
    double p[SHAPE_VALUES];
    for (int i = 0; i < MF_LANDMARKS; i++) {
        const int src = mirrored ? MIRROR[i] : i;
        p[2 * i] = mirrored ? -(double)points[2 * src] : points[2 * src];
        p[2 * i + 1] = points[2 * src + 1];
    }
    double pcx = 0, pcy = 0, rcx = 0, rcy = 0;
    for (int k = 0; k < STABLE_COUNT; k++) {
        pcx += p[2 * STABLE[k]];
        pcy += p[2 * STABLE[k] + 1];
        rcx += reference[2 * STABLE[k]];
        rcy += reference[2 * STABLE[k] + 1];
    }
    pcx /= STABLE_COUNT, pcy /= STABLE_COUNT, rcx /= STABLE_COUNT, rcy /= STABLE_COUNT;
    double dot = 0, cross = 0, norm = 0;
    for (int k = 0; k < STABLE_COUNT; k++) {
        const double px = p[2 * STABLE[k]] - pcx, py = p[2 * STABLE[k] + 1] - pcy;
        const double rx = reference[2 * STABLE[k]] - rcx, ry = reference[2 * STABLE[k] + 1] - rcy;
        dot += px * rx + py * ry;
        cross += px * ry - py * rx;
        norm += px * px + py * py;
    }
    const double a = dot / norm, b = cross / norm;
    for (int i = 0; i < MF_LANDMARKS; i++) {
        const double cx = p[2 * i] - pcx, cy = p[2 * i + 1] - pcy;
        q[2 * i] = a * cx - b * cy + rcx;
        q[2 * i + 1] = b * cx + a * cy + rcy;
    }
}

/* The raw measures behind the action units (see ACTION_UNIT_NAMES) of an
 * aligned shape; y grows downwards. */
static void measures(const double *q, double *m)
{
#define X(i) q[2 * (i)]
#define Y(i) q[2 * (i) + 1]
    const double eye_y = (Y(36) + Y(39) + Y(42) + Y(45)) / 4;
    const double inner_brow = eye_y - (Y(21) + Y(22)) / 2, brow_gap = X(22) - X(21);
    const double lower_lid = (Y(40) + Y(41) + Y(46) + Y(47)) / 4 - eye_y;
    const double opening =
        ((Y(41) - Y(37)) + (Y(40) - Y(38)) + (Y(47) - Y(43)) + (Y(46) - Y(44))) / 4;
    const double corner_y = (Y(48) + Y(54)) / 2, mouth_width = X(54) - X(48);
    m[0] = inner_brow;
    m[1] = eye_y - (Y(17) + Y(26)) / 2;
    m[2] = -(inner_brow + brow_gap) / 2;
    m[3] = -lower_lid;
    m[4] = (Y(33) - corner_y) + mouth_width / 2;
    m[5] = corner_y - (Y(62) + Y(66)) / 2;
    m[6] = Y(66) - Y(62);
    m[7] = Y(8) - Y(33);
    m[8] = -opening;
#undef X
#undef Y
}

static void resting_face_of(const mf_expression_classifier *ec, const mf_face_baseline *baseline,
                            int mirrored, resting_face *r)
{
    const double w = baseline ? baseline->weight : 0.0;
    for (int i = 0; i < MF_LANDMARKS; i++) {
        const int src = mirrored ? MIRROR[i] : i;
        for (int k = 0; k < 2; k++) {
            double b = baseline ? baseline->shape[2 * src + k] : 0.0;
            if (mirrored && k == 0)
                b = -b; /* the reference frame is mirror-symmetric about x = 0 */
            r->shape[2 * i + k] = w * b + (1.0 - w) * ec->neutral_shape[2 * i + k];
        }
    }
    measures(r->shape, r->measures);
    /* a resting face with shut eyes (a baseline caught mid-blink) keeps
     * the population's opening; the population's own must be open */
    r->opening = r->measures[EYE_CLOSURE] < 0.0 ? -r->measures[EYE_CLOSURE]
                                                : ec->population.opening;
}

/* MF_OK if the name list `tensor` holds the count names name_of(0..count-1)
 * in order, each NUL-terminated, and nothing else: a model trained for other
 * classes must not be read as ours. */
static mf_status names_match(const mf_model *model, const char *tensor,
                             const char *(*name_of)(int32_t), int32_t count)
{
    mf_tensor t;
    mf_status st = mf_model_expect(model, tensor, MF_DTYPE_I32, -1, &t);
    if (st != MF_OK)
        return st;
    if (t.ndim != 1)
        return MF_E_MODEL_MISSING;
    const int32_t *bytes = t.data;
    int64_t at = 0;
    for (int32_t i = 0; i < count; i++) {
        const char *name = name_of(i);
        for (size_t k = 0; k <= strlen(name); k++, at++)
            if (at >= t.count || bytes[at] != (unsigned char)name[k])
                return MF_E_MODEL_NAMES;
    }
    return at == t.count ? MF_OK : MF_E_MODEL_NAMES;
}

static mf_status load_expressions(mf_expression_classifier *ec, const mf_model *model)
{
    mf_tensor t;
    mf_status st;
    if (strcmp(mf_model_kind(model), "expressions") != 0)
        return MF_E_MODEL_KIND;
    if ((st = names_match(model, "emotion_names", mf_emotion_name, MF_EMOTIONS)) != MF_OK ||
        (st = names_match(model, "action_unit_names", mf_action_unit_name, MF_ACTION_UNITS)) != MF_OK)
        return st;
    if ((st = mf_model_expect(model, "reference", MF_DTYPE_F32, SHAPE_VALUES, &t)) != MF_OK)
        return st;
    ec->reference = t.data;
    if ((st = mf_model_expect(model, "neutral_shape", MF_DTYPE_F32, SHAPE_VALUES, &t)) != MF_OK)
        return st;
    ec->neutral_shape = t.data;
    if ((st = mf_model_expect(model, "feature_mean", MF_DTYPE_F32, FEATURES, &t)) != MF_OK)
        return st;
    ec->feature_mean = t.data;
    if ((st = mf_model_expect(model, "feature_std", MF_DTYPE_F32, FEATURES, &t)) != MF_OK)
        return st;
    ec->feature_std = t.data;
    if (!mf_all_finite(ec->feature_mean, FEATURES) || !mf_all_finite(ec->feature_std, FEATURES))
        return MF_E_MODEL_CORRUPT;
    /* the shapes become coordinates, and standardising divides by the
     * std: bounded, so that real faces give features of ordinary size */
    for (int i = 0; i < SHAPE_VALUES; i++)
        if (!(fabsf(ec->reference[i]) <= MAX_REFERENCE) ||
            !(fabsf(ec->neutral_shape[i]) <= MAX_REFERENCE))
            return MF_E_MODEL_CORRUPT;
    resting_face_of(ec, NULL, 0, &ec->population);
    if (!(ec->population.opening > 0.0)) /* eye closure is a fraction of the neutral's opening */
        return MF_E_MODEL_CORRUPT;
    for (int i = 0; i < FEATURES; i++)
        if (!(ec->feature_std[i] >= MIN_STD))
            return MF_E_MODEL_CORRUPT;
    return mf_mlp_load(&ec->mlp, model, FEATURES, MF_EMOTIONS);
}

mf_expression_classifier *mf_expression_classifier_new(const mf_model *model,
                                                       const mf_limits *limits, mf_status *status)
{
    mf_status st = MF_OK;
    mf_expression_classifier *ec = NULL;
    if (!model || !limits) {
        st = MF_E_INVALID_ARGUMENT;
        goto done;
    }
    ec = calloc(1, sizeof *ec);
    if (!ec) {
        st = MF_E_NO_MEMORY;
        goto done;
    }
    st = load_expressions(ec, model);
done:
    if (st != MF_OK) {
        mf_expression_classifier_free(ec);
        ec = NULL;
    }
    if (status)
        *status = st;
    return ec;
}

mf_expression_classifier *mf_expression_classifier_copy(const mf_expression_classifier *ec,
                                                        mf_status *status)
{
    mf_expression_classifier *copy = ec ? malloc(sizeof *copy) : NULL;
    if (copy)
        *copy = *ec; /* the weights are the model's; the scratch is overwritten per call */
    if (status)
        *status = copy ? MF_OK : ec ? MF_E_NO_MEMORY : MF_E_INVALID_ARGUMENT;
    return copy;
}

void mf_expression_classifier_free(mf_expression_classifier *ec) { free(ec); }

/* The offsets of aligned shape q from `face` and its action units against
 * `rest`'s measures (eye closure as the fraction of the resting opening
 * that is gone): DESCRIPTION values. */
static void describe_against(const double *q, const double *face, const resting_face *rest,
                             float *f)
{
    double m[MF_ACTION_UNITS];
    for (int i = 0; i < SHAPE_VALUES; i++)
        f[i] = (float)(q[i] - face[i]);
    measures(q, m);
    for (int k = 0; k < MF_ACTION_UNITS; k++)
        f[SHAPE_VALUES + k] = (float)(m[k] - rest->measures[k]);
    f[SHAPE_VALUES + EYE_CLOSURE] =
        (float)((m[EYE_CLOSURE] - rest->measures[EYE_CLOSURE]) / rest->opening);
}

/* Standardised MLP inputs of one face (mirrored or not) and its baseline
 * (NULL: none); the unstandardised action units against the resting face
 * go to `units` when it is not NULL. */
static void face_features(const mf_expression_classifier *ec, const float *points,
                          const mf_face_baseline *baseline, int mirrored, float *f, float *units)
{
    double q[SHAPE_VALUES], reference[SHAPE_VALUES];
    resting_face person;
    align(ec->reference, points, mirrored, q);
    resting_face_of(ec, baseline, mirrored, &person);
    for (int i = 0; i < SHAPE_VALUES; i++)
        reference[i] = ec->reference[i];
    describe_against(q, reference, &ec->population, f);
    describe_against(q, person.shape, &person, f + DESCRIPTION);
    f[2 * DESCRIPTION] = baseline ? baseline->weight : 0.0f;
    if (units)
        memcpy(units, f + DESCRIPTION + SHAPE_VALUES, MF_ACTION_UNITS * sizeof *units);
    for (int i = 0; i < FEATURES; i++)
        f[i] = (f[i] - ec->feature_mean[i]) / ec->feature_std[i];
}

static float ramp(float v, float lo, float hi)
{
    const float t = (v - lo) / (hi - lo);
    return t <= 0.0f ? 0.0f : t >= 1.0f ? 1.0f : t;
}

static void softmax_into(const float *logits, float weight, float *out)
{
    float top = logits[0], sum = 0.0f, e[MF_EMOTIONS];
    for (int k = 1; k < MF_EMOTIONS; k++)
        top = logits[k] > top ? logits[k] : top;
    for (int k = 0; k < MF_EMOTIONS; k++)
        sum += e[k] = expf(logits[k] - top);
    for (int k = 0; k < MF_EMOTIONS; k++)
        out[k] += weight * e[k] / sum;
}

/* The social emotions of an expression whose probabilities and action
 * units are written. */
static void social_emotions(mf_expression *out)
{
    out->amusement = out->emotions[1];
    out->surprise = out->emotions[3];
    const float lids = ramp(out->action_units[EYE_CLOSURE], 0.0f, CONFUSION_LIDS_HI);
    out->confusion = ramp(out->action_units[2], CONFUSION_BROW_LO, CONFUSION_BROW_HI) *
                     (0.6f + 0.4f * lids) * (1.0f - out->emotions[1]);
}

static int baseline_ok(const mf_face_baseline *b)
{
    if (!(b->weight >= 0.0f && b->weight <= 1.0f))
        return 0;
    for (int i = 0; i < SHAPE_VALUES; i++)
        if (!(fabsf(b->shape[i]) <= MAX_REFERENCE))
            return 0;
    return 1;
}

mf_status mf_expressions(mf_expression_classifier *ec, const float *points,
                         const mf_face_baseline *baselines, size_t count, mf_expression *out)
{
    if (!ec || !out || (count && !points))
        return MF_E_INVALID_ARGUMENT;
    for (size_t i = 0; i < count; i++) {
        mf_status st = mf_points_check(points + i * SHAPE_VALUES);
        if (st != MF_OK)
            return st;
        if (baselines && !baseline_ok(&baselines[i]))
            return MF_E_INVALID_ARGUMENT;
    }
    for (size_t first = 0; first < count; first += BATCH_FACES) {
        const size_t n = count - first < BATCH_FACES ? count - first : BATCH_FACES;
        for (size_t i = 0; i < n; i++) {
            mf_expression *e = out + first + i;
            memset(e, 0, sizeof *e);
            for (int mirrored = 0; mirrored < 2; mirrored++)
                face_features(ec, points + (first + i) * SHAPE_VALUES,
                              baselines ? &baselines[first + i] : NULL, mirrored,
                              ec->features + (2 * i + mirrored) * FEATURES,
                              mirrored ? NULL : e->action_units);
        }
        mf_mlp_forward(&ec->mlp, ec->features, (int32_t)(2 * n), ec->scratch, ec->logits);
        for (size_t i = 0; i < n; i++) {
            mf_expression *e = out + first + i;
            softmax_into(ec->logits + 2 * i * MF_EMOTIONS, 0.5f, e->emotions);
            softmax_into(ec->logits + (2 * i + 1) * MF_EMOTIONS, 0.5f, e->emotions);
            social_emotions(e);
            /* finite weights can still overflow the logits: a status, not NaN */
            const float social[3] = {e->amusement, e->surprise, e->confusion};
            if (!mf_all_finite(e->emotions, MF_EMOTIONS) || !mf_all_finite(social, 3) ||
                !mf_all_finite(e->action_units, MF_ACTION_UNITS))
                return MF_E_MODEL_CORRUPT;
        }
    }
    return MF_OK;
}

mf_status mf_expression_align(const mf_expression_classifier *ec, const float *points,
                              float *aligned)
{
    if (!ec || !points || !aligned)
        return MF_E_INVALID_ARGUMENT;
    mf_status st = mf_points_check(points);
    if (st != MF_OK)
        return st;
    double q[SHAPE_VALUES];
    align(ec->reference, points, 0, q);
    for (int i = 0; i < SHAPE_VALUES; i++)
        aligned[i] = (float)q[i];
    return MF_OK;
}

static int compare_weighted(const void *a, const void *b)
{
    const float x = ((const mf_weighted *)a)->value, y = ((const mf_weighted *)b)->value;
    return (x > y) - (x < y);
}

void mf_weighted_median_shape(const float *shapes, const float *weights, size_t count,
                              mf_weighted *column, float *out)
{
    for (int v = 0; v < SHAPE_VALUES; v++) {
        double total = 0.0, below = 0.0;
        for (size_t i = 0; i < count; i++) {
            column[i] = (mf_weighted){shapes[i * SHAPE_VALUES + v], weights[i]};
            total += weights[i];
        }
        qsort(column, count, sizeof *column, compare_weighted);
        size_t i = 0;
        while (i + 1 < count && (below += column[i].weight) < total / 2)
            i++;
        out[v] = column[i].value;
    }
}

float mf_calm(const mf_expression *plain)
{
    return plain->emotions[0] + MF_BASELINE_MIN_CALM;
}

mf_status mf_expression_baseline(mf_expression_classifier *ec, const float *points, size_t count,
                                 mf_face_baseline *out)
{
    mf_status st = MF_OK;
    float *aligned = NULL, *calm = NULL;
    mf_weighted *column = NULL;
    mf_expression plain[BATCH_FACES];
    if (!ec || !points || !out || count == 0)
        return MF_E_INVALID_ARGUMENT;
    if (count > SIZE_MAX / sizeof(float) / SHAPE_VALUES)
        return MF_E_TOO_LARGE;
    aligned = malloc(count * SHAPE_VALUES * sizeof *aligned);
    calm = malloc(count * sizeof *calm);
    column = malloc(count * sizeof *column);
    if (!aligned || !calm || !column) {
        st = MF_E_NO_MEMORY;
        goto done;
    }
    for (size_t first = 0; first < count; first += BATCH_FACES) {
        const size_t n = count - first < BATCH_FACES ? count - first : BATCH_FACES;
        if ((st = mf_expressions(ec, points + first * SHAPE_VALUES, NULL, n, plain)) != MF_OK)
            goto done;
        for (size_t i = 0; i < n; i++) {
            calm[first + i] = mf_calm(&plain[i]);
            mf_expression_align(ec, points + (first + i) * SHAPE_VALUES,
                                aligned + (first + i) * SHAPE_VALUES); /* checked above */
        }
    }
    mf_weighted_median_shape(aligned, calm, count, column, out->shape);
    out->weight = count >= MF_BASELINE_SETTLED_FACES ? 1.0f
                                                     : (float)count / MF_BASELINE_SETTLED_FACES;
done:
    free(aligned);
    free(calm);
    free(column);
    return st;
}
