/* Model file loading and validation; the format is documented in mojofer.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base.h"

enum {
    HEADER_BYTES = 48,
    ENTRY_BYTES = 88,
    NAME_BYTES = 48,
    KIND_BYTES = 16,
    ALIGN = 64,
    FOOTER_BYTES = 4,
    FORMAT_VERSION = 1
};

static const char MAGIC[8] = {'M', 'O', 'J', 'O', 'F', 'E', 'R', '\0'};

struct mf_model {
    uint8_t *bytes; /* the whole file, 64-byte aligned */
    char kind[KIND_BYTES + 1];
    int32_t tensor_count;
    mf_tensor *tensors;
};

static uint32_t read_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t read_u64(const uint8_t *p)
{
    return (uint64_t)read_u32(p) | (uint64_t)read_u32(p + 4) << 32;
}

uint32_t mf_crc32(const uint8_t *data, size_t size)
{
    uint32_t table[256]; /* a byte at a time: 8x fewer steps than bit by bit */
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
        table[n] = c;
    }
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < size; i++)
        crc = (crc >> 8) ^ table[(crc ^ data[i]) & 0xFFu];
    return ~crc;
}

/* A NUL-padded field of printable ASCII: at least one character, a NUL
 * before the end (or at it, for the kind), nothing but NULs after. */
static int is_padded_ascii(const uint8_t *field, size_t size, int needs_nul)
{
    size_t n = 0;
    while (n < size && field[n] != '\0') {
        if (field[n] < 0x20 || field[n] >= 0x7F)
            return 0;
        n++;
    }
    if (n == 0 || (needs_nul && n == size))
        return 0;
    for (size_t i = n; i < size; i++)
        if (field[i] != '\0')
            return 0;
    return 1;
}

/* Checks one table entry against the file and fills `t`. */
static mf_status parse_entry(const uint8_t *e, const uint8_t *bytes, uint64_t data_offset,
                             uint64_t data_end, mf_tensor *t)
{
    if (!is_padded_ascii(e, NAME_BYTES, 1))
        return MF_E_MODEL_CORRUPT;
    uint32_t dtype = read_u32(e + 48), ndim = read_u32(e + 52);
    if (dtype > MF_DTYPE_I32 || ndim < 1 || ndim > 4)
        return MF_E_MODEL_CORRUPT;
    uint64_t count = 1;
    for (uint32_t d = 0; d < 4; d++) {
        uint32_t dim = read_u32(e + 56 + 4 * d);
        if (dim == 0 || (d >= ndim && dim != 1))
            return MF_E_MODEL_CORRUPT;
        if (count > data_end / dim)
            return MF_E_MODEL_CORRUPT;
        count *= dim;
        t->dims[d] = dim;
    }
    uint64_t offset = read_u64(e + 72), nbytes = read_u64(e + 80);
    if (nbytes != 4 * count || offset % ALIGN != 0 || offset > data_end - data_offset ||
        nbytes > data_end - data_offset - offset)
        return MF_E_MODEL_CORRUPT;
    t->name = (const char *)e;
    t->dtype = (mf_dtype)dtype;
    t->ndim = (int32_t)ndim;
    t->count = (int64_t)count;
    t->data = bytes + data_offset + offset;
    return MF_OK;
}

/* Validates `bytes` (size bytes, 64-byte aligned) and builds the table. */
static mf_status parse(mf_model *m, uint64_t size)
{
    const uint8_t *b = m->bytes;
    if (memcmp(b, MAGIC, size < sizeof MAGIC ? size : sizeof MAGIC) != 0)
        return MF_E_MODEL_MAGIC;
    if (size < HEADER_BYTES + FOOTER_BYTES)
        return MF_E_MODEL_TRUNCATED;
    if (read_u32(b + 8) != FORMAT_VERSION)
        return MF_E_MODEL_VERSION;
    uint64_t file_size = read_u64(b + 32);
    if (file_size > size)
        return MF_E_MODEL_TRUNCATED;
    if (file_size != size)
        return MF_E_MODEL_CORRUPT;
    if (mf_crc32(b, size - FOOTER_BYTES) != read_u32(b + size - FOOTER_BYTES))
        return MF_E_MODEL_CORRUPT;

    uint32_t count = read_u32(b + 12);
    uint64_t data_offset = read_u64(b + 40), data_end = size - FOOTER_BYTES;
    if (count < 1 || count > MF_MODEL_MAX_TENSORS || data_offset % ALIGN != 0 ||
        data_offset < HEADER_BYTES + (uint64_t)count * ENTRY_BYTES || data_offset > data_end ||
        !is_padded_ascii(b + 16, KIND_BYTES, 0))
        return MF_E_MODEL_CORRUPT;
    memcpy(m->kind, b + 16, KIND_BYTES);
    m->kind[KIND_BYTES] = '\0';

    m->tensors = calloc(count, sizeof *m->tensors);
    if (!m->tensors)
        return MF_E_NO_MEMORY;
    for (uint32_t i = 0; i < count; i++) {
        mf_status st = parse_entry(b + HEADER_BYTES + (size_t)i * ENTRY_BYTES, b, data_offset,
                                   data_end, &m->tensors[i]);
        if (st != MF_OK)
            return st;
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(m->tensors[i].name, m->tensors[j].name) == 0)
                return MF_E_MODEL_CORRUPT;
        m->tensor_count = (int32_t)(i + 1);
    }
    return MF_OK;
}

