/* The estimate side of the privacy boundary: per stream, faces' keypoints
 * under caller-assigned ids in, pose, smoothed expression and social cues
 * out (the rules are stated in mojofer.h). The local Analyzer and the
 * server's sessions both run this file, so their estimates are one code.
 *
 * An update checks everything and computes every pose and expression into
 * scratch before it changes any state, so that a refused frame leaves the
 * estimator as it was.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "estimate.h"

enum {
    SMOOTHED = MF_EMOTIONS + 3 + MF_ACTION_UNITS, /* emotions, social, action units */
    SHAPE_VALUES = 2 * MF_LANDMARKS,
    BASELINE_BLOCKS = 8 /* a baseline is the median of this many stretches of its window */
};

/* A face feeds its baseline only while it looks about ahead: aligned 2-D
 * shapes of turned heads differ from the resting face by the turn. */
static const float BASELINE_MAX_ANGLE = 25.0f;
/* Seconds of fed frames after which a baseline counts as established
 * (weight 1); a frame counts for at most BASELINE_MAX_STEP seconds, so a
 * face seen again after a gap is not established at once. */
static const double BASELINE_SETTLE_SECONDS = 3.0, BASELINE_MAX_STEP = 0.5;

/* A person's resting face learnt online (mojofer.h, mf_estimator_params):
 * the window is cut into BASELINE_BLOCKS stretches; each finished one is
 * kept as the mean aligned shape of its frames, weighted by how calm each
 * reads (mf_calm), and the baseline is, per coordinate, the weighted median
 * of the kept stretches and the one being filled (weighted by their
 * calm). A smile that lasts less than half the window moves it little; a
 * face that keeps a new resting shape takes it over. */
typedef struct {
    float blocks[BASELINE_BLOCKS + 1][SHAPE_VALUES]; /* the last: the one being filled */
    float calm[BASELINE_BLOCKS + 1];
    int32_t finished, next;      /* blocks kept (<= BASELINE_BLOCKS), where the next one goes */
    double sum[SHAPE_VALUES];    /* the block being filled: calm-weighted sum, calm, frames */
    double sum_calm;
    int32_t frames;
    double block_seconds;
    double seconds;              /* of frames fed, each at most BASELINE_MAX_STEP */
    double fed_at;               /* when the last frame was fed (seconds > 0 or frames > 0) */
    mf_face_baseline current;    /* what the face's next frame is read against */
} baseline;

static const char *const FACE_STATE_NAMES[MF_FACE_STATES] = {"absent", "visible", "lost", "retired"};

typedef struct {
    int32_t id;
    int32_t lost;          /* not given in the last update */
    double lost_at;        /* when it was first not given */
    double smoothed_at;    /* when it was last given */
    double smoothed[SMOOTHED];
    mf_pose pose;          /* the last given or estimated */
    mf_cues_state state;
    mf_cues *cues;
    baseline baseline;
} face;

struct mf_estimator {
    mf_estimator_params params;
    mf_pose_estimator *pose;
    mf_expression_classifier *expressions;
    int started;
    double time;
    size_t count;     /* faces kept, in order of arrival */
    face *faces;      /* max_faces of them; faces[count..] hold spare mf_cues */
    /* scratch of one update, max_faces each */
    float *points;
    mf_face_baseline *baselines;
    mf_pose *poses;
    mf_expression *expression;
    mf_expression *plain; /* against the population: how calm each face is */
    int32_t *slot;    /* per input face: its index in faces, or -1 when new */
    uint8_t *given;   /* per kept face */
    char problem[MF_ESTIMATOR_PROBLEM_BYTES]; /* why the last update was refused, or "" */
};

const char *mf_face_state_name(int32_t state)
{
    return state >= 0 && state < MF_FACE_STATES ? FACE_STATE_NAMES[state] : NULL;
}

const char *mf_event_state_name(int32_t kind, int32_t value)
{
    switch (kind) {
    case MF_CUE_ENGAGEMENT: return mf_engagement_name(value);
    case MF_CUE_INTERACTION: return mf_interaction_name(value);
    case MF_CUE_FACE: return mf_face_state_name(value);
    default: return NULL;
    }
}

mf_estimator_params mf_estimator_params_default(void)
{
    mf_estimator_params p;
    p.smoothing = 0.2;
    p.cues = mf_cues_params_default();
    /* someone who looks back before the long interruption ends resumes it */
    p.grace = p.cues.long_interruption_end;
    p.max_faces = 16;
    p.baseline_window = 60.0;
    return p;
}

