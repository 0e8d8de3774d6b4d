/* Social cues: every rule of the state machine at and around its boundary,
 * the attention ramp and its time-based smoothing, parameter checks and
 * argument errors that leave the state untouched. Most tests switch the
 * smoothing off (attention_tau = 0) so that yaw sets attention directly:
 * with the default ramp, yaw 0 is attention 1, yaw 25 is 0.5, yaw 60 is 0. */
#include <math.h>
#include <string.h>

#include "harness.h"

enum { II = MF_INTERACTION_IDLE, PO = MF_INTERACTION_POSSIBLE, RE = MF_INTERACTION_READY,
       SH = MF_INTERACTION_SHORT_INTERRUPTION, LO = MF_INTERACTION_LONG_INTERRUPTION };
enum { EI = MF_ENGAGEMENT_IDLE, EN = MF_ENGAGEMENT_ENGAGING, ED = MF_ENGAGEMENT_ENGAGED,
       DI = MF_ENGAGEMENT_DISENGAGING };

static const double LOST = -1.0; /* a yaw that means: face not seen */

typedef struct {
    mf_cues *cues;
    mf_cues_state state;
    mf_cue_event events[MF_CUES_MAX_EVENTS];
    size_t count;
} rig;

static void rig_open(rig *r, double tau)
{
    mf_cues_params p = mf_cues_params_default();
    p.attention_tau = tau;
    mf_status st;
    memset(r, 0, sizeof *r);
    r->cues = mf_cues_new(&p, &st);
    CHECK_STATUS(st, MF_OK);
}

/* An update at t with a face at this yaw (pitch 0), or LOST. */
static mf_status step(rig *r, double t, double yaw)
{
    const mf_pose pose = {(float)yaw, 0.0f, 0.0f};
    return mf_cues_update(r->cues, t, yaw == LOST ? NULL : &pose, &r->state, r->events,
                          MF_CUES_MAX_EVENTS, &r->count);
}

/* Checks event i: kind, from, to and timestamp. */
static void expect_event(const rig *r, size_t i, int32_t kind, int32_t from, int32_t to, double t,
                         int line)
{
    if (i >= r->count) {
        CHECKF(0, "line %d: event %zu missing (%zu events)", line, i, r->count);
        return;
    }
    const mf_cue_event *e = &r->events[i];
    CHECKF(e->kind == kind && e->from == from && e->to == to && fabs(e->timestamp - t) < 1e-9,
           "line %d: event %zu is %s %s -> %s at %g, expected %s %s -> %s at %g", line, i,
           mf_cue_kind_name(e->kind),
           e->kind ? mf_interaction_name(e->from) : mf_engagement_name(e->from),
           e->kind ? mf_interaction_name(e->to) : mf_engagement_name(e->to), e->timestamp,
           mf_cue_kind_name(kind), kind ? mf_interaction_name(from) : mf_engagement_name(from),
           kind ? mf_interaction_name(to) : mf_engagement_name(to), t);
}

#define EXPECT_COUNT(r, n) CHECKF((r)->count == (n), "%zu events, expected %d", (r)->count, (n))
#define EXPECT_ENGAGEMENT(r, i, f, t_, ts) expect_event(r, i, MF_CUE_ENGAGEMENT, f, t_, ts, __LINE__)
#define EXPECT_STATUS(r, i, f, t_, ts) expect_event(r, i, MF_CUE_INTERACTION, f, t_, ts, __LINE__)
#define EXPECT_STATE(r, e, s)                                                                     \
    CHECKF((r)->state.engagement == (e) && (r)->state.status == (s), "state %s/%s, expected %s/%s", \
           mf_engagement_name((r)->state.engagement), mf_interaction_name((r)->state.status),     \
           mf_engagement_name(e), mf_interaction_name(s))

