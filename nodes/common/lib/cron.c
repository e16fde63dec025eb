/*
 * cron.c - cron expressions with cronosjs 1.7 semantics (what Node-RED
 * 4.1's inject node uses): parsing 5/6/7-field expressions and computing the
 * next fire time in local time. Declared in cron.h.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <edgeflow/err.h>

#include "cron.h"
/* ======================================================================
 * Cron expressions (cronosjs 1.7 semantics)
 * ====================================================================== */

#define CRON_MAX_VALID_YEAR 275759
#define CRON_MAX_NUM 1000000000000LL

struct cron_item {
    int64_t from, to; /* valid when has_range; to_open: "n/step" runs to the last value */
    int64_t step;
    bool has_range, to_open;
};

static bool item_any(const struct cron_item *it)
{
    return !it->has_range && it->step == 1;
}

static int cron_fail(char *err, size_t errlen, const char *what)
{
    if (err && errlen) {
        snprintf(err, errlen, "%s", what);
    }
    return EF_EINVAL;
}

/* Parses a run of decimal digits (at least one), clamping huge values. */
static bool parse_digits(const char *s, size_t len, int64_t *out)
{
    if (!len) {
        return false;
    }
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i])) {
            return false;
        }
        if (v < CRON_MAX_NUM) {
            v = v * 10 + (s[i] - '0');
        }
    }
    *out = v;
    return true;
}

/*
 * One list item, as cronosjs's FieldItem.parse:
 * ^(?:(\*)|([0-9]+)|([0-9]+-[0-9]+))(?:\/([1-9][0-9]*))?$
 * `dow` maps 7 to 0 (Sunday).
 */
static int item_parse(const char *s, size_t len, int64_t first, int64_t last, bool cyclic, bool dow,
                      struct cron_item *it, char *err, size_t errlen)
{
    memset(it, 0, sizeof(*it));
    it->step = 1;
    const char *slash = memchr(s, '/', len);
    size_t blen = slash ? (size_t)(slash - s) : len;
    if (slash) {
        const char *st = slash + 1;
        size_t slen = len - blen - 1;
        if (!slen || st[0] == '0' || !parse_digits(st, slen, &it->step)) {
            return cron_fail(err, errlen, "Field item invalid format");
        }
    }
    if (blen == 1 && s[0] == '*') {
        return 0;
    }
    const char *dash = memchr(s, '-', blen);
    int64_t a, b;
    if (!dash) {
        if (!parse_digits(s, blen, &a)) {
            return cron_fail(err, errlen, "Field item invalid format");
        }
        if (dow && a == 7) {
            a = 0;
        }
        if (a < first || a > last) {
            return cron_fail(err, errlen, "Field item out of valid value range");
        }
        it->has_range = true;
        it->from = a;
        it->to = a;
        it->to_open = slash != NULL;
        return 0;
    }
    if (!parse_digits(s, (size_t)(dash - s), &a) ||
        !parse_digits(dash + 1, blen - (size_t)(dash - s) - 1, &b)) {
        return cron_fail(err, errlen, "Field item invalid format");
    }
    if (dow) {
        a = a == 7 ? 0 : a;
        b = b == 7 ? 0 : b;
    }
    if (a < first || a > last || b < first || b > last || (b < a && !cyclic)) {
        return cron_fail(err, errlen,
                         "Field item range invalid, either value out of valid range or start "
                         "greater than end in non wraparound field");
    }
    it->has_range = true;
    it->from = a;
    it->to = b;
    return 0;
}

/* The values an item selects (FieldItem.values), as bits first..last (last <= 63). */
static uint64_t item_bits(const struct cron_item *it, int64_t first, int64_t last)
{
    int64_t start = it->has_range ? it->from : first;
    int64_t end = it->has_range && !it->to_open ? it->to : last;
    int64_t rlen = end < start ? (last - start) + (end - first) + 1 : end - start;
    int64_t count = rlen / it->step + 1;
    uint64_t bits = 0;
    for (int64_t i = 0; i < count; i++) {
        int64_t v = first + ((start - first + it->step * i) % (last - first + 1));
        bits |= (uint64_t)1 << v;
    }
    return bits;
}

/* Splits a field on ',' and calls fn for each item (empty items included). */
typedef int (*item_fn)(const char *s, size_t len, void *ud, char *err, size_t errlen);

static int for_items(const char *field, item_fn fn, void *ud, char *err, size_t errlen)
{
    const char *p = field;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        int rc = fn(p, len, ud, err, errlen);
        if (rc != 0 || !comma) {
            return rc;
        }
        p = comma + 1;
    }
}

