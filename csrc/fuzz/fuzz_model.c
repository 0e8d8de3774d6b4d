/* libFuzzer harness: the model loader, with the loaded values driven
 * through every consumer. The input is a model file whose file_size field
 * and CRC footer the harness rewrites (a random mutation would otherwise
 * almost never pass the checksum, and the values behind it would never be
 * reached); then the model is loaded from memory, and whichever consumer
 * accepts it (detector, landmarker, head pose, expressions, and the
 * estimator over the last two) runs on a small textured frame or a
 * face-shaped set of points. Seeds: csrc/fuzz/seeds/model (tiny valid
 * models of each kind, made by csrc/fuzz/make_seeds.py). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

enum { SIDE = 40, FILE_SIZE_AT = 32, MIN_FILE = 52, FOOTER = 4 };

/* The bundled pose and expression models (models/, the harness runs from
 * the repository root), so that a fuzzed model of either kind also drives
 * an estimator with the other; absent, the estimator is not run. Loaded
 * once: libFuzzer calls the harness in one process. */
static struct {
    mf_model *pose_model, *expression_model;
    mf_pose_estimator *pose;
    mf_expression_classifier *expressions;
} bundled;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const mf_limits limits = mf_limits_default();
    bundled.pose_model = mf_model_load("models/pose.mfm", &limits, NULL);
    bundled.expression_model = mf_model_load("models/expressions.mfm", &limits, NULL);
    if (bundled.pose_model)
        bundled.pose = mf_pose_estimator_new(bundled.pose_model, &limits, NULL);
    if (bundled.expression_model)
        bundled.expressions = mf_expression_classifier_new(bundled.expression_model, &limits, NULL);
    return 0;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* 68 points on an ellipse around the frame's centre: a face to the point
 * checks (eye corners apart, not on a line). */
static void face_points(float *points)
{
    for (int i = 0; i < MF_LANDMARKS; i++) {
        const double t = 2.0 * 3.14159265358979 * i / MF_LANDMARKS;
        points[2 * i] = (float)(SIDE / 2 + 9.0 * cos(t));
        points[2 * i + 1] = (float)(SIDE / 2 + 11.0 * sin(t));
    }
}

/* A face seen for two frames, then lost until it is retired: pose,
 * expressions, smoothing and the cue machines all run. */
static void run_estimator(mf_pose_estimator *pose, mf_expression_classifier *expressions,
                          const float *points)
{
    if (!pose || !expressions)
        return;
    const mf_estimator_params params = mf_estimator_params_default();
    mf_estimator *e = mf_estimator_new(pose, expressions, &params, NULL);
    mf_keypoints k;
    memset(&k, 0, sizeof k);
    k.face_id = 1;
    memcpy(k.landmarks, points, sizeof k.landmarks);
    static mf_estimate out[16];
    static mf_estimate_event events[16 * MF_ESTIMATE_EVENTS_PER_FACE];
    size_t n, m;
    const double times[] = {0.0, 0.5, 1.5, 30.0};
    for (size_t i = 0; e && i < 4; i++) {
        const size_t seen = i < 2; /* given in the first two frames only */
        mf_estimator_update(e, times[i], &k, seen, out, 16, &n, events,
                            16 * MF_ESTIMATE_EVENTS_PER_FACE, &m);
    }
    mf_estimator_free(e);
}

static void run_consumers(const mf_model *model, const mf_limits *limits)
{
    static uint8_t pixels[SIDE * SIDE];
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++)
            pixels[y * SIDE + x] = (uint8_t)((x * 7 + y * 13 + (x * y) % 17) & 0xff);
    const mf_image image = {pixels, SIDE, SIDE, 1, SIDE, 1, 1, MF_GRAY};
    float points[2 * MF_LANDMARKS], out[2 * MF_LANDMARKS], quality;
    face_points(points);
    mf_status st;

    mf_detector *detector = mf_detector_new(model, limits, &st);
    if (detector) {
        mf_detect_params params = mf_detect_params_default();
        params.min_size = 1;
        params.min_neighbors = 0;
        mf_box boxes[4];
        size_t count;
        mf_detect(detector, &image, &params, boxes, 4, &count);
        mf_detector_free(detector);
    }
    mf_landmarker *landmarker = mf_landmarker_new(model, limits, &st);
    if (landmarker) {
        const mf_box box = {8.0f, 6.0f, 24.0f, 28.0f, 1.0f};
        mf_landmarks_from_box(landmarker, &image, &box, out, 2 * MF_LANDMARKS, &quality);
        mf_landmarks_from_points(landmarker, &image, points, out, 2 * MF_LANDMARKS, &quality);
        mf_landmarker_free(landmarker);
    }
    mf_pose_estimator *pose = mf_pose_estimator_new(model, limits, &st);
    mf_expression_classifier *expressions = mf_expression_classifier_new(model, limits, &st);
    if (pose) {
        mf_pose p;
        mf_pose_estimate(pose, points, &p);
        run_estimator(pose, bundled.expressions, points);
    }
    if (expressions) {
        mf_expression e;
        mf_face_baseline own;
        if (mf_expression_baseline(expressions, points, 1, &own) == MF_OK)
            mf_expressions(expressions, points, &own, 1, &e);
        run_estimator(bundled.pose, expressions, points);
    }
    mf_expression_classifier_free(expressions);
    mf_pose_estimator_free(pose);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < MIN_FILE)
        return 0;
    uint8_t *bytes = malloc(size);
    if (!bytes)
        return 0;
    memcpy(bytes, data, size);
    put_u32(bytes + FILE_SIZE_AT, (uint32_t)size);
    put_u32(bytes + FILE_SIZE_AT + 4, 0);
    put_u32(bytes + size - FOOTER, mf_crc32(bytes, size - FOOTER));
    const mf_limits limits = mf_limits_default();
    mf_status st;
    mf_model *model = mf_model_from_memory(bytes, size, &limits, &st);
    free(bytes); /* the model holds its own copy */
    if ((model != NULL) != (st == MF_OK))
        abort();
    if (model)
        run_consumers(model, &limits);
    mf_model_free(model);
    return 0;
}