static void test_names_and_params(void)
{
    CHECK(strcmp(mf_engagement_name(MF_ENGAGEMENT_DISENGAGING), "disengaging") == 0);
    CHECK(strcmp(mf_interaction_name(MF_INTERACTION_LONG_INTERRUPTION), "in_long_interruption") == 0);
    CHECK(strcmp(mf_interaction_name(MF_INTERACTION_POSSIBLE), "possible") == 0);
    CHECK(strcmp(mf_cue_kind_name(MF_CUE_INTERACTION), "status") == 0);
    CHECK(mf_engagement_name(MF_ENGAGEMENT_PHASES) == NULL && mf_engagement_name(-1) == NULL);
    CHECK(mf_interaction_name(MF_INTERACTION_STATUSES) == NULL && mf_cue_kind_name(3) == NULL);

    const mf_cues_params d = mf_cues_params_default();
    CHECK(d.attention_low == 0.4 && d.attention_high == 0.6 && d.engage_after == 1.0);
    CHECK(d.short_interruption_end == 3.0 && d.long_interruption_end == 8.0);
    CHECK(d.attention_tau == 0.3 && d.target_yaw == 0.0 && d.target_pitch == 0.0);
    const char *problem = "unset";
    CHECK_STATUS(mf_cues_params_check(&d, &problem), MF_OK);
    CHECK(problem == NULL);

    mf_cues_params bad[16];
    int n = 0;
    for (int i = 0; i < 16; i++)
        bad[i] = d;
    bad[n++].attention_low = 0.6;  /* == high */
    bad[n++].attention_high = 1.01;
    bad[n++].attention_low = -0.1;
    bad[n++].attention_tau = -0.1;
    bad[n++].attention_tau = NAN;
    bad[n++].engage_after = 0.0;
    bad[n++].short_interruption_end = 0.0;
    bad[n++].short_interruption_end = 8.0; /* == long */
    bad[n++].long_interruption_end = INFINITY;
    bad[n++].attention_full_deg = 40.0; /* == zero */
    bad[n++].attention_full_deg = -1.0;
    bad[n++].attention_zero_deg = 181.0;
    bad[n++].target_yaw = 91.0;
    bad[n++].target_pitch = NAN;
    for (int i = 0; i < n; i++) {
        mf_status st = MF_OK;
        problem = NULL;
        CHECKF(mf_cues_params_check(&bad[i], &problem) == MF_E_INVALID_ARGUMENT && problem,
               "bad params %d accepted", i);
        CHECKF(mf_cues_new(&bad[i], &st) == NULL && st == MF_E_INVALID_ARGUMENT,
               "bad params %d made cues", i);
    }
    mf_status st = MF_OK;
    CHECK(mf_cues_new(NULL, &st) == NULL);
    CHECK_STATUS(st, MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_cues_params_check(NULL, NULL), MF_E_INVALID_ARGUMENT);
    mf_cues_params edge = d;
    edge.attention_low = 0.0;
    edge.attention_high = 1.0;
    edge.attention_tau = 0.0;
    CHECK_STATUS(mf_cues_params_check(&edge, NULL), MF_OK);
    mf_cues_free(NULL);
    mf_cues_reset(NULL);
}

static void test_attention(void)
{
    rig r;
    rig_open(&r, 0.0);
    const double yaws[] = {0.0, 10.0, 25.0, 40.0, 60.0, -25.0};
    const double want[] = {1.0, 1.0, 0.5, 0.0, 0.0, 0.5};
    for (int i = 0; i < 6; i++) {
        CHECK_STATUS(step(&r, i, yaws[i]), MF_OK);
        CHECKF(fabs(r.state.raw_attention - want[i]) < 1e-6 && r.state.attention == r.state.raw_attention,
               "yaw %g: attention %g, expected %g", yaws[i], r.state.raw_attention, want[i]);
    }
    CHECK_STATUS(step(&r, 7, LOST), MF_OK);
    CHECK(r.state.raw_attention == 0.0);
    mf_cues_free(r.cues);

    /* the offset is the angle from the target in yaw and pitch together */
    mf_cues_params p = mf_cues_params_default();
    p.target_yaw = 20.0;
    p.target_pitch = -10.0;
    mf_status st;
    mf_cues *c = mf_cues_new(&p, &st);
    mf_cue_event events[MF_CUES_MAX_EVENTS];
    size_t count;
    mf_cues_state s;
    const mf_pose pose = {20.0f + 15.0f, -10.0f + 20.0f, 45.0f}; /* 25 degrees off; roll ignored */
    CHECK_STATUS(mf_cues_update(c, 0.0, &pose, &s, events, MF_CUES_MAX_EVENTS, &count), MF_OK);
    CHECKF(fabs(s.raw_attention - 0.5) < 1e-6, "attention %g", s.raw_attention);
    mf_cues_free(c);

    /* the EMA: the first update starts at raw, then a step from 0 to 1 reaches
     * 1 - exp(-dt / tau), however many frames divide dt */
    rig a, b;
    rig_open(&a, 0.3);
    rig_open(&b, 0.3);
    CHECK_STATUS(step(&a, 0.0, LOST), MF_OK);
    CHECK_STATUS(step(&b, 0.0, LOST), MF_OK);
    CHECK(a.state.attention == 0.0);
    CHECK_STATUS(step(&a, 0.3, 0.0), MF_OK);
    for (int i = 1; i <= 30; i++)
        CHECK_STATUS(step(&b, 0.01 * i, 0.0), MF_OK);
    CHECKF(fabs(a.state.attention - (1.0 - exp(-1.0))) < 1e-12, "attention %g", a.state.attention);
    CHECKF(fabs(b.state.attention - a.state.attention) < 1e-9, "30 frames %g, 1 frame %g",
           b.state.attention, a.state.attention);
    /* an equal timestamp smooths nothing but updates the raw value */
    CHECK_STATUS(step(&a, 0.3, LOST), MF_OK);
    CHECK(fabs(a.state.attention - (1.0 - exp(-1.0))) < 1e-12 && a.state.raw_attention == 0.0);
    mf_cues_free(a.cues);
    mf_cues_free(b.cues);

    rig first;
    rig_open(&first, 0.3);
    CHECK_STATUS(step(&first, 5.0, 0.0), MF_OK);
    CHECK(first.state.attention == 1.0); /* no history: starts at raw */
    EXPECT_STATE(&first, EN, PO);
    mf_cues_free(first.cues);
}

