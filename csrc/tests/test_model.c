#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fixtures.h"
#include "harness.h"
#include "base/base.h"

static const float WEIGHTS[2 * 3] = {1.5f, -2.0f, 0.25f, 3.0f, -0.5f, 1e-3f};
static const int32_t SHAPE[3] = {7, -8, 2147483647};
static const float CUBE[2 * 1 * 1 * 2] = {-1.0f, 0.0f, 1.0f, 65504.0f};

static const fx_tensor SAMPLE[] = {
    {"weights", MF_DTYPE_F32, 2, {2, 3}, WEIGHTS},
    {"shape", MF_DTYPE_I32, 1, {3}, SHAPE},
    {"cube", MF_DTYPE_F32, 4, {2, 1, 1, 2}, CUBE},
};
enum { SAMPLE_COUNT = sizeof SAMPLE / sizeof SAMPLE[0] };

static fx_file sample_file(void) { return fx_model_file("test_kind", SAMPLE, SAMPLE_COUNT); }

static int is_aligned(const void *p) { return (uintptr_t)p % 64 == 0; }

static void check_tensor(const mf_model *model, int32_t index, const fx_tensor *want)
{
    mf_tensor by_index, by_name;
    CHECK_STATUS(mf_model_tensor_at(model, index, &by_index), MF_OK);
    CHECK_STATUS(mf_model_tensor(model, want->name, &by_name), MF_OK);
    CHECKF(strcmp(by_index.name, want->name) == 0, "tensor %d is \"%s\", expected \"%s\"",
           (int)index, by_index.name, want->name);
    CHECK(by_name.data == by_index.data);
    CHECK(by_name.dtype == (mf_dtype)want->dtype);
    CHECK(by_name.ndim == (int32_t)want->ndim);
    int64_t count = 1;
    for (int d = 0; d < 4; d++) {
        const int64_t dim = d < (int)want->ndim ? want->dims[d] : 1;
        CHECKF(by_name.dims[d] == dim, "%s dim %d is %lld, expected %lld", want->name, d,
               (long long)by_name.dims[d], (long long)dim);
        count *= dim;
    }
    CHECK(by_name.count == count);
    CHECKF(is_aligned(by_name.data), "%s data is not 64-byte aligned", want->name);
    CHECKF(memcmp(by_name.data, want->values, 4 * (size_t)count) == 0, "%s values differ",
           want->name);
}

static void test_crc32(void)
{
    CHECK(mf_crc32((const uint8_t *)"123456789", 9) == 0xCBF43926u);
    CHECK(mf_crc32((const uint8_t *)"", 0) == 0);
    CHECK(mf_crc32((const uint8_t *)"a", 1) == 0xE8B7BE43u);
}

static void test_load_valid(void)
{
    const mf_limits limits = mf_limits_default();
    fx_file file = sample_file();
    mf_status status = FX_INCONSISTENT;
    mf_model *model = mf_model_from_memory(file.bytes, file.size, &limits, &status);
    fx_file_free(&file); /* the model keeps its own copy */
    CHECK_STATUS(status, MF_OK);
    if (!model)
        return;
    CHECK(strcmp(mf_model_kind(model), "test_kind") == 0);
    CHECK(mf_model_tensor_count(model) == SAMPLE_COUNT);
    for (int32_t i = 0; i < SAMPLE_COUNT; i++)
        check_tensor(model, i, &SAMPLE[i]);

    mf_tensor t;
    CHECK_STATUS(mf_model_tensor_at(model, -1, &t), MF_E_MODEL_MISSING);
    CHECK_STATUS(mf_model_tensor_at(model, SAMPLE_COUNT, &t), MF_E_MODEL_MISSING);
    CHECK_STATUS(mf_model_tensor(model, "absent", &t), MF_E_MODEL_MISSING);
    CHECK_STATUS(mf_model_tensor(model, "", &t), MF_E_MODEL_MISSING);
    CHECK_STATUS(mf_model_tensor(model, "weight", &t), MF_E_MODEL_MISSING);
    CHECK_STATUS(mf_model_tensor(model, NULL, &t), MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_model_tensor(model, "shape", NULL), MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_model_tensor_at(model, 0, NULL), MF_E_INVALID_ARGUMENT);

    CHECK_STATUS(mf_model_expect(model, "weights", MF_DTYPE_F32, 6, &t), MF_OK);
    CHECK_STATUS(mf_model_expect(model, "weights", MF_DTYPE_F32, -1, &t), MF_OK);
    CHECK_STATUS(mf_model_expect(model, "weights", MF_DTYPE_F32, 5, &t), MF_E_MODEL_MISSING);
    CHECK_STATUS(mf_model_expect(model, "weights", MF_DTYPE_I32, -1, &t), MF_E_MODEL_MISSING);
    CHECK_STATUS(mf_model_expect(model, "shape", MF_DTYPE_I32, 3, &t), MF_OK);
    CHECK_STATUS(mf_model_expect(model, "absent", MF_DTYPE_I32, -1, &t), MF_E_MODEL_MISSING);
    mf_model_free(model);

    /* a kind of the full 16 bytes has no NUL in the file */
    file = fx_model_file("0123456789abcdef", SAMPLE, 1);
    model = mf_model_from_memory(file.bytes, file.size, &limits, NULL);
    CHECK(model && strcmp(mf_model_kind(model), "0123456789abcdef") == 0);
    mf_model_free(model);
    fx_file_free(&file);
}

