/* The CPython binding's shared declarations. mojofer/_core/ is the only C
 * that includes Python.h and NumPy: one file per Python type, built as the
 * one extension mojofer._core. What the types share is here, written once:
 * the status -> exception table, the argument converters (frames, points,
 * keypoint frames in; estimates and events out; cue parameters) and the
 * engine base that holds a core context, its model and its lock. */
#ifndef MOJOFER_CORE_BINDING_H
#define MOJOFER_CORE_BINDING_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
/* one NumPy API table for the whole extension, filled by module.c */
#define PY_ARRAY_UNIQUE_SYMBOL mojofer_core_ARRAY_API
#ifndef MOJOFER_CORE_MODULE
#define NO_IMPORT_ARRAY
#endif
#include <numpy/arrayobject.h>
#include <pythread.h>

#include "mojofer_stream.h" /* includes mojofer.h */

/* ---- status -> exception (module.c) ------------------------------------- */

extern PyObject *ModelError; /* set once at import; the exception type is immutable */

PyObject *status_exception(mf_status st);
/* Raises for a failed status, naming what failed; returns NULL. */
PyObject *raise_status(mf_status st, const char *what);

/* ---- converters (convert.c) ---------------------------------------------- */

/* Fills `view` from a NumPy frame without copying. On failure raises a
 * TypeError/ValueError naming `arg` and what was expected, and returns -1. */
int frame_view(PyObject *obj, const char *arg, int bgr, mf_image *view);
/* A C-contiguous float32 (68, 2) copy-or-view of `obj`; raises naming `arg`. */
PyArrayObject *shape_array(PyObject *obj, const char *arg);
/* A new float32 (68, 2) array. */
PyObject *new_points(void);

/* A keypoint frame's faces as four arrays for n faces: ids (n,) int32,
 * points (n, 68, 2) float32, poses (n, 3) float32, has_pose (n,) bool. */
typedef struct {
    PyArrayObject *ids, *points, *poses, *has_pose;
    npy_intp n;
} keypoint_arrays;

/* Converts the four objects; `what` names the call in the messages and
 * max_faces bounds n. 0, or -1 raised (with `a` cleared). */
int keypoint_arrays_parse(keypoint_arrays *a, PyObject *ids, PyObject *points, PyObject *poses,
                          PyObject *has_pose, npy_intp max_faces, const char *what);
/* Copies the faces into out[0..n): needs no GIL. */
void keypoint_arrays_fill(const keypoint_arrays *a, mf_keypoints *out);
void keypoint_arrays_clear(keypoint_arrays *a);

/* Estimates and events out, as Estimate and Event struct sequences:
 * *faces and *events are new lists (0), or both NULL with an error (-1). */
int estimates_out(const mf_estimate *estimates, size_t count, const mf_estimate_event *events,
                  size_t events_count, PyObject **faces, PyObject **event_list);

/* The fields of a dict of cue parameters over `params` (which keeps the
 * values not given); raises TypeError for an unknown name or a non-number. */
int cues_params_from_dict(PyObject *dict, mf_cues_params *params);
/* A dict of the parameters' fields, in mf_cues_params order. */
PyObject *cues_params_dict(const mf_cues_params *params);
/* ValueError "invalid cue parameters: <the core's problem>" unless the core
 * accepts them: 0 or -1 raised. */
int cues_params_checked(const mf_cues_params *params);

/* A tuple of the `count` names name_of(0..count-1) gives. */
PyObject *name_tuple(const char *(*name_of)(int32_t), int32_t count);

/* Raises ValueError with `format`, whose %s are filled with t and then u
 * written as Python writes floats; returns NULL. */
PyObject *raise_time(double t, const char *format, double u);

/* ---- structured results (convert.c) -------------------------------------- */

extern PyTypeObject EstimateType, EventType, CueStateType, ExpressionsType;
/* A new struct sequence of `type` from `format` (Py_BuildValue's, one value a field). */
PyObject *struct_new(PyTypeObject *type, const char *format, ...);
/* Readies the struct sequence types: 0 or -1 raised. */
int structs_ready(void);

/* ---- the engine base (engine.c) ------------------------------------------ */

/* What a type over one core context needs to make and free it. */
typedef struct {
    const char *init_format; /* "O!:Name": the model argument, the type's name for messages */
    const char *what; /* the model's, for messages */
    void *(*create)(const mf_model *model, const mf_limits *limits, mf_status *st);
    void (*destroy)(void *engine);
} engine_kind;

/* Every engine type starts with this: one core context, used by one thread
 * at a time under `lock` (taken with the GIL released, then the GIL retaken
 * with it held, so it cannot deadlock) until the outputs are Python objects. */
typedef struct {
    PyObject_HEAD
    const engine_kind *kind;
    void *engine;
    PyObject *model; /* what the engine reads (a Model or a tuple of them), kept alive */
    PyThread_type_lock lock;
} EngineObject;

/* tp_init of a type over one Model: Name(model). */
int engine_init(EngineObject *self, PyObject *args, PyObject *kwds, const engine_kind *kind);
/* The lock for types that make their engine themselves: 0 or -1 raised. */
int engine_lock_new(EngineObject *self);
/* Frees the engine, the model reference and the lock (tp_dealloc calls it). */
void engine_clear(EngineObject *self);
void engine_dealloc(EngineObject *self);
/* 1, or 0 with RuntimeError if the object was not initialised. */
int engine_ready(EngineObject *self);
/* 1 if the object was initialised already (RuntimeError raised). */
int engine_initialised(EngineObject *self);

#define ENGINE_CALL(self, statement)                                                               \
    do {                                                                                           \
        Py_BEGIN_ALLOW_THREADS PyThread_acquire_lock((self)->lock, WAIT_LOCK);                     \
        statement;                                                                                 \
        PyThread_release_lock((self)->lock);                                                       \
        Py_END_ALLOW_THREADS                                                                       \
    } while (0)

/* ---- types and module functions, one file each ---------------------------- */

typedef struct {
    PyObject_HEAD
    mf_model *model;
} ModelObject;

int model_ready(ModelObject *self);

/* The estimator's two engines from their Models (estimator.c, used by the server). */
int estimator_engines(PyObject *pose_model, PyObject *expression_model, mf_pose_estimator **pose,
                      mf_expression_classifier **expressions);

extern PyTypeObject ModelType, DetectorType, LandmarkerType, PoseEstimatorType,
    ExpressionClassifierType, CuesType, EstimatorType, ServerType, ClientType;

PyObject *core_landmark_features(PyObject *self, PyObject *args, PyObject *kwds);
PyObject *core_wire_encode_frame(PyObject *self, PyObject *args);
PyObject *core_wire_encode_estimate(PyObject *self, PyObject *args);
PyObject *core_wire_encode_error(PyObject *self, PyObject *args);
PyObject *core_wire_decode(PyObject *self, PyObject *args);
PyObject *core_cues_params_check(PyObject *self, PyObject *dict);

#endif
