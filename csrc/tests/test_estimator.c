/* The estimator on the project's trained models (models/ *.mfm): the same
 * pose and expressions as the parts it runs, smoothing over time, faces
 * lost, reclaimed, retired and evicted at the stated times, and refused
 * frames that leave the state as it was. */
#include <math.h>
#include <string.h>

#include "harness.h"

enum { VALUES = 2 * MF_LANDMARKS, MAX = 4, EVENTS = MF_ESTIMATE_EVENTS_PER_FACE * MAX };

typedef struct {
    mf_model *pose_model, *expression_model;
    mf_pose_estimator *pose;
    mf_expression_classifier *expressions;
    float reference[VALUES]; /* the expression model's mean face, eye corners 1 apart */
} engines;

typedef struct {
    mf_estimator *e;
    mf_estimate out[MAX];
    mf_estimate_event events[EVENTS];
    size_t count, events_count;
} rig;

static int engines_open(engines *g)
{
    const mf_limits limits = mf_limits_default();
    mf_status st;
    memset(g, 0, sizeof *g);
    g->pose_model = mf_model_load("../../models/pose.mfm", &limits, &st);
    CHECK_STATUS(st, MF_OK);
    g->expression_model = mf_model_load("../../models/expressions.mfm", &limits, &st);
    CHECK_STATUS(st, MF_OK);
    if (!g->pose_model || !g->expression_model)
        return 0;
    g->pose = mf_pose_estimator_new(g->pose_model, &limits, &st);
    CHECK_STATUS(st, MF_OK);
    g->expressions = mf_expression_classifier_new(g->expression_model, &limits, &st);
    CHECK_STATUS(st, MF_OK); /* a model of another format fails here, not silently */
    mf_tensor t;
    CHECK_STATUS(mf_model_tensor(g->expression_model, "reference", &t), MF_OK);
    memcpy(g->reference, t.data, sizeof g->reference);
    return g->pose && g->expressions;
}

static void engines_close(engines *g)
{
    mf_expression_classifier_free(g->expressions);
    mf_pose_estimator_free(g->pose);
    mf_model_free(g->expression_model);
    mf_model_free(g->pose_model);
}

/* A face: the mean face at 100 pixels between the eyes, shifted by dx,
 * with the mouth opened by `mouth` pixels (points 48..67 moved down). */
static mf_keypoints face_at(const engines *g, int32_t id, float dx, float mouth)
{
    mf_keypoints k;
    memset(&k, 0, sizeof k);
    k.face_id = id;
    for (int i = 0; i < MF_LANDMARKS; i++) {
        k.landmarks[2 * i] = 320.0f + dx + 100.0f * g->reference[2 * i];
        k.landmarks[2 * i + 1] = 240.0f + 100.0f * g->reference[2 * i + 1] + (i >= 57 && i <= 59 ? mouth : 0.0f) + (i >= 65 ? mouth : 0.0f);
    }
    return k;
}

static mf_status step(rig *r, double t, const mf_keypoints *faces, size_t count)
{
    return mf_estimator_update(r->e, t, faces, count, r->out, MAX, &r->count, r->events, EVENTS,
                               &r->events_count);
}

static int rig_open(rig *r, const engines *g, double smoothing, double grace, int32_t max_faces)
{
    mf_estimator_params p = mf_estimator_params_default();
    p.smoothing = smoothing;
    p.grace = grace;
    p.max_faces = max_faces;
    mf_status st;
    memset(r, 0, sizeof *r);
    r->e = mf_estimator_new(g->pose, g->expressions, &p, &st);
    CHECK_STATUS(st, MF_OK);
    return r->e != NULL;
}

/* Whether the frame's events include this face event at this time. */
static int has_face_event(const rig *r, double t, int32_t id, int32_t from, int32_t to)
{
    for (size_t i = 0; i < r->events_count; i++) {
        const mf_estimate_event *e = &r->events[i];
        if (e->kind == MF_CUE_FACE && e->face_id == id && e->from == from && e->to == to &&
            fabs(e->timestamp - t) < 1e-12)
            return 1;
    }
    return 0;
}

