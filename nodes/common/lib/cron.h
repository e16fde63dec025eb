/*
 * cron.h - cron schedules as the inject node's `crontab` (Node-RED 4.1 uses
 * the cronosjs library): 5 fields (minute hour day month weekday), 6 (with
 * seconds first) or 7 (and a year last); `*`, lists, ranges (wrapping ones
 * in the time, month and weekday fields), steps, JAN-DEC and SUN-SAT names,
 * `?`, L, LW, nW (day of month), nL and n#k (weekday), and @yearly,
 * @monthly, @weekly, @daily, @hourly. Day of month and day of week combine
 * as cronosjs does: a `*` in one of them is overridden by the other; when
 * both are restricted, a day matching either fires (like Vixie cron).
 * Times are local; daylight saving changes follow cronosjs's defaults (a
 * repeated hour is skipped, times in a missing hour fire once at its start).
 *
 * The implementation lives in inject.c: every nodes/<category>/<stem>.c is
 * built as a node type, so a helper cannot have a .c file of its own there.
 */
#ifndef EF_NODES_CRON_H
#define EF_NODES_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRON_MAX_YEAR_ITEMS 16

/* One item of the year field ("*", "2030", "2030-2040", "2030/2"). */
struct cron_year_item {
    int64_t from, to; /* to < 0: open-ended (up to the last valid year) */
    int64_t step;
    bool any, single, has_range;
};

/* A parsed schedule: one bit per allowed value. */
struct cron_expr {
    uint64_t seconds, minutes;   /* bits 0..59 */
    uint32_t hours;              /* bits 0..23 */
    uint32_t days;               /* days of month, bits 1..31 */
    uint32_t nearest_weekday;    /* "nW": bits 1..31 */
    uint16_t months;             /* bits 1..12 */
    uint8_t weekdays;            /* bits 0..6, Sunday = 0 */
    uint8_t last_weekdays;       /* "nL": the last such weekday of the month */
    uint8_t nth_weekdays[7];     /* "d#k": bit k (1..5) for weekday d */
    bool last_day, last_weekday; /* "L", "LW" */
    struct cron_year_item years[CRON_MAX_YEAR_ITEMS];
    size_t nyears;
};

/*
 * Parses a cron expression as cronosjs does (case-insensitive, surrounding
 * space ignored). Returns 0, or EF_EINVAL with the reason in err.
 */
int cron__parse(const char *text, struct cron_expr *out, char *err, size_t errlen);

/*
 * The first time (ms since the epoch, a whole second) strictly after
 * `after_ms` that the schedule matches, in local time; -1 if there is none
 * (e.g. "0 0 30 2 *", or a year list that is all in the past).
 */
double cron__next(const struct cron_expr *c, double after_ms);

#endif
