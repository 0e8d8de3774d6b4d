/* Head pose from the 68 landmarks: the model's rigid mean face is posed to
 * fit the points in weighted least squares. A scaled orthographic camera
 * nearest the affine least-squares map of the face onto the points starts
 * Levenberg-Marquardt on rotation, scale and shift; the camera is
 * perspective from the model's assumed distance (a webcam's), which the
 * scale and shift leave free of any intrinsics. The weights depend on the
 * yaw (the jaw on the side turned away is the cheek's outline, not the jaw
 * the face's points mark), so the fit is repeated with the weights of the
 * yaw found.
 *
 * Model tensors (kind "head_pose", written by mojofer.train pose):
 *   points      f32 [68, 3]  the mean face in the frame of mf_pose (x to the
 *                            subject's left, y down, z away from the camera),
 *                            centred, not flat; the units are the distance's
 *   weights     f32 [Y, 68]  per-point weights at each yaw of weight_yaw, > 0
 *   weight_yaw  f32 [Y]      ascending, degrees; weights between two are
 *                            linear, beyond the ends the end rows
 *   distance    f32 [1]      the face's assumed distance from the camera,
 *                            more than twice the face's radius; 0: scaled
 *                            orthographic
 * mojofer/train/reference.py holds the NumPy reference of this file
 * (head_pose); tests keep the two equal.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "estimate.h"

enum {
    MAX_YAWS = 64,
    PASSES = 3,      /* refits with the weights of the yaw found */
    ITERATIONS = 50, /* per fit, at most */
    PARAMS = 6       /* rotation increment (3), scale, shift (2) */
};
static const double STEP_DONE = 1e-8, DAMPING_START = 1e-3, DAMPING_END = 1e8;
static const double DEGREES = 57.29577951308232;

struct mf_pose_estimator {
    mf_limits limits;
    int32_t yaw_count;
    const float *weights, *weight_yaw;
    double model[MF_LANDMARKS][3];
    double kappa; /* 1 / distance, 0 for scaled orthographic */
};

/* A camera: image point = s * (R X)_xy / (1 + kappa (R X)_z) + t. */
typedef struct {
    double r[3][3], s, t[2];
} camera;