static void test_null_safety(void)
{
    const mf_limits limits = mf_limits_default();
    fx_file file = sample_file();
    mf_status status = MF_OK;
    mf_model_free(NULL);
    mf_detector_free(NULL);
    CHECK(strcmp(mf_model_kind(NULL), "") == 0);
    CHECK(mf_model_tensor_count(NULL) == 0);
    mf_tensor t;
    CHECK_STATUS(mf_model_tensor(NULL, "weights", &t), MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_model_tensor_at(NULL, 0, &t), MF_E_INVALID_ARGUMENT);
    CHECK(mf_model_from_memory(NULL, file.size, &limits, &status) == NULL);
    CHECK_STATUS(status, MF_E_INVALID_ARGUMENT);
    CHECK(mf_model_from_memory(file.bytes, file.size, NULL, &status) == NULL);
    CHECK_STATUS(status, MF_E_INVALID_ARGUMENT);
    CHECK(mf_model_load(NULL, &limits, &status) == NULL);
    CHECK_STATUS(status, MF_E_INVALID_ARGUMENT);
    CHECK(mf_model_load("test_model.mfm", NULL, &status) == NULL);
    CHECK_STATUS(status, MF_E_INVALID_ARGUMENT);
    mf_detector *detector = mf_detector_new(NULL, &limits, &status);
    CHECK(detector == NULL);
    CHECK_STATUS(status, MF_E_INVALID_ARGUMENT);
    fx_file_free(&file);
}

/* The status of loading the sample after one edit of a u32 or u64 field,
 * with the checksum made to match. */
static mf_status sample_with_u32(size_t at, uint32_t value)
{
    fx_file file = sample_file();
    fx_put_u32(&file, at, value);
    fx_reseal(&file);
    mf_status status = fx_load_status(file.bytes, file.size);
    fx_file_free(&file);
    return status;
}

static mf_status sample_with_u64(size_t at, uint64_t value)
{
    fx_file file = sample_file();
    fx_put_u64(&file, at, value);
    fx_reseal(&file);
    mf_status status = fx_load_status(file.bytes, file.size);
    fx_file_free(&file);
    return status;
}

