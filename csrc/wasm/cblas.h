/* cblas.h for the WebAssembly build only (csrc/wasm is on its include path,
 * no other build's): the few CBLAS calls the anonymizer makes, with CBLAS's
 * enum values and argument conventions, implemented by portable_blas.c. */
#ifndef MOJOFER_PORTABLE_CBLAS_H
#define MOJOFER_PORTABLE_CBLAS_H

typedef enum { CblasRowMajor = 101, CblasColMajor = 102 } CBLAS_ORDER;
typedef enum { CblasNoTrans = 111, CblasTrans = 112, CblasConjTrans = 113 } CBLAS_TRANSPOSE;

/* y = alpha op(A) x + beta y, A m x n; beta 0 does not read y. */
void cblas_sgemv(CBLAS_ORDER order, CBLAS_TRANSPOSE trans, int m, int n, float alpha,
                 const float *a, int lda, const float *x, int incx, float beta, float *y,
                 int incy);
float cblas_sdot(int n, const float *x, int incx, const float *y, int incy);

#endif
