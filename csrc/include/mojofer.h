/*
 * mojofer.h: the one public header of the mojofer C core.
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
} mf_detect_params;

MF_API mf_detect_params mf_detect_params_default(void);

/* The model must be of kind "face_detector"; the detector keeps a reference
 * to it, so free the detector first. */
MF_API mf_detector *mf_detector_new(const mf_model *model, const mf_limits *limits,
                                    mf_status *status);
MF_API void mf_detector_free(mf_detector *detector);

/* Finds faces. Writes at most `capacity` boxes, best score first, and sets
 * *count to the number written. At most 8192 raw detections (windows the
 * cascade passes) are grouped per call, the first found (smallest scales
 * first): this bounds the grouping's time, which is quadratic in them. */
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

typedef struct {
    float emotions[MF_EMOTIONS]; /* probabilities in mf_emotion_name order; they sum to 1 */
    /* Social emotions, 0..1. amusement = P(happiness) and surprise =
     * P(surprise) of the learned model; confusion is a geometric rule (no
     * labelled data exists): brow lowering ramped from 0.02 to 0.08
     * inter-ocular units, x (0.6 + 0.4 x eye narrowing ramped 0..0.3),
     * x (1 - P(happiness)). */
    float amusement, surprise, confusion;
    /* Geometric action-unit proxies against a neutral face, in units of the
     * outer-eye-corner distance (0 = as neutral, > 0 = the action shows);
     * eye_closure is the fraction of the neutral eye opening that is gone. */
    float action_units[MF_ACTION_UNITS];
} mf_expression;

typedef struct mf_expression_classifier mf_expression_classifier;

/* Names: "neutral", ... and "brow_raise_inner", ...; NULL out of range. */
MF_API const char *mf_emotion_name(int32_t index);
MF_API const char *mf_action_unit_name(int32_t index);

/* The model must be of kind "expressions"; free the classifier first. */
MF_API mf_expression_classifier *mf_expression_classifier_new(const mf_model *model,
                                                              const mf_limits *limits,
                                                              mf_status *status);
MF_API void mf_expression_classifier_free(mf_expression_classifier *classifier);

/* Classifies `count` faces: `points` holds count x 2 x MF_LANDMARKS floats
 * (frame pixels, any position, scale and in-plane rotation). `neutral` is
 * NULL or as many points of each person's neutral face: the action units
 * and confusion are then measured against it instead of the model's mean
 * neutral face. Non-finite, out-of-range (|v| > 1e6) or degenerate points
 * give MF_E_INVALID_ARGUMENT and leave `out` unset; MF_E_MODEL_CORRUPT if
 * the model's weights overflow (an output not finite). */
