#include <string.h>

#include "fixtures.h"
#include "harness.h"
#include "base/base.h"

static void test_image_check(void)
{
    static const uint8_t pixels[4 * 4 * 4];
    const mf_limits defaults = mf_limits_default();
    mf_image image = fx_view(pixels, 4, 4, MF_GRAY);
    CHECK_STATUS(mf_image_check(&image, &defaults), MF_OK);
    CHECK_STATUS(mf_image_check(NULL, &defaults), MF_E_INVALID_ARGUMENT);
    CHECK_STATUS(mf_image_check(&image, NULL), MF_E_INVALID_ARGUMENT);

    image.data = NULL;
    CHECK_STATUS(mf_image_check(&image, &defaults), MF_E_INVALID_ARGUMENT);

    const int32_t bad_sides[][2] = {{0, 4}, {4, 0}, {-1, 4}, {4, -1}, {0, 0}};
    for (size_t i = 0; i < sizeof bad_sides / sizeof bad_sides[0]; i++) {
        image = fx_view(pixels, bad_sides[i][0], bad_sides[i][1], MF_GRAY);
        CHECK_STATUS(mf_image_check(&image, &defaults), MF_E_INVALID_ARGUMENT);
    }

    const struct {
        mf_channel_order order;
        int32_t channels;
        mf_status want;
    } channel_cases[] = {
        {MF_GRAY, 1, MF_OK},  {MF_GRAY, 3, MF_E_INVALID_ARGUMENT},
        {MF_RGB, 3, MF_OK},   {MF_RGB, 1, MF_E_INVALID_ARGUMENT},
        {MF_BGR, 3, MF_OK},   {MF_BGR, 4, MF_E_INVALID_ARGUMENT},
        {MF_RGBA, 4, MF_OK},  {MF_RGBA, 3, MF_E_INVALID_ARGUMENT},
        {MF_BGRA, 4, MF_OK},  {MF_BGRA, 1, MF_E_INVALID_ARGUMENT},
        {(mf_channel_order)0, 1, MF_E_INVALID_ARGUMENT},
        {(mf_channel_order)6, 3, MF_E_INVALID_ARGUMENT},
    };
    for (size_t i = 0; i < sizeof channel_cases / sizeof channel_cases[0]; i++) {
        image = fx_view(pixels, 4, 4, MF_GRAY);
        image.order = channel_cases[i].order;
        image.channels = channel_cases[i].channels;
        CHECK_STATUS(mf_image_check(&image, &defaults), channel_cases[i].want);
    }

    mf_limits small = defaults;
    small.max_image_pixels = 12;
    small.max_image_side = 4;
    image = fx_view(pixels, 4, 3, MF_GRAY);
    CHECK_STATUS(mf_image_check(&image, &small), MF_OK);
    image = fx_view(pixels, 4, 4, MF_GRAY);
    CHECK_STATUS(mf_image_check(&image, &small), MF_E_IMAGE_TOO_LARGE);
    image = fx_view(pixels, 5, 1, MF_GRAY);
    CHECK_STATUS(mf_image_check(&image, &small), MF_E_IMAGE_TOO_LARGE);
    image = fx_view(pixels, 1, 5, MF_GRAY);
    CHECK_STATUS(mf_image_check(&image, &small), MF_E_IMAGE_TOO_LARGE);

    /* the check reads no pixels, so huge views of a small buffer are fine */
    image = fx_view(pixels, 32768, 3051, MF_GRAY);
    CHECK_STATUS(mf_image_check(&image, &defaults), MF_OK);
    image = fx_view(pixels, 32768, 3052, MF_GRAY);
    CHECK_STATUS(mf_image_check(&image, &defaults), MF_E_IMAGE_TOO_LARGE);
    image = fx_view(pixels, 32769, 1, MF_GRAY);
    CHECK_STATUS(mf_image_check(&image, &defaults), MF_E_IMAGE_TOO_LARGE);

    /* a view flipped both ways and channel-reversed: data is the last pixel's last channel */
    image = fx_view(pixels, 4, 4, MF_RGB);
    image.data = pixels + 4 * 4 * 3 - 1;
    image.row_stride = -12;
    image.pixel_stride = -3;
    image.channel_stride = -1;
    CHECK_STATUS(mf_image_check(&image, &defaults), MF_OK);
}

