/*
 * internal.h - types shared by the files of the JSONata evaluator: tokens,
 * the AST, function signatures, the evaluation context and the helpers
 * each file exports to the others (prefixed jsonata__).
 */
#ifndef EF_JSONATA_INTERNAL_H
#define EF_JSONATA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "edgeflow/val.h"
#include "jsonata/jsonata.h"

/* ---- Error messages ---- */
struct jsonata__msg {
    const char *code;
    const char *text;
};
extern const struct jsonata__msg jsonata__messages[];

/* Details of an error being raised; filled in at the raise site. */
struct jsonata__errinfo {
    char code[8];
    int position;
    char token[64];
    char value[128];  /* JSON text of the offending value ("" if none) */
    char value2[128]; /* a second value: T2007/T2009 value2, D3061 exp */
    bool token_raw;   /* print the token without quotes (a number) */
    int index;        /* argument index (T0410...) */
    char type[32];    /* T0412 */
    char text[256];   /* {{{message}}} */
    bool has_value, has_token;
};

/* ---- Tracked allocations (freed together with the expression) ---- */
struct jsonata__pool {
    void *head;
};
void *jsonata__palloc(struct jsonata__pool *p, size_t size);
char *jsonata__pstrndup(struct jsonata__pool *p, const char *s, size_t n);
void jsonata__pool_free(struct jsonata__pool *p);

/* ---- Lexer ---- */
enum jsonata__tok_type {
    TK_END = 0,
    TK_NAME,
    TK_VAR,
    TK_OP,
    TK_STR,
    TK_NUM,
    TK_VALUE,
    TK_REGEX,
};

struct jsonata__token {
    int type;
    const char *s; /* name, variable, operator text, string value, regex pattern */
    size_t len;
    double num;
    int value;     /* TK_VALUE: 0 false, 1 true, 2 null */
    char flags[4]; /* regex flags: i, m */
    int pos;
};

struct jsonata__lexer {
    const char *src;
    size_t len;
    size_t pos;
    struct jsonata__pool *pool;
    struct jsonata__errinfo *err;
};
/* Reads the next token; infix=true forbids a regex. Returns 0 or -1 on error. */
int jsonata__lex(struct jsonata__lexer *lx, struct jsonata__token *t, bool infix);

/* ---- Signatures ---- */
struct jsonata__sigparam {
    char type;        /* s n b l o a f j x, or '(' for a choice */
    char cls[12];     /* the symbols this param accepts */
    char quant;       /* 0, '?', '+' */
    bool context;     /* '-': use the context when missing */
    char subtype[16]; /* a<n> / f<...> text */
    bool has_sub;     /* a subtype was given (possibly empty) */
};
struct jsonata__sig {
    struct jsonata__sigparam p[12];
    int n;
};
/* Parses "<...>" into *sig; returns 0 or -1 with err (S0401/S0402). */
int jsonata__sig_parse(const char *text, struct jsonata__sig *sig, struct jsonata__errinfo *err);

/* ---- AST ---- */
enum jsonata__ntype {
    N_PATH = 1,
    N_BINARY,
    N_NEG,
    N_ARRAY,
    N_OBJECT,
    N_NAME,
    N_STRING,
    N_NUMBER,
    N_VALUE,
    N_WILDCARD,
    N_DESCENDANT,
    N_PARENT,
    N_CONDITION,
    N_BLOCK,
    N_BIND,
    N_REGEX,
    N_FUNCTION,
    N_PARTIAL,
    N_VARIABLE,
    N_LAMBDA,
    N_APPLY,
    N_TRANSFORM,
    N_SORT,
    N_PLACEHOLDER,
    N_OPERATOR, /* raw: an operator token used as an operand */
    N_GROUPBY,  /* raw: lhs{...} */
    N_ORDERBY,  /* raw: lhs^(...) */
    N_END,      /* raw: the end of the expression used as an operand (S0207) */
};

