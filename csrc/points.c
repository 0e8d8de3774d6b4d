/* The checks on the numbers the core is given: landmarks and model tensors. */
#include <math.h>

#include "internal.h"

mf_status mf_points_check(const float *points)
{
    if (!points)
        return MF_E_INVALID_ARGUMENT;
    double mx = 0, my = 0;
    for (int i = 0; i < MF_LANDMARKS; i++) {
        const float x = points[2 * i], y = points[2 * i + 1];
        if (!(fabsf(x) <= MF_POINTS_MAX && fabsf(y) <= MF_POINTS_MAX)) /* NaN fails too */
            return MF_E_INVALID_ARGUMENT;
        mx += x;
        my += y;
    }
    mx /= MF_LANDMARKS;
    my /= MF_LANDMARKS;
    const double ex = (double)points[2 * 45] - points[2 * 36];
    const double ey = (double)points[2 * 45 + 1] - points[2 * 36 + 1];
    if (!(sqrt(ex * ex + ey * ey) >= MF_POINTS_MIN_EYES))
        return MF_E_INVALID_ARGUMENT;
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
        return MF_E_INVALID_ARGUMENT;
    return MF_OK;
}

int mf_all_finite(const float *values, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(values[i]))
            return 0;
    return 1;
}