MF_API mf_status mf_expressions(mf_expression_classifier *classifier, const float *points,
                                const float *neutral, size_t count, mf_expression *out);

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
 *     (mf_expressions, all faces in one batch), emotions, social emotions
 *     and action units smoothed by an EMA over time,
 *     v += (1 - exp(-dt / smoothing)) (x - v), dt since the face was last
 *     seen (smoothing 0 or a face's first frame: v = x), and its mf_cues
 *     updated with the pose;
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
 * an estimator holds itself is about 1 KB per face of max_faces (16.6 KB
 * at the default); an update allocates nothing. */
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

/* ---- wire: the streaming protocol's messages (docs/protocol.md) --------- */

/* msgpack maps, one per WebSocket binary message, under the subprotocol
 * MF_WIRE_PROTOCOL. Decoding reads the bytes in place with a bounds check
 * at every step and allocates nothing; it is strict: a key missing,
 * unknown or repeated, a value of the wrong type, or bytes after the map
 * refuse the message. A refusal gives MF_E_INVALID_ARGUMENT (MF_E_TOO_LARGE
 * for more faces or events than the buffers hold) and fills *error with a
 * protocol error code and a static reason, ready for mf_wire_encode_error;
 * the caller's buffers may then hold partial data. */
#define MF_WIRE_PROTOCOL "mojofer.v1"
#define MF_WIRE_MAX_REASON 256 /* bytes of an error's reason */

typedef enum {
    MF_WIRE_FRAME = 1,    /* client -> server: keypoints */
    MF_WIRE_ESTIMATE = 2, /* server -> client: estimates of one frame */
    MF_WIRE_ERROR = 3     /* server -> client: a frame or message refused */
} mf_wire_type;

/* Codes of the protocol's error messages about a message's content. They
 * share one numbering with the transport's close and error codes
 * (4001..4008, docs/protocol.md). */
typedef enum {
    MF_WIRE_E_MALFORMED = 4007, /* not one msgpack map, truncated, or bytes after it */
    MF_WIRE_E_SCHEMA = 4009,    /* a key missing, unknown or repeated, or a value of the wrong type */
    MF_WIRE_E_TYPE = 4010,      /* "t" names no message this end accepts */
    MF_WIRE_E_TOO_MANY = 4011,  /* more faces (or events) than allowed */
    MF_WIRE_E_INVALID = 4012,   /* values refused: landmarks, pose, duplicate ids, timestamp */
    MF_WIRE_E_INTERNAL = 4013   /* the server failed to estimate (out of memory) */
} mf_wire_code;

typedef struct {
    int32_t code;       /* mf_wire_code; 0 when nothing was refused */
    const char *reason; /* a static sentence */
    int32_t has_seq;    /* 1 when the refused message's seq could be read */
    uint64_t seq;
} mf_wire_error;

/* Buffer sizes that always hold an encoded message. */
#define MF_WIRE_FRAME_BYTES(faces) (64 + 600 * (size_t)(faces))
#define MF_WIRE_ESTIMATE_BYTES(faces, events) (64 + 256 * (size_t)(faces) + 80 * (size_t)(events))
#define MF_WIRE_ERROR_BYTES 320

/* The type of a message (the value of its "t"), without checking the rest. */
MF_API mf_status mf_wire_peek(const uint8_t *data, size_t size, mf_wire_type *type,
                              mf_wire_error *error);

/* {"t": "frame", "seq": uint, "ts": float64 seconds, "faces": [{"id": int32,
 *  "lm": bin of 136 little-endian float32 or array of 136 numbers,
 *  "pose": [yaw, pitch, roll] (optional)}]} */
MF_API mf_status mf_wire_encode_frame(uint64_t seq, double timestamp, const mf_keypoints *faces,
                                      size_t count, uint8_t *buf, size_t capacity, size_t *written);
MF_API mf_status mf_wire_decode_frame(const uint8_t *data, size_t size, uint64_t *seq,
                                      double *timestamp, mf_keypoints *faces, size_t capacity,
                                      size_t *count, mf_wire_error *error);

/* {"t": "estimate", "seq", "ts", "faces": [{"id", "visible": bool, "pose": [3],
 *  "emotions": [7], "social": [3], "au": [9], "attention", "engagement": str,
 *  "status": str}], "events": [[ts, id, kind, from, to] with names as strings]}.
 * Decoding fills what the message carries: of mf_cues_state, attention,
 * engagement and status (the rest 0). */
MF_API mf_status mf_wire_encode_estimate(uint64_t seq, double timestamp, const mf_estimate *faces,
                                         size_t count, const mf_estimate_event *events,
                                         size_t events_count, uint8_t *buf, size_t capacity,
                                         size_t *written);
MF_API mf_status mf_wire_decode_estimate(const uint8_t *data, size_t size, uint64_t *seq,
                                         double *timestamp, mf_estimate *faces, size_t capacity,
                                         size_t *count, mf_estimate_event *events,
                                         size_t events_capacity, size_t *events_count,
                                         mf_wire_error *error);

/* {"t": "error", "seq": uint or nil, "code": int, "reason": str}. A longer
 * reason is cut at MF_WIRE_MAX_REASON bytes (on a UTF-8 boundary). Decoding
 * copies the reason, NUL-terminated, into `reason` (capacity >=
 * MF_WIRE_MAX_REASON + 1). */
MF_API mf_status mf_wire_encode_error(const mf_wire_error *error, uint8_t *buf, size_t capacity,
                                      size_t *written);
MF_API mf_status mf_wire_decode_error(const uint8_t *data, size_t size, int32_t *has_seq,
                                      uint64_t *seq, int32_t *code, char *reason,
                                      size_t reason_capacity, mf_wire_error *error);

/* ---- streaming server (WebSocket + msgpack; docs/protocol.md) ----------- */

/* Under the subprotocol MF_WIRE_PROTOCOL. Close codes, and the code of the
 * error message answering a frame over the plan's rate (docs/protocol.md). */
typedef enum {
    MF_CLOSE_BAD_CREDENTIALS = 4001,
    MF_CLOSE_SESSION_LIMIT = 4002,
    MF_CLOSE_FRAME_RATE = 4003,
    MF_CLOSE_SESSION_TOO_LONG = 4004,
    MF_CLOSE_IDLE = 4005,
    MF_CLOSE_TOO_LARGE = 4006,
    MF_CLOSE_MALFORMED = 4007,
    MF_CLOSE_VERSION = 4008
} mf_close_code;

/* A key pair and its plan. */
typedef struct {
    const char *id;                   /* names the key in logs, never the secrets */
    const char *api_key, *socket_key; /* non-empty */
    int32_t max_sessions;             /* simultaneous sessions, >= 1 */
    double max_fps;                   /* frames per second, > 0; bursts of 1 s allowed */
    double max_session_seconds;       /* > 0 */
    /* finite, >= 0: how far a session's frame timestamps may run ahead of
     * its wall-clock time and still count for the frame rate, so that the
     * backlog a client sends again after an outage this long is admitted
     * (docs/protocol.md, "Sessions and plans"); 0: wall-clock time only */
    double catch_up_seconds;
} mf_server_key;

/* One structured log entry; strings live for the call only. */
typedef struct {
    const char *event;  /* "session_start", "session_end", "refused" */
    const char *key_id; /* NULL if no key matched */
    const char *peer;   /* the client's address */
    int64_t session;    /* server-unique, from 1; 0 for a refusal */
    int32_t code;       /* close code; 0 for a session start or a client's close */
    const char *reason; /* "" when none */
    int64_t frames, errors; /* messages answered, of which error messages */
    double seconds;         /* session length */
} mf_server_log;

typedef void (*mf_server_log_fn)(void *user, const mf_server_log *entry);

/* The host is bound exactly: an IPv4 or IPv6 literal as given, a name
 * resolved once by mf_server_new to its first IPv4 address, or its first
 * IPv6 address if it has none ("localhost": 127.0.0.1). "0.0.0.0" is every
 * IPv4 address, "::" every IPv6 and IPv4 one. Plain ws:// binds only a
 * loopback address (127.0.0.0/8, ::1) unless allow_remote_plain.
 *
 * Connections are capped before their handshake: over max_connections, or
 * max_connections_per_address from one client address (an IPv6 client
 * counts by its /64 prefix), or with fewer than 32 file descriptors left
 * to the process, a new connection is answered "HTTP/1.1 503" and closed
 * at once, without reading its request (docs/protocol.md, "Connections"). A
 * connection not upgraded to a session within handshake_timeout is
 * closed. Behind a reverse proxy every client has the proxy's address:
 * set max_connections_per_address to max_connections there. */
typedef struct {
    const char *host;              /* address to bind; loopback by default */
    int32_t port;                  /* 0: any free port, see mf_server_port */
    int32_t max_connections;       /* open connections, handshakes included; >= 1 */
    int32_t max_connections_per_address; /* 1 .. max_connections */
    double handshake_timeout;      /* seconds, > 0; counted in whole seconds */
    const mf_server_key *keys;     /* copied by mf_server_new */
    size_t key_count;
    double idle_timeout;           /* seconds without a message end a session */
    size_t max_message_bytes;      /* a larger message closes with 4006 */
    int32_t allow_remote_plain;    /* plain ws:// on a host that is not loopback */
    const char *tls_cert, *tls_key; /* PEM files: both (wss://) or neither */
    mf_server_log_fn log;          /* may be NULL; called on the service thread */
    void *log_user;
} mf_server_config;

typedef struct mf_server mf_server;

MF_API mf_server_config mf_server_config_default(void);
/* Checks the config, resolves the host (once) and binds the port; serves
 * nothing until mf_server_start. Every session gets an mf_estimator with `params`, all
 * sharing `pose` and `expressions` on the service thread: free the server
 * before them. On failure *problem (if `problem` is not NULL) is a static
 * phrase naming the one cause: MF_E_INVALID_ARGUMENT, the first rule of the
 * config or params broken (e.g. "tls_cert and tls_key go together");
 * MF_E_IO, a TLS file that cannot serve, read with OpenSSL as
 * libwebsockets reads it, the phrase beginning with "tls_cert:" or
 * "tls_key:" (e.g. "tls_key: no such file", "tls_key: not the private key
 * of tls_cert"); MF_E_NETWORK, the address that cannot be bound (e.g. "the
 * port is in use", "the address is not one of this machine's"). NULL on
 * success. */
MF_API mf_server *mf_server_new(const mf_server_config *config, mf_pose_estimator *pose,
                                mf_expression_classifier *expressions,
                                const mf_estimator_params *params, mf_status *status,
                                const char **problem);
/* The bound port. */
MF_API int32_t mf_server_port(const mf_server *server);
/* The bound address, numeric ("127.0.0.1", "::1"); lives with the server. */
MF_API const char *mf_server_address(const mf_server *server);
/* Serves on a thread of its own until mf_server_stop. */
MF_API mf_status mf_server_start(mf_server *server);
/* Closes every session (code 1001) and joins the thread; may be called twice. */
MF_API mf_status mf_server_stop(mf_server *server);
/* Stops the server if running; NULL-safe. */
MF_API void mf_server_free(mf_server *server);

/* ---- streaming client (docs/protocol.md) --------------------------------- */

/* Codes of the error messages a client makes itself, for frames the server
 * never answered: */
#define MF_CLIENT_E_QUEUE_FULL 4100 /* the queue was full: the frame was not sent */
#define MF_CLIENT_E_CLOSED 4101     /* the client was closed before an answer came */

typedef struct {
    const char *url;                 /* ws://host[:port][/path] or wss://... */
    const char *api_key, *socket_key;
    size_t max_pending;              /* frames unanswered plus replies not taken; 256 */
    size_t max_message_bytes;        /* of one reply; 1 MiB */
    double backoff_min, backoff_max; /* reconnect delay in seconds, doubling; 0.05, 5 */
    int32_t allow_remote_plain;      /* ws:// to a host that is not loopback */
    int32_t allow_self_signed;       /* wss:// to a self-signed certificate */
} mf_client_config;

typedef struct {
    int32_t connected;  /* 1 while a session is open */
    int64_t connects;   /* sessions opened so far */
    size_t waiting;     /* frames queued or sent, not yet answered */
    size_t replies;     /* replies not yet taken */
    int32_t last_close; /* the server's last close code, 0 if none */
} mf_client_state;

typedef struct mf_client mf_client;

MF_API mf_client_config mf_client_config_default(void);
/* Starts connecting at once, on a thread of its own; the keys travel in the
 * X-Api-Key and X-Socket-Key headers of the upgrade. A client that loses
 * its connection reconnects (backoff from backoff_min to backoff_max)
 * while frames wait, and sends every unanswered frame again. */
MF_API mf_client *mf_client_new(const mf_client_config *config, mf_status *status);
/* Queues one frame and never waits: *seq is its sequence number (from 1).
 * Every frame queued gets exactly one reply: the server's estimate or
 * error message, or one the client makes (MF_CLIENT_E_*, or the code of a
 * server's refusal for good: 4001, 4008). One thread sends at a time. */
MF_API mf_status mf_client_send(mf_client *client, double timestamp, const mf_keypoints *faces,
                                size_t count, uint64_t *seq);
/* Takes the next reply (a msgpack message, docs/protocol.md), waiting up to
 * `timeout` seconds: *size 0 if none came. MF_E_TOO_LARGE, the reply kept,
 * when `capacity` is short of *size. */
MF_API mf_status mf_client_receive(mf_client *client, double timeout, uint8_t *buf,
                                   size_t capacity, size_t *size);
/* Waits up to `timeout` seconds for every frame to be answered; returns
 * how many are still waiting. */
MF_API size_t mf_client_flush(mf_client *client, double timeout);
MF_API void mf_client_state_get(mf_client *client, mf_client_state *out);
/* Closes the session (1000) and joins the thread; frames still unanswered,
 * and any sent after, get MF_CLIENT_E_CLOSED. Replies stay to be taken.
 * Not while another thread sends. */
MF_API void mf_client_close(mf_client *client);
/* Closes if open; NULL-safe. */
MF_API void mf_client_free(mf_client *client);

#ifdef __cplusplus
}
#endif
#endif
