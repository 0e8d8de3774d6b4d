/*
 * mojofer.h: the public header of the mojofer C core: base (status, limits,
 * image views, models), anonymize (frame -> keypoints) and estimate
 * (keypoints -> estimates). The streaming parts (wire, server, client) are
 * in mojofer_stream.h, which includes this one.
 *
 * Conventions
 *   - Every fallible call returns mf_status (MF_OK == 0, errors < 0);
 *     mf_status_str() names it. Constructors take an mf_status* instead.
 *   - Contexts are opaque: mf_x_new(...) / mf_x_free(x); free accepts NULL.
 *     A context is used by one thread at a time; make one per thread.
 *   - The caller owns output buffers and passes their capacity.
 *   - Images are views (mf_image): no copy is made of strided frames.
 *   - The core never prints, never aborts and has no mutable globals.
 *
 * Model file format (".mfm", version 1), all integers little-endian:
 *
 *   offset  size  field
 *   0       8     magic "MOJOFER\0"
 *   8       4     u32 version (1)
 *   12      4     u32 tensor_count (1..MF_MODEL_MAX_TENSORS)
 *   16      16    kind, NUL-padded ASCII (e.g. "face_detector")
 *   32      8     u64 file_size: total bytes, footer included
 *   40      8     u64 data_offset: start of the tensor data, a multiple of 64
 *   48      88*n  tensor table, one entry per tensor:
 *                   48 name, NUL-padded ASCII, NUL-terminated, unique
 *                    4 u32 dtype (0 = float32, 1 = int32)
 *                    4 u32 ndim (1..4)
 *                   16 u32 dims[4] (unused trailing dims are 1)
 *                    8 u64 offset from data_offset, a multiple of 64
 *                    8 u64 nbytes == 4 * product(dims)
 *   ...           tensor data, each tensor 64-byte aligned, zero padding
 *   file_size-4 4 u32 CRC-32 (IEEE, as zlib.crc32) of every preceding byte
 *
 * The loader checks all of it (magic, version, size, checksum, every table
 * entry and bound) before any tensor is used; mojofer/modelfile.py writes it.
 *
 * Name lists: a model records the names of its classes or units (e.g. the
 * expressions model's "emotion_names" and "action_unit_names") as an int32
 * tensor of shape [n], one ASCII byte per element, each name followed by a
 * NUL ("neutral\0happiness\0...\0"). The loader compares them with the
 * core's own names (mf_emotion_name, ...) and refuses a model whose names or
 * order differ with MF_E_MODEL_NAMES.
 */
#ifndef MOJOFER_H
#define MOJOFER_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define MF_API __declspec(dllexport)
#elif defined(__GNUC__)
#define MF_API __attribute__((visibility("default")))
#else
#define MF_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status ------------------------------------------------------------ */

typedef enum {
    MF_OK = 0,
    MF_E_INVALID_ARGUMENT = -1,
    MF_E_NO_MEMORY = -2,
    MF_E_IMAGE_TOO_LARGE = -3,
    MF_E_IO = -4,
    MF_E_MODEL_MAGIC = -5,
    MF_E_MODEL_VERSION = -6,
    MF_E_MODEL_TRUNCATED = -7,
    MF_E_MODEL_CORRUPT = -8,
    MF_E_MODEL_MISSING = -9,
    MF_E_MODEL_KIND = -10,
    MF_E_TOO_LARGE = -11,
    MF_E_NETWORK = -12, /* a socket could not be bound, or TLS set up */
    MF_E_MODEL_NAMES = -13 /* the model's class or unit names are not the core's */
} mf_status;

/* A static string naming the status; never NULL. */
MF_API const char *mf_status_str(mf_status status);

/* ---- versions ----------------------------------------------------------- */

#define MF_VERSION_STRING "0.1.0"

typedef struct {
    const char *mojofer, *openblas, *libwebsockets, *msgpack;
} mf_versions;

/* Versions of the core and of the system libraries it is linked against. */
MF_API mf_versions mf_library_versions(void);

/* ---- limits: every bound on input size lives here ----------------------- */