static void test_header_failures(void)
{
    const uint8_t magic_only[] = {'M', 'O', 'J', 'O', 'F', 'E', 'R', 0, 1, 0, 0, 0};
    const uint8_t not_a_model[] = "PK\3\4 this is a zip file, not a model";
    CHECK_STATUS(fx_load_status(magic_only, 0), MF_E_MODEL_TRUNCATED);
    CHECK_STATUS(fx_load_status(magic_only, sizeof magic_only), MF_E_MODEL_TRUNCATED);
    CHECK_STATUS(fx_load_status(not_a_model, sizeof not_a_model), MF_E_MODEL_MAGIC);
    CHECK_STATUS(fx_load_status(not_a_model, 10), MF_E_MODEL_MAGIC);
    CHECK(fx_load_status(not_a_model, 3) < 0);

    fx_file file = sample_file();
    CHECK_STATUS(fx_load_status(file.bytes, file.size), MF_OK);
    fx_file_free(&file);

    CHECK_STATUS(sample_with_u32(0, 0x4F4A4F6D), MF_E_MODEL_MAGIC); /* "mOJO" */
    CHECK_STATUS(sample_with_u32(4, 0x01524546), MF_E_MODEL_MAGIC); /* "FER\1" */
    CHECK_STATUS(sample_with_u32(FX_VERSION_AT, 2), MF_E_MODEL_VERSION);
    CHECK_STATUS(sample_with_u32(FX_VERSION_AT, 0), MF_E_MODEL_VERSION);
    CHECK_STATUS(sample_with_u32(FX_VERSION_AT, 0x01000000), MF_E_MODEL_VERSION); /* big-endian 1 */

    file = sample_file();
    const uint64_t size = file.size;
    fx_file_free(&file);
    CHECK_STATUS(sample_with_u64(FX_FILE_SIZE_AT, size + 1), MF_E_MODEL_TRUNCATED);
    CHECK_STATUS(sample_with_u64(FX_FILE_SIZE_AT, UINT64_MAX), MF_E_MODEL_TRUNCATED);
    CHECK_STATUS(sample_with_u64(FX_FILE_SIZE_AT, size - 1), MF_E_MODEL_CORRUPT);
    CHECK_STATUS(sample_with_u64(FX_FILE_SIZE_AT, 0), MF_E_MODEL_CORRUPT);

    /* bytes after the footer */
    file = sample_file();
    fx_file longer = {fx_alloc(file.size + 1), file.size + 1};
    memcpy(longer.bytes, file.bytes, file.size);
    CHECK_STATUS(fx_load_status(longer.bytes, longer.size), MF_E_MODEL_CORRUPT);
    fx_file_free(&longer);

    /* checksums that do not match */
    file.bytes[file.size - 1] ^= 0x40;
    CHECK_STATUS(fx_load_status(file.bytes, file.size), MF_E_MODEL_CORRUPT);
    fx_reseal(&file);
    file.bytes[file.size - 8] ^= 0x01; /* in the last tensor's padding */
    CHECK_STATUS(fx_load_status(file.bytes, file.size), MF_E_MODEL_CORRUPT);
    fx_file_free(&file);
}

