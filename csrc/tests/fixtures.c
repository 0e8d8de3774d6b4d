#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"
#include "base/base.h"

enum { NAME_BYTES = 48, KIND_BYTES = 16, FOOTER_BYTES = 4, FORMAT_VERSION = 1 };

void *fx_alloc(size_t size)
{
    void *p = calloc(1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "tests: out of memory\n");
        exit(2);
    }
    return p;
}

/* strlen bounded by `max`, without relying on POSIX strnlen */
static size_t bounded_length(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n] != '\0')
        n++;
    return n;
}

static size_t aligned(size_t n) { return (n + FX_ALIGN - 1) / FX_ALIGN * FX_ALIGN; }

static size_t element_count(const fx_tensor *t)
{
    size_t n = 1;
    for (uint32_t d = 0; d < t->ndim && d < 4; d++)
        n *= t->dims[d];
    return n;
}

size_t fx_entry_at(size_t index) { return FX_HEADER_BYTES + index * FX_ENTRY_BYTES; }

uint32_t fx_get_u32(const fx_file *file, size_t at)
{
    const uint8_t *p = file->bytes + at;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t fx_get_u64(const fx_file *file, size_t at)
{
    return (uint64_t)fx_get_u32(file, at) | (uint64_t)fx_get_u32(file, at + 4) << 32;
}

void fx_put_u32(fx_file *file, size_t at, uint32_t value)
{
    for (size_t i = 0; i < 4; i++)
        file->bytes[at + i] = (uint8_t)(value >> (8 * i));
}

void fx_put_u64(fx_file *file, size_t at, uint64_t value)
{
    fx_put_u32(file, at, (uint32_t)value);
    fx_put_u32(file, at + 4, (uint32_t)(value >> 32));
}

void fx_reseal(fx_file *file)
{
    size_t body = file->size - FOOTER_BYTES;
    fx_put_u32(file, body, mf_crc32(file->bytes, body));
}

fx_file fx_model_file(const char *kind, const fx_tensor *tensors, size_t count)
{
    const size_t data_offset = aligned(FX_HEADER_BYTES + count * FX_ENTRY_BYTES);
    size_t data_bytes = 0;
    for (size_t i = 0; i < count; i++)
        data_bytes += aligned(4 * element_count(&tensors[i]));
    fx_file f = {NULL, data_offset + data_bytes + FOOTER_BYTES};
    f.bytes = fx_alloc(f.size);

    memcpy(f.bytes, "MOJOFER", 8); /* the terminating NUL is the magic's 8th byte */
    fx_put_u32(&f, FX_VERSION_AT, FORMAT_VERSION);
    fx_put_u32(&f, FX_COUNT_AT, (uint32_t)count);
    memcpy(f.bytes + FX_KIND_AT, kind, bounded_length(kind, KIND_BYTES));
    fx_put_u64(&f, FX_FILE_SIZE_AT, f.size);
    fx_put_u64(&f, FX_DATA_OFFSET_AT, data_offset);

    size_t offset = 0;
    for (size_t i = 0; i < count; i++) {
        const fx_tensor *t = &tensors[i];
        const size_t entry = fx_entry_at(i), n = element_count(t);
        memcpy(f.bytes + entry, t->name, bounded_length(t->name, NAME_BYTES - 1));
        fx_put_u32(&f, entry + FX_DTYPE_AT, t->dtype);
        fx_put_u32(&f, entry + FX_NDIM_AT, t->ndim);
        for (uint32_t d = 0; d < 4; d++)
            fx_put_u32(&f, entry + FX_DIMS_AT + 4 * d, d < t->ndim ? t->dims[d] : 1);
        fx_put_u64(&f, entry + FX_OFFSET_AT, offset);
        fx_put_u64(&f, entry + FX_NBYTES_AT, 4 * n);
        for (size_t k = 0; k < n; k++) {
            uint32_t word;
            memcpy(&word, (const uint8_t *)t->values + 4 * k, sizeof word);
            fx_put_u32(&f, data_offset + offset + 4 * k, word);
        }
        offset += aligned(4 * n);
    }
    fx_reseal(&f);
    return f;
}

fx_file fx_copy(const uint8_t *bytes, size_t size)
{
    fx_file f = {fx_alloc(size), size};
    if (size)
        memcpy(f.bytes, bytes, size);
    return f;
}

void fx_file_free(fx_file *file)
{
    free(file->bytes);
    file->bytes = NULL;
    file->size = 0;
}

mf_status fx_load_status(const uint8_t *bytes, size_t size)
{
    const mf_limits limits = mf_limits_default();
    mf_status status = FX_INCONSISTENT;
    mf_model *model = mf_model_from_memory(bytes, size, &limits, &status);
    const int consistent = (model != NULL) == (status == MF_OK);
    mf_model_free(model);
    return consistent ? status : FX_INCONSISTENT;
}

mf_image fx_view(const uint8_t *pixels, int32_t width, int32_t height, mf_channel_order order)
{
    const int32_t channels = order == MF_GRAY ? 1 : order == MF_RGB || order == MF_BGR ? 3 : 4;
    mf_image image = {pixels, width, height, channels, (ptrdiff_t)width * channels, channels, 1,
                      order};
    return image;
}
