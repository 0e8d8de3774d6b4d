/* Social cues of one face: smoothed attention from the head pose, and the
 * interaction-status state machine (whose engagement phase follows from the
 * status). The rules are stated in mojofer.h and drawn in docs/cues.md; the
 * table RULES below is the machine, the only place transitions are made.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "estimate.h"

enum { HIGH, LOW, TIMER }; /* what fires a rule */
enum { ENGAGE_AFTER, SHORT_END, LONG_END }; /* which duration a timer waits */

typedef struct {
    mf_interaction from, to;
    int when;     /* HIGH: attention >= attention_high; LOW: < attention_low; TIMER */
    int duration; /* for TIMER: since the current engagement phase began */
} rule;

static const rule RULES[] = {
    {MF_INTERACTION_IDLE, MF_INTERACTION_POSSIBLE, HIGH, 0},
    {MF_INTERACTION_POSSIBLE, MF_INTERACTION_IDLE, LOW, 0},
    {MF_INTERACTION_POSSIBLE, MF_INTERACTION_READY, TIMER, ENGAGE_AFTER},
    {MF_INTERACTION_READY, MF_INTERACTION_SHORT_INTERRUPTION, LOW, 0},
    {MF_INTERACTION_SHORT_INTERRUPTION, MF_INTERACTION_READY, HIGH, 0},
    {MF_INTERACTION_SHORT_INTERRUPTION, MF_INTERACTION_LONG_INTERRUPTION, TIMER, SHORT_END},
    {MF_INTERACTION_LONG_INTERRUPTION, MF_INTERACTION_READY, HIGH, 0},
    {MF_INTERACTION_LONG_INTERRUPTION, MF_INTERACTION_IDLE, TIMER, LONG_END},
};
enum { RULE_COUNT = sizeof RULES / sizeof RULES[0] };

static const mf_engagement PHASE_OF[MF_INTERACTION_STATUSES] = {
    MF_ENGAGEMENT_IDLE, MF_ENGAGEMENT_ENGAGING, MF_ENGAGEMENT_ENGAGED, MF_ENGAGEMENT_DISENGAGING,
    MF_ENGAGEMENT_DISENGAGING};

static const char *const ENGAGEMENT_NAMES[MF_ENGAGEMENT_PHASES] = {"idle", "engaging", "engaged",
                                                                   "disengaging"};
static const char *const INTERACTION_NAMES[MF_INTERACTION_STATUSES] = {
    "idle", "possible", "ready", "in_short_interruption", "in_long_interruption"};
static const char *const KIND_NAMES[] = {"engagement", "status", "face"};

struct mf_cues {
    mf_cues_params params;
    int started;           /* an update has been made since new or reset */
    double time;           /* of the last update */
    double attention, raw; /* smoothed and raw, at `time` */
    mf_interaction status;
    double phase_since, status_since;
    char problem[MF_CUES_PROBLEM_BYTES]; /* why the last update was refused, or "" */
};

int mf_time_refused(double t, int started, double previous, char *problem, size_t size)
{
    if (!isfinite(t))
        snprintf(problem, size, "timestamp %g is not finite", t);
    else if (started && t < previous)
        snprintf(problem, size,
                 "timestamp %.9g is before the previous %.9g: timestamps must not decrease", t,
                 previous);
    else
        return 0;
    return 1;
}

const char *mf_cues_problem(const mf_cues *cues)
{
    return cues ? cues->problem : "no cues";
}

const char *mf_engagement_name(int32_t phase)
{
    return phase >= 0 && phase < MF_ENGAGEMENT_PHASES ? ENGAGEMENT_NAMES[phase] : NULL;
}

const char *mf_interaction_name(int32_t status)
{
    return status >= 0 && status < MF_INTERACTION_STATUSES ? INTERACTION_NAMES[status] : NULL;
}

const char *mf_cue_kind_name(int32_t kind)
{
    return kind >= 0 && kind <= MF_CUE_FACE ? KIND_NAMES[kind] : NULL;
}

mf_cues_params mf_cues_params_default(void)
{
    mf_cues_params p;
    p.target_yaw = 0.0;
    p.target_pitch = 0.0;
    /* linear from 10 to 40 degrees: 0.5 at 25 degrees, the documented working
     * range, half way between leaving (0.4 at 28) and entering (0.6 at 22) */
    p.attention_full_deg = 10.0;
    p.attention_zero_deg = 40.0;
    p.attention_tau = 0.3;
    p.attention_low = 0.4;
    p.attention_high = 0.6;
    p.engage_after = 1.0;
    p.short_interruption_end = 3.0;
    p.long_interruption_end = 8.0;
    return p;
}

mf_status mf_cues_params_check(const mf_cues_params *p, const char **problem)
{
    const char *why = NULL;
    if (!p)
        why = "params must not be NULL";
    else if (!isfinite(p->target_yaw) || !isfinite(p->target_pitch) || !isfinite(p->attention_full_deg) ||
             !isfinite(p->attention_zero_deg) || !isfinite(p->attention_tau) ||
             !isfinite(p->attention_low) || !isfinite(p->attention_high) || !isfinite(p->engage_after) ||
             !isfinite(p->short_interruption_end) || !isfinite(p->long_interruption_end))
        why = "every parameter must be finite";
    else if (fabs(p->target_yaw) > 90.0 || fabs(p->target_pitch) > 90.0)
        why = "target_yaw and target_pitch must be within -90..90 degrees";
    else if (!(0.0 <= p->attention_full_deg && p->attention_full_deg < p->attention_zero_deg &&
               p->attention_zero_deg <= 180.0))
        why = "need 0 <= attention_full_deg < attention_zero_deg <= 180";
    else if (!(p->attention_tau >= 0.0))
        why = "attention_tau must be >= 0 seconds";
    else if (!(0.0 <= p->attention_low && p->attention_low < p->attention_high && p->attention_high <= 1.0))
        why = "need 0 <= attention_low < attention_high <= 1";
    else if (!(p->engage_after > 0.0))
        why = "engage_after must be > 0 seconds";
    else if (!(0.0 < p->short_interruption_end && p->short_interruption_end < p->long_interruption_end))
        why = "need 0 < short_interruption_end < long_interruption_end (seconds)";
    if (problem)
        *problem = why;
    return why ? MF_E_INVALID_ARGUMENT : MF_OK;
}

