#include <string.h>

#include "harness.h"

static const mf_status ALL_STATUSES[] = {
    MF_OK, MF_E_INVALID_ARGUMENT, MF_E_NO_MEMORY, MF_E_IMAGE_TOO_LARGE,
    MF_E_IO, MF_E_MODEL_MAGIC, MF_E_MODEL_VERSION, MF_E_MODEL_TRUNCATED,
    MF_E_MODEL_CORRUPT, MF_E_MODEL_MISSING, MF_E_MODEL_KIND, MF_E_TOO_LARGE,
    MF_E_NETWORK, MF_E_MODEL_NAMES,
};
enum { STATUS_COUNT = sizeof ALL_STATUSES / sizeof ALL_STATUSES[0] };

static void test_status_names(void)
{
    const char *unknown = mf_status_str((mf_status)1);
    for (size_t i = 0; i < STATUS_COUNT; i++) {
        const mf_status s = ALL_STATUSES[i];
        const char *name = mf_status_str(s);
        CHECKF(name && name[0] != '\0', "status %d has no name", (int)s);
        if (!name)
            continue;
        CHECKF(i == 0 ? s == MF_OK : s < 0, "status %d (%s) has the wrong sign", (int)s, name);
        CHECKF(strcmp(name, unknown) != 0, "status %d is named as unknown", (int)s);
        size_t same = 0;
        for (size_t j = 0; j < i; j++)
            same += strcmp(name, mf_status_str(ALL_STATUSES[j])) == 0;
        CHECKF(same == 0, "status %d shares its name \"%s\"", (int)s, name);
    }
    CHECK(strcmp(mf_status_str(MF_OK), "ok") == 0);
    const mf_status unknowns[] = {(mf_status)1, (mf_status)-14, (mf_status)-1000, (mf_status)12345};
    for (size_t i = 0; i < sizeof unknowns / sizeof unknowns[0]; i++) {
        const char *name = mf_status_str(unknowns[i]);
        CHECKF(name && strstr(name, "unknown"), "status %d is not named unknown", (int)unknowns[i]);
    }
}

static void test_limits_default(void)
{
    const mf_limits limits = mf_limits_default();
    CHECK(limits.max_image_pixels == 100 * 1000 * 1000);
    CHECK(limits.max_image_side == 32768);
    CHECK(limits.max_model_bytes == 256 * 1024 * 1024);
    CHECK(limits.max_faces == 256);
}

static void test_library_versions(void)
{
    const mf_versions v = mf_library_versions();
    CHECK(v.mojofer && strcmp(v.mojofer, MF_VERSION_STRING) == 0);
    CHECK(v.openblas && v.openblas[0] != '\0');
    CHECK(v.libwebsockets && v.libwebsockets[0] != '\0');
    CHECK(v.msgpack && v.msgpack[0] != '\0');
}

void test_status(void)
{
    test_status_names();
    test_limits_default();
    test_library_versions();
}