static int events_ordered(const rig *r)
{
    for (size_t i = 1; i < r->events_count; i++) {
        const mf_estimate_event *a = &r->events[i - 1], *b = &r->events[i];
        if (a->timestamp > b->timestamp || (a->timestamp == b->timestamp && a->face_id > b->face_id))
            return 0;
    }
    return 1;
}

/* An event's from and to are named by its kind's own names, the ones
 * mf_engagement_name, mf_interaction_name and mf_face_state_name give. */
static void test_event_state_names(void)
{
    CHECK(strcmp(mf_event_state_name(MF_CUE_ENGAGEMENT, MF_ENGAGEMENT_DISENGAGING), "disengaging") == 0);
    CHECK(strcmp(mf_event_state_name(MF_CUE_INTERACTION, MF_INTERACTION_LONG_INTERRUPTION),
                 "in_long_interruption") == 0);
    CHECK(strcmp(mf_event_state_name(MF_CUE_FACE, MF_FACE_RETIRED), "retired") == 0);
    CHECK(mf_event_state_name(MF_CUE_ENGAGEMENT, MF_ENGAGEMENT_PHASES) == NULL);
    CHECK(mf_event_state_name(MF_CUE_INTERACTION, MF_INTERACTION_STATUSES) == NULL);
    CHECK(mf_event_state_name(MF_CUE_FACE, MF_FACE_STATES) == NULL);
    CHECK(mf_event_state_name(MF_CUE_FACE, -1) == NULL);
    CHECK(mf_event_state_name(MF_CUE_FACE + 1, 0) == NULL && mf_event_state_name(-1, 0) == NULL);
    for (int32_t v = 0; v < MF_INTERACTION_STATUSES; v++)
        CHECK(mf_event_state_name(MF_CUE_INTERACTION, v) == mf_interaction_name(v));
}

static void test_params(void)
{
    const mf_estimator_params d = mf_estimator_params_default();
    CHECK(d.smoothing == 0.2 && d.grace == 8.0 && d.max_faces == 16);
    CHECK_STATUS(mf_estimator_params_check(&d, NULL), MF_OK);
    mf_estimator_params p = d;
    const char *why = NULL;
    p.smoothing = -1.0;
    CHECK_STATUS(mf_estimator_params_check(&p, &why), MF_E_INVALID_ARGUMENT);
    CHECK(why && strstr(why, "smoothing"));
    p = d, p.grace = NAN;
    CHECK_STATUS(mf_estimator_params_check(&p, NULL), MF_E_INVALID_ARGUMENT);
    p = d, p.max_faces = 0;
    CHECK_STATUS(mf_estimator_params_check(&p, NULL), MF_E_INVALID_ARGUMENT);
    p = d, p.max_faces = MF_ESTIMATOR_MAX_FACES + 1;
    CHECK_STATUS(mf_estimator_params_check(&p, NULL), MF_E_INVALID_ARGUMENT);
    p = d, p.cues.attention_low = 0.9;
    CHECK_STATUS(mf_estimator_params_check(&p, &why), MF_E_INVALID_ARGUMENT);
    CHECK(why && strstr(why, "attention_low"));
    /* a lost face's attention never passes under 0: its cues could not end */
    p = d, p.cues.attention_low = 0.0;
    CHECK_STATUS(mf_cues_params_check(&p.cues, NULL), MF_OK);
    why = NULL;
    CHECK_STATUS(mf_estimator_params_check(&p, &why), MF_E_INVALID_ARGUMENT);
    CHECK(why && strstr(why, "attention_low must be > 0"));
    CHECK(d.baseline_window == 60.0);
    p = d, p.baseline_window = -1.0;
    CHECK_STATUS(mf_estimator_params_check(&p, &why), MF_E_INVALID_ARGUMENT);
    CHECK(why && strstr(why, "baseline_window"));
    p = d, p.baseline_window = NAN;
    CHECK_STATUS(mf_estimator_params_check(&p, NULL), MF_E_INVALID_ARGUMENT);
    p = d, p.baseline_window = 0.0; /* no baseline */
    CHECK_STATUS(mf_estimator_params_check(&p, NULL), MF_OK);
    CHECK_STATUS(mf_estimator_params_check(NULL, NULL), MF_E_INVALID_ARGUMENT);
    mf_status st = MF_OK;
    CHECK(mf_estimator_new(NULL, NULL, &d, &st) == NULL && st == MF_E_INVALID_ARGUMENT);
    mf_estimator_free(NULL);
    mf_estimator_reset(NULL);
    CHECK(mf_estimator_lost(NULL, NULL, 0) == 0);
    CHECK(strcmp(mf_face_state_name(MF_FACE_RETIRED), "retired") == 0 && mf_face_state_name(4) == NULL);
    CHECK(strcmp(mf_cue_kind_name(MF_CUE_FACE), "face") == 0);
}