struct simple_field {
    int64_t first, last;
    uint64_t bits;
};

static int simple_item(const char *s, size_t len, void *ud, char *err, size_t errlen)
{
    struct simple_field *f = ud;
    struct cron_item it;
    int rc = item_parse(s, len, f->first, f->last, true, false, &it, err, errlen);
    if (rc == 0) {
        f->bits |= item_bits(&it, f->first, f->last);
    }
    return rc;
}

static int simple_field(const char *field, int64_t first, int64_t last, uint64_t *bits, char *err,
                        size_t errlen)
{
    struct simple_field f = {first, last, 0};
    int rc = for_items(field, simple_item, &f, err, errlen);
    *bits = f.bits;
    return rc;
}

struct days_state {
    struct cron_expr *c;
    size_t ndays, ndows;
    bool days_any, dows_any; /* the single item was "*" */
    bool special;            /* L, LW, nW, nL or # present */
    uint32_t days;
    uint8_t dows;
};

static bool item_is(const char *s, size_t len, const char *word)
{
    return len == strlen(word) && !memcmp(s, word, len);
}

static int dom_item(const char *s, size_t len, void *ud, char *err, size_t errlen)
{
    struct days_state *d = ud;
    struct cron_item it;
    if (item_is(s, len, "?")) {
        s = "*";
        len = 1;
    }
    if (item_is(s, len, "l")) {
        d->c->last_day = true;
        d->special = true;
        return 0;
    }
    if (item_is(s, len, "lw")) {
        d->c->last_weekday = true;
        d->special = true;
        return 0;
    }
    if (len && s[len - 1] == 'w') {
        int rc = item_parse(s, len - 1, 1, 31, false, false, &it, err, errlen);
        if (rc == 0) {
            d->c->nearest_weekday |= (uint32_t)item_bits(&it, 1, 31);
            d->special = true;
        }
        return rc;
    }
    int rc = item_parse(s, len, 1, 31, false, false, &it, err, errlen);
    if (rc != 0) {
        return rc;
    }
    d->ndays++;
    d->days_any = item_any(&it);
    if (!item_any(&it)) {
        d->days |= (uint32_t)item_bits(&it, 1, 31);
    }
    return 0;
}

static int dow_item(const char *s, size_t len, void *ud, char *err, size_t errlen)
{
    struct days_state *d = ud;
    struct cron_item it;
    if (item_is(s, len, "?")) {
        s = "*";
        len = 1;
    }
    if (len && s[len - 1] == 'l') {
        int rc = item_parse(s, len - 1, 0, 6, true, true, &it, err, errlen);
        if (rc == 0) {
            d->c->last_weekdays |= (uint8_t)item_bits(&it, 0, 6);
            d->special = true;
        }
        return rc;
    }
    const char *hash = NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '#') {
            hash = s + i;
        }
    }
    if (hash) {
        size_t nlen = len - (size_t)(hash - s) - 1;
        if (nlen != 1 || hash[1] < '1' || hash[1] > '5') {
            return cron_fail(err, errlen, "Field item nth of month (#) invalid");
        }
        int rc = item_parse(s, (size_t)(hash - s), 0, 6, true, true, &it, err, errlen);
        if (rc == 0) {
            uint64_t bits = item_bits(&it, 0, 6);
            for (int w = 0; w < 7; w++) {
                if (bits & ((uint64_t)1 << w)) {
                    d->c->nth_weekdays[w] |= (uint8_t)(1u << (hash[1] - '0'));
                }
            }
            d->special = true;
        }
        return rc;
    }
    int rc = item_parse(s, len, 0, 6, true, true, &it, err, errlen);
    if (rc != 0) {
        return rc;
    }
    d->ndows++;
    d->dows_any = item_any(&it);
    if (!item_any(&it)) {
        d->dows |= (uint8_t)item_bits(&it, 0, 6);
    }
    return 0;
}

static int year_item(const char *s, size_t len, void *ud, char *err, size_t errlen)
{
    struct cron_expr *c = ud;
    struct cron_item it;
    int rc = item_parse(s, len, 0, CRON_MAX_VALID_YEAR, false, false, &it, err, errlen);
    if (rc != 0) {
        return rc;
    }
    if (c->nyears >= CRON_MAX_YEAR_ITEMS) {
        return cron_fail(err, errlen, "Too many items in the year field");
    }
    struct cron_year_item *y = &c->years[c->nyears++];
    y->any = item_any(&it);
    y->has_range = it.has_range;
    y->single = it.has_range && !it.to_open && it.from == it.to;
    y->from = it.from;
    y->to = it.has_range && !it.to_open ? it.to : -1;
    y->step = it.step;
    return 0;
}