typedef struct {
    int64_t max_image_pixels; /* width * height of an input frame */
    int32_t max_image_side;   /* either side of an input frame */
    int64_t max_model_bytes;  /* size of a model file */
    int32_t max_faces;        /* faces one call may return */
} mf_limits;

#define MF_MODEL_MAX_TENSORS 1024

MF_API mf_limits mf_limits_default(void);

/* ---- image views -------------------------------------------------------- */

typedef enum {
    MF_GRAY = 1, /* 1 channel */
    MF_RGB = 2,  /* 3 channels */
    MF_BGR = 3,  /* 3 channels, OpenCV order */
    MF_RGBA = 4, /* 4 channels, alpha ignored */
    MF_BGRA = 5  /* 4 channels, alpha ignored */
} mf_channel_order;

/* A view of 8-bit pixels. Strides are in bytes and may be negative, so
 * slices, flips and channel-reversed views of a frame need no copy. */
typedef struct {
    const uint8_t *data; /* row 0, column 0, channel 0 */
    int32_t width, height;
    int32_t channels; /* must match order: 1, 3 or 4 */
    ptrdiff_t row_stride, pixel_stride, channel_stride;
    mf_channel_order order;
} mf_image;

/* MF_OK if the view is well formed and within limits. */
MF_API mf_status mf_image_check(const mf_image *image, const mf_limits *limits);

/* ---- models ------------------------------------------------------------- */

typedef struct mf_model mf_model;

typedef enum { MF_DTYPE_F32 = 0, MF_DTYPE_I32 = 1 } mf_dtype;

typedef struct {
    const char *name;
    mf_dtype dtype;
    int32_t ndim;
    int64_t dims[4];
    int64_t count; /* number of elements */
    const void *data; /* 64-byte aligned, owned by the model */
} mf_tensor;

MF_API mf_model *mf_model_load(const char *path, const mf_limits *limits, mf_status *status);
MF_API mf_model *mf_model_from_memory(const void *data, size_t size, const mf_limits *limits,
                                      mf_status *status);
MF_API void mf_model_free(mf_model *model);
MF_API const char *mf_model_kind(const mf_model *model);
MF_API int32_t mf_model_tensor_count(const mf_model *model);
/* Tensor by index (0..count-1) or by name; MF_E_MODEL_MISSING if absent. */
MF_API mf_status mf_model_tensor_at(const mf_model *model, int32_t index, mf_tensor *out);
MF_API mf_status mf_model_tensor(const mf_model *model, const char *name, mf_tensor *out);

/* ---- face detection ----------------------------------------------------- */

typedef struct mf_detector mf_detector;

/* A face box in frame pixels: (x, y) top-left, tight around brows-to-chin
 * and cheek-to-cheek, the convention of the 68-point landmarks. */
typedef struct {
    float x, y, w, h;
    float score; /* detections grouped into this face; higher is surer */
} mf_box;

typedef struct {
    int32_t min_size;      /* smallest face searched, in pixels of the frame */
    int32_t max_size;      /* largest face searched; 0 = no bound */
    float scale_factor;    /* pyramid step, 1.01 to 4 */
    int32_t min_neighbors; /* raw detections a face needs */
    int32_t exhaustive;    /* 1: every window of every pyramid level, as OpenCV's
                              detectMultiScale; 0 (default): coarse to fine, which
                              finds nearly the same faces in about a quarter of the time */
} mf_detect_params;

MF_API mf_detect_params mf_detect_params_default(void);

/* The model must be of kind "face_detector"; the detector keeps a reference
 * to it, so free the detector first. */
MF_API mf_detector *mf_detector_new(const mf_model *model, const mf_limits *limits,
                                    mf_status *status);
MF_API void mf_detector_free(mf_detector *detector);

/* Finds faces. Writes at most `capacity` boxes, best score first, and sets
 * *count to the number written. At most 8192 raw detections (windows the
 * cascade passes) are grouped per call, the first found (smaller scales
 * first, roughly): this bounds the grouping's time, which is quadratic in them. */