/* idle -> possible -> ready -> short -> long -> idle, each timer stamped when due. */
static void test_full_cycle(void)
{
    rig r;
    rig_open(&r, 0.0);
    CHECK_STATUS(step(&r, 0.0, LOST), MF_OK);
    EXPECT_COUNT(&r, 0);
    EXPECT_STATE(&r, EI, II);
    CHECK_STATUS(step(&r, 0.5, 0.0), MF_OK);
    EXPECT_COUNT(&r, 2);
    EXPECT_ENGAGEMENT(&r, 0, EI, EN, 0.5);
    EXPECT_STATUS(&r, 1, II, PO, 0.5);
    CHECK_STATUS(step(&r, 1.4, 0.0), MF_OK);
    EXPECT_COUNT(&r, 0);
    CHECK(fabs(r.state.status_time - 0.9) < 1e-12);
    CHECK_STATUS(step(&r, 1.7, 0.0), MF_OK); /* due at 1.5 */
    EXPECT_COUNT(&r, 2);
    EXPECT_ENGAGEMENT(&r, 0, EN, ED, 1.5);
    EXPECT_STATUS(&r, 1, PO, RE, 1.5);
    EXPECT_STATE(&r, ED, RE);
    CHECK(fabs(r.state.status_time - 0.2) < 1e-12 && fabs(r.state.engagement_time - 0.2) < 1e-12);
    CHECK_STATUS(step(&r, 2.0, LOST), MF_OK);
    EXPECT_COUNT(&r, 2);
    EXPECT_ENGAGEMENT(&r, 0, ED, DI, 2.0);
    EXPECT_STATUS(&r, 1, RE, SH, 2.0);
    CHECK_STATUS(step(&r, 4.9, LOST), MF_OK); /* 2.9 s away */
    EXPECT_COUNT(&r, 0);
    EXPECT_STATE(&r, DI, SH);
    CHECK_STATUS(step(&r, 5.1, LOST), MF_OK); /* 3.1 s away */
    EXPECT_COUNT(&r, 1);
    EXPECT_STATUS(&r, 0, SH, LO, 5.0);
    EXPECT_STATE(&r, DI, LO);
    CHECK(fabs(r.state.status_time - 0.1) < 1e-9 && fabs(r.state.engagement_time - 3.1) < 1e-9);
    CHECK_STATUS(step(&r, 9.9, LOST), MF_OK); /* 7.9 s away */
    EXPECT_COUNT(&r, 0);
    EXPECT_STATE(&r, DI, LO);
    CHECK_STATUS(step(&r, 10.1, LOST), MF_OK); /* 8.1 s away */
    EXPECT_COUNT(&r, 2);
    EXPECT_ENGAGEMENT(&r, 0, DI, EI, 10.0);
    EXPECT_STATUS(&r, 1, LO, II, 10.0);
    EXPECT_STATE(&r, EI, II);
    mf_cues_free(r.cues);
}

