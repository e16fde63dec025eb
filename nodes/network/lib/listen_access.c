/*
 * listen_access.c - the listenAllowedPorts setting (see listen_access.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "settings.h"
#include "listen_access.h"

/* Parses "N" or "N-M" into [lo, hi]; false when it is neither. */
static bool parse_range(const char *s, long *lo, long *hi)
{
    char *end;
    *lo = strtol(s, &end, 10);
    if (end == s) {
        return false;
    }
    while (*end == ' ') {
        end++;
    }
    if (!*end) {
        *hi = *lo;
        return true;
    }
    if (*end != '-') {
        return false;
    }
    const char *h = end + 1;
    *hi = strtol(h, &end, 10);
    while (*end == ' ') {
        end++;
    }
    return end != h && !*end && *lo <= *hi;
}

bool listen__port_allowed(struct ef_node *n, int port, char *err, size_t errlen)
{
    const struct ef_val *list = settings__get(n->fs->rt->settings, "listenAllowedPorts");
    if (!list || ef_val_type(list) == EF_NULL) {
        return true;
    }
    if (ef_val_type(list) != EF_ARR) {
        snprintf(err, errlen, "the setting listenAllowedPorts must be a list of ports or ranges");
        return false;
    }
    for (size_t i = 0; i < ef_val_arr_len(list); i++) {
        const struct ef_val *e = ef_val_arr_at(list, i);
        long lo, hi;
        if (ef_val_type(e) == EF_NUM) {
            lo = hi = (long)ef_val_num_get(e);
        } else if (ef_val_type(e) != EF_STR || !parse_range(ef_val_str_get(e), &lo, &hi)) {
            snprintf(err, errlen,
                     "the setting listenAllowedPorts has an entry (#%zu) that is not a port "
                     "or a range \"N-M\"",
                     i);
            return false;
        }
        if (port >= lo && port <= hi) {
            return true;
        }
    }
    snprintf(err, errlen, "port %d is not allowed by the setting listenAllowedPorts", port);
    return false;
}
