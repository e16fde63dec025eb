/*
 * functions.c - the table of JSONata's built-in functions (name, signature,
 * implementation) and name lookup; signatures are parsed once, lazily.
 */
#include <pthread.h>
#include <string.h>

#include "internal.h"
#include "jsonata/functions.h"
#include "val_internal.h"

#define JSONATA_ENTRY(name, cname, sig) {name, sig, jsonata__fn_##cname},
const struct jsonata__builtin jsonata__builtins[] = {JSONATA_BUILTINS(JSONATA_ENTRY){0, 0, 0}};
#undef JSONATA_ENTRY

#define NBUILTINS (sizeof(jsonata__builtins) / sizeof(jsonata__builtins[0]) - 1)

static struct jsonata__sig sigs[NBUILTINS];
static pthread_once_t sigs_once = PTHREAD_ONCE_INIT;

/* Built-in function values are immortal handles: shared by every
 * evaluation on every thread without refcounting. */
static struct jsonata__fn fns[NBUILTINS];
static struct ef_val fn_vals[NBUILTINS];

static void parse_sigs(void)
{
    for (size_t i = 0; i < NBUILTINS; i++) {
        struct jsonata__errinfo err;
        jsonata__sig_parse(jsonata__builtins[i].signature, &sigs[i], &err);
        fns[i].kind = FN_BUILTIN;
        fns[i].builtin = (int)i;
        fn_vals[i].refs = 1;
        fn_vals[i].type = EF_HANDLE;
        fn_vals[i].flags = VAL_F_IMMORTAL;
        fn_vals[i].u.h.p = &fns[i];
        fn_vals[i].u.h.t = &ef_jsonata_function_type;
    }
}

/* The function value of built-in i (immortal; ref/unref are no-ops). */
struct ef_val *jsonata__fn_builtin(int i)
{
    pthread_once(&sigs_once, parse_sigs);
    return &fn_vals[i];
}

/* The parsed signature of built-in i (immutable once parsed). */
const struct jsonata__sig *jsonata__builtin_sig(int i)
{
    pthread_once(&sigs_once, parse_sigs);
    return &sigs[i];
}

/* Index of the built-in called name (len bytes), or -1. */
int jsonata__builtin_find(const char *name, size_t len)
{
    for (size_t i = 0; i < NBUILTINS; i++) {
        const char *b = jsonata__builtins[i].name;
        if (strlen(b) == len && memcmp(b, name, len) == 0) {
            return (int)i;
        }
    }
    return -1;
}