MF_API mf_status mf_detect(mf_detector *detector, const mf_image *image,
                           const mf_detect_params *params, mf_box *boxes, size_t capacity,
                           size_t *count);

/* ---- landmarks ---------------------------------------------------------- */

/* 68 points in the iBUG/300-W order, as x0, y0, x1, y1, ... in frame pixels. */
#define MF_LANDMARKS 68

typedef struct mf_landmarker mf_landmarker;

/* The model must be of kind "landmarks"; free the landmarker first. */
MF_API mf_landmarker *mf_landmarker_new(const mf_model *model, const mf_limits *limits,
                                        mf_status *status);
MF_API void mf_landmarker_free(mf_landmarker *landmarker);

/* Fits the landmarks of the face in `box` (a detector box). `points` holds
 * at least 2 * MF_LANDMARKS floats. `quality` (may be NULL) receives the
 * model's estimate of the fit's error, in units of the outer-eye-corner
 * distance: about 0.03 for a good fit, above 0.1 when the face is lost.
 * MF_E_MODEL_CORRUPT when a regression stage moves a point beyond +-1e6 or
 * to a value that is not finite (or the quality is not finite): only
 * absurd model weights do that. */
MF_API mf_status mf_landmarks_from_box(mf_landmarker *landmarker, const mf_image *image,
                                       const mf_box *box, float *points, size_t capacity,
                                       float *quality);

/* Fits the landmarks of the face `initial` outlines (e.g. the previous
 * frame's points, for tracking): the cascade starts from the model's mean
 * shape placed with the position, size and rotation of `initial`.
 * `points` may equal `initial`. */
MF_API mf_status mf_landmarks_from_points(mf_landmarker *landmarker, const mf_image *image,
                                          const float *initial, float *points, size_t capacity,
                                          float *quality);

/* Landmark descriptors: per point, a HOG_CELLS x HOG_CELLS grid of cells of
 * HOG_CELL x HOG_CELL gradients, HOG_BINS unsigned orientations each. */
#define MF_HOG_CELLS 2
#define MF_HOG_CELL 4
#define MF_HOG_BINS 8
#define MF_HOG_GRID (MF_HOG_CELLS * MF_HOG_CELL)
#define MF_HOG_EPSILON 1e4f
#define MF_POINT_FEATURES (MF_HOG_CELLS * MF_HOG_CELLS * MF_HOG_BINS)
#define MF_LANDMARK_FEATURES (MF_LANDMARKS * MF_POINT_FEATURES)
/* A face whose outer eye corners are d >= 1.5 x this many pixels apart is
 * read on a grid of every round(d / this)-th pixel, so a fit costs about
 * the same at any face size and sees the face near the scale of the
 * training faces (their d is under 90 px). */
#define MF_LANDMARK_READ_SCALE 80.0f

/* The MF_LANDMARK_FEATURES descriptors of `shape` in a checked view (for
 * training and tests: mojofer/train reads them through the binding). */
MF_API mf_status mf_landmark_features(const mf_image *image, const float *shape,
                                      const float *mean_shape, float radius, float *out);

/* ---- keypoint checks (base/points.c) ------------------------------------ */

/* Landmarks given to an estimator (2 * MF_LANDMARKS floats): MF_OK, or
 * MF_E_INVALID_ARGUMENT for NULL, a coordinate that is not finite or beyond
 * +-MF_POINTS_MAX, or a shape that is no face: outer eye corners (36, 45)
 * closer than MF_POINTS_MIN_EYES, or all points on a line (the points'
 * spread across their main direction under MF_POINTS_MIN_SPREAD of their
 * spread along it). */
#define MF_POINTS_MAX 1e6f
#define MF_POINTS_MIN_EYES 1e-3f
#define MF_POINTS_MIN_SPREAD 1e-3
MF_API mf_status mf_points_check(const float *points);
/* The rule mf_points_check finds broken, as a static phrase ("landmarks not
 * finite"), or NULL for points it accepts. */
MF_API const char *mf_points_problem(const float *points);

/* ---- head pose ---------------------------------------------------------- */