enum jsonata__op {
    OP_NONE = 0,
    OP_DOT,
    OP_PRED,
    OP_BIND,
    OP_FOCUS,
    OP_INDEX,
    OP_APPLY,
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_MOD,
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_CONCAT,
    OP_AND,
    OP_OR,
    OP_IN,
    OP_RANGE,
};

struct jsonata__slot {
    int label;
    int level;
    int index;
};

struct jsonata__node;

struct jsonata__stage {
    bool is_index;
    struct jsonata__node *expr; /* filter */
    const char *var;            /* index variable */
    int pos;
};

struct jsonata__node {
    int type;
    int op;
    int pos;
    const char *str; /* name / variable / string / operator */
    size_t slen;
    double num;
    struct ef_val *lit; /* literal value (string, number, true/false/null) */

    struct jsonata__node *lhs, *rhs;
    struct jsonata__node *cond, *then, *els; /* condition; transform: pattern/update/delete */
    struct jsonata__node *proc, *body;
    struct jsonata__node **items; /* steps, expressions, arguments, params, pairs (k,v,k,v) */
    int nitems, citems;
    bool *desc; /* sort terms: descending flags */

    struct jsonata__stage *stages;
    int nstages, cstages;
    struct jsonata__node **preds;
    int npreds, cpreds;
    struct jsonata__node **group; /* k,v,k,v */
    int ngroup;
    int group_pos;
    bool has_group;

    const char *focus;
    const char *index;
    bool tuple, keep_array, cons_array, keep_singleton, thunk;
    struct jsonata__slot *ancestor;
    struct jsonata__slot *slot;
    struct jsonata__slot **seeking;
    int nseeking, cseeking;
    bool has_seeking;

    struct jsonata__sig *sig;
    pcre2_code *re;
    int builtin; /* variable: index of the built-in of that name, or -1 */
    struct jsonata__node *next_all;
};

struct ef_jsonata {
    char *src;
    struct jsonata__node *root;
    struct jsonata__pool pool;
    struct jsonata__node *all;
};

/* Parses src into e->root. Returns 0 or -1 with err filled in. */
int jsonata__parse(struct ef_jsonata *e, struct jsonata__errinfo *err);

/* ---- Evaluation ---- */

/* Flags carried next to a value during evaluation. */
enum {
    JF_SEQ = 1,   /* a sequence (an internal array) */
    JF_KEEP = 2,  /* keep a singleton sequence as an array */
    JF_CONS = 4,  /* an array built by a constructor (not flattened by a path) */
    JF_TUPLE = 8, /* a tuple stream: array of binding objects */
    JF_OUTER = 16,
};

/* An evaluation result: a value (NULL = undefined, owned) and flags. */
struct jv {
    struct ef_val *v;
    unsigned f;
};

struct jsonata__env;
struct jsonata__ctx;

/* A built-in function. */
struct jsonata__builtin {
    const char *name;
    const char *signature;
    int (*fn)(struct jsonata__ctx *c, struct jv *args, int nargs, struct ef_val *focus,
              struct jsonata__env *env, struct jv *out);
};
extern const struct jsonata__builtin jsonata__builtins[];
/* Index of the built-in called `name`, or -1. */
int jsonata__builtin_find(const char *name, size_t len);
/* The parsed signature of built-in i (parsed lazily once; thread-safe read). */
const struct jsonata__sig *jsonata__builtin_sig(int i);

enum { FN_LAMBDA = 1, FN_BUILTIN, FN_NATIVE, FN_PARTIAL, FN_CHAIN, FN_TRANSFORM, FN_REGEX };

/* A function value, wrapped in an ef_val handle of ef_jsonata_function_type. */
struct jsonata__fn {
    int kind;
    /* lambda */
    const struct jsonata__node *node;
    struct jsonata__env *env;
    struct ef_val *input;
    struct jsonata__ctx *ctx; /* while registered with a live evaluation */
    struct jsonata__fn *prev, *next;
    /* built-in / native */
    int builtin;
    const struct ef_jsonata_native *native;
    struct jsonata__sig *native_sig;
    /* partial */
    struct ef_val *target;
    struct ef_val **pargs; /* NULL entries: placeholders... see is_ph */
    bool *is_ph;
    int npargs;
    int arity;
};

