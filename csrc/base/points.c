/* The checks on the numbers the core is given: landmarks and model tensors. */
#include <math.h>

#include "base.h"

mf_status mf_points_check(const float *points)
{
    return mf_points_problem(points) ? MF_E_INVALID_ARGUMENT : MF_OK;
}

const char *mf_points_problem(const float *points)
{
    if (!points)
        return "no landmarks";
    double mx = 0, my = 0;
    for (int i = 0; i < MF_LANDMARKS; i++) {
        const float x = points[2 * i], y = points[2 * i + 1];
        if (!(isfinite(x) && isfinite(y)))
            return "landmarks not finite";
        if (!(fabsf(x) <= MF_POINTS_MAX && fabsf(y) <= MF_POINTS_MAX))
            return "landmarks beyond +-1e6";
        mx += x;
        my += y;
    }
    mx /= MF_LANDMARKS;
    my /= MF_LANDMARKS;
    const double ex = (double)points[2 * 45] - points[2 * 36];
    const double ey = (double)points[2 * 45 + 1] - points[2 * 36 + 1];
    if (!(sqrt(ex * ex + ey * ey) >= MF_POINTS_MIN_EYES))
        return "outer eye corners (landmarks 36 and 45) at one point";
    /* the spreads are the square roots of the scatter matrix's eigenvalues */
    double sxx = 0, sxy = 0, syy = 0;
    for (int i = 0; i < MF_LANDMARKS; i++) {
        const double x = points[2 * i] - mx, y = points[2 * i + 1] - my;
        sxx += x * x;
        sxy += x * y;
        syy += y * y;
    }
    const double half = (sxx + syy) / 2, gap = sqrt((sxx - syy) * (sxx - syy) / 4 + sxy * sxy);
    const double along = half + gap, across = half - gap;
    if (!(across >= MF_POINTS_MIN_SPREAD * MF_POINTS_MIN_SPREAD * along))
        return "landmarks on one line, not spread like a face";
    return NULL;
}

int mf_all_finite(const float *values, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(values[i]))
            return 0;
    return 1;
}