static mf_status load_pose(mf_pose_estimator *pe, const mf_model *model)
{
    mf_tensor t;
    mf_status st;
    if (strcmp(mf_model_kind(model), "head_pose") != 0)
        return MF_E_MODEL_KIND;
    if ((st = mf_model_expect(model, "points", MF_DTYPE_F32, 3 * MF_LANDMARKS, &t)) != MF_OK)
        return st;
    if (t.ndim != 2 || t.dims[0] != MF_LANDMARKS)
        return MF_E_MODEL_MISSING;
    const float *points = t.data;
    if ((st = mf_model_expect(model, "weight_yaw", MF_DTYPE_F32, -1, &t)) != MF_OK)
        return st;
    pe->weight_yaw = t.data;
    pe->yaw_count = (int32_t)t.count;
    if (t.ndim != 1 || pe->yaw_count > MAX_YAWS)
        return MF_E_MODEL_MISSING;
    for (int32_t k = 0; k < pe->yaw_count; k++)
        if (!isfinite(pe->weight_yaw[k]) || (k > 0 && !(pe->weight_yaw[k] > pe->weight_yaw[k - 1])))
            return MF_E_MODEL_MISSING;
    if ((st = mf_model_expect(model, "weights", MF_DTYPE_F32, (int64_t)pe->yaw_count * MF_LANDMARKS,
                              &t)) != MF_OK)
        return st;
    if (t.ndim != 2 || t.dims[1] != MF_LANDMARKS)
        return MF_E_MODEL_MISSING;
    pe->weights = t.data;
    for (int64_t i = 0; i < t.count; i++)
        if (!(pe->weights[i] > 0.0f && isfinite(pe->weights[i])))
            return MF_E_MODEL_MISSING;
    if ((st = mf_model_expect(model, "distance", MF_DTYPE_F32, 1, &t)) != MF_OK)
        return st;
    const float distance = *(const float *)t.data;

    double centre[3] = {0, 0, 0}, scatter[3][3] = {{0}}, radius = 0;
    for (int i = 0; i < MF_LANDMARKS; i++)
        for (int a = 0; a < 3; a++) {
            if (!isfinite(points[3 * i + a]))
                return MF_E_MODEL_MISSING;
            pe->model[i][a] = points[3 * i + a];
            centre[a] += pe->model[i][a] / MF_LANDMARKS;
        }
    for (int i = 0; i < MF_LANDMARKS; i++) {
        const double *p = pe->model[i];
        radius = fmax(radius, sqrt(p[0] * p[0] + p[1] * p[1] + p[2] * p[2]));
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++)
                scatter[a][b] += p[a] * p[b];
    }
    const double trace = scatter[0][0] + scatter[1][1] + scatter[2][2];
    const double det = scatter[0][0] * (scatter[1][1] * scatter[2][2] - scatter[1][2] * scatter[2][1]) -
                       scatter[0][1] * (scatter[1][0] * scatter[2][2] - scatter[1][2] * scatter[2][0]) +
                       scatter[0][2] * (scatter[1][0] * scatter[2][1] - scatter[1][1] * scatter[2][0]);
    /* the origin is the face's centre, where the camera looks */
    if (sqrt(centre[0] * centre[0] + centre[1] * centre[1] + centre[2] * centre[2]) > 1e-3 * radius)
        return MF_E_MODEL_MISSING;
    /* a flat face leaves the affine start undetermined */
    if (!(radius > 0) || !(det > 1e-9 * trace * trace * trace))
        return MF_E_MODEL_MISSING;
    /* every point stays well in front of the camera: 1 + kappa z >= 1/2 */
    if (!isfinite(distance) || distance < 0.0f || (distance > 0.0f && !(distance > 2.0 * radius)))
        return MF_E_MODEL_MISSING;
    pe->kappa = distance > 0.0f ? 1.0 / distance : 0.0;
    return MF_OK;
}

mf_pose_estimator *mf_pose_estimator_new(const mf_model *model, const mf_limits *limits,
                                         mf_status *status)
{
    mf_status st = MF_OK;
    mf_pose_estimator *pe = NULL;
    if (!model || !limits) {
        st = MF_E_INVALID_ARGUMENT;
        goto done;
    }
    pe = calloc(1, sizeof *pe);
    if (!pe) {
        st = MF_E_NO_MEMORY;
        goto done;
    }
    pe->limits = *limits;
    st = load_pose(pe, model);
done:
    if (st != MF_OK) {
        mf_pose_estimator_free(pe);
        pe = NULL;
    }
    if (status)
        *status = st;
    return pe;
}

void mf_pose_estimator_free(mf_pose_estimator *pe)
{
    free(pe);
}

/* The weights at `yaw` (degrees). */
static void weights_at(const mf_pose_estimator *pe, double yaw, double *w)
{
    const float *grid = pe->weight_yaw;
    const int32_t last = pe->yaw_count - 1;
    if (!(yaw > grid[0]) || yaw >= grid[last]) {
        const float *row = pe->weights + (size_t)(yaw >= grid[last] ? last : 0) * MF_LANDMARKS;
        for (int i = 0; i < MF_LANDMARKS; i++)
            w[i] = row[i];
        return;
    }
    int32_t j = 0;
    while (yaw >= grid[j + 1])
        j++;
    const double f = (yaw - grid[j]) / ((double)grid[j + 1] - grid[j]);
    const float *lo = pe->weights + (size_t)j * MF_LANDMARKS, *hi = lo + MF_LANDMARKS;
    for (int i = 0; i < MF_LANDMARKS; i++)
        w[i] = (1 - f) * lo[i] + f * hi[i];
}