mf_status mf_estimator_params_check(const mf_estimator_params *p, const char **problem)
{
    const char *why = NULL;
    if (!p)
        why = "params must not be NULL";
    else if (!(isfinite(p->smoothing) && p->smoothing >= 0.0))
        why = "smoothing must be a finite number of seconds >= 0";
    else if (!(isfinite(p->grace) && p->grace >= 0.0))
        why = "grace must be a finite number of seconds >= 0";
    else if (p->max_faces < 1 || p->max_faces > MF_ESTIMATOR_MAX_FACES)
        why = "max_faces must be within 1..1024";
    else if (!(isfinite(p->baseline_window) && p->baseline_window >= 0.0))
        why = "baseline_window must be a finite number of seconds >= 0 (0: no baseline)";
    else if (mf_cues_params_check(&p->cues, &why) == MF_OK && !(p->cues.attention_low > 0.0))
        why = "cues.attention_low must be > 0 in an estimator: a lost face's attention falls "
              "towards 0 and must pass under it for the face's cues to end in idle";
    if (problem)
        *problem = why;
    return why ? MF_E_INVALID_ARGUMENT : MF_OK;
}

mf_estimator *mf_estimator_new(mf_pose_estimator *pose, mf_expression_classifier *expressions,
                               const mf_estimator_params *params, mf_status *status)
{
    mf_estimator *e = NULL;
    mf_status st = MF_E_INVALID_ARGUMENT;
    if (!pose || !expressions || (st = mf_estimator_params_check(params, NULL)) != MF_OK)
        goto done;
    st = MF_E_NO_MEMORY;
    if (!(e = calloc(1, sizeof *e)))
        goto done;
    e->params = *params;
    e->pose = pose;
    e->expressions = expressions;
    const size_t n = (size_t)params->max_faces;
    e->faces = calloc(n, sizeof *e->faces);
    e->points = malloc(n * 2 * MF_LANDMARKS * sizeof *e->points);
    e->baselines = malloc(n * sizeof *e->baselines);
    e->poses = malloc(n * sizeof *e->poses);
    e->expression = malloc(n * sizeof *e->expression);
    e->plain = malloc(n * sizeof *e->plain);
    e->slot = malloc(n * sizeof *e->slot);
    e->given = malloc(n * sizeof *e->given);
    if (!e->faces || !e->points || !e->baselines || !e->poses || !e->expression || !e->plain || !e->slot || !e->given)
        goto done;
    /* every face's state machine is made now: an update never allocates */
    for (size_t i = 0; i < n; i++)
        if (!(e->faces[i].cues = mf_cues_new(&params->cues, &st)))
            goto done;
    st = MF_OK;
done:
    if (st != MF_OK) {
        mf_estimator_free(e);
        e = NULL;
    }
    if (status)
        *status = st;
    return e;
}

void mf_estimator_free(mf_estimator *e)
{
    if (!e)
        return;
    for (int32_t i = 0; e->faces && i < e->params.max_faces; i++)
        mf_cues_free(e->faces[i].cues);
    free(e->faces);
    free(e->points);
    free(e->baselines);
    free(e->poses);
    free(e->expression);
    free(e->plain);
    free(e->slot);
    free(e->given);
    free(e);
}

void mf_estimator_reset(mf_estimator *e)
{
    if (!e)
        return;
    e->started = 0;
    e->time = 0.0;
    e->count = 0;
}

static int pose_ok(const mf_pose *p)
{
    return fabsf(p->yaw) <= 180.0f && fabsf(p->pitch) <= 180.0f && fabsf(p->roll) <= 180.0f;
}

/* Index of the kept face with this id, or -1. */
static int32_t find(const mf_estimator *e, int32_t id)
{
    for (size_t i = 0; i < e->count; i++)
        if (e->faces[i].id == id)
            return (int32_t)i;
    return -1;
}

/* Removes kept face i, keeping the order of the others; its mf_cues moves
 * to the spare end. */
static void drop(mf_estimator *e, size_t i)
{
    mf_cues *cues = e->faces[i].cues;
    memmove(e->faces + i, e->faces + i + 1, (e->count - i - 1) * sizeof *e->faces);
    e->count--;
    e->faces[e->count].cues = cues;
}

static void add_event(mf_estimate_event *events, size_t *n, double t, int32_t id, int32_t kind,
                      int32_t from, int32_t to)
{
    events[(*n)++] = (mf_estimate_event){t, id, kind, from, to};
}

