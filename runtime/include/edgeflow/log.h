/*
 * log.h - leveled logging to stderr.
 */
#ifndef EDGEFLOW_LOG_H
#define EDGEFLOW_LOG_H

#include <stdarg.h>

enum ef_log_level {
    EF_LOG_FATAL,
    EF_LOG_ERROR,
    EF_LOG_WARN,
    EF_LOG_INFO,
    EF_LOG_DEBUG,
    EF_LOG_TRACE
};

/* Logs a line at `level` if it passes the current threshold. */
void ef_log(enum ef_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ef_logv(enum ef_log_level level, const char *fmt, va_list ap);
/* Sets the threshold; returns the previous one. */
enum ef_log_level ef_log_set_level(enum ef_log_level level);
/* Parses "error", "warn", "info", "debug", "trace"; -1 if unknown. */
int ef_log_level_parse(const char *s);

#define ef_log_error(...) ef_log(EF_LOG_ERROR, __VA_ARGS__)
#define ef_log_warn(...) ef_log(EF_LOG_WARN, __VA_ARGS__)
#define ef_log_info(...) ef_log(EF_LOG_INFO, __VA_ARGS__)
#define ef_log_debug(...) ef_log(EF_LOG_DEBUG, __VA_ARGS__)

#endif