/* The head's rotation relative to the line of sight, in degrees:
 *   yaw   > 0: the face turns to the subject's left (towards image right)
 *   pitch > 0: the face turns up
 *   roll  > 0: the face turns clockwise in the image (its eye line runs
 *              down towards image right: the atan2 of the eye line)
 * Mirroring the image negates yaw and roll and keeps pitch. As a matrix,
 * R = Rz(roll) Ry(yaw) Rx(pitch) takes the face's frame (x to the subject's
 * left, y down, z away from the camera) to the camera's (x right, y down,
 * z forward), with Rx(p) = [1 0 0; 0 cos p sin p; 0 -sin p cos p],
 * Ry(y) = [cos y 0 -sin y; 0 1 0; sin y 0 cos y] and
 * Rz(r) = [cos r -sin r 0; sin r cos r 0; 0 0 1]. */
typedef struct {
    float yaw, pitch, roll;
} mf_pose;

typedef struct mf_pose_estimator mf_pose_estimator;

/* The model must be of kind "head_pose"; free the estimator first. */
MF_API mf_pose_estimator *mf_pose_estimator_new(const mf_model *model, const mf_limits *limits,
                                                mf_status *status);
MF_API void mf_pose_estimator_free(mf_pose_estimator *estimator);

/* The pose of the face whose 2 * MF_LANDMARKS landmark coordinates (x0, y0,
 * x1, y1, ... in pixels of any one scale) are `points`. MF_E_INVALID_ARGUMENT
 * for points that are not finite, lie beyond +-1e6 or do not span a face
 * (outer eye corners together, all points on a line); *out is written only
 * on success. */
MF_API mf_status mf_pose_estimate(mf_pose_estimator *estimator, const float *points, mf_pose *out);

/* ---- expressions -------------------------------------------------------- */

#define MF_EMOTIONS 7     /* neutral, happiness, sadness, surprise, fear, disgust, anger */
#define MF_ACTION_UNITS 9 /* see mf_action_unit_name */
#define MF_SOCIAL_EMOTIONS 3 /* amusement, surprise, confusion: mf_expression's fields in order */

typedef struct {
    float emotions[MF_EMOTIONS]; /* probabilities in mf_emotion_name order; they sum to 1 */
    /* Social emotions, 0..1. amusement = P(happiness) and surprise =
     * P(surprise) of the learned model; confusion is a geometric rule (no
     * labelled data exists): brow lowering ramped from 0.02 to 0.08
     * inter-ocular units, x (0.6 + 0.4 x eye narrowing ramped 0..0.3),
     * x (1 - P(happiness)). */
    float amusement, surprise, confusion;
    /* Geometric action-unit proxies against the resting face (the person's
     * baseline blended with the mean neutral face by its weight), in units
     * of the outer-eye-corner distance (0 = as at rest, > 0 = the action
     * shows); eye_closure is the fraction of the resting eye opening that
     * is gone. */
    float action_units[MF_ACTION_UNITS];
} mf_expression;

typedef struct mf_expression_classifier mf_expression_classifier;

/* Names: "neutral", ..., "brow_raise_inner", ... and "amusement", ...;
 * NULL out of range. */
MF_API const char *mf_emotion_name(int32_t index);
MF_API const char *mf_action_unit_name(int32_t index);
MF_API const char *mf_social_emotion_name(int32_t index);

/* The model must be of kind "expressions"; free the classifier first. */
MF_API mf_expression_classifier *mf_expression_classifier_new(const mf_model *model,
                                                              const mf_limits *limits,
                                                              mf_status *status);
/* A classifier for another thread: it shares the model's weights (the
 * model outlives both) and has scratch buffers of its own, which
 * mf_expressions writes: one classifier per thread. */
MF_API mf_expression_classifier *mf_expression_classifier_copy(
    const mf_expression_classifier *classifier, mf_status *status);
MF_API void mf_expression_classifier_free(mf_expression_classifier *classifier);

