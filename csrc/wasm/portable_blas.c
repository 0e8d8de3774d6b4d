/* Portable stand-ins for the CBLAS calls of csrc/anonymize: plain loops in a
 * fixed order, so a float32 result is the same wherever they run (no
 * OpenBLAS kernel choosing its summation order by CPU). Used by the
 * WebAssembly build (make wasm) and by the test build that checks it
 * (MOJOFER_PORTABLE_BLAS=1 python setup.py ...), nowhere else.
 *
 * A dot product sums in four interleaved partial sums, combined as
 * (s0 + s1) + (s2 + s3), then the tail: the order a 4-lane SIMD unit can
 * keep, so the compiler may vectorise it without changing a bit. */
#include "cblas.h"

static float dot(int n, const float *x, int incx, const float *y, int incy)
{
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    int i = 0;
    if (incx == 1 && incy == 1)
        for (; i + 4 <= n; i += 4) {
            s0 += x[i] * y[i];
            s1 += x[i + 1] * y[i + 1];
            s2 += x[i + 2] * y[i + 2];
            s3 += x[i + 3] * y[i + 3];
        }
    float sum = (s0 + s1) + (s2 + s3);
    for (; i < n; i++)
        sum += x[(long)i * incx] * y[(long)i * incy];
    return sum;
}

float cblas_sdot(int n, const float *x, int incx, const float *y, int incy)
{
    return n > 0 ? dot(n, x, incx, y, incy) : 0.0f;
}

void cblas_sgemv(CBLAS_ORDER order, CBLAS_TRANSPOSE trans, int m, int n, float alpha,
                 const float *a, int lda, const float *x, int incx, float beta, float *y,
                 int incy)
{
    /* column-major A is row-major A^T */
    const int by_rows = (order == CblasRowMajor) == (trans == CblasNoTrans);
    const int rows = by_rows ? m : n; /* length of y */
    const int cols = by_rows ? n : m; /* length of x */
    if (m <= 0 || n <= 0)
        return;
    if (by_rows) { /* y[r] = alpha dot(row r, x) + beta y[r] */
        for (int r = 0; r < rows; r++) {
            float *yr = &y[(long)r * incy];
            const float s = alpha * dot(cols, a + (long)r * lda, 1, x, incx);
            *yr = beta == 0.0f ? s : s + beta * *yr;
        }
        return;
    }
    /* y = beta y, then each row of A (a column of op(A)) scaled by alpha x[c]
     * added in turn: A is read along its rows */
    for (int r = 0; r < rows; r++)
        y[(long)r * incy] = beta == 0.0f ? 0.0f : beta * y[(long)r * incy];
    for (int c = 0; c < cols; c++) {
        const float t = alpha * x[(long)c * incx];
        const float *row = a + (long)c * lda;
        for (int r = 0; r < rows; r++)
            y[(long)r * incy] += t * row[r];
    }
}