/* (yaw, pitch, roll) in degrees of R = Rz(roll) Ry(yaw) Rx(pitch) */
static void angles(const camera *c, double *out)
{
    const double s = c->r[2][0] > 1.0 ? 1.0 : c->r[2][0] < -1.0 ? -1.0 : c->r[2][0];
    out[0] = asin(s) * DEGREES;
    out[1] = atan2(-c->r[2][1], c->r[2][2]) * DEGREES;
    out[2] = atan2(c->r[1][0], c->r[0][0]) * DEGREES;
}

static void rotate(const camera *c, const double *p, double *out)
{
    for (int a = 0; a < 3; a++)
        out[a] = c->r[a][0] * p[0] + c->r[a][1] * p[1] + c->r[a][2] * p[2];
}

/* The scaled orthographic camera nearest the weighted least-squares affine
 * map A of the model onto the points: R's first rows are the polar factor
 * (A A^T)^(-1/2) A, s the mean of A's singular values. 0 if A has no rank 2. */
static int start(const mf_pose_estimator *pe, const double *w, const double *x, camera *c)
{
    double wsum = 0, mm[3] = {0, 0, 0}, mx[2] = {0, 0};
    for (int i = 0; i < MF_LANDMARKS; i++) {
        wsum += w[i];
        for (int a = 0; a < 3; a++)
            mm[a] += w[i] * pe->model[i][a];
        mx[0] += w[i] * x[2 * i];
        mx[1] += w[i] * x[2 * i + 1];
    }
    for (int a = 0; a < 3; a++)
        mm[a] /= wsum;
    mx[0] /= wsum;
    mx[1] /= wsum;
    double m[3][3] = {{0}}, b[2][3] = {{0}};
    for (int i = 0; i < MF_LANDMARKS; i++) {
        const double d[3] = {pe->model[i][0] - mm[0], pe->model[i][1] - mm[1], pe->model[i][2] - mm[2]};
        const double e[2] = {x[2 * i] - mx[0], x[2 * i + 1] - mx[1]};
        for (int a = 0; a < 3; a++) {
            for (int k = 0; k < 3; k++)
                m[a][k] += w[i] * d[a] * d[k];
            b[0][a] += w[i] * e[0] * d[a];
            b[1][a] += w[i] * e[1] * d[a];
        }
    }
    /* A = B M^-1 by cofactors (M is symmetric and, the model not flat, invertible) */
    double inv[3][3];
    for (int a = 0; a < 3; a++)
        for (int k = 0; k < 3; k++) {
            const int a1 = (a + 1) % 3, a2 = (a + 2) % 3, k1 = (k + 1) % 3, k2 = (k + 2) % 3;
            inv[k][a] = m[a1][k1] * m[a2][k2] - m[a1][k2] * m[a2][k1];
        }
    const double det = m[0][0] * inv[0][0] + m[0][1] * inv[1][0] + m[0][2] * inv[2][0];
    double am[2][3];
    for (int row = 0; row < 2; row++)
        for (int k = 0; k < 3; k++)
            am[row][k] = (b[row][0] * inv[0][k] + b[row][1] * inv[1][k] + b[row][2] * inv[2][k]) / det;
    /* N = A A^T; sqrt(N) = (N + sqrt(det N) I) / (sigma1 + sigma2), where
     * (sigma1 + sigma2)^2 = trace N + 2 sqrt(det N) */
    double n[2][2];
    for (int p = 0; p < 2; p++)
        for (int q = 0; q < 2; q++)
            n[p][q] = am[p][0] * am[q][0] + am[p][1] * am[q][1] + am[p][2] * am[q][2];
    const double det_n = n[0][0] * n[1][1] - n[0][1] * n[1][0];
    if (!(det_n > 0) || !isfinite(det_n))
        return 0;
    const double root = sqrt(det_n), sum = sqrt(n[0][0] + n[1][1] + 2 * root);
    const double q[2][2] = {{(n[0][0] + root) / sum, n[0][1] / sum}, {n[1][0] / sum, (n[1][1] + root) / sum}};
    const double det_q = q[0][0] * q[1][1] - q[0][1] * q[1][0];
    const double qi[2][2] = {{q[1][1] / det_q, -q[0][1] / det_q}, {-q[1][0] / det_q, q[0][0] / det_q}};
    for (int row = 0; row < 2; row++)
        for (int k = 0; k < 3; k++)
            c->r[row][k] = qi[row][0] * am[0][k] + qi[row][1] * am[1][k];
    c->r[2][0] = c->r[0][1] * c->r[1][2] - c->r[0][2] * c->r[1][1];
    c->r[2][1] = c->r[0][2] * c->r[1][0] - c->r[0][0] * c->r[1][2];
    c->r[2][2] = c->r[0][0] * c->r[1][1] - c->r[0][1] * c->r[1][0];
    c->s = sum / 2;
    double rm[3];
    rotate(c, mm, rm);
    c->t[0] = mx[0] - c->s * rm[0];
    c->t[1] = mx[1] - c->s * rm[1];
    return 1;
}