/* A face's first estimate is what the pose estimator and the classifier say. */
static void test_first_frame(const engines *g)
{
    rig r;
    if (!rig_open(&r, g, 0.2, 8.0, MAX))
        return;
    const mf_keypoints k = face_at(g, 7, 0.0f, 6.0f);
    CHECK_STATUS(step(&r, 0.0, &k, 1), MF_OK);
    mf_pose pose;
    mf_expression x;
    CHECK_STATUS(mf_pose_estimate(g->pose, k.landmarks, &pose), MF_OK);
    CHECK_STATUS(mf_expressions(g->expressions, k.landmarks, NULL, 1, &x), MF_OK);
    CHECK(r.count == 1 && r.out[0].face_id == 7 && r.out[0].visible == 1);
    CHECK(memcmp(&r.out[0].pose, &pose, sizeof pose) == 0);
    CHECK(memcmp(&r.out[0].expression, &x, sizeof x) == 0);
    CHECK(has_face_event(&r, 0.0, 7, MF_FACE_ABSENT, MF_FACE_VISIBLE));
    CHECK(r.out[0].cues.status == MF_INTERACTION_POSSIBLE); /* a frontal face is attentive */
    /* a given pose is used as it is */
    mf_keypoints turned = face_at(g, 8, 0.0f, 0.0f);
    turned.has_pose = 1;
    turned.pose = (mf_pose){60.0f, 5.0f, -3.0f};
    CHECK_STATUS(step(&r, 0.1, &turned, 1), MF_OK);
    CHECK(r.out[0].face_id == 8 && r.out[0].pose.yaw == 60.0f && r.out[0].pose.roll == -3.0f);
    CHECK(r.out[0].cues.raw_attention == 0.0);
    mf_estimator_free(r.e);
}

/* v += (1 - exp(-dt / smoothing)) (x - v), dt since the face was last seen. */
static void test_smoothing(const engines *g)
{
    rig r;
    if (!rig_open(&r, g, 0.2, 8.0, MAX))
        return;
    const mf_keypoints a = face_at(g, 1, 0.0f, 0.0f), b = face_at(g, 1, 0.0f, 12.0f);
    mf_expression xa, xb;
    mf_expressions(g->expressions, a.landmarks, NULL, 1, &xa);
    mf_expressions(g->expressions, b.landmarks, NULL, 1, &xb);
    CHECK_STATUS(step(&r, 1.0, &a, 1), MF_OK);
    CHECK_STATUS(step(&r, 1.1, &b, 1), MF_OK);
    const double alpha = 1.0 - exp(-0.1 / 0.2);
    double worst = 0.0;
    for (int k = 0; k < MF_EMOTIONS; k++)
        worst = fmax(worst, fabs(r.out[0].expression.emotions[k] -
                                 (xa.emotions[k] + alpha * ((double)xb.emotions[k] - xa.emotions[k]))));
    worst = fmax(worst, fabs(r.out[0].expression.action_units[6] -
                             (xa.action_units[6] + alpha * ((double)xb.action_units[6] - xa.action_units[6]))));
    CHECKF(worst < 1e-6, "smoothed values off by %g", worst);
    CHECK(xb.action_units[6] > xa.action_units[6]); /* the mouth opened: lips_part shows */
    /* the same time again smooths nothing */
    const mf_estimate before = r.out[0];
    CHECK_STATUS(step(&r, 1.1, &a, 1), MF_OK);
    CHECK(memcmp(&before.expression, &r.out[0].expression, sizeof before.expression) == 0);
    mf_estimator_free(r.e);
    /* smoothing 0: this frame's values */
    if (!rig_open(&r, g, 0.0, 8.0, MAX))
        return;
    step(&r, 0.0, &a, 1);
    step(&r, 0.01, &b, 1);
    CHECK(memcmp(&r.out[0].expression, &xb, sizeof xb) == 0);
    mf_estimator_free(r.e);
}