/* A person's resting face: the estimate mf_expressions reads a face's
 * change against (resting faces differ between people more than
 * expressions move them). `shape` is aligned to the classifier's reference
 * frame (outer eye corners 1 apart, every value within +-10); `weight`, in
 * 0..1, says how established it is: the classifier reads the face against
 * weight x shape + (1 - weight) x the model's mean neutral face, and the
 * model was trained to trust the baseline by it (0 = none: population
 * only). */
typedef struct {
    float shape[2 * MF_LANDMARKS];
    float weight;
} mf_face_baseline;

/* Faces of one person for a baseline to count as established (weight 1). */
#define MF_BASELINE_SETTLED_FACES 8

/* The baseline of one person from `count` >= 1 of their faces (points as
 * mf_expressions takes them; any expressions, no labels): per coordinate
 * the weighted median of the aligned shapes, each face weighted by how
 * calm it reads against the population (P(neutral) without a baseline,
 * + 0.05), so the faces at rest count most whatever the mix of
 * expressions; weight min(1, count / MF_BASELINE_SETTLED_FACES). A known
 * neutral face: count 1, then set weight 1. MF_E_INVALID_ARGUMENT for
 * points that mf_expressions refuses (out unset), MF_E_NO_MEMORY,
 * MF_E_MODEL_CORRUPT as mf_expressions. Uses the classifier's scratch. */
MF_API mf_status mf_expression_baseline(mf_expression_classifier *classifier, const float *points,
                                        size_t count, mf_face_baseline *out);

/* Classifies `count` faces: `points` holds count x 2 x MF_LANDMARKS floats
 * (frame pixels, any position, scale and in-plane rotation). `baselines`
 * is NULL (none: weight 0) or one per face; the action units and confusion
 * are measured against the same resting face. Non-finite, out-of-range
 * (|v| > 1e6) or degenerate points, or a baseline with a weight outside
 * 0..1 or a shape value beyond +-10, give MF_E_INVALID_ARGUMENT and leave
 * `out` unset; MF_E_MODEL_CORRUPT if the model's weights overflow (an
 * output not finite). */
MF_API mf_status mf_expressions(mf_expression_classifier *classifier, const float *points,
                                const mf_face_baseline *baselines, size_t count,
                                mf_expression *out);

/* ---- social cues -------------------------------------------------------- */

/* Attention, engagement phase and interaction status of one face over time,
 * driven by timestamps (seconds), not frame counts; docs/cues.md draws the
 * state diagram. One mf_cues per tracked face.
 *
 * Attention: the head's offset from the target direction,
 * sqrt((yaw - target_yaw)^2 + (pitch - target_pitch)^2) degrees, gives raw
 * attention 1 up to attention_full_deg, falling linearly to 0 at
 * attention_zero_deg (a face not seen: 0). It is smoothed by an EMA over
 * time, a += (1 - exp(-dt / attention_tau)) (raw - a), so frame rate does
 * not matter; the first update after creation or reset starts at raw.
 *
 * The one state machine runs over the interaction status; the engagement
 * phase follows from it (idle: idle, possible: engaging, ready: engaged,
 * either interruption: disengaging). "high" is attention >= attention_high,
 * "low" is attention < attention_low (hysteresis: between the two nothing
 * changes); timers count from the start of the current engagement phase.
 *
 *   idle                  -> possible               high
 *   possible              -> idle                   low
 *   possible              -> ready                  engage_after in engaging
 *   ready                 -> in_short_interruption  low
 *   in_short_interruption -> ready                  high
 *   in_short_interruption -> in_long_interruption   short_interruption_end in disengaging
 *   in_long_interruption  -> ready                  high
 *   in_long_interruption  -> idle                   long_interruption_end in disengaging
 *
 * An update at time t first fires the timers due at or before t, each
 * stamped with the exact time it fell due, then applies the attention
 * measured at t, stamped t. Every status change is an event; one that also
 * changes the engagement phase is preceded by an engagement event. */
typedef enum {
    MF_ENGAGEMENT_IDLE = 0,
    MF_ENGAGEMENT_ENGAGING = 1,
    MF_ENGAGEMENT_ENGAGED = 2,
    MF_ENGAGEMENT_DISENGAGING = 3
} mf_engagement;

