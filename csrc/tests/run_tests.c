#include <stdarg.h>
#include <stdio.h>

#include "harness.h"

static int passed, failed;

void check_at(int ok, const char *file, int line, const char *fmt, ...)
{
    if (ok) {
        passed++;
        return;
    }
    failed++;
    va_list args;
    va_start(args, fmt);
    printf("%s:%d: check failed: ", file, line);
    vprintf(fmt, args);
    putchar('\n');
    va_end(args);
}

void check_status_at(mf_status got, mf_status want, const char *expr, const char *file, int line)
{
    check_at(got == want, file, line, "%s is %d (%s), expected %d (%s)", expr, (int)got,
             mf_status_str(got), (int)want, mf_status_str(want));
}

int main(void)
{
    test_status();
    test_image();
    test_model();
    test_detect();
    test_landmarks();
    test_pose();
    test_expressions();
    test_cues();
    test_estimator();
    test_wire();
    test_ws_server();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