/* A face held still for 5 s settles a baseline that is its own aligned
 * shape, fully trusted; without a window (0) every frame reads as alone;
 * after a reset the face starts without one. */
static void test_baseline(const engines *g)
{
    rig r;
    const mf_keypoints a = face_at(g, 1, 0.0f, 6.0f);
    mf_expression alone, settled;
    mf_face_baseline own;
    CHECK_STATUS(mf_expressions(g->expressions, a.landmarks, NULL, 1, &alone), MF_OK);
    CHECK_STATUS(mf_expression_baseline(g->expressions, a.landmarks, 1, &own), MF_OK);
    own.weight = 1.0f;
    CHECK_STATUS(mf_expressions(g->expressions, a.landmarks, &own, 1, &settled), MF_OK);
    CHECK(fabsf(settled.emotions[0] - alone.emotions[0]) > 1e-3); /* the baseline matters */
    for (int window = 0; window < 2; window++) {
        if (!rig_open(&r, g, 0.0, 8.0, MAX))
            return;
        mf_estimator_free(r.e);
        mf_estimator_params p = mf_estimator_params_default();
        p.smoothing = 0.0;
        p.baseline_window = window ? 60.0 : 0.0;
        p.max_faces = MAX;
        r.e = mf_estimator_new(g->pose, g->expressions, &p, NULL);
        for (int i = 0; r.e && i <= 50; i++)
            CHECK_STATUS(step(&r, i / 10.0, &a, 1), MF_OK);
        const mf_expression *x = &r.out[0].expression, *expected = window ? &settled : &alone;
        double worst = 0.0;
        for (int k = 0; k < MF_EMOTIONS; k++)
            worst = fmax(worst, fabs(x->emotions[k] - expected->emotions[k]));
        for (int k = 0; k < MF_ACTION_UNITS; k++)
            worst = fmax(worst, fabs(x->action_units[k] - expected->action_units[k]));
        CHECKF(worst < 1e-4, "window %d: after 5 s off the expected reading by %g", window, worst);
        mf_estimator_reset(r.e);
        CHECK_STATUS(step(&r, 0.0, &a, 1), MF_OK);
        CHECK(memcmp(&r.out[0].expression, &alone, sizeof alone) == 0);
        mf_estimator_free(r.e);
    }
}