static uint8_t *alloc_aligned(uint64_t size)
{
    size_t rounded = (size_t)((size + ALIGN - 1) / ALIGN * ALIGN);
    return aligned_alloc(ALIGN, rounded ? rounded : ALIGN);
}

mf_model *mf_model_from_memory(const void *data, size_t size, const mf_limits *limits,
                               mf_status *status)
{
    mf_status st = MF_OK;
    mf_model *m = NULL;
    if (!data || !limits) {
        st = MF_E_INVALID_ARGUMENT;
        goto done;
    }
    if ((int64_t)size > limits->max_model_bytes) {
        st = MF_E_TOO_LARGE;
        goto done;
    }
    m = calloc(1, sizeof *m);
    if (!m || !(m->bytes = alloc_aligned(size))) {
        st = MF_E_NO_MEMORY;
        goto done;
    }
    memcpy(m->bytes, data, size);
    st = parse(m, size);
done:
    if (st != MF_OK) {
        mf_model_free(m);
        m = NULL;
    }
    if (status)
        *status = st;
    return m;
}

mf_model *mf_model_load(const char *path, const mf_limits *limits, mf_status *status)
{
    mf_status st = MF_OK;
    mf_model *m = NULL;
    uint8_t *bytes = NULL;
    FILE *f = NULL;
    long size = 0;
    if (!path || !limits) {
        st = MF_E_INVALID_ARGUMENT;
        goto done;
    }
    struct stat info;
    f = fopen(path, "rb");
    /* a directory opens on some systems; only a regular file is a model */
    if (!f || fstat(fileno(f), &info) != 0 || !S_ISREG(info.st_mode) ||
        fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        st = MF_E_IO;
        goto done;
    }
    if (size > limits->max_model_bytes) {
        st = MF_E_TOO_LARGE;
        goto done;
    }
    bytes = malloc(size ? (size_t)size : 1);
    if (!bytes) {
        st = MF_E_NO_MEMORY;
        goto done;
    }
    if (fread(bytes, 1, (size_t)size, f) != (size_t)size) {
        st = MF_E_IO;
        goto done;
    }
    m = mf_model_from_memory(bytes, (size_t)size, limits, &st);
done:
    if (f)
        fclose(f);
    free(bytes);
    if (status)
        *status = st;
    return m;
}

void mf_model_free(mf_model *model)
{
    if (!model)
        return;
    free(model->tensors);
    free(model->bytes);
    free(model);
}

const char *mf_model_kind(const mf_model *model) { return model ? model->kind : ""; }

int32_t mf_model_tensor_count(const mf_model *model) { return model ? model->tensor_count : 0; }

mf_status mf_model_tensor_at(const mf_model *model, int32_t index, mf_tensor *out)
{
    if (!model || !out)
        return MF_E_INVALID_ARGUMENT;
    if (index < 0 || index >= model->tensor_count)
        return MF_E_MODEL_MISSING;
    *out = model->tensors[index];
    return MF_OK;
}

mf_status mf_model_tensor(const mf_model *model, const char *name, mf_tensor *out)
{
    if (!model || !name || !out)
        return MF_E_INVALID_ARGUMENT;
    for (int32_t i = 0; i < model->tensor_count; i++)
        if (strcmp(model->tensors[i].name, name) == 0) {
            *out = model->tensors[i];
            return MF_OK;
        }
    return MF_E_MODEL_MISSING;
}

mf_status mf_model_expect(const mf_model *model, const char *name, mf_dtype dtype,
                          int64_t count, mf_tensor *out)
{
    mf_status st = mf_model_tensor(model, name, out);
    if (st != MF_OK)
        return st;
    if (out->dtype != dtype || (count >= 0 && out->count != count))
        return MF_E_MODEL_MISSING;
    return MF_OK;
}