/* One pixel of each order converted to gray, against OpenCV's cvtColor values. */
static void test_image_to_gray_weights(void)
{
    const uint8_t red_rgb[] = {255, 0, 0}, green_rgb[] = {0, 255, 0}, blue_rgb[] = {0, 0, 255};
    const uint8_t red_bgra[] = {0, 0, 255, 7}, mixed_rgba[] = {10, 200, 90, 255};
    const struct {
        const uint8_t *pixel;
        mf_channel_order order;
        uint8_t want;
    } cases[] = {
        {red_rgb, MF_RGB, 76},   {green_rgb, MF_RGB, 150}, {blue_rgb, MF_RGB, 29},
        {red_rgb, MF_BGR, 29},   {blue_rgb, MF_BGR, 76},   {red_bgra, MF_BGRA, 76},
        {red_bgra, MF_RGBA, 29}, {mixed_rgba, MF_RGBA, 131},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const mf_image image = fx_view(cases[i].pixel, 1, 1, cases[i].order);
        uint8_t gray = 0;
        mf_image_to_gray(&image, &gray);
        CHECKF(gray == cases[i].want, "case %zu: gray %d, expected %d", i, gray, cases[i].want);
    }
    uint8_t gray_of_gray[256];
    for (int v = 0; v < 256; v++) {
        const uint8_t rgb[3] = {(uint8_t)v, (uint8_t)v, (uint8_t)v};
        const mf_image image = fx_view(rgb, 1, 1, MF_RGB);
        mf_image_to_gray(&image, &gray_of_gray[v]);
    }
    size_t changed = 0;
    for (int v = 0; v < 256; v++)
        changed += gray_of_gray[v] != v;
    CHECKF(changed == 0, "%zu gray levels change when converted from RGB", changed);
}

static void test_image_to_gray_strides(void)
{
    const uint8_t pixels[2 * 3] = {1, 2, 3, 4, 5, 6}; /* 3 wide, 2 high */
    mf_image image = fx_view(pixels, 3, 2, MF_GRAY);
    image.data = pixels + 5;
    image.row_stride = -3;
    image.pixel_stride = -1;
    uint8_t gray[6];
    mf_image_to_gray(&image, gray);
    const uint8_t rotated[6] = {6, 5, 4, 3, 2, 1};
    CHECK(memcmp(gray, rotated, sizeof gray) == 0);

    /* every second column of a gray buffer */
    image = fx_view(pixels, 2, 2, MF_GRAY);
    image.row_stride = 3;
    image.pixel_stride = 2;
    mf_image_to_gray(&image, gray);
    const uint8_t sampled[4] = {1, 3, 4, 6};
    CHECK(memcmp(gray, sampled, sizeof sampled) == 0);

    /* an RGB buffer viewed as BGR by reversing the channel stride */
    const uint8_t red_green[] = {255, 0, 0, 0, 255, 0};
    image = fx_view(red_green, 2, 1, MF_BGR);
    image.data = red_green + 2;
    image.channel_stride = -1;
    mf_image_to_gray(&image, gray);
    CHECK(gray[0] == 76 && gray[1] == 150);
}

static void test_gray_resize(void)
{
    int32_t scratch[3 * 8];
    const uint8_t ramp[4] = {0, 100, 200, 255};
    uint8_t half[2];
    mf_gray_resize(ramp, 4, 1, half, 2, 1, scratch);
    CHECKF(half[0] == 50 && half[1] == 228, "halved ramp is %d %d", half[0], half[1]);

    uint8_t same[4];
    mf_gray_resize(ramp, 2, 2, same, 2, 2, scratch);
    CHECK(memcmp(same, ramp, sizeof same) == 0);

    uint8_t flat[6 * 5], small[4 * 3];
    memset(flat, 77, sizeof flat);
    mf_gray_resize(flat, 6, 5, small, 4, 3, scratch);
    size_t off = 0;
    for (size_t i = 0; i < sizeof small; i++)
        off += small[i] != 77;
    CHECK(off == 0);

    /* a 2x2 block average when halving both ways */
    const uint8_t blocks[4 * 2] = {10, 30, 200, 100, 50, 70, 0, 100};
    uint8_t quarter[2];
    mf_gray_resize(blocks, 4, 2, quarter, 2, 1, scratch);
    CHECKF(quarter[0] == 40 && quarter[1] == 100, "halved blocks are %d %d", quarter[0],
           quarter[1]);
}

void test_image(void)
{
    test_image_check();
    test_image_to_gray_weights();
    test_image_to_gray_strides();
    test_gray_resize();
}
