/*
 * functions.c - the table of JSONata's built-in functions (name, signature,
 * implementation) and name lookup; signatures are parsed once, lazily.
 */
#include <pthread.h>
#include <string.h>

#include "internal.h"
#include "jsonata/functions.h"

#define JSONATA_ENTRY(name, cname, sig) {name, sig, jsonata__fn_##cname},
const struct jsonata__builtin jsonata__builtins[] = {JSONATA_BUILTINS(JSONATA_ENTRY){0, 0, 0}};
#undef JSONATA_ENTRY

#define NBUILTINS (sizeof(jsonata__builtins) / sizeof(jsonata__builtins[0]) - 1)

static struct jsonata__sig sigs[NBUILTINS];
static pthread_once_t sigs_once = PTHREAD_ONCE_INIT;

static void parse_sigs(void)
{
    for (size_t i = 0; i < NBUILTINS; i++) {
        struct jsonata__errinfo err;
        jsonata__sig_parse(jsonata__builtins[i].signature, &sigs[i], &err);
    }
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
