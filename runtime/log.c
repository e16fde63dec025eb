/*
 * log.c - leveled log lines on stderr: "22 Nov 14:53:23 - [info] text",
 * the layout Node-RED uses.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <edgeflow/log.h>

static _Atomic int log_threshold = EF_LOG_INFO;

static void (*log_sink)(void *ud, int level, const char *line);
static void *log_sink_ud;

/* Sends every log line that passes the threshold to fn as well (tests). */
void log__set_sink(void (*fn)(void *ud, int level, const char *line), void *ud)
{
    log_sink = fn;
    log_sink_ud = ud;
}

static const char *const level_names[] = {"fatal", "error", "warn", "info", "debug", "trace"};

void ef_logv(enum ef_log_level level, const char *fmt, va_list ap)
{
    if ((int)level > log_threshold) {
        return;
    }
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%d %b %H:%M:%S", &tm);
    char line[2048];
    int n = snprintf(line, sizeof(line), "%s - [%s] ", stamp, level_names[level]);
    if (n < 0) {
        return;
    }
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    fprintf(stderr, "%s\n", line);
    if (log_sink) {
        log_sink(log_sink_ud, (int)level, line + n);
    }
}

void ef_log(enum ef_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ef_logv(level, fmt, ap);
    va_end(ap);
}

enum ef_log_level ef_log_set_level(enum ef_log_level level)
{
    enum ef_log_level old = (enum ef_log_level)log_threshold;
    log_threshold = (int)level;
    return old;
}

int ef_log_level_parse(const char *s)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            return (int)i;
        }
    }
    return -1;
}
