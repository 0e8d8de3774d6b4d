/* A small fully connected ReLU network, run a batch of rows at a time:
 * each layer is one cblas_sgemm, H = X W^T + b.
 *
 * Model tensors, for i = 0 .. L-1 (L <= MF_MLP_MAX_LAYERS, contiguous):
 *   layer<i>.weight  f32 [out_i, in_i]   in_0 = inputs, in_i = out_{i-1}
 *   layer<i>.bias    f32 [out_i]
 * The last layer has no ReLU: its outputs are logits.
 */
#include <cblas.h>
#include <stdio.h>
#include <string.h>

#include "estimate.h"

mf_status mf_mlp_load(mf_mlp *mlp, const mf_model *model, int32_t inputs, int32_t outputs)
{
    memset(mlp, 0, sizeof *mlp);
    mlp->sizes[0] = inputs;
    for (int32_t i = 0; i <= MF_MLP_MAX_LAYERS; i++) {
        char name[32];
        mf_tensor w, b;
        snprintf(name, sizeof name, "layer%d.weight", (int)i);
        mf_status st = mf_model_tensor(model, name, &w);
        if (st == MF_E_MODEL_MISSING && i > 0)
            break;
        if (st != MF_OK)
            return st;
        if (i == MF_MLP_MAX_LAYERS || w.dtype != MF_DTYPE_F32 || w.ndim != 2 ||
            w.dims[1] != mlp->sizes[i] || w.dims[0] < 1 || w.dims[0] > MF_MLP_MAX_WIDTH ||
            !mf_all_finite(w.data, w.count))
            return MF_E_MODEL_CORRUPT;
        snprintf(name, sizeof name, "layer%d.bias", (int)i);
        st = mf_model_expect(model, name, MF_DTYPE_F32, w.dims[0], &b);
        if (st != MF_OK)
            return st;
        if (!mf_all_finite(b.data, b.count))
            return MF_E_MODEL_CORRUPT;
        mlp->weight[i] = w.data;
        mlp->bias[i] = b.data;
        mlp->sizes[i + 1] = (int32_t)w.dims[0];
        mlp->layer_count = i + 1;
    }
    return mlp->sizes[mlp->layer_count] == outputs ? MF_OK : MF_E_MODEL_CORRUPT;
}

void mf_mlp_forward(const mf_mlp *mlp, const float *x, int32_t rows, float *scratch,
                    float *logits)
{
    const float *in = x;
    for (int32_t i = 0; i < mlp->layer_count; i++) {
        const int32_t n_in = mlp->sizes[i], n_out = mlp->sizes[i + 1];
        const int last = i == mlp->layer_count - 1;
        /* hidden layers alternate between the two halves of scratch */
        float *out = last ? logits : scratch + (size_t)(i % 2) * rows * MF_MLP_MAX_WIDTH;
        for (int32_t r = 0; r < rows; r++)
            memcpy(out + (size_t)r * n_out, mlp->bias[i], sizeof(float) * n_out);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n_out, n_in, 1.0f, in, n_in,
                    mlp->weight[i], n_in, 1.0f, out, n_out);
        if (!last)
            for (size_t k = 0; k < (size_t)rows * n_out; k++)
                out[k] = out[k] > 0.0f ? out[k] : 0.0f;
        in = out;
    }
}