/* Engaged, then away from t = 2: the rig for the interruption tests. */
static void engaged_then_away(rig *r)
{
    rig_open(r, 0.0);
    step(r, 0.0, 0.0);
    step(r, 1.0, 0.0); /* due exactly now: fires */
    EXPECT_STATE(r, ED, RE);
    step(r, 2.0, LOST);
    EXPECT_STATE(r, DI, SH);
}

static void test_interruptions(void)
{
    rig r;
    /* every event of a long gap, in order, then the attention at its end */
    engaged_then_away(&r);
    CHECK_STATUS(step(&r, 20.0, 0.0), MF_OK);
    EXPECT_COUNT(&r, 5);
    EXPECT_STATUS(&r, 0, SH, LO, 5.0);
    EXPECT_ENGAGEMENT(&r, 1, DI, EI, 10.0);
    EXPECT_STATUS(&r, 2, LO, II, 10.0);
    EXPECT_ENGAGEMENT(&r, 3, EI, EN, 20.0);
    EXPECT_STATUS(&r, 4, II, PO, 20.0);
    mf_cues_free(r.cues);

    /* back within the short interruption */
    engaged_then_away(&r);
    CHECK_STATUS(step(&r, 4.0, 0.0), MF_OK);
    EXPECT_COUNT(&r, 2);
    EXPECT_ENGAGEMENT(&r, 0, DI, ED, 4.0);
    EXPECT_STATUS(&r, 1, SH, RE, 4.0);
    mf_cues_free(r.cues);

    /* back within the long one: the timer fires first, then the attention */
    engaged_then_away(&r);
    CHECK_STATUS(step(&r, 9.0, 0.0), MF_OK);
    EXPECT_COUNT(&r, 3);
    EXPECT_STATUS(&r, 0, SH, LO, 5.0);
    EXPECT_ENGAGEMENT(&r, 1, DI, ED, 9.0);
    EXPECT_STATUS(&r, 2, LO, RE, 9.0);
    mf_cues_free(r.cues);

    /* exactly at the end of the short interruption: it has ended */
    engaged_then_away(&r);
    CHECK_STATUS(step(&r, 5.0, LOST), MF_OK);
    EXPECT_COUNT(&r, 1);
    EXPECT_STATUS(&r, 0, SH, LO, 5.0);
    mf_cues_free(r.cues);

    /* attention between the thresholds keeps the interruption going */
    engaged_then_away(&r);
    CHECK_STATUS(step(&r, 3.0, 25.0), MF_OK);
    EXPECT_COUNT(&r, 0);
    EXPECT_STATE(&r, DI, SH);
    mf_cues_free(r.cues);
}

static void test_engaging(void)
{
    rig r;
    rig_open(&r, 0.0);
    CHECK_STATUS(step(&r, 0.0, 0.0), MF_OK);
    EXPECT_STATE(&r, EN, PO);
    CHECK_STATUS(step(&r, 0.9, 0.0), MF_OK);
    EXPECT_COUNT(&r, 0);
    CHECK_STATUS(step(&r, 0.95, 60.0), MF_OK);
    EXPECT_COUNT(&r, 2);
    EXPECT_ENGAGEMENT(&r, 0, EN, EI, 0.95);
    EXPECT_STATUS(&r, 1, PO, II, 0.95);
    /* a frame that finds the engaging timer due and attention low fires both */
    CHECK_STATUS(step(&r, 1.0, 0.0), MF_OK);
    CHECK_STATUS(step(&r, 2.5, 60.0), MF_OK);
    EXPECT_COUNT(&r, 4);
    EXPECT_ENGAGEMENT(&r, 0, EN, ED, 2.0);
    EXPECT_STATUS(&r, 1, PO, RE, 2.0);
    EXPECT_ENGAGEMENT(&r, 2, ED, DI, 2.5);
    EXPECT_STATUS(&r, 3, RE, SH, 2.5);
    mf_cues_free(r.cues);
}

