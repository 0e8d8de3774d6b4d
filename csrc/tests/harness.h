/* A tiny test harness: every CHECK counts as passed or failed, a failure
 * prints its file:line, and run_tests.c prints the totals last. */
#ifndef MF_TEST_HARNESS_H
#define MF_TEST_HARNESS_H

#include "mojofer.h"

#if defined(__GNUC__)
#define MF_PRINTF_LIKE(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define MF_PRINTF_LIKE(fmt, args)
#endif

void check_at(int ok, const char *file, int line, const char *fmt, ...) MF_PRINTF_LIKE(4, 5);
void check_status_at(mf_status got, mf_status want, const char *expr, const char *file, int line);

#define CHECK(cond) check_at(!!(cond), __FILE__, __LINE__, "%s", #cond)
/* CHECK with a printf-style message for the failure. */
#define CHECKF(cond, ...) check_at(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
/* Names both statuses on failure. */
#define CHECK_STATUS(expr, want) check_status_at((expr), (want), #expr, __FILE__, __LINE__)

/* The suites, one file each. */
void test_status(void);
void test_image(void);
void test_model(void);
void test_detect(void);
void test_landmarks(void);
void test_pose(void);
void test_expressions(void);
void test_cues(void);
void test_estimator(void);
void test_wire(void);
void test_ws_server(void);

#endif