/* Cue events of face f, tagged with its id. Returns when this update
 * brought the status to idle, or -INFINITY if it did not. */
static double cue_update(face *f, double t, const mf_pose *pose, mf_estimate_event *events,
                         size_t *n)
{
    mf_cue_event ev[MF_CUES_MAX_EVENTS];
    size_t k = 0;
    double idle_at = -INFINITY;
    /* cannot fail: t is checked and not before this face's last update */
    mf_cues_update(f->cues, t, pose, &f->state, ev, MF_CUES_MAX_EVENTS, &k);
    for (size_t j = 0; j < k; j++) {
        add_event(events, n, ev[j].timestamp, f->id, ev[j].kind, ev[j].from, ev[j].to);
        if (ev[j].kind == MF_CUE_INTERACTION && ev[j].to == MF_INTERACTION_IDLE)
            idle_at = ev[j].timestamp;
    }
    return idle_at;
}

static void smooth(const mf_estimator *e, face *f, const mf_expression *x, double t, int first)
{
    float v[SMOOTHED];
    memcpy(v, x->emotions, sizeof x->emotions);
    v[MF_EMOTIONS] = x->amusement;
    v[MF_EMOTIONS + 1] = x->surprise;
    v[MF_EMOTIONS + 2] = x->confusion;
    memcpy(v + MF_EMOTIONS + 3, x->action_units, sizeof x->action_units);
    const double alpha =
        first || e->params.smoothing == 0.0 ? 1.0 : 1.0 - exp(-(t - f->smoothed_at) / e->params.smoothing);
    for (int k = 0; k < SMOOTHED; k++)
        f->smoothed[k] = alpha == 1.0 ? (double)v[k] : f->smoothed[k] + alpha * (v[k] - f->smoothed[k]);
    f->smoothed_at = t;
}

static void estimate_of(const face *f, mf_estimate *out)
{
    out->face_id = f->id;
    out->visible = !f->lost;
    out->pose = f->pose;
    mf_expression *x = &out->expression;
    for (int k = 0; k < MF_EMOTIONS; k++)
        x->emotions[k] = (float)f->smoothed[k];
    x->amusement = (float)f->smoothed[MF_EMOTIONS];
    x->surprise = (float)f->smoothed[MF_EMOTIONS + 1];
    x->confusion = (float)f->smoothed[MF_EMOTIONS + 2];
    for (int k = 0; k < MF_ACTION_UNITS; k++)
        x->action_units[k] = (float)f->smoothed[MF_EMOTIONS + 3 + k];
    out->cues = f->state;
}

static void baseline_reset(baseline *b)
{
    memset(b, 0, sizeof *b);
}

/* Feeds face points (checked) seen at t with `pose`, read as `plain`
 * against the population, to its baseline, and updates what the face's
 * next frame reads against. */
static void baseline_feed(const mf_estimator *e, baseline *b, const float *points,
                          const mf_pose *pose, const mf_expression *plain, double t)
{
    const double window = e->params.baseline_window;
    float aligned[SHAPE_VALUES];
    mf_weighted column[BASELINE_BLOCKS + 1];
    if (window == 0.0 || fabsf(pose->yaw) > BASELINE_MAX_ANGLE ||
        fabsf(pose->pitch) > BASELINE_MAX_ANGLE)
        return;
    mf_expression_align(e->expressions, points, aligned); /* cannot fail: points checked */
    const double step = b->frames || b->seconds > 0.0 ? fmin(t - b->fed_at, BASELINE_MAX_STEP) : 0.0;
    const double calm = mf_calm(plain);
    b->fed_at = t;
    b->seconds += step;
    b->block_seconds += step;
    for (int i = 0; i < SHAPE_VALUES; i++)
        b->sum[i] += calm * aligned[i];
    b->sum_calm += calm;
    b->frames++;
    /* the block being filled goes after the kept ones */
    float *filling = b->blocks[b->finished < BASELINE_BLOCKS ? b->finished : BASELINE_BLOCKS];
    for (int i = 0; i < SHAPE_VALUES; i++)
        filling[i] = (float)(b->sum[i] / b->sum_calm);
    const int32_t at = b->finished < BASELINE_BLOCKS ? b->finished : BASELINE_BLOCKS;
    b->calm[at] = (float)b->sum_calm;
    mf_weighted_median_shape(b->blocks[0], b->calm, (size_t)at + 1, column, b->current.shape);
    b->current.weight = (float)fmin(1.0, b->seconds / BASELINE_SETTLE_SECONDS);
    if (b->block_seconds >= window / BASELINE_BLOCKS) { /* keep it, over the oldest */
        memmove(b->blocks[b->next], filling, sizeof b->blocks[0]); /* may be itself */
        b->calm[b->next] = b->calm[at];
        b->next = (b->next + 1) % BASELINE_BLOCKS;
        b->finished += b->finished < BASELINE_BLOCKS;
        memset(b->sum, 0, sizeof b->sum);
        b->sum_calm = 0.0;
        b->frames = 0;
        b->block_seconds = 0.0;
    }
}

