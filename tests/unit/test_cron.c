/*
 * test_cron.c - the inject node's cron schedules (nodes/common/cron.h):
 * which expressions cronosjs (Node-RED 4.1's scheduler) accepts or refuses
 * and why, and the next fire time across minute, hour, day, month and year
 * boundaries, leap years, L/W/#, names, wrapping ranges, the year field,
 * day-of-month OR day-of-week, and daylight saving changes. The expected
 * times were computed with cronosjs 1.7.1 (CronosExpression.nextDate).
 * Also the inject node's entry point for the editor's button
 * (inject__trigger, nodes/common/inject.h), which flow tests cannot reach.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/CUnit.h>

#include <edgeflow/err.h>

#include <unistd.h>

#include "../../nodes/common/lib/cron.h"
#include "../../nodes/common/inject.h"
#include "engine.h"
#include "runtime.h"
#include "settings.h"

void tzset(void);

static char saved_tz[256];
static bool had_tz;

static void use_tz(const char *tz)
{
    setenv("TZ", tz, 1);
    tzset();
}

static int suite_init(void)
{
    const char *tz = getenv("TZ");
    had_tz = tz != NULL;
    snprintf(saved_tz, sizeof(saved_tz), "%s", tz ? tz : "");
    return 0;
}

static int suite_clean(void)
{
    if (had_tz) {
        setenv("TZ", saved_tz, 1);
    } else {
        unsetenv("TZ");
    }
    tzset();
    return 0;
}

static long long days_from_civil(long long y, int m, int d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "2024-01-01T00:00:00.000Z" as ms since the epoch. */
static double iso_ms(const char *iso)
{
    int y, mo, d, h, mi, s, ms;
    if (sscanf(iso, "%d-%d-%dT%d:%d:%d.%dZ", &y, &mo, &d, &h, &mi, &s, &ms) != 7) {
        CU_FAIL_FATAL("bad ISO time in test table");
    }
    return (double)(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) * 1000 + ms;
}

static void ms_iso(double ms, char *out, size_t len)
{
    if (ms < 0) {
        snprintf(out, len, "(none)");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}

struct next_case {
    const char *expr, *from, *want; /* want NULL: no next date */
};

static void run_next_cases(const struct next_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct cron_expr c;
        char err[256];
        int rc = cron__parse(cases[i].expr, &c, err, sizeof(err));
        if (rc != 0) {
            fprintf(stderr, "\n  '%s' refused: %s\n", cases[i].expr, err);
        }
        CU_ASSERT_EQUAL(rc, 0);
        if (rc != 0) {
            continue;
        }
        double got = cron__next(&c, iso_ms(cases[i].from));
        double want = cases[i].want ? iso_ms(cases[i].want) : -1;
        if (got != want) {
            char g[64];
            ms_iso(got, g, sizeof(g));
            fprintf(stderr, "\n  '%s' after %s: got %s, want %s\n", cases[i].expr, cases[i].from, g,
                    cases[i].want ? cases[i].want : "(none)");
        }
        CU_ASSERT_EQUAL(got, want);
    }
}