typedef enum {
    MF_INTERACTION_IDLE = 0,
    MF_INTERACTION_POSSIBLE = 1,
    MF_INTERACTION_READY = 2,
    MF_INTERACTION_SHORT_INTERRUPTION = 3,
    MF_INTERACTION_LONG_INTERRUPTION = 4
} mf_interaction;

/* MF_CUE_FACE events come from the estimator only (mf_face_state values). */
typedef enum { MF_CUE_ENGAGEMENT = 0, MF_CUE_INTERACTION = 1, MF_CUE_FACE = 2 } mf_cue_kind;

#define MF_ENGAGEMENT_PHASES 4
#define MF_INTERACTION_STATUSES 5
/* The most events one update emits (it emits at most 5); the capacity of
 * the events buffer must be at least this. */
#define MF_CUES_MAX_EVENTS 8
/* Bytes of a cues' problem sentence (mf_cues_problem), NUL included. */
#define MF_CUES_PROBLEM_BYTES 128

typedef struct {
    double target_yaw, target_pitch;                   /* degrees, |.| <= 90; default 0, 0 */
    double attention_full_deg, attention_zero_deg;     /* 0 <= full < zero <= 180; default 10, 40 */
    double attention_tau;                              /* seconds, >= 0 (0: no smoothing); 0.3 */
    double attention_low, attention_high;              /* 0 <= low < high <= 1; default 0.4, 0.6 */
    double engage_after;                               /* seconds, > 0; default 1 */
    double short_interruption_end, long_interruption_end; /* 0 < short < long; default 3, 8 */
} mf_cues_params;

typedef struct {
    double attention, raw_attention; /* 0..1: smoothed, and this update's */
    int32_t engagement;              /* mf_engagement */
    int32_t status;                  /* mf_interaction */
    double engagement_time, status_time; /* seconds since each began */
} mf_cues_state;

typedef struct {
    double timestamp; /* when it happened: the update's, or the timer's due time */
    int32_t kind;     /* mf_cue_kind */
    int32_t from, to; /* mf_engagement or mf_interaction values, by kind */
} mf_cue_event;

typedef struct mf_cues mf_cues;

/* Names: "idle", "engaging", ...; "idle", "possible", "ready",
 * "in_short_interruption", "in_long_interruption"; "engagement", "status".
 * NULL out of range. */
MF_API const char *mf_engagement_name(int32_t phase);
MF_API const char *mf_interaction_name(int32_t status);
MF_API const char *mf_cue_kind_name(int32_t kind);

MF_API mf_cues_params mf_cues_params_default(void);

/* MF_OK or MF_E_INVALID_ARGUMENT; for the latter, *problem (if `problem` is
 * not NULL) is set to a static sentence naming the first rule broken. */
MF_API mf_status mf_cues_params_check(const mf_cues_params *params, const char **problem);

/* A face's cues in state idle, before its first update. */
MF_API mf_cues *mf_cues_new(const mf_cues_params *params, mf_status *status);
MF_API void mf_cues_free(mf_cues *cues);
/* Back to the state of mf_cues_new; the next timestamp may be any. */
MF_API void mf_cues_reset(mf_cues *cues);

/* Advances to `timestamp` (finite, not before the previous update's; equal
 * is allowed and then smooths nothing) with the head's pose, or NULL when
 * the face was not seen. Writes the state after the update and the events
 * in time order: *count of them, capacity >= MF_CUES_MAX_EVENTS.
 * MF_E_INVALID_ARGUMENT (state untouched, nothing written) for a NULL
 * pointer, a small capacity, a timestamp that is not finite or goes back,
 * or a yaw or pitch that is not finite; mf_cues_problem names the one cause
 * ("timestamp 1 is before the previous 2: timestamps must not decrease"). */
MF_API mf_status mf_cues_update(mf_cues *cues, double timestamp, const mf_pose *pose,
                                mf_cues_state *out, mf_cue_event *events, size_t capacity,
                                size_t *count);