/* Attention between the thresholds changes nothing, from either side. */
static void test_hysteresis(void)
{
    rig r;
    rig_open(&r, 0.0);
    for (int i = 0; i < 100; i++) {
        CHECK_STATUS(step(&r, 0.1 * i, i % 2 ? 23.5 : 26.5), MF_OK); /* 0.55, 0.45 */
        CHECK(r.count == 0);
    }
    EXPECT_STATE(&r, EI, II);
    mf_cues_free(r.cues);

    engaged_then_away(&r);
    step(&r, 2.5, 0.0);
    EXPECT_STATE(&r, ED, RE);
    for (int i = 0; i < 100; i++) {
        CHECK_STATUS(step(&r, 3.0 + 0.1 * i, i % 2 ? 23.5 : 26.5), MF_OK);
        CHECK(r.count == 0);
    }
    EXPECT_STATE(&r, ED, RE);
    /* the thresholds themselves: >= high enters, < low leaves */
    mf_cues_free(r.cues);
    rig_open(&r, 0.0);
    step(&r, 0.0, 22.0 + 1e-4); /* just under 0.6 */
    EXPECT_STATE(&r, EI, II);
    step(&r, 0.1, 22.0 - 1e-4);
    EXPECT_STATE(&r, EN, PO);
    step(&r, 0.2, 28.0 - 1e-4); /* just over 0.4 */
    EXPECT_STATE(&r, EN, PO);
    step(&r, 0.3, 28.0 + 1e-4);
    EXPECT_STATE(&r, EI, II);
    mf_cues_free(r.cues);
}

static void test_errors(void)
{
    rig r;
    engaged_then_away(&r);
    const mf_cues_state before = r.state;
    mf_pose nan_pose = {NAN, 0.0f, 0.0f};
    mf_cue_event events[MF_CUES_MAX_EVENTS];
    size_t count = 99;
    mf_cues_state s;
    CHECK_STATUS(step(&r, 1.9, 0.0), MF_E_INVALID_ARGUMENT);
    /* the problem names the cause in the words the estimator uses */
    CHECKF(strcmp(mf_cues_problem(r.cues),
                  "timestamp 1.9 is before the previous 2: timestamps must not decrease") == 0,
           "problem \"%s\"", mf_cues_problem(r.cues));
    CHECK_STATUS(step(&r, NAN, 0.0), MF_E_INVALID_ARGUMENT);
    CHECK(strcmp(mf_cues_problem(r.cues), "timestamp nan is not finite") == 0);
    CHECK_STATUS(step(&r, INFINITY, 0.0), MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_cues_update(r.cues, 3.0, &nan_pose, &s, events, MF_CUES_MAX_EVENTS, &count),
                 MF_E_INVALID_ARGUMENT);
    CHECK(strcmp(mf_cues_problem(r.cues), "pose not finite") == 0);
    nan_pose.yaw = 0.0f;
    nan_pose.pitch = INFINITY;
    CHECK_STATUS(mf_cues_update(r.cues, 3.0, &nan_pose, &s, events, MF_CUES_MAX_EVENTS, &count),
                 MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_cues_update(r.cues, 3.0, NULL, &s, events, MF_CUES_MAX_EVENTS - 1, &count),
                 MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_cues_update(r.cues, 3.0, NULL, NULL, events, MF_CUES_MAX_EVENTS, &count),
                 MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_cues_update(r.cues, 3.0, NULL, &s, NULL, MF_CUES_MAX_EVENTS, &count),
                 MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_cues_update(r.cues, 3.0, NULL, &s, events, MF_CUES_MAX_EVENTS, NULL),
                 MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_cues_update(NULL, 3.0, NULL, &s, events, MF_CUES_MAX_EVENTS, &count),
                 MF_E_INVALID_ARGUMENT);
    CHECK(count == 99);
    /* nothing changed: an update at the same time reports the same state */
    CHECK_STATUS(step(&r, 2.0, LOST), MF_OK);
    EXPECT_COUNT(&r, 0);
    CHECK(memcmp(&before, &r.state, sizeof before) == 0);
    CHECK_STATUS(step(&r, 5.5, LOST), MF_OK);
    EXPECT_STATUS(&r, 0, SH, LO, 5.0);

    /* reset forgets the time and the state */
    mf_cues_reset(r.cues);
    CHECK_STATUS(step(&r, 0.0, LOST), MF_OK);
    EXPECT_COUNT(&r, 0);
    EXPECT_STATE(&r, EI, II);
    CHECK(r.state.status_time == 0.0);
    mf_cues_free(r.cues);
}

void test_cues(void)
{
    test_names_and_params();
    test_attention();
    test_full_cycle();
    test_interruptions();
    test_engaging();
    test_hysteresis();
    test_errors();
}