/* Stable insertion sort by (timestamp, face id): a frame's events are few. */
static void sort_events(mf_estimate_event *ev, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        const mf_estimate_event x = ev[i];
        size_t j = i;
        while (j > 0 && (ev[j - 1].timestamp > x.timestamp ||
                         (ev[j - 1].timestamp == x.timestamp && ev[j - 1].face_id > x.face_id))) {
            ev[j] = ev[j - 1];
            j--;
        }
        ev[j] = x;
    }
}

/* Records why the update is refused; returns `st`. */
static mf_status refuse(mf_estimator *e, mf_status st, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(e->problem, sizeof e->problem, format, args);
    va_end(args);
    return st;
}

/* Everything that can refuse the frame, before any state changes: the
 * arguments, then every pose and expression into scratch. */
static mf_status prepare(mf_estimator *e, double t, const mf_keypoints *faces, size_t count)
{
    if (mf_time_refused(t, e->started, e->time, e->problem, sizeof e->problem))
        return MF_E_INVALID_ARGUMENT;
    for (size_t i = 0; i < count; i++) {
        const mf_keypoints *k = &faces[i];
        for (size_t j = 0; j < i; j++)
            if (faces[j].face_id == k->face_id)
                return refuse(e, MF_E_INVALID_ARGUMENT, "face %zu (id %d): id given twice in one frame",
                              i, (int)k->face_id);
        const char *problem = mf_points_problem(k->landmarks);
        if (problem)
            return refuse(e, MF_E_INVALID_ARGUMENT, "face %zu (id %d): %s", i, (int)k->face_id, problem);
        if (k->has_pose && !pose_ok(&k->pose))
            return refuse(e, MF_E_INVALID_ARGUMENT,
                          "face %zu (id %d): pose beyond +-180 degrees or not finite", i,
                          (int)k->face_id);
        memcpy(e->points + i * 2 * MF_LANDMARKS, k->landmarks, sizeof k->landmarks);
    }
    mf_status st;
    for (size_t i = 0; i < count; i++) {
        if (faces[i].has_pose)
            e->poses[i] = faces[i].pose;
        else if ((st = mf_pose_estimate(e->pose, faces[i].landmarks, &e->poses[i])) != MF_OK)
            return refuse(e, st, "face %zu (id %d): head pose: %s", i, (int)faces[i].face_id,
                          mf_status_str(st));
    }
    for (size_t i = 0; i < count; i++) {
        const int32_t kept = find(e, faces[i].face_id);
        if (kept >= 0)
            e->baselines[i] = e->faces[kept].baseline.current;
        else
            memset(&e->baselines[i], 0, sizeof e->baselines[i]); /* weight 0: none yet */
    }
    st = count ? mf_expressions(e->expressions, e->points, e->baselines, count, e->expression)
               : MF_OK;
    if (st == MF_OK && count && e->params.baseline_window > 0.0)
        st = mf_expressions(e->expressions, e->points, NULL, count, e->plain);
    return st == MF_OK ? st : refuse(e, st, "expressions: %s", mf_status_str(st));
}