/* Why the last update was refused ("" after one that was not); valid until the next call. */
MF_API const char *mf_cues_problem(const mf_cues *cues);

/* ---- estimator: keypoints in, estimates out ----------------------------- */

/* The estimate side of the privacy boundary, one per stream (the local
 * Analyzer's, or a server session's): per frame, the landmarks of the faces
 * seen, each under an id the caller assigns; out, per face: head pose,
 * expression (smoothed), and social cues. It never sees a pixel.
 *
 * Per frame at time t (seconds, finite, non-decreasing):
 *   - each face given: pose (mf_pose_estimate, unless given), expression
 *     (mf_expressions, all faces in one batch, each against its baseline as
 *     it was before this frame), emotions, social emotions
 *     and action units smoothed by an EMA over time,
 *     v += (1 - exp(-dt / smoothing)) (x - v), dt since the face was last
 *     seen (smoothing 0 or a face's first frame: v = x), and its mf_cues
 *     updated with the pose; then its baseline learns the frame if the head
 *     is within +-25 degrees of yaw and pitch;
 *   - a face's baseline (the person's resting face, baseline_window > 0):
 *     the window is cut into 8 stretches, each kept as the mean aligned
 *     shape of its frames weighted by how calm each reads against the
 *     population (as in mf_expression_baseline), and the baseline is per
 *     coordinate the weighted median of the kept stretches and the one
 *     being filled, so an expression held for less than half the window
 *     barely moves it; its weight is the seconds of
 *     frames it has learnt (a frame counts for at most 0.5 s) over 3,
 *     capped at 1. A new face, a reclaimed id and every face after
 *     mf_estimator_reset start without one (weight 0); a lost face keeps
 *     its own while it keeps its id;
 *   - a face not given is lost: its cues are updated with pose NULL and it
 *     is reported with visible 0 (last pose, last smoothed expression) until
 *     t - lost_at >= grace and its cues are back in idle, when it is
 *     retired (event stamped the later of lost_at + grace and the idle
 *     event's time, after that event) and its id forgotten; given again
 *     before that, it resumes. So every lost face's last events are its
 *     cues' way to idle, each at its due time, then its retirement: with
 *     the defaults, a face engaged when lost is retired about 8.3 s after
 *     (attention_tau ln(1 / attention_low) + long_interruption_end at most);
 *     cues.attention_low must be > 0 for that.
 *   - at most max_faces faces are kept, visible and lost together: a new
 *     face when all are taken retires the face lost longest ago (events
 *     stamped t; its cues end where they are, without reaching idle).
 * Estimates: the faces given, in input order, then the lost ones in the
 * order they first appeared. Events (cue transitions and MF_CUE_FACE changes: absent -> visible,
 * visible -> lost, lost -> visible, lost -> retired), ordered by timestamp
 * then face id.
 *
 * The estimator uses the pose estimator and expression classifier it is
 * given without owning them (free it first): estimators that share them,
 * e.g. a server's sessions, must be used from one thread at a time. What
 * an estimator holds itself is about 7.5 KB per face of max_faces (120 KB
 * at the default, mostly baselines); an update allocates nothing. */
typedef enum {
    MF_FACE_ABSENT = 0,
    MF_FACE_VISIBLE = 1,
    MF_FACE_LOST = 2,
    MF_FACE_RETIRED = 3
} mf_face_state;

#define MF_FACE_STATES 4
/* The most events one face yields per update; events_capacity must be at
 * least this times max_faces. */
#define MF_ESTIMATE_EVENTS_PER_FACE 8
#define MF_ESTIMATOR_MAX_FACES 1024
/* Bytes of an estimator's problem sentence (mf_estimator_problem), NUL included. */
#define MF_ESTIMATOR_PROBLEM_BYTES 160

typedef struct {
    double smoothing;     /* seconds, >= 0, EMA time constant of emotions, social, action units; 0.2 */
    double grace;         /* seconds, >= 0, a lost face keeps its id and state (longer while its cues
                           * are not idle); cues.long_interruption_end */
    mf_cues_params cues;  /* of every face; mf_cues_params_default() */
    int32_t max_faces;    /* faces kept, 1..MF_ESTIMATOR_MAX_FACES; 16 */
    double baseline_window; /* seconds, >= 0, of a face's person baseline; 60 (0 = none) */
} mf_estimator_params;