static void test_lost_and_retired(const engines *g)
{
    rig r;
    if (!rig_open(&r, g, 0.2, 8.0, MAX))
        return;
    const mf_keypoints both[2] = {face_at(g, 1, -150.0f, 0.0f), face_at(g, 2, 150.0f, 0.0f)};
    CHECK_STATUS(step(&r, 0.0, both, 2), MF_OK);
    CHECK(r.count == 2 && r.out[0].face_id == 1 && r.out[1].face_id == 2);
    CHECK_STATUS(step(&r, 2.0, both, 2), MF_OK);
    CHECK(r.out[0].cues.status == MF_INTERACTION_READY);
    const mf_estimate seen = r.out[0];
    /* face 1 goes: reported lost, with its last pose and expression */
    CHECK_STATUS(step(&r, 3.0, &both[1], 1), MF_OK);
    CHECK(r.count == 2 && r.out[0].face_id == 2 && r.out[1].face_id == 1 && r.out[1].visible == 0);
    CHECK(memcmp(&r.out[1].pose, &seen.pose, sizeof seen.pose) == 0);
    CHECK(memcmp(&r.out[1].expression, &seen.expression, sizeof seen.expression) == 0);
    CHECK(has_face_event(&r, 3.0, 1, MF_FACE_VISIBLE, MF_FACE_LOST));
    int32_t ids[4];
    CHECK(mf_estimator_lost(r.e, ids, 4) == 1 && ids[0] == 1);
    /* it comes back within the grace period: the same interaction */
    CHECK_STATUS(step(&r, 5.0, both, 2), MF_OK);
    CHECK(has_face_event(&r, 5.0, 1, MF_FACE_LOST, MF_FACE_VISIBLE));
    CHECK(r.out[0].face_id == 1 && r.out[0].visible == 1 && r.out[0].cues.status == MF_INTERACTION_READY);
    CHECK(mf_estimator_lost(r.e, ids, 4) == 0);
    /* it goes again at 6: kept until 14, retired then with an event stamped 14 */
    CHECK_STATUS(step(&r, 6.0, &both[1], 1), MF_OK);
    CHECK_STATUS(step(&r, 13.9, &both[1], 1), MF_OK);
    CHECK(r.count == 2 && r.out[1].face_id == 1 && r.out[1].cues.status == MF_INTERACTION_LONG_INTERRUPTION);
    CHECK(events_ordered(&r));
    CHECK_STATUS(step(&r, 20.0, &both[1], 1), MF_OK);
    CHECK(r.count == 1 && r.out[0].face_id == 2);
    CHECK(has_face_event(&r, 14.0, 1, MF_FACE_LOST, MF_FACE_RETIRED));
    CHECK(r.events[0].timestamp == 14.0); /* before anything stamped 20 */
    /* the id given again is a new face */
    CHECK_STATUS(step(&r, 21.0, both, 2), MF_OK);
    CHECK(has_face_event(&r, 21.0, 1, MF_FACE_ABSENT, MF_FACE_VISIBLE));
    CHECK(r.out[0].cues.status == MF_INTERACTION_POSSIBLE);
    /* reset forgets every face and the time */
    mf_estimator_reset(r.e);
    CHECK_STATUS(step(&r, 0.0, both, 1), MF_OK);
    CHECK(r.count == 1 && has_face_event(&r, 0.0, 1, MF_FACE_ABSENT, MF_FACE_VISIBLE));
    mf_estimator_free(r.e);
    /* grace 0: lost and retired in the same frame */
    if (!rig_open(&r, g, 0.2, 0.0, MAX))
        return;
    step(&r, 0.0, both, 1);
    CHECK_STATUS(step(&r, 0.5, NULL, 0), MF_OK);
    CHECK(r.count == 0 && has_face_event(&r, 0.5, 1, MF_FACE_VISIBLE, MF_FACE_LOST) &&
          has_face_event(&r, 0.5, 1, MF_FACE_LOST, MF_FACE_RETIRED));
    CHECK(r.events[r.events_count - 1].to == MF_FACE_RETIRED);
    mf_estimator_free(r.e);
}

/* With every place taken, a new face retires the face lost longest ago. */
static void test_eviction(const engines *g)
{
    rig r;
    if (!rig_open(&r, g, 0.2, 8.0, 2))
        return;
    const mf_keypoints k[3] = {face_at(g, 1, -200.0f, 0.0f), face_at(g, 2, 0.0f, 0.0f),
                               face_at(g, 3, 200.0f, 0.0f)};
    step(&r, 0.0, k, 2);
    step(&r, 1.0, &k[1], 1); /* 1 lost at 1 */
    step(&r, 2.0, NULL, 0);  /* 2 lost at 2 */
    CHECK(r.count == 2);
    CHECK_STATUS(step(&r, 3.0, &k[2], 1), MF_OK);
    CHECK(has_face_event(&r, 3.0, 1, MF_FACE_LOST, MF_FACE_RETIRED));
    CHECK(r.count == 2 && r.out[0].face_id == 3 && r.out[1].face_id == 2);
    CHECK_STATUS(step(&r, 4.0, k, 3), MF_E_TOO_LARGE);
    mf_estimator_free(r.e);
}

/* Every refusal leaves the state as it was: the estimator that refused
 * frames answers the next frame exactly as one that never saw them. */
/* The estimator's problem names the refusal's one cause. */
#define CHECK_PROBLEM(r, expected)                                                                  \
    CHECKF(strcmp(mf_estimator_problem((r)->e), (expected)) == 0, "problem \"%s\", expected \"%s\"", \
           mf_estimator_problem((r)->e), (expected))

