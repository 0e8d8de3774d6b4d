/* The one set of input bounds (mf_limits in mojofer.h), each default safe
 * for a notebook or a server alike. */
#include "base.h"

mf_limits mf_limits_default(void)
{
    mf_limits limits;
    limits.max_image_pixels = 100 * 1000 * 1000;
    limits.max_image_side = 32768;
    limits.max_model_bytes = 256 * 1024 * 1024;
    limits.max_faces = 256;
    return limits;
}
