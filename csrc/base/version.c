/* Versions of the system libraries the core is built on: proof that each is
 * linked for real, and what a bug report should name. */
#include <cblas.h>
#include <libwebsockets.h>
#include <msgpack.h>

#include "base.h"

mf_versions mf_library_versions(void)
{
    mf_versions v;
    v.mojofer = MF_VERSION_STRING;
    v.openblas = openblas_get_config();
    v.libwebsockets = lws_get_library_version();
    v.msgpack = msgpack_version();
    return v;
}