static double cost(const mf_pose_estimator *pe, const double *w, const double *x, const camera *c)
{
    double sum = 0;
    for (int i = 0; i < MF_LANDMARKS; i++) {
        double y[3];
        rotate(c, pe->model[i], y);
        const double d = 1 + pe->kappa * y[2];
        const double ex = c->s * y[0] / d + c->t[0] - x[2 * i], ey = c->s * y[1] / d + c->t[1] - x[2 * i + 1];
        sum += w[i] * (ex * ex + ey * ey);
    }
    return sum;
}

/* exp([v]x) by Rodrigues' formula */
static void rodrigues(const double *v, double out[3][3])
{
    const double angle = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    double k[3][3] = {{0, -v[2], v[1]}, {v[2], 0, -v[0]}, {-v[1], v[0], 0}};
    double a = 1, b = 0;
    if (angle >= 1e-12) {
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                k[i][j] /= angle;
        a = sin(angle);
        b = 1 - cos(angle);
    }
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            const double kk = k[i][0] * k[0][j] + k[i][1] * k[1][j] + k[i][2] * k[2][j];
            out[i][j] = (i == j) + a * k[i][j] + b * kk;
        }
}

/* Solves the symmetric positive definite system a x = b by Cholesky; 0 if
 * a is not positive definite. */
static int solve(double a[PARAMS][PARAMS], const double *b, double *x)
{
    double l[PARAMS][PARAMS] = {{0}};
    for (int i = 0; i < PARAMS; i++)
        for (int j = 0; j <= i; j++) {
            double sum = a[i][j];
            for (int k = 0; k < j; k++)
                sum -= l[i][k] * l[j][k];
            if (i == j) {
                if (!(sum > 0))
                    return 0;
                l[i][i] = sqrt(sum);
            } else {
                l[i][j] = sum / l[j][j];
            }
        }
    double y[PARAMS];
    for (int i = 0; i < PARAMS; i++) {
        double sum = b[i];
        for (int k = 0; k < i; k++)
            sum -= l[i][k] * y[k];
        y[i] = sum / l[i][i];
    }
    for (int i = PARAMS - 1; i >= 0; i--) {
        double sum = y[i];
        for (int k = i + 1; k < PARAMS; k++)
            sum -= l[k][i] * x[k];
        x[i] = sum / l[i][i];
    }
    return 1;
}

