#include "base.h"

const char *mf_status_str(mf_status status)
{
    switch (status) {
    case MF_OK: return "ok";
    case MF_E_INVALID_ARGUMENT: return "invalid argument";
    case MF_E_NO_MEMORY: return "out of memory";
    case MF_E_IMAGE_TOO_LARGE: return "image larger than the configured limit";
    case MF_E_IO: return "file could not be read";
    case MF_E_MODEL_MAGIC: return "not a mojofer model file (bad magic)";
    case MF_E_MODEL_VERSION: return "unsupported model file version";
    case MF_E_MODEL_TRUNCATED: return "model file is truncated";
    case MF_E_MODEL_CORRUPT: return "model file is corrupted";
    case MF_E_MODEL_MISSING: return "model lacks a required tensor or has one of the wrong shape";
    case MF_E_MODEL_KIND: return "model is of the wrong kind for this use";
    case MF_E_TOO_LARGE: return "input larger than the configured limit";
    case MF_E_NETWORK: return "network error: a socket could not be bound, or TLS set up";
    case MF_E_MODEL_NAMES: return "model's class or unit names differ from the core's (a model for other classes)";
    }
    return "unknown status";
}