mf_cues *mf_cues_new(const mf_cues_params *params, mf_status *status)
{
    mf_cues *c = NULL;
    mf_status st = mf_cues_params_check(params, NULL);
    if (st != MF_OK)
        goto done;
    c = calloc(1, sizeof *c);
    if (!c) {
        st = MF_E_NO_MEMORY;
        goto done;
    }
    c->params = *params;
    mf_cues_reset(c);
done:
    if (status)
        *status = st;
    return c;
}

void mf_cues_free(mf_cues *c)
{
    free(c);
}

void mf_cues_reset(mf_cues *c)
{
    if (!c)
        return;
    const mf_cues_params params = c->params;
    *c = (mf_cues){0};
    c->params = params;
    c->status = MF_INTERACTION_IDLE;
}

static double raw_attention(const mf_cues_params *p, const mf_pose *pose)
{
    if (!pose)
        return 0.0;
    const double dyaw = pose->yaw - p->target_yaw, dpitch = pose->pitch - p->target_pitch;
    const double offset = sqrt(dyaw * dyaw + dpitch * dpitch);
    const double a = (p->attention_zero_deg - offset) / (p->attention_zero_deg - p->attention_full_deg);
    return a < 0.0 ? 0.0 : a > 1.0 ? 1.0 : a;
}

static double duration(const mf_cues_params *p, int which)
{
    return which == ENGAGE_AFTER ? p->engage_after
           : which == SHORT_END  ? p->short_interruption_end
                                 : p->long_interruption_end;
}

/* Takes rule r at time `at`, appending its events. */
static void take(mf_cues *c, const rule *r, double at, mf_cue_event *events, size_t *count)
{
    const mf_engagement from = PHASE_OF[r->from], to = PHASE_OF[r->to];
    if (from != to) {
        events[(*count)++] = (mf_cue_event){at, MF_CUE_ENGAGEMENT, (int32_t)from, (int32_t)to};
        c->phase_since = at;
    }
    events[(*count)++] = (mf_cue_event){at, MF_CUE_INTERACTION, (int32_t)r->from, (int32_t)r->to};
    c->status = r->to;
    c->status_since = at;
}

/* The timer of the current status due at or before t (*at: when), if any. */
static const rule *due_timer(const mf_cues *c, double t, double *at)
{
    for (int i = 0; i < RULE_COUNT; i++) {
        const rule *r = &RULES[i];
        if (r->from == c->status && r->when == TIMER) {
            *at = c->phase_since + duration(&c->params, r->duration);
            if (*at <= t)
                return r; /* a status has at most one timer */
        }
    }
    return NULL;
}

/* The attention rule of the current status that holds, if any. */
static const rule *attention_rule(const mf_cues *c)
{
    for (int i = 0; i < RULE_COUNT; i++) {
        const rule *r = &RULES[i];
        if (r->from == c->status && ((r->when == HIGH && c->attention >= c->params.attention_high) ||
                                     (r->when == LOW && c->attention < c->params.attention_low)))
            return r;
    }
    return NULL;
}

mf_status mf_cues_update(mf_cues *c, double t, const mf_pose *pose, mf_cues_state *out,
                         mf_cue_event *events, size_t capacity, size_t *count)
{
    if (!c)
        return MF_E_INVALID_ARGUMENT;
    c->problem[0] = '\0';
    if (!out || !events || !count || capacity < MF_CUES_MAX_EVENTS) {
        snprintf(c->problem, sizeof c->problem, "a NULL output or fewer than %d events' room",
                 MF_CUES_MAX_EVENTS);
        return MF_E_INVALID_ARGUMENT;
    }
    if (mf_time_refused(t, c->started, c->time, c->problem, sizeof c->problem))
        return MF_E_INVALID_ARGUMENT;
    if (pose && (!isfinite(pose->yaw) || !isfinite(pose->pitch))) {
        snprintf(c->problem, sizeof c->problem, "pose not finite");
        return MF_E_INVALID_ARGUMENT;
    }
    const double raw = raw_attention(&c->params, pose);
    *count = 0;
    if (!c->started) {
        c->time = c->phase_since = c->status_since = t;
        c->attention = raw;
        c->started = 1;
    }
    double at;
    const rule *r;
    /* timers due by t fire first, while the previous attention holds */
    while ((r = due_timer(c, t, &at)))
        take(c, r, at, events, count);
    if (c->params.attention_tau > 0.0)
        c->attention += (1.0 - exp(-(t - c->time) / c->params.attention_tau)) * (raw - c->attention);
    else
        c->attention = raw;
    c->attention = c->attention < 0.0 ? 0.0 : c->attention > 1.0 ? 1.0 : c->attention; /* rounding */
    c->time = t;
    c->raw = raw;
    /* an attention rule always starts a new phase, so after it no timer is
     * due by t and no other attention rule holds */
    if ((r = attention_rule(c)))
        take(c, r, t, events, count);

    out->attention = c->attention;
    out->raw_attention = c->raw;
    out->engagement = (int32_t)PHASE_OF[c->status];
    out->status = (int32_t)c->status;
    out->engagement_time = t - c->phase_since;
    out->status_time = t - c->status_since;
    return MF_OK;
}