static void test_parse_valid_invalid(void)
{
    static const struct {
        const char *expr, *error; /* error NULL: accepted */
    } cases[] = {
        {"", "Expression must have at least 5 fields, and no more than 7 fields"},
        {"   ", "Expression must have at least 5 fields, and no more than 7 fields"},
        {"* * * *", "Expression must have at least 5 fields, and no more than 7 fields"},
        {"* * * * * * * *", "Expression must have at least 5 fields, and no more than 7 fields"},
        {"60 * * * *", "Field item out of valid value range"},
        {"* 24 * * *", "Field item out of valid value range"},
        {"* * 0 * *", "Field item out of valid value range"},
        {"* * 32 * *", "Field item out of valid value range"},
        {"* * * 13 *", "Field item out of valid value range"},
        {"* * * 0 *", "Field item out of valid value range"},
        {"* * * * 8", "Field item out of valid value range"},
        {"*/0 * * * *", "Field item invalid format"},
        {"a * * * *", "Field item invalid format"},
        {"1-2-3 * * * *", "Field item invalid format"},
        {"* * 20-5 * *", "Field item range invalid, either value out of valid range or start "
                         "greater than end in non wraparound field"},
        {"* * * * 1#6", "Field item nth of month (#) invalid"},
        {"* * * * 1#0", "Field item nth of month (#) invalid"},
        {"* * * * 1#", "Field item nth of month (#) invalid"},
        {"1,,2 * * * *", "Field item invalid format"},
        {"1, * * * *", "Field item invalid format"},
        {"0 0 0 1 1 * 1999-1990", "Field item range invalid, either value out of valid range or "
                                  "start greater than end in non wraparound field"},
        {"* * * * l", "Field item invalid format"},
        {"* * w * *", "Field item invalid format"},
        {"* * * * mon-fry", "Field item invalid format"},
        {"* * * jann *", "Field item invalid format"},
        {"*/5 * * * *", NULL},
        {"00 12 * * 1,2", NULL},
        {"*/1 8-17 * * *", NULL},
        {"0-59/2 8-9 * * 1-5", NULL},
        {"0 22-2 * * *", NULL},
        {"* * * * 5-1", NULL},
        {"* * * * 7", NULL},
        {"* * * * 7-7", NULL},
        {"@yearly", NULL},
        {"@every", "Expression must have at least 5 fields, and no more than 7 fields"},
        {"* * * * * *", NULL},
        {"0 0 0 1 1 * 2030", NULL},
        {"*/5 * * * MON-FRI", NULL},
        {"0 0 1 JAN *", NULL},
        {"0 0 L * *", NULL},
        {"0 0 LW * *", NULL},
        {"0 0 15W * *", NULL},
        {"0 0 * * 5L", NULL},
        {"0 0 * * 1#5", NULL},
        {"1/0 * * * *", "Field item invalid format"},
        {"5-/2 * * * *", "Field item invalid format"},
        {"-5 * * * *", "Field item invalid format"},
        {"* * * * * * 275760", "Field item out of valid value range"},
        {"* * * * * * 275759", NULL},
        {"0 0 ? * ?", NULL},
        {"*/99 * * * *", NULL},
        {"2/ * * * *", "Field item invalid format"},
        {"0 0 * * * 0", NULL},
        {"0 0 L-2 * *", "Field item invalid format"},
        {"0 0 1 1 * 2030 x", "Field item out of valid value range"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cron_expr c;
        char err[256] = "";
        int rc = cron__parse(cases[i].expr, &c, err, sizeof(err));
        if (!cases[i].error) {
            if (rc != 0) {
                fprintf(stderr, "\n  '%s' refused: %s\n", cases[i].expr, err);
            }
            CU_ASSERT_EQUAL(rc, 0);
        } else {
            if (rc != EF_EINVAL || strcmp(err, cases[i].error) != 0) {
                fprintf(stderr, "\n  '%s': rc %d, error '%s', want '%s'\n", cases[i].expr, rc, err,
                        cases[i].error);
            }
            CU_ASSERT_EQUAL(rc, EF_EINVAL);
            CU_ASSERT_STRING_EQUAL(err, cases[i].error);
        }
    }
}

static void test_parse_fields(void)
{
    struct cron_expr c;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(cron__parse("*/15 8-9 * * 1-5", &c, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(c.seconds, 1u); /* five fields: second 0 */
    CU_ASSERT_EQUAL(c.minutes, (1ull << 0) | (1ull << 15) | (1ull << 30) | (1ull << 45));
    CU_ASSERT_EQUAL(c.hours, (1u << 8) | (1u << 9));
    CU_ASSERT_EQUAL(c.days, 0u); /* "*" gives way to the weekdays */
    CU_ASSERT_EQUAL(c.weekdays, 0x3e);
    CU_ASSERT_EQUAL(c.months, 0x1ffe);
    CU_ASSERT_EQUAL(c.nyears, 1u);
    CU_ASSERT_TRUE(c.years[0].any);

    CU_ASSERT_EQUAL_FATAL(cron__parse("* * * * *", &c, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(c.days, 0xfffffffeu); /* both "*": every day */
    CU_ASSERT_EQUAL(c.weekdays, 0);
    CU_ASSERT_EQUAL(c.minutes, (1ull << 60) - 1);

    CU_ASSERT_EQUAL_FATAL(cron__parse("30 0 22-2 1,15 JAN-MAR,dec sun,7", &c, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(c.seconds, 1ull << 30);
    CU_ASSERT_EQUAL(c.minutes, 1u);
    CU_ASSERT_EQUAL(c.hours, (1u << 22) | (1u << 23) | 1u | 2u | 4u);
    CU_ASSERT_EQUAL(c.days, (1u << 1) | (1u << 15));
    CU_ASSERT_EQUAL(c.weekdays, 1u);
    CU_ASSERT_EQUAL(c.months, (1u << 1) | (1u << 2) | (1u << 3) | (1u << 12));

    CU_ASSERT_EQUAL_FATAL(cron__parse("0 0 L,LW,10W * 5L,2#3", &c, err, sizeof(err)), 0);
    CU_ASSERT_TRUE(c.last_day);
    CU_ASSERT_TRUE(c.last_weekday);
    CU_ASSERT_EQUAL(c.nearest_weekday, 1u << 10);
    CU_ASSERT_EQUAL(c.last_weekdays, 1u << 5);
    CU_ASSERT_EQUAL(c.nth_weekdays[2], 1u << 3);
    CU_ASSERT_EQUAL(c.days, 0u);

    CU_ASSERT_EQUAL_FATAL(cron__parse("@weekly", &c, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(c.weekdays, 1u);
    CU_ASSERT_EQUAL(c.hours, 1u);
}

static void test_next_utc(void)
{
    static const struct next_case cases[] = {
        {"*/5 * * * *", "2024-01-01T00:00:00.000Z", "2024-01-01T00:05:00.000Z"},
        {"*/5 * * * *", "2024-01-01T00:04:59.999Z", "2024-01-01T00:05:00.000Z"},
        {"*/5 * * * *", "2024-01-01T00:05:00.000Z", "2024-01-01T00:10:00.000Z"},
        {"00 12 * * 1,2", "2024-01-01T12:00:00.000Z", "2024-01-02T12:00:00.000Z"},
        {"00 12 * * 1,2", "2024-01-03T00:00:00.000Z", "2024-01-08T12:00:00.000Z"},
        {"*/1 8-17 * * *", "2024-01-01T17:59:00.000Z", "2024-01-02T08:00:00.000Z"},
        {"*/1 8-17 * * *", "2024-01-01T07:59:59.000Z", "2024-01-01T08:00:00.000Z"},
        {"0-59/2 8-9 * * 1-5", "2024-01-05T09:59:00.000Z", "2024-01-08T08:00:00.000Z"},
        {"0-59/2 8-9 * * 1-5", "2024-01-05T09:57:30.000Z", "2024-01-05T09:58:00.000Z"},
        {"0 0 1 1 *", "2023-12-31T23:59:59.000Z", "2024-01-01T00:00:00.000Z"},
        {"0 0 31 * *", "2024-04-01T00:00:00.000Z", "2024-05-31T00:00:00.000Z"},
        {"0 0 29 2 *", "2023-03-01T00:00:00.000Z", "2024-02-29T00:00:00.000Z"},
        {"0 0 29 2 *", "2024-03-01T00:00:00.000Z", "2028-02-29T00:00:00.000Z"},
        {"0 0 13 * 5", "2024-09-01T00:00:00.000Z", "2024-09-06T00:00:00.000Z"},
        {"0 0 13 * 5", "2024-09-07T00:00:00.000Z", "2024-09-13T00:00:00.000Z"},
        {"0 0 13 * *", "2024-09-01T00:00:00.000Z", "2024-09-13T00:00:00.000Z"},
        {"0 0 * * fri", "2024-09-01T00:00:00.000Z", "2024-09-06T00:00:00.000Z"},
        {"0 0 * * 7", "2024-09-02T00:00:00.000Z", "2024-09-08T00:00:00.000Z"},
        {"0 0 1 jan,jul *", "2024-02-01T00:00:00.000Z", "2024-07-01T00:00:00.000Z"},
        {"0 0 * * mon-fri", "2024-09-06T01:00:00.000Z", "2024-09-09T00:00:00.000Z"},
        {"*/15 * * * * *", "2024-01-01T00:00:14.500Z", "2024-01-01T00:00:15.000Z"},
        {"30 * * * * *", "2024-01-01T00:00:30.000Z", "2024-01-01T00:01:30.000Z"},
        {"0 0 0 1 1 * 2030", "2024-05-05T00:00:00.000Z", "2030-01-01T00:00:00.000Z"},
        {"0 0 0 1 1 * 2020", "2024-05-05T00:00:00.000Z", NULL},
        {"0 0 0 1 1 * 2020-2030/5", "2024-05-05T00:00:00.000Z", "2025-01-01T00:00:00.000Z"},
        {"0 0 0 1 1 * 2025,2023", "2024-05-05T00:00:00.000Z", "2025-01-01T00:00:00.000Z"},
        {"0 0 L * *", "2024-02-10T00:00:00.000Z", "2024-02-29T00:00:00.000Z"},
        {"0 0 LW * *", "2024-03-10T00:00:00.000Z", "2024-03-29T00:00:00.000Z"},
        {"0 0 1W * *", "2024-05-15T00:00:00.000Z", "2024-06-03T00:00:00.000Z"},
        {"0 0 15W * *", "2024-06-01T00:00:00.000Z", "2024-06-14T00:00:00.000Z"},
        {"0 0 31W * *", "2024-04-01T00:00:00.000Z", "2024-04-30T00:00:00.000Z"},
        {"0 0 * * 5L", "2024-05-01T00:00:00.000Z", "2024-05-31T00:00:00.000Z"},
        {"0 0 * * 1#2", "2024-05-01T00:00:00.000Z", "2024-05-13T00:00:00.000Z"},
        {"0 0 * * 5#5", "2024-06-01T00:00:00.000Z", "2024-08-30T00:00:00.000Z"},
        {"0 0 * * sun#1", "2024-09-02T00:00:00.000Z", "2024-10-06T00:00:00.000Z"},
        {"@hourly", "2024-01-01T10:30:00.000Z", "2024-01-01T11:00:00.000Z"},
        {"@daily", "2024-01-01T10:30:00.000Z", "2024-01-02T00:00:00.000Z"},
        {"@weekly", "2024-01-01T10:30:00.000Z", "2024-01-07T00:00:00.000Z"},
        {"@monthly", "2024-01-31T10:30:00.000Z", "2024-02-01T00:00:00.000Z"},
        {"@yearly", "2024-01-01T10:30:00.000Z", "2025-01-01T00:00:00.000Z"},
        {"@annually", "2024-01-01T10:30:00.000Z", "2025-01-01T00:00:00.000Z"},
        {"@midnight", "2024-01-01T10:30:00.000Z", "2024-01-02T00:00:00.000Z"},
        {"0 22-2 * * *", "2024-01-01T02:30:00.000Z", "2024-01-01T22:00:00.000Z"},
        {"0 22-2 * * *", "2024-01-01T23:30:00.000Z", "2024-01-02T00:00:00.000Z"},
        {"*/7 * * * *", "2024-01-01T10:56:00.000Z", "2024-01-01T11:00:00.000Z"},
        {"5/20 * * * *", "2024-01-01T10:46:00.000Z", "2024-01-01T11:05:00.000Z"},
        {"* * * * *", "2024-01-01T00:00:00.000Z", "2024-01-01T00:01:00.000Z"},
        {"0 0 ? * 1", "2024-09-03T00:00:00.000Z", "2024-09-09T00:00:00.000Z"},
        {"0 0 1,* * 3", "2024-09-03T00:00:00.000Z", "2024-09-04T00:00:00.000Z"},
        {"0 0 * * 5-1", "2024-09-03T00:00:00.000Z", "2024-09-06T00:00:00.000Z"},
        {"0 0 */10 * *", "2024-02-25T00:00:00.000Z", "2024-03-01T00:00:00.000Z"},
        {"0 0 1 */5 *", "2024-07-25T00:00:00.000Z", "2024-11-01T00:00:00.000Z"},
        {"0 0 1 nov-feb *", "2024-03-25T00:00:00.000Z", "2024-11-01T00:00:00.000Z"},
        {"  0 0 1 1 *  ", "2023-06-01T00:00:00.000Z", "2024-01-01T00:00:00.000Z"},
        {"0 0 12 * * MON", "2024-09-03T00:00:00.000Z", "2024-09-09T12:00:00.000Z"},
        {"59 59 23 31 12 *", "2024-12-31T23:59:59.000Z", "2025-12-31T23:59:59.000Z"},
        {"0 30 9 * * 1-5 2024", "2024-12-31T10:00:00.000Z", NULL},
        {"0 0 * * 1/2", "2024-09-03T00:00:00.000Z", "2024-09-04T00:00:00.000Z"},
    };
    use_tz("UTC");
    run_next_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_next_dst_london(void)
{
    /* 2024-03-31 01:00 GMT -> 02:00 BST (01:xx missing); 2024-10-27 02:00 BST
     * -> 01:00 GMT (01:xx twice). */
    static const struct next_case cases[] = {
        {"30 1 * * *", "2024-03-30T12:00:00.000Z", "2024-03-31T01:00:00.000Z"},
        {"*/20 * * * *", "2024-03-31T00:50:00.000Z", "2024-03-31T01:00:00.000Z"},
        {"0 2 * * *", "2024-03-30T12:00:00.000Z", "2024-03-31T01:00:00.000Z"},
        {"30 1 * * *", "2024-10-26T12:00:00.000Z", "2024-10-27T00:30:00.000Z"},
        {"30 1 * * *", "2024-10-27T00:30:00.000Z", "2024-10-28T01:30:00.000Z"},
        {"*/30 * * * *", "2024-10-27T00:59:59.000Z", "2024-10-27T02:00:00.000Z"},
        {"*/30 * * * *", "2024-10-27T01:15:00.000Z", "2024-10-27T02:00:00.000Z"},
        {"0 0 * * *", "2024-10-26T12:00:00.000Z", "2024-10-26T23:00:00.000Z"},
        {"0 12 * * *", "2024-06-01T00:00:00.000Z", "2024-06-01T11:00:00.000Z"},
    };
    use_tz("Europe/London");
    run_next_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_next_never(void)
{
    use_tz("UTC");
    struct cron_expr c;
    char err[256];
    /* cronosjs loops for ever on an impossible date; we give up. */
    CU_ASSERT_EQUAL_FATAL(cron__parse("0 0 30 2 *", &c, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(cron__next(&c, iso_ms("2024-01-01T00:00:00.000Z")), -1);
    CU_ASSERT_EQUAL_FATAL(cron__parse("0 0 31 4,6,9,11 *", &c, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(cron__next(&c, iso_ms("2024-01-01T00:00:00.000Z")), -1);
    CU_ASSERT_EQUAL_FATAL(cron__parse("* * * * * * 2023", &c, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(cron__next(&c, iso_ms("2024-01-01T00:00:00.000Z")), -1);
    /* ... but a date that only some years have is found. */
    CU_ASSERT_EQUAL_FATAL(cron__parse("0 0 0 29 2 * 2025-2100", &c, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(cron__next(&c, iso_ms("2024-03-01T00:00:00.000Z")),
                    iso_ms("2028-02-29T00:00:00.000Z"));
}

/* Walks a schedule forward: each time is later than the one before, and matches. */
static void test_next_sequence(void)
{
    use_tz("UTC");
    struct cron_expr c;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(cron__parse("0 0 * * 1#2", &c, err, sizeof(err)), 0);
    double t = iso_ms("2023-11-20T00:00:00.000Z");
    for (int i = 0; i < 24; i++) {
        double next = cron__next(&c, t);
        CU_ASSERT_TRUE_FATAL(next > t);
        time_t s = (time_t)(next / 1000);
        struct tm tm;
        gmtime_r(&s, &tm);
        CU_ASSERT_EQUAL(tm.tm_wday, 1);
        CU_ASSERT_TRUE(tm.tm_mday >= 8 && tm.tm_mday <= 14);
        CU_ASSERT_EQUAL(tm.tm_hour, 0);
        t = next;
    }
    CU_ASSERT_EQUAL(t, iso_ms("2025-11-10T00:00:00.000Z"));

    CU_ASSERT_EQUAL_FATAL(cron__parse("*/20 * * * * *", &c, err, sizeof(err)), 0);
    t = iso_ms("2023-12-31T23:59:30.000Z");
    static const char *const want[] = {"2023-12-31T23:59:40.000Z", "2024-01-01T00:00:00.000Z",
                                       "2024-01-01T00:00:20.000Z", "2024-01-01T00:00:40.000Z"};
    for (size_t i = 0; i < 4; i++) {
        t = cron__next(&c, t);
        CU_ASSERT_EQUAL(t, iso_ms(want[i]));
    }
}

/* ---- inject__trigger: a real runtime with an inject node wired to a debug node ---- */

static void on_trigger_debug(void *ud, const struct ef_debug_event *ev)
{
    ef_val_arr_push_take(ud, ef_val_ref((struct ef_val *)ev->value));
}

static void run_until(struct ef_runtime *rt, struct ef_val *got, size_t count)
{
    for (int i = 0; i < 200 && ef_val_arr_len(got) < count; i++) {
        uv_run(&rt->loop.uv, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

/* The keys of an object, comma-separated, in order. */
static void keys_of(const struct ef_val *o, char *out, size_t len)
{
    out[0] = '\0';
    for (size_t i = 0; i < ef_val_obj_len(o); i++) {
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%s%s", i ? "," : "", ef_val_obj_key_at(o, i, NULL));
    }
}

static void test_inject_trigger(void)
{
    static const char *flow =
        "[{\"id\":\"t1\",\"type\":\"tab\"},"
        "{\"id\":\"i1\",\"type\":\"inject\",\"z\":\"t1\",\"props\":[{\"p\":\"payload\"},"
        "{\"p\":\"topic\",\"vt\":\"str\"}],\"payload\":\"3\",\"payloadType\":\"num\","
        "\"topic\":\"tp\",\"repeat\":\"\",\"crontab\":\"\",\"once\":false,\"wires\":[[\"d1\"]]},"
        "{\"id\":\"d1\",\"type\":\"debug\",\"z\":\"t1\",\"complete\":\"true\","
        "\"targetType\":\"full\",\"wires\":[]}]";
    char err[256];
    char dir[] = "/tmp/test_inject.XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    struct ef_settings *s = settings__load(NULL, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    free(s->user_dir);
    s->user_dir = strdup(dir);
    struct ef_runtime *rt = calloc(1, sizeof(*rt));
    CU_ASSERT_EQUAL_FATAL(runtime__init(rt, s, err, sizeof(err)), 0);
    struct ef_val *got = ef_val_arr();
    runtime__add_hooks(rt, &(struct ef_runtime_hooks){.on_debug = on_trigger_debug, .ud = got});
    struct ef_problems probs = {0};
    struct ef_val *flows = ef_json_parse(flow, strlen(flow), err, sizeof(err));
    CU_ASSERT_EQUAL_FATAL(runtime__deploy(rt, flows, &probs), 0);
    struct ef_node *inj = flowset__find(rt->active, "i1");
    struct ef_node *dbg = flowset__find(rt->active, "d1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(inj);

    /* Not an inject node: refused. */
    CU_ASSERT_EQUAL(inject__trigger(dbg), EF_EINVAL);

    /* The button: node.receive() gives {_msgid, ...props} in that order. */
    CU_ASSERT_EQUAL(inject__trigger(inj), 0);
    run_until(rt, got, 1);
    CU_ASSERT_EQUAL_FATAL(ef_val_arr_len(got), 1);
    const struct ef_val *m = ef_val_arr_at(got, 0);
    char keys[256];
    keys_of(m, keys, sizeof(keys));
    CU_ASSERT_STRING_EQUAL(keys, "_msgid,payload,topic");
    CU_ASSERT_EQUAL(ef_val_num_get(ef_val_obj_get(m, "payload")), 3);
    CU_ASSERT_STRING_EQUAL(ef_val_str_get(ef_val_obj_get(m, "topic")), "tp");
    CU_ASSERT_EQUAL(ef_val_str_len(ef_val_obj_get(m, "_msgid")), 16);

    /* "inject now" with custom properties: those replace the node's own. */
    static const char *body = "{\"__user_inject_props__\":[{\"p\":\"payload\",\"v\":\"[1,2]\","
                              "\"vt\":\"json\"},{\"p\":\"extra.x\",\"v\":\"y\"},{\"p\":\"\"}]}";
    struct ef_val *b = ef_json_parse(body, strlen(body), err, sizeof(err));
    CU_ASSERT_EQUAL(inject__trigger_body(inj, b), 0);
    run_until(rt, got, 2);
    CU_ASSERT_EQUAL_FATAL(ef_val_arr_len(got), 2);
    m = ef_val_arr_at(got, 1);
    char *text = ef_json_print(m, 0, NULL);
    keys_of(m, keys, sizeof(keys));
    CU_ASSERT_STRING_EQUAL(keys, "_msgid,payload,extra");
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"payload\":[1,2],\"extra\":{\"x\":\"y\"}}"));
    free(text);

    /* A body without custom properties is an ordinary press. */
    struct ef_val *plain = ef_json_parse("{\"x\":1}", 7, err, sizeof(err));
    CU_ASSERT_EQUAL(inject__trigger_body(inj, plain), 0);
    run_until(rt, got, 3);
    CU_ASSERT_EQUAL_FATAL(ef_val_arr_len(got), 3);
    keys_of(ef_val_arr_at(got, 2), keys, sizeof(keys));
    CU_ASSERT_STRING_EQUAL(keys, "_msgid,payload,topic");

    ef_val_unref(plain);
    ef_val_unref(b);
    ef_val_unref(flows);
    runtime__stop(rt);
    problems__free(&probs);
    runtime__destroy(rt);
    free(rt);
    ef_val_unref(got);
    rmdir(dir);
}

/* Registers the cron suite (and the inject trigger test). */
int init_cron_tests(void)
{
    CU_pSuite s = CU_add_suite("cron", suite_init, suite_clean);
    if (!s) {
        return -1;
    }
    if (!CU_add_test(s, "parse: accepted and refused, with cronosjs's errors",
                     test_parse_valid_invalid) ||
        !CU_add_test(s, "parse: field values", test_parse_fields) ||
        !CU_add_test(s, "next: boundaries, names, L/W/#, years (UTC)", test_next_utc) ||
        !CU_add_test(s, "next: daylight saving (Europe/London)", test_next_dst_london) ||
        !CU_add_test(s, "next: schedules that never fire", test_next_never) ||
        !CU_add_test(s, "next: sequences", test_next_sequence) ||
        !CU_add_test(s, "inject__trigger and custom properties", test_inject_trigger)) {
        return -1;
    }
    return 0;
}
