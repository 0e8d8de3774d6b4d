/* Test inputs built in memory: model files in the format documented at the
 * top of mojofer.h (written here independently of the loader), and views of
 * packed pixel buffers. */
#ifndef MF_TEST_FIXTURES_H
#define MF_TEST_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

#include "mojofer.h"

/* Byte offsets of the format's fields, for tests that corrupt one of them. */
enum {
    FX_HEADER_BYTES = 48,
    FX_ENTRY_BYTES = 88,
    FX_ALIGN = 64,
    /* in the header */
    FX_VERSION_AT = 8,
    FX_COUNT_AT = 12,
    FX_KIND_AT = 16,
    FX_FILE_SIZE_AT = 32,
    FX_DATA_OFFSET_AT = 40,
    /* in a table entry */
    FX_DTYPE_AT = 48,
    FX_NDIM_AT = 52,
    FX_DIMS_AT = 56,
    FX_OFFSET_AT = 72,
    FX_NBYTES_AT = 80
};

typedef struct {
    const char *name;   /* at most 47 characters */
    uint32_t dtype;     /* an mf_dtype */
    uint32_t ndim;      /* 1..4; dims past ndim are written as 1 */
    uint32_t dims[4];
    const void *values; /* product(dims) int32 or float32 elements */
} fx_tensor;

typedef struct {
    uint8_t *bytes; /* malloc'd, exactly size bytes */
    size_t size;
} fx_file;

/* A valid file as mojofer/modelfile.py writes it: table, then each tensor
 * 64-byte aligned and zero padded, then the CRC-32 footer. */
fx_file fx_model_file(const char *kind, const fx_tensor *tensors, size_t count);
fx_file fx_copy(const uint8_t *bytes, size_t size);
void fx_file_free(fx_file *file);

/* Where table entry `index` starts. */
size_t fx_entry_at(size_t index);
uint32_t fx_get_u32(const fx_file *file, size_t at);
uint64_t fx_get_u64(const fx_file *file, size_t at);
void fx_put_u32(fx_file *file, size_t at, uint32_t value);
void fx_put_u64(fx_file *file, size_t at, uint64_t value);
/* Rewrites the CRC footer, so that an edit reaches the check it aims at
 * instead of failing the checksum. */
void fx_reseal(fx_file *file);

/* The status of loading the bytes with default limits; the model is freed.
 * FX_INCONSISTENT when the model pointer disagrees with the status. */
#define FX_INCONSISTENT ((mf_status)1)
mf_status fx_load_status(const uint8_t *bytes, size_t size);

/* A view of interleaved pixels with contiguous rows; channels follow from
 * the order. */
mf_image fx_view(const uint8_t *pixels, int32_t width, int32_t height, mf_channel_order order);

/* malloc that ends the test run when memory is out. */
void *fx_alloc(size_t size);

#endif