static void test_table_failures(void)
{
    fx_file file = sample_file();
    const uint64_t data_offset = fx_get_u64(&file, FX_DATA_OFFSET_AT);
    const uint64_t data_end = file.size - 4;
    fx_file_free(&file);

    CHECK_STATUS(sample_with_u32(FX_COUNT_AT, 0), MF_E_MODEL_CORRUPT);
    CHECK_STATUS(sample_with_u32(FX_COUNT_AT, SAMPLE_COUNT + 1), MF_E_MODEL_CORRUPT);
    CHECK_STATUS(sample_with_u32(FX_COUNT_AT, MF_MODEL_MAX_TENSORS + 1), MF_E_MODEL_CORRUPT);
    CHECK_STATUS(sample_with_u32(FX_COUNT_AT, UINT32_MAX), MF_E_MODEL_CORRUPT);

    CHECK_STATUS(sample_with_u64(FX_DATA_OFFSET_AT, data_offset + 4), MF_E_MODEL_CORRUPT);
    CHECK_STATUS(sample_with_u64(FX_DATA_OFFSET_AT, data_offset - 64), MF_E_MODEL_CORRUPT);
    CHECK_STATUS(sample_with_u64(FX_DATA_OFFSET_AT, 0), MF_E_MODEL_CORRUPT);
    CHECK_STATUS(sample_with_u64(FX_DATA_OFFSET_AT, (data_end + 64) / 64 * 64), MF_E_MODEL_CORRUPT);
    CHECK_STATUS(sample_with_u64(FX_DATA_OFFSET_AT, UINT64_MAX - 63), MF_E_MODEL_CORRUPT);

    const size_t last = fx_entry_at(SAMPLE_COUNT - 1);
    CHECK_STATUS(sample_with_u32(last, 0), MF_E_MODEL_CORRUPT); /* empty name */
    CHECK_STATUS(sample_with_u32(last + FX_DTYPE_AT, 2), MF_E_MODEL_CORRUPT);
    CHECK_STATUS(sample_with_u32(last + FX_DTYPE_AT, UINT32_MAX), MF_E_MODEL_CORRUPT);
    CHECK_STATUS(sample_with_u32(last + FX_NDIM_AT, 0), MF_E_MODEL_CORRUPT);
    CHECK_STATUS(sample_with_u32(last + FX_NDIM_AT, 5), MF_E_MODEL_CORRUPT);
    CHECK_STATUS(sample_with_u32(last + FX_NDIM_AT, 3), MF_E_MODEL_CORRUPT); /* dims[3] is 2 */
    CHECK_STATUS(sample_with_u32(last + FX_DIMS_AT, 0), MF_E_MODEL_CORRUPT);
    /* the element count no longer matches nbytes */
    CHECK_STATUS(sample_with_u32(last + FX_DIMS_AT, 3), MF_E_MODEL_CORRUPT);
    for (int d = 0; d < 4; d++)
        CHECK_STATUS(sample_with_u32(last + FX_DIMS_AT + 4 * (size_t)d, UINT32_MAX),
                     MF_E_MODEL_CORRUPT);
    const size_t first = fx_entry_at(0); /* "weights", 2 dims */
    CHECK_STATUS(sample_with_u32(first + FX_DIMS_AT + 8, 2), MF_E_MODEL_CORRUPT); /* trailing dim */
    CHECK_STATUS(sample_with_u32(first + FX_DIMS_AT + 12, 0), MF_E_MODEL_CORRUPT);
    CHECK_STATUS(sample_with_u64(first + FX_NBYTES_AT, 4 * 6 + 4), MF_E_MODEL_CORRUPT);
    CHECK_STATUS(sample_with_u64(first + FX_NBYTES_AT, 4 * 6 - 4), MF_E_MODEL_CORRUPT);
    CHECK_STATUS(sample_with_u64(first + FX_NBYTES_AT, 0), MF_E_MODEL_CORRUPT);
    CHECK_STATUS(sample_with_u64(first + FX_OFFSET_AT, 4), MF_E_MODEL_CORRUPT);
    CHECK_STATUS(sample_with_u64(first + FX_OFFSET_AT, 32), MF_E_MODEL_CORRUPT);
    CHECK_STATUS(sample_with_u64(first + FX_OFFSET_AT, UINT64_MAX - 63), MF_E_MODEL_CORRUPT);
    CHECK_STATUS(sample_with_u64(first + FX_OFFSET_AT, (data_end - data_offset + 64) / 64 * 64),
                 MF_E_MODEL_CORRUPT);
    /* the last tensor moved one block on would run into the footer */
    file = sample_file();
    const uint64_t last_offset = fx_get_u64(&file, last + FX_OFFSET_AT);
    fx_file_free(&file);
    CHECK_STATUS(sample_with_u64(last + FX_OFFSET_AT, last_offset + 64), MF_E_MODEL_CORRUPT);

    /* a name filling all 48 bytes, with no NUL */
    file = sample_file();
    memset(file.bytes + fx_entry_at(1), 'n', 48);
    fx_reseal(&file);
    CHECK_STATUS(fx_load_status(file.bytes, file.size), MF_E_MODEL_CORRUPT);
    fx_file_free(&file);

    const fx_tensor twins[] = {SAMPLE[0], SAMPLE[1], SAMPLE[0]};
    file = fx_model_file("test_kind", twins, 3);
    CHECK_STATUS(fx_load_status(file.bytes, file.size), MF_E_MODEL_CORRUPT);
    fx_file_free(&file);
}

/* Every prefix fails, and never reads past its end (the copies are exact,
 * for the address sanitizer). */