struct jsonata__binding {
    const char *name; /* names starting with '!' are copied (own) */
    size_t nlen;
    bool own;
    struct jv val;
};

struct jsonata__env {
    struct jsonata__env *parent;
    int refs;
    struct jsonata__binding *b;
    int n, cap;
    struct jsonata__binding inl[3]; /* first bindings live here */
    bool on_stack;                  /* the root frame lives in ef_jsonata_eval's stack */
    struct jsonata__env *prev_all, *next_all;
    struct jsonata__ctx *ctx;
};

struct jsonata__ctx {
    const struct ef_jsonata *expr;
    const struct ef_jsonata_opts *opts;
    struct jsonata__errinfo err;
    struct jsonata__env *envs;
    struct jsonata__fn *fns;
    unsigned depth, max_depth;
    uint64_t deadline_ns;
    unsigned ticks;
    int64_t now_ms; /* $now()/$millis() are fixed per evaluation; 0 until read */
    pcre2_match_data *md;
    struct ef_val *input;      /* the top-level input when it is an array (outer wrapper) */
    uint64_t rng;              /* $random / $shuffle state */
    uintptr_t stack_limit;     /* lowest stack address evaluation may reach (0: unknown) */
    struct ef_jsonata **evals; /* expressions compiled by $eval, freed at the end */
    int nevals;
};

/* Raising errors: fills c->err and returns -1. */
int jsonata__error(struct jsonata__ctx *c, const char *code, int pos, const char *token);
/* Like jsonata__error, with the offending value printed as JSON. */
int jsonata__error_val(struct jsonata__ctx *c, const char *code, int pos, const char *token,
                       const struct ef_val *value);
/* Fills a caller-facing error from the internal details. */
void jsonata__error_export(const struct jsonata__errinfo *in, struct ef_jsonata_error *out);

/* Evaluates node against input (borrowed) in env; result in *out. */
int jsonata__eval(struct jsonata__ctx *c, const struct jsonata__node *n, struct ef_val *input,
                  struct jsonata__env *env, struct jv *out);
/* Evaluates a call, partial application, ~> or transform node. */
int jsonata__eval_call(struct jsonata__ctx *c, const struct jsonata__node *n, struct ef_val *input,
                       struct jsonata__env *env, struct jv *out);
/* Calls a function value with args (borrowed); result in *out. */
int jsonata__apply(struct jsonata__ctx *c, struct ef_val *fn, struct jv *args, int nargs,
                   struct ef_val *focus, struct jsonata__env *env, int pos, struct jv *out);
/* Number of parameters a function value declares. */
int jsonata__fn_arity(struct ef_val *fn);
bool jsonata__is_fn(const struct ef_val *v);
/* Makes a function value for built-in i. */
struct ef_val *jsonata__fn_builtin(int i);

/* Environments. */
struct jsonata__env *jsonata__env_new(struct jsonata__ctx *c, struct jsonata__env *parent);
void jsonata__env_unref(struct jsonata__env *e);
/* Sets up a caller-owned (stack) frame registered with c. */
void jsonata__env_init(struct jsonata__ctx *c, struct jsonata__env *e);
int jsonata__env_bind(struct jsonata__env *e, const char *name, size_t nlen, struct jv val);
struct jv *jsonata__env_lookup(struct jsonata__env *e, const char *name, size_t nlen);