/* Replaces the 3-letter names in `field` (in place) by their index + base. */
static void replace_names(char *field, const char *const *names, int count, int base)
{
    char *w = field;
    for (const char *r = field; *r;) {
        int found = -1;
        for (int i = 0; i < count && found < 0; i++) {
            if (!strncmp(r, names[i], 3)) {
                found = i;
            }
        }
        if (found >= 0) {
            w += sprintf(w, "%d", found + base); /* at most 2 digits: never longer */
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

/* Parses a cron expression as cronosjs's CronosExpression.parse (see cron.h). */
int cron__parse(const char *text, struct cron_expr *out, char *err, size_t errlen)
{
    static const struct {
        const char *name, *expr;
    } predefined[] = {
        {"@yearly", "0 0 0 1 1 * *"},  {"@annually", "0 0 0 1 1 * *"},
        {"@monthly", "0 0 0 1 * * *"}, {"@weekly", "0 0 0 * * 0 *"},
        {"@daily", "0 0 0 * * * *"},   {"@midnight", "0 0 0 * * * *"},
        {"@hourly", "0 0 * * * * *"},
    };
    memset(out, 0, sizeof(*out));
    char buf[512];
    while (isspace((unsigned char)*text)) {
        text++;
    }
    size_t len = strlen(text);
    while (len && isspace((unsigned char)text[len - 1])) {
        len--;
    }
    if (len >= sizeof(buf)) {
        return cron_fail(err, errlen, "Expression too long");
    }
    for (size_t i = 0; i < len; i++) {
        buf[i] = (char)tolower((unsigned char)text[i]);
    }
    buf[len] = '\0';
    for (size_t i = 0; i < sizeof(predefined) / sizeof(predefined[0]); i++) {
        if (!strcmp(buf, predefined[i].name)) {
            snprintf(buf, sizeof(buf), "%s", predefined[i].expr);
        }
    }
    char *fields[8];
    int nf = 0;
    for (char *p = buf; *p;) {
        if (nf == 8) {
            break;
        }
        fields[nf++] = p;
        while (*p && !isspace((unsigned char)*p)) {
            p++;
        }
        if (*p) {
            *p++ = '\0';
            while (isspace((unsigned char)*p)) {
                p++;
            }
        }
    }
    if (nf == 0) {
        fields[nf++] = buf; /* "".split(/\s+/) is [""]: one field */
    }
    if (nf < 5 || nf > 7) {
        return cron_fail(err, errlen,
                         "Expression must have at least 5 fields, and no more than 7 fields");
    }
    char *f[7];
    char zero[] = "0", star[] = "*";
    int k = 0;
    if (nf == 5) {
        f[k++] = zero;
    }
    for (int i = 0; i < nf; i++) {
        f[k++] = fields[i];
    }
    if (nf < 7) {
        f[k++] = star;
    }
    uint64_t bits;
    int rc;
    if ((rc = simple_field(f[0], 0, 59, &out->seconds, err, errlen)) != 0 ||
        (rc = simple_field(f[1], 0, 59, &out->minutes, err, errlen)) != 0) {
        return rc;
    }
    if ((rc = simple_field(f[2], 0, 23, &bits, err, errlen)) != 0) {
        return rc;
    }
    out->hours = (uint32_t)bits;
    struct days_state d = {.c = out};
    if ((rc = for_items(f[3], dom_item, &d, err, errlen)) != 0) {
        return rc;
    }
    replace_names(f[5], dow_names, 7, 0);
    if ((rc = for_items(f[5], dow_item, &d, err, errlen)) != 0) {
        return rc;
    }
    bool all_days = !d.special && d.ndays == 1 && d.days_any && d.ndows == 1 && d.dows_any;
    out->days = all_days ? 0xfffffffeu : d.days;
    out->weekdays = d.dows;
    replace_names(f[4], month_names, 12, 1);
    if ((rc = simple_field(f[4], 1, 12, &bits, err, errlen)) != 0) {
        return rc;
    }
    out->months = (uint16_t)bits;
    return for_items(f[6], year_item, out, err, errlen);
}

/* A calendar time whose fields may run past their range (second 60 etc.). */
struct cdate {
    int64_t year;
    int month, day, hour, minute, second;
};

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* The weekday (0 = Sunday) of a date. */
static int weekday_of(int64_t y, int m, int d)
{
    int64_t days = days_from_civil(y, m, d);
    int64_t w = (days + 4) % 7; /* 1970-01-01 was a Thursday */
    return (int)(w < 0 ? w + 7 : w);
}

/* The days of a month the schedule allows (DaysFieldValues.getDays), bits 1..31. */
static uint32_t month_days(const struct cron_expr *c, int64_t year, int month)
{
    int last = days_in_month(year, month);
    int first_dow = weekday_of(year, month, 1);
    uint64_t days = c->days;
    int nearest_src[33];
    int nsrc = 0;
    if (c->last_day) {
        days |= (uint64_t)1 << last;
    }
    if (c->last_weekday) {
        nearest_src[nsrc++] = last;
    }
    for (int d = 1; d <= 31; d++) {
        if (c->nearest_weekday & (1u << d)) {
            nearest_src[nsrc++] = d;
        }
    }
    for (int i = 0; i < nsrc; i++) {
        int day = nearest_src[i] > last ? last : nearest_src[i];
        int dow = (day + first_dow - 1) % 7;
        int wd = day + (dow == 0 ? 1 : (dow == 6 ? -1 : 0));
        wd += wd < 1 ? 3 : (wd > last ? -3 : 0);
        days |= (uint64_t)1 << wd;
    }
    bool any_nth = false;
    for (int w = 0; w < 7; w++) {
        any_nth = any_nth || c->nth_weekdays[w];
    }
    if (c->weekdays || c->last_weekdays || any_nth) {
        for (int w = 0; w < 7; w++) {
            int firstday = 1 + (w - first_dow + 7) % 7; /* first such weekday, 1..7 */
            for (int day = firstday; day <= 35; day += 7) {
                if (c->weekdays & (1u << w)) {
                    days |= (uint64_t)1 << day;
                }
                if ((c->last_weekdays & (1u << w)) && day <= last && day + 7 > last) {
                    days |= (uint64_t)1 << day;
                }
                int nth = (day - firstday) / 7 + 1;
                if (c->nth_weekdays[w] & (1u << nth)) {
                    days |= (uint64_t)1 << day;
                }
            }
        }
    }
    return (uint32_t)(days & (((uint64_t)2 << last) - 2));
}

/* YearsField.nextYear: the first allowed year >= from, or -1. */
static int64_t next_year(const struct cron_expr *c, int64_t from)
{
    int64_t best = -1;
    for (size_t i = 0; i < c->nyears; i++) {
        const struct cron_year_item *y = &c->years[i];
        int64_t cand = -1;
        if (y->any) {
            cand = from;
        } else if (y->single) {
            cand = y->from >= from ? y->from : -1;
        } else {
            int64_t start = y->has_range ? y->from : 1970;
            if (start > from) {
                cand = start;
            } else {
                int64_t n = start + (from - start + y->step - 1) / y->step * y->step;
                cand = n <= (y->to >= 0 ? y->to : CRON_MAX_VALID_YEAR) ? n : -1;
            }
        }
        if (cand >= 0 && (best < 0 || cand < best)) {
            best = cand;
        }
    }
    return best > CRON_MAX_VALID_YEAR ? -1 : best;
}

/* The first set bit >= from in bits, or -1. */
static int first_bit(uint64_t bits, int from)
{
    if (from < 0) {
        from = 0;
    }
    for (int i = from; i < 64; i++) {
        if (bits & ((uint64_t)1 << i)) {
            return i;
        }
    }
    return -1;
}

static bool next_second(const struct cron_expr *c, struct cdate f, struct cdate *out)
{
    int s = first_bit(c->seconds, f.second);
    if (s < 0) {
        return false;
    }
    *out = f;
    out->second = s;
    return true;
}

static bool next_minute(const struct cron_expr *c, struct cdate f, struct cdate *out)
{
    for (int m = first_bit(c->minutes, f.minute); m >= 0; m = first_bit(c->minutes, m + 1)) {
        struct cdate g = m == f.minute ? f : (struct cdate){f.year, f.month, f.day, f.hour, m, 0};
        if (next_second(c, g, out)) {
            return true;
        }
    }
    return false;
}

static bool next_hour(const struct cron_expr *c, struct cdate f, struct cdate *out)
{
    for (int h = first_bit(c->hours, f.hour); h >= 0; h = first_bit(c->hours, h + 1)) {
        struct cdate g = h == f.hour ? f : (struct cdate){f.year, f.month, f.day, h, 0, 0};
        if (next_minute(c, g, out)) {
            return true;
        }
    }
    return false;
}

static bool next_day(const struct cron_expr *c, struct cdate f, struct cdate *out)
{
    uint32_t days = month_days(c, f.year, f.month);
    for (int d = first_bit(days, f.day); d >= 0; d = first_bit(days, d + 1)) {
        struct cdate g = d == f.day ? f : (struct cdate){f.year, f.month, d, 0, 0, 0};
        if (next_hour(c, g, out)) {
            return true;
        }
    }
    return false;
}

static bool next_month(const struct cron_expr *c, struct cdate f, struct cdate *out)
{
    for (int m = first_bit(c->months, f.month); m >= 0; m = first_bit(c->months, m + 1)) {
        struct cdate g = m == f.month ? f : (struct cdate){f.year, m, 1, 0, 0, 0};
        if (next_day(c, g, out)) {
            return true;
        }
    }
    return false;
}

/*
 * The first matching time at or after f (calendar fields). Gives up after
 * 1000 candidate years: cronosjs would loop for ever on "0 0 30 2 *", and
 * every day/weekday pattern repeats within 400 years.
 */
static bool next_match(const struct cron_expr *c, struct cdate f, struct cdate *out)
{
    int64_t year = f.year;
    for (int i = 0; i < 1000; i++) {
        year = next_year(c, year);
        if (year < 0) {
            return false;
        }
        struct cdate g = year == f.year ? f : (struct cdate){year, 1, 1, 0, 0, 0};
        if (next_month(c, g, out)) {
            return true;
        }
        year++;
    }
    return false;
}

static long offset_at(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!localtime_r(&tt, &tm)) {
        return 0;
    }
    return tm.tm_gmtoff;
}

static struct cdate local_fields(double ms)
{
    time_t tt = (time_t)floor(ms / 1000);
    struct tm tm;
    struct cdate d = {1970, 1, 1, 0, 0, 0};
    if (localtime_r(&tt, &tm)) {
        d = (struct cdate){(int64_t)tm.tm_year + 1900,
                           tm.tm_mon + 1,
                           tm.tm_mday,
                           tm.tm_hour,
                           tm.tm_min,
                           tm.tm_sec};
    }
    return d;
}

/* The fields read as if they were UTC, in seconds (CronosDate.toUTCTimestamp). */
static int64_t fields_as_utc(const struct cdate *d)
{
    return (days_from_civil(d->year, d->month, 1) + d->day - 1) * 86400 + (int64_t)d->hour * 3600 +
           (int64_t)d->minute * 60 + d->second;
}

/*
 * new Date(y, m - 1, d, h, mi, s) in seconds: a time repeated by a daylight
 * saving change is its first occurrence, a time that does not exist is read
 * with the offset from before the change (02:30 becomes 03:30).
 */
static int64_t fields_to_time(const struct cdate *d)
{
    int64_t local = fields_as_utc(d);
    long before = offset_at(local - 86400), after = offset_at(local + 86400);
    if (before == after) {
        return local - before;
    }
    int64_t tb = local - before, ta = local - after;
    bool vb = offset_at(tb) == before, va = offset_at(ta) == after;
    if (vb && va) {
        return tb < ta ? tb : ta;
    }
    return va && !vb ? ta : tb;
}

/* The next fire time after after_ms (CronosExpression.nextDate, local time). */
double cron__next(const struct cron_expr *c, double after_ms)
{
    struct cdate from = local_fields(after_ms);
    struct cdate prev = local_fields(after_ms - 3600000.0);
    struct cdate nx;
    if (fields_as_utc(&from) == fields_as_utc(&prev)) {
        /* The second pass through a repeated hour: skip it. */
        from.minute = 59;
        from.second = 60;
        return next_match(c, from, &nx) ? (double)fields_to_time(&nx) * 1000 : -1;
    }
    from.second++;
    if (!next_match(c, from, &nx)) {
        return -1;
    }
    int64_t t = fields_to_time(&nx);
    struct cdate later = nx;
    later.hour++;
    if (fields_to_time(&later) == t) {
        /* In an hour that daylight saving skips: fire once, at its start. */
        nx.minute = 0;
        nx.second = 0;
        t = fields_to_time(&nx);
    }
    return (double)t * 1000;
}