static void test_truncation(void)
{
    fx_file file = sample_file();
    size_t wrong = 0, first_wrong = 0;
    for (size_t length = 0; length < file.size; length++) {
        fx_file prefix = fx_copy(file.bytes, length);
        const mf_status status = fx_load_status(prefix.bytes, length);
        fx_file_free(&prefix);
        const int ok = length >= 8 ? status == MF_E_MODEL_TRUNCATED : status < 0;
        if (!ok && wrong++ == 0)
            first_wrong = length;
    }
    CHECKF(wrong == 0, "%zu of %zu prefixes load wrongly, the first of %zu bytes", wrong,
           file.size, first_wrong);
    fx_file_free(&file);
}

/* A byte changed anywhere is caught by the checksum if not before. */
static void test_flipped_bytes(void)
{
    const uint8_t masks[] = {0x01, 0x80, 0xFF};
    fx_file file = sample_file();
    for (size_t m = 0; m < sizeof masks; m++) {
        size_t wrong = 0, first_wrong = 0;
        for (size_t at = 0; at < file.size; at++) {
            file.bytes[at] ^= masks[m];
            const mf_status status = fx_load_status(file.bytes, file.size);
            file.bytes[at] ^= masks[m];
            if (status >= 0 && wrong++ == 0)
                first_wrong = at;
        }
        CHECKF(wrong == 0, "mask 0x%02x: %zu positions still load, the first %zu", masks[m],
               wrong, first_wrong);
    }
    CHECK_STATUS(fx_load_status(file.bytes, file.size), MF_OK);
    fx_file_free(&file);
}

static void test_size_limit(void)
{
    fx_file file = sample_file();
    mf_limits limits = mf_limits_default();
    mf_status status = MF_OK;
    limits.max_model_bytes = (int64_t)file.size - 1;
    CHECK(mf_model_from_memory(file.bytes, file.size, &limits, &status) == NULL);
    CHECK_STATUS(status, MF_E_TOO_LARGE);
    limits.max_model_bytes = (int64_t)file.size;
    mf_model *model = mf_model_from_memory(file.bytes, file.size, &limits, &status);
    CHECK_STATUS(status, MF_OK);
    mf_model_free(model);
    fx_file_free(&file);
}

static int write_file(const char *path, const uint8_t *bytes, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    const int written = fwrite(bytes, 1, size, f) == size;
    return fclose(f) == 0 && written;
}

static void test_load_file(void)
{
    static const char path[] = "test_model.mfm";
    fx_file file = sample_file();
    mf_limits limits = mf_limits_default();
    mf_status status = MF_OK;

    CHECK(write_file(path, file.bytes, file.size));
    mf_model *model = mf_model_load(path, &limits, &status);
    CHECK_STATUS(status, MF_OK);
    if (model) {
        CHECK(strcmp(mf_model_kind(model), "test_kind") == 0);
        check_tensor(model, 1, &SAMPLE[1]);
    }
    mf_model_free(model);

    limits.max_model_bytes = (int64_t)file.size - 1;
    CHECK(mf_model_load(path, &limits, &status) == NULL);
    CHECK_STATUS(status, MF_E_TOO_LARGE);
    limits = mf_limits_default();

    CHECK(write_file(path, file.bytes, file.size / 2));
    CHECK(mf_model_load(path, &limits, &status) == NULL);
    CHECK_STATUS(status, MF_E_MODEL_TRUNCATED);

    CHECK(write_file(path, file.bytes, 0));
    CHECK(mf_model_load(path, &limits, &status) == NULL);
    CHECK_STATUS(status, MF_E_MODEL_TRUNCATED);

    CHECK(remove(path) == 0);
    CHECK(mf_model_load(path, &limits, &status) == NULL);
    CHECK_STATUS(status, MF_E_IO);
    CHECK(mf_model_load("no/such/dir/model.mfm", &limits, &status) == NULL);
    CHECK_STATUS(status, MF_E_IO);
    fx_file_free(&file);
}

void test_model(void)
{
    test_crc32();
    test_load_valid();
    test_null_safety();
    test_header_failures();
    test_table_failures();
    test_truncation();
    test_flipped_bytes();
    test_size_limit();
    test_load_file();
}