/* Value helpers (value.c). */
void jv_drop(struct jv *j);
/* Turns a result into a plain value: unwraps sequences as jsonata does. */
struct ef_val *jsonata__seq_finish(struct jv *j);
bool jsonata__is_array(const struct ef_val *v);
bool jsonata__is_number(const struct ef_val *v);
bool jsonata__is_string(const struct ef_val *v);
bool jsonata__truthy(const struct ef_val *v); /* fn.boolean semantics */
bool jsonata__deep_equal(const struct ef_val *a, const struct ef_val *b);
/* Appends v to array a (new array if a is NULL), flattening arrays. */
struct ef_val *jsonata__append(struct ef_val *a, struct ef_val *v);
/* Makes a one-item array from v (adopts v). */
struct ef_val *jsonata__wrap(struct ef_val *v);
/* Prints a value as $string does (or JSON for error messages). */
char *jsonata__stringify(const struct ef_val *v, bool pretty, size_t *len);
bool jsonata__has_infinite(const struct ef_val *v);
/* A JSON text for an error message, truncated to fit. */
void jsonata__value_json(const struct ef_val *v, char *buf, size_t len);
/* Prints a number as JavaScript (with jsonata's 15-digit rounding when `prec`). */
size_t jsonata__num_str(double d, char *buf, bool prec);
/* Check the time limit now and then; returns -1 with U1001 when exceeded. */
int jsonata__check_time(struct jsonata__ctx *c);

/* UTF-16 helpers (utf.c). */
size_t jsonata__u16_len(const char *s, size_t n);
/* Byte offset of UTF-16 unit index i in s (clamped to n). */
size_t jsonata__u16_offset(const char *s, size_t n, size_t i);
/* Decodes one code point at s[*i], advancing *i. */
uint32_t jsonata__utf8_next(const char *s, size_t n, size_t *i);
/* Encodes cp as UTF-8 into out (4 bytes max); returns the byte count. */
int jsonata__utf8_put(uint32_t cp, char *out);

/* Signature validation: checks args against sig, using focus for `-`.
 * On success *vargs gets a new malloc'ed list of owned values. */
int jsonata__sig_validate(struct jsonata__ctx *c, const struct jsonata__sig *sig, struct jv *args,
                          int nargs, struct ef_val *focus, struct jv *stack, int nstack,
                          struct jv **vargs, int *nvargs, int pos, const char *fname);

/* Regex (regex.c). */
pcre2_code *jsonata__regex_compile(const char *pat, size_t len, const char *flags,
                                   struct jsonata__errinfo *err);
/* Finds the next match at or after byte `start`: returns 1 and fills ov
 * (pairs of offsets, ovn pairs), 0 for no match, -1 on error. */
int jsonata__regex_exec(struct jsonata__ctx *c, const pcre2_code *re, const char *s, size_t n,
                        size_t start, size_t **ov, uint32_t *ovn);
/* The regex of a regex function value, or NULL. */
const pcre2_code *jsonata__regex_of(const struct ef_val *fn);
/* Builds the value of a regex literal (a function value). */
struct ef_val *jsonata__regex_fn(struct jsonata__ctx *c, const struct jsonata__node *n);
/* $match-style result object for one match. */
struct ef_val *jsonata__match_obj(const char *s, size_t *ov, uint32_t ovn);

/* Date/time (datetime.c). */
int jsonata__fmt_datetime(struct jsonata__ctx *c, double millis, const char *pic, size_t piclen,
                          const char *tz, size_t tzlen, struct ef_val **out);
int jsonata__parse_datetime(struct jsonata__ctx *c, const char *s, size_t n, const char *pic,
                            size_t piclen, struct jv *out);
int jsonata__iso_to_millis(const char *s, size_t n, double *out);
char *jsonata__millis_to_iso(double ms, char *buf);
int jsonata__fmt_integer(struct jsonata__ctx *c, double v, const char *pic, size_t n,
                         struct ef_val **out);
int jsonata__parse_integer(struct jsonata__ctx *c, const char *s, size_t n, const char *pic,
                           size_t pn, struct jv *out);

/* The evaluation's fixed "now" in ms since the epoch (read once, lazily). */
int64_t jsonata__now_ms(struct jsonata__ctx *c);
/* Helpers for built-ins. */
double jsonata__round(double x, int prec);
double jsonata__random(struct jsonata__ctx *c);
struct ef_val *jsonata__strbuf_val(char *s, size_t n); /* adopts malloc'ed s */
int jsonata__hof_args(struct ef_val *fn, struct jv *base, int nbase, struct jv *out);

#endif
