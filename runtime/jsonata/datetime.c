/*
 * datetime.c - JSONata's date/time functions: $now, $millis, $fromMillis
 * and $toMillis (ISO 8601 and XPath picture strings), plus
 * $formatInteger and $parseInteger.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "jsonata/functions.h"

int jsonata__fn_millis(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                       struct jsonata__env *env, struct jv *out)
{
    (void)a;
    (void)n;
    (void)focus;
    (void)env;
    out->v = ef_val_num((double)c->now_ms);
    return 0;
}