/* Levenberg-Marquardt from *c: rotation by left increments, scale, shift. */
static void refine(const mf_pose_estimator *pe, const double *w, const double *x, camera *c)
{
    double current = cost(pe, w, x, c), damping = DAMPING_START;
    for (int iteration = 0; iteration < ITERATIONS; iteration++) {
        double h[PARAMS][PARAMS] = {{0}}, g[PARAMS] = {0};
        for (int i = 0; i < MF_LANDMARKS; i++) {
            double y[3];
            rotate(c, pe->model[i], y);
            const double d = 1 + pe->kappa * y[2];
            const double p[2] = {y[0] / d, y[1] / d};
            const double res[2] = {c->s * p[0] + c->t[0] - x[2 * i], c->s * p[1] + c->t[1] - x[2 * i + 1]};
            /* d(R X) / d(increment) = -[R X]x */
            const double dy[3][3] = {{0, y[2], -y[1]}, {-y[2], 0, y[0]}, {y[1], -y[0], 0}};
            double jac[2][PARAMS];
            for (int a = 0; a < 2; a++) {
                for (int k = 0; k < 3; k++)
                    jac[a][k] = c->s * (dy[a][k] / d - p[a] * pe->kappa * dy[2][k] / d);
                jac[a][3] = p[a];
                jac[a][4] = a == 0;
                jac[a][5] = a == 1;
            }
            for (int a = 0; a < 2; a++)
                for (int k = 0; k < PARAMS; k++) {
                    g[k] += w[i] * jac[a][k] * res[a];
                    for (int l = 0; l < PARAMS; l++)
                        h[k][l] += w[i] * jac[a][k] * jac[a][l];
                }
        }
        double step[PARAMS];
        for (;;) {
            double damped[PARAMS][PARAMS], minus_g[PARAMS];
            for (int k = 0; k < PARAMS; k++) {
                for (int l = 0; l < PARAMS; l++)
                    damped[k][l] = h[k][l] + (k == l ? damping * h[k][k] : 0.0);
                minus_g[k] = -g[k];
            }
            double tried = INFINITY;
            camera next;
            if (solve(damped, minus_g, step)) {
                double turn[3][3];
                rodrigues(step, turn);
                for (int a = 0; a < 3; a++)
                    for (int b = 0; b < 3; b++)
                        next.r[a][b] = turn[a][0] * c->r[0][b] + turn[a][1] * c->r[1][b] + turn[a][2] * c->r[2][b];
                next.s = c->s + step[3];
                next.t[0] = c->t[0] + step[4];
                next.t[1] = c->t[1] + step[5];
                if (next.s > 0)
                    tried = cost(pe, w, x, &next);
            }
            if (tried < current) {
                *c = next;
                current = tried;
                damping = fmax(damping / 10, 1e-12);
                break;
            }
            damping *= 10;
            if (damping > DAMPING_END)
                return;
        }
        double largest = 0;
        for (int k = 0; k < 3; k++)
            largest = fmax(largest, fabs(step[k]));
        for (int k = 3; k < PARAMS; k++)
            largest = fmax(largest, fabs(step[k]) / c->s);
        if (largest < STEP_DONE)
            return;
    }
}

mf_status mf_pose_estimate(mf_pose_estimator *pe, const float *points, mf_pose *out)
{
    mf_status st;
    if (!pe || !points || !out)
        return MF_E_INVALID_ARGUMENT;
    if ((st = mf_points_check(points)) != MF_OK)
        return st;
    double x[2 * MF_LANDMARKS], w[MF_LANDMARKS];
    for (int i = 0; i < 2 * MF_LANDMARKS; i++)
        x[i] = points[i];
    weights_at(pe, 0.0, w);
    camera c;
    if (!start(pe, w, x, &c))
        return MF_E_INVALID_ARGUMENT;
    refine(pe, w, x, &c);
    double pose[3];
    for (int pass = 0; pass < PASSES; pass++) {
        angles(&c, pose);
        weights_at(pe, pose[0], w);
        refine(pe, w, x, &c);
    }
    angles(&c, pose);
    if (!isfinite(pose[0]) || !isfinite(pose[1]) || !isfinite(pose[2]))
        return MF_E_INVALID_ARGUMENT;
    out->yaw = (float)pose[0];
    out->pitch = (float)pose[1];
    out->roll = (float)pose[2];
    return MF_OK;
}