typedef struct {
    int32_t face_id;
    float landmarks[2 * MF_LANDMARKS]; /* x0, y0, x1, y1, ... (any one scale, e.g. frame pixels) */
    int32_t has_pose;                  /* 0: the pose is estimated from the landmarks */
    mf_pose pose;                      /* finite, |angle| <= 180, when has_pose */
} mf_keypoints;

typedef struct {
    int32_t face_id;
    int32_t visible;          /* 1: given this frame; 0: lost, within its grace period */
    mf_pose pose;             /* this frame's, or the last seen */
    mf_expression expression; /* smoothed; a lost face keeps its last */
    mf_cues_state cues;
} mf_estimate;

typedef struct {
    double timestamp; /* when it happened */
    int32_t face_id;
    int32_t kind;     /* mf_cue_kind */
    int32_t from, to; /* mf_engagement, mf_interaction or mf_face_state values, by kind */
} mf_estimate_event;

typedef struct mf_estimator mf_estimator;

/* "absent", "visible", "lost", "retired"; NULL out of range. */
MF_API const char *mf_face_state_name(int32_t state);
/* The name of an event's from or to, by the event's kind (mf_cue_kind):
 * mf_engagement_name, mf_interaction_name or mf_face_state_name; NULL for
 * a kind or value out of range. */
MF_API const char *mf_event_state_name(int32_t kind, int32_t value);

MF_API mf_estimator_params mf_estimator_params_default(void);
/* MF_OK or MF_E_INVALID_ARGUMENT, with *problem (if not NULL) a static
 * sentence naming the first rule broken. */
MF_API mf_status mf_estimator_params_check(const mf_estimator_params *params, const char **problem);

MF_API mf_estimator *mf_estimator_new(mf_pose_estimator *pose, mf_expression_classifier *expressions,
                                      const mf_estimator_params *params, mf_status *status);
MF_API void mf_estimator_free(mf_estimator *estimator);
/* Forgets every face and the time; the next timestamp may be any. */
MF_API void mf_estimator_reset(mf_estimator *estimator);

/* One frame: `count` faces at `timestamp`. Writes *out_count estimates
 * (out_capacity >= max_faces) and *events_count events (events_capacity >=
 * MF_ESTIMATE_EVENTS_PER_FACE * max_faces). MF_E_TOO_LARGE for more than
 * max_faces faces; MF_E_INVALID_ARGUMENT for NULL pointers, small
 * capacities, a timestamp that is not finite or goes back, a face id given
 * twice, landmarks that mf_points_check refuses or a given pose out of
 * range; MF_E_MODEL_CORRUPT if the expression model's outputs overflow.
 * On any error the state is untouched and the counts are 0, and
 * mf_estimator_problem names the one cause. */
MF_API mf_status mf_estimator_update(mf_estimator *estimator, double timestamp,
                                     const mf_keypoints *faces, size_t count, mf_estimate *out,
                                     size_t out_capacity, size_t *out_count,
                                     mf_estimate_event *events, size_t events_capacity,
                                     size_t *events_count);

/* Why the last mf_estimator_update was refused: a sentence naming the
 * face (its place in the input and its id) and the rule it broke, e.g.
 * "face 1 (id 7): landmarks not finite", or the timestamp, e.g. "timestamp
 * 0.5 is before the previous 1: timestamps must not decrease"; "" after an
 * update that succeeded. Valid until the next update. */
MF_API const char *mf_estimator_problem(const mf_estimator *estimator);

/* The ids of the lost faces still in their grace period, in the order of
 * the estimates:
 * writes at most `capacity` and returns how many there are. */
MF_API size_t mf_estimator_lost(const mf_estimator *estimator, int32_t *ids, size_t capacity);

#ifdef __cplusplus
}
#endif
#endif