mf_status mf_estimator_update(mf_estimator *e, double t, const mf_keypoints *faces, size_t count,
                              mf_estimate *out, size_t out_capacity, size_t *out_count,
                              mf_estimate_event *events, size_t events_capacity,
                              size_t *events_count)
{
    if (out_count)
        *out_count = 0;
    if (events_count)
        *events_count = 0;
    if (!e)
        return MF_E_INVALID_ARGUMENT;
    e->problem[0] = '\0';
    if ((count && !faces) || !out || !out_count || !events || !events_count)
        return refuse(e, MF_E_INVALID_ARGUMENT, "a NULL pointer for the faces or the outputs");
    const size_t max = (size_t)e->params.max_faces;
    if (out_capacity < max || events_capacity / MF_ESTIMATE_EVENTS_PER_FACE < max)
        return refuse(e, MF_E_INVALID_ARGUMENT, "output capacities below max_faces");
    if (count > max)
        return refuse(e, MF_E_TOO_LARGE, "%zu faces, more than max_faces (%zu)", count, max);
    mf_status st = prepare(e, t, faces, count);
    if (st != MF_OK)
        return st;

    size_t n = 0, written = 0;
    memset(e->given, 0, e->count);
    size_t fresh = 0;
    for (size_t i = 0; i < count; i++) {
        e->slot[i] = find(e, faces[i].face_id);
        if (e->slot[i] >= 0)
            e->given[e->slot[i]] = 1;
        else
            fresh++;
    }
    /* room for the new faces: retire the lost ones lost longest ago */
    while (e->count + fresh > max) {
        /* one not given exists: the given ones and the new ones fit */
        size_t oldest = e->count;
        double oldest_at = INFINITY;
        for (size_t i = 0; i < e->count; i++) {
            const double lost_at = e->faces[i].lost ? e->faces[i].lost_at : t; /* lost now */
            if (!e->given[i] && (oldest == e->count || lost_at < oldest_at))
                oldest = i, oldest_at = lost_at;
        }
        if (!e->faces[oldest].lost)
            add_event(events, &n, t, e->faces[oldest].id, MF_CUE_FACE, MF_FACE_VISIBLE, MF_FACE_LOST);
        add_event(events, &n, t, e->faces[oldest].id, MF_CUE_FACE, MF_FACE_LOST, MF_FACE_RETIRED);
        drop(e, oldest);
        memmove(e->given + oldest, e->given + oldest + 1, e->count - oldest);
        for (size_t i = 0; i < count; i++)
            if (e->slot[i] > (int32_t)oldest)
                e->slot[i]--;
    }
    for (size_t i = 0; i < count; i++) {
        face *f;
        int first = 0;
        if (e->slot[i] < 0) {
            f = &e->faces[e->count];
            mf_cues_reset(f->cues);
            baseline_reset(&f->baseline);
            f->id = faces[i].face_id;
            f->lost = 0;
            e->given[e->count] = 1;
            e->slot[i] = (int32_t)e->count++;
            first = 1;
            add_event(events, &n, t, f->id, MF_CUE_FACE, MF_FACE_ABSENT, MF_FACE_VISIBLE);
        } else {
            f = &e->faces[e->slot[i]];
            if (f->lost)
                add_event(events, &n, t, f->id, MF_CUE_FACE, MF_FACE_LOST, MF_FACE_VISIBLE);
            f->lost = 0;
        }
        f->pose = e->poses[i];
        smooth(e, f, &e->expression[i], t, first);
        baseline_feed(e, &f->baseline, faces[i].landmarks, &f->pose, &e->plain[i], t);
        cue_update(f, t, &f->pose, events, &n);
        estimate_of(f, &out[written++]);
    }
    for (size_t i = 0; i < e->count;) {
        face *f = &e->faces[i];
        if (e->given[i]) {
            i++;
            continue;
        }
        if (!f->lost) {
            f->lost = 1;
            f->lost_at = t;
            add_event(events, &n, t, f->id, MF_CUE_FACE, MF_FACE_VISIBLE, MF_FACE_LOST);
        }
        const double idle_at = cue_update(f, t, NULL, events, &n);
        /* retired once its grace is over and its cues have told how the
         * interaction ended: back in idle, at that status's own due time */
        if (t - f->lost_at >= e->params.grace && f->state.status == MF_INTERACTION_IDLE) {
            add_event(events, &n, fmax(f->lost_at + e->params.grace, idle_at), f->id, MF_CUE_FACE,
                      MF_FACE_LOST, MF_FACE_RETIRED);
            drop(e, i);
            memmove(e->given + i, e->given + i + 1, e->count - i);
            continue;
        }
        estimate_of(f, &out[written++]);
        i++;
    }
    sort_events(events, n);
    e->started = 1;
    e->time = t;
    *out_count = written;
    *events_count = n;
    return MF_OK;
}

const char *mf_estimator_problem(const mf_estimator *e)
{
    return e ? e->problem : "no estimator";
}

size_t mf_estimator_lost(const mf_estimator *e, int32_t *ids, size_t capacity)
{
    size_t n = 0;
    for (size_t i = 0; e && i < e->count; i++)
        if (e->faces[i].lost) {
            if (ids && n < capacity)
                ids[n] = e->faces[i].id;
            n++;
        }
    return n;
}