static void test_refusals(const engines *g)
{
    rig r, twin;
    if (!rig_open(&r, g, 0.2, 8.0, MAX) || !rig_open(&twin, g, 0.2, 8.0, MAX))
        return;
    const mf_keypoints k[2] = {face_at(g, 1, -150.0f, 0.0f), face_at(g, 2, 150.0f, 3.0f)};
    step(&r, 1.0, k, 2);
    step(&twin, 1.0, k, 2);
    mf_keypoints bad[2] = {k[0], k[1]};
    bad[1].face_id = 1;
    CHECK_STATUS(step(&r, 2.0, bad, 2), MF_E_INVALID_ARGUMENT); /* duplicate id */
    CHECK(r.count == 0 && r.events_count == 0);
    CHECK_PROBLEM(&r, "face 1 (id 1): id given twice in one frame");
    bad[1] = k[1], bad[1].landmarks[17] = NAN;
    CHECK_STATUS(step(&r, 2.0, bad, 2), MF_E_INVALID_ARGUMENT);
    CHECK_PROBLEM(&r, "face 1 (id 2): landmarks not finite");
    bad[1] = k[1], bad[1].landmarks[3] = 2e6f;
    CHECK_STATUS(step(&r, 2.0, bad, 2), MF_E_INVALID_ARGUMENT);
    CHECK_PROBLEM(&r, "face 1 (id 2): landmarks beyond +-1e6");
    bad[1] = k[1];
    for (int i = 0; i < VALUES; i++)
        bad[1].landmarks[i] = 5.0f; /* no face */
    CHECK_STATUS(step(&r, 2.0, bad, 2), MF_E_INVALID_ARGUMENT);
    CHECK_PROBLEM(&r, "face 1 (id 2): outer eye corners (landmarks 36 and 45) at one point");
    for (int i = 0; i < MF_LANDMARKS; i++)
        bad[1].landmarks[2 * i] = (float)i, bad[1].landmarks[2 * i + 1] = 2.0f * (float)i;
    CHECK_STATUS(step(&r, 2.0, bad, 2), MF_E_INVALID_ARGUMENT);
    CHECK_PROBLEM(&r, "face 1 (id 2): landmarks on one line, not spread like a face");
    bad[1] = k[1], bad[1].has_pose = 1, bad[1].pose = (mf_pose){NAN, 0.0f, 0.0f};
    CHECK_STATUS(step(&r, 2.0, bad, 2), MF_E_INVALID_ARGUMENT);
    CHECK_PROBLEM(&r, "face 1 (id 2): pose beyond +-180 degrees or not finite");
    bad[1].pose = (mf_pose){0.0f, 200.0f, 0.0f};
    CHECK_STATUS(step(&r, 2.0, bad, 2), MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(step(&r, 0.5, k, 2), MF_E_INVALID_ARGUMENT); /* back in time */
    CHECK_PROBLEM(&r, "timestamp 0.5 is before the previous 1: timestamps must not decrease");
    CHECK_STATUS(step(&r, NAN, k, 2), MF_E_INVALID_ARGUMENT);
    CHECK_PROBLEM(&r, "timestamp nan is not finite");
    CHECK_STATUS(step(&r, INFINITY, k, 2), MF_E_INVALID_ARGUMENT);
    mf_keypoints many[MAX + 1];
    for (int i = 0; i <= MAX; i++)
        many[i] = face_at(g, 10 + i, 0.0f, 0.0f);
    CHECK_STATUS(step(&r, 2.0, many, MAX + 1), MF_E_TOO_LARGE);
    CHECK(strstr(mf_estimator_problem(r.e), "more than max_faces") != NULL);
    size_t n, m;
    CHECK_STATUS(mf_estimator_update(r.e, 2.0, k, 2, r.out, MAX - 1, &n, r.events, EVENTS, &m),
                 MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_estimator_update(r.e, 2.0, k, 2, r.out, MAX, &n, r.events, EVENTS - 1, &m),
                 MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_estimator_update(r.e, 2.0, NULL, 2, r.out, MAX, &n, r.events, EVENTS, &m),
                 MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_estimator_update(NULL, 2.0, k, 2, r.out, MAX, &n, r.events, EVENTS, &m),
                 MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(step(&r, 2.5, &k[1], 1), MF_OK);
    CHECK_PROBLEM(&r, "");
    CHECK_STATUS(step(&twin, 2.5, &k[1], 1), MF_OK);
    CHECK(r.count == twin.count && r.events_count == twin.events_count);
    CHECK(memcmp(r.out, twin.out, r.count * sizeof r.out[0]) == 0);
    CHECK(memcmp(r.events, twin.events, r.events_count * sizeof r.events[0]) == 0);
    mf_estimator_free(r.e);
    mf_estimator_free(twin.e);
}

/* A face engaged for 4 s, then gone (10 fps, looking straight at the
 * camera): its cues go disengaging at 4.2 s (smoothed attention under 0.4),
 * in_long_interruption at 7.2 s, idle at 12.2 s, and only then is it
 * retired, though its grace (lost at 4.0, grace 8) ended at 12.0. Before,
 * it was retired at 12.0 and idle never came. */
static void test_lost_face_ends_idle(const engines *g)
{
    rig r;
    if (!rig_open(&r, g, 0.2, 8.0, MAX))
        return;
    mf_keypoints k = face_at(g, 7, 0.0f, 0.0f);
    k.has_pose = 1;
    k.pose = (mf_pose){0.0f, 0.0f, 0.0f};
    enum { LAST = 64 };
    mf_estimate_event last[LAST];
    size_t kept = 0;
    int reported_after_grace = 0, reported_at_idle = 0;
    for (int i = 0; i <= 150; i++) {
        const double t = i / 10.0;
        if (step(&r, t, &k, i < 40 ? 1 : 0) != MF_OK) {
            CHECKF(0, "frame at %g refused", t);
            break;
        }
        if (i == 39)
            CHECK(r.count == 1 && r.out[0].cues.status == MF_INTERACTION_READY);
        if (i == 121) /* 12.1: its grace is over, its cues are not idle yet */
            reported_after_grace = r.count == 1 && r.out[0].face_id == 7 && !r.out[0].visible &&
                                   r.out[0].cues.status == MF_INTERACTION_LONG_INTERRUPTION;
        if (i == 122)
            reported_at_idle = r.count;
        for (size_t j = 0; i >= 40 && j < r.events_count && kept < LAST; j++)
            last[kept++] = r.events[j];
    }
    CHECK(reported_after_grace);
    CHECK(reported_at_idle == 0);
    const mf_estimate_event want[] = {
        {4.0, 7, MF_CUE_FACE, MF_FACE_VISIBLE, MF_FACE_LOST},
        {4.2, 7, MF_CUE_ENGAGEMENT, MF_ENGAGEMENT_ENGAGED, MF_ENGAGEMENT_DISENGAGING},
        {4.2, 7, MF_CUE_INTERACTION, MF_INTERACTION_READY, MF_INTERACTION_SHORT_INTERRUPTION},
        {7.2, 7, MF_CUE_INTERACTION, MF_INTERACTION_SHORT_INTERRUPTION, MF_INTERACTION_LONG_INTERRUPTION},
        {12.2, 7, MF_CUE_ENGAGEMENT, MF_ENGAGEMENT_DISENGAGING, MF_ENGAGEMENT_IDLE},
        {12.2, 7, MF_CUE_INTERACTION, MF_INTERACTION_LONG_INTERRUPTION, MF_INTERACTION_IDLE},
        {12.2, 7, MF_CUE_FACE, MF_FACE_LOST, MF_FACE_RETIRED},
    };
    enum { WANT = sizeof want / sizeof want[0] };
    CHECKF(kept == WANT, "%zu events after the face left, expected %d", kept, (int)WANT);
    for (size_t j = 0; j < kept && j < WANT; j++) {
        const mf_estimate_event *a = &last[j], *b = &want[j];
        CHECKF(fabs(a->timestamp - b->timestamp) < 1e-9 && a->face_id == b->face_id &&
                   a->kind == b->kind && a->from == b->from && a->to == b->to,
               "event %zu: (%.9g, %d, %d, %d -> %d), expected (%g, %d, %d, %d -> %d)", j,
               a->timestamp, a->face_id, a->kind, a->from, a->to, b->timestamp, b->face_id,
               b->kind, b->from, b->to);
    }
    mf_estimator_free(r.e);
}

void test_estimator(void)
{
    test_params();
    test_event_state_names();
    engines g;
    if (engines_open(&g)) {
        test_first_frame(&g);
        test_smoothing(&g);
        test_baseline(&g);
        test_lost_and_retired(&g);
        test_eviction(&g);
        test_refusals(&g);
        test_lost_face_ends_idle(&g);
    }
    engines_close(&g);
}
