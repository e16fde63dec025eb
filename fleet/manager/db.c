/*
 * db.c - the SQL layer of db.h: the same calls over sqlite3 and libpq.
 */
#include "manager/db.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "edgeflow/err.h"

/*
 * libpq and libsqlite3 are loaded on first use, like libcurl (runtime/curl_api.h):
 * linked, libpq alone maps its dependency tree (gssapi, krb5, ldap, ...) into every
 * edgeflow process, agents included, costing about 3.5 MB of RSS each.
 */
struct pq_api {
    __typeof__(PQclear) *PQclear;
    __typeof__(PQcmdTuples) *PQcmdTuples;
    __typeof__(PQconnectdb) *PQconnectdb;
    __typeof__(PQerrorMessage) *PQerrorMessage;
    __typeof__(PQexec) *PQexec;
    __typeof__(PQexecParams) *PQexecParams;
    __typeof__(PQfinish) *PQfinish;
    __typeof__(PQfreemem) *PQfreemem;
    __typeof__(PQftype) *PQftype;
    __typeof__(PQgetisnull) *PQgetisnull;
    __typeof__(PQgetlength) *PQgetlength;
    __typeof__(PQgetvalue) *PQgetvalue;
    __typeof__(PQnfields) *PQnfields;
    __typeof__(PQntuples) *PQntuples;
    __typeof__(PQresultErrorField) *PQresultErrorField;
    __typeof__(PQresultErrorMessage) *PQresultErrorMessage;
    __typeof__(PQresultStatus) *PQresultStatus;
    __typeof__(PQsetNoticeProcessor) *PQsetNoticeProcessor;
    __typeof__(PQstatus) *PQstatus;
    __typeof__(PQunescapeBytea) *PQunescapeBytea;
};

struct lite_api {
    __typeof__(sqlite3_bind_blob64) *sqlite3_bind_blob64;
    __typeof__(sqlite3_bind_double) *sqlite3_bind_double;
    __typeof__(sqlite3_bind_int64) *sqlite3_bind_int64;
    __typeof__(sqlite3_bind_null) *sqlite3_bind_null;
    __typeof__(sqlite3_bind_parameter_count) *sqlite3_bind_parameter_count;
    __typeof__(sqlite3_bind_parameter_name) *sqlite3_bind_parameter_name;
    __typeof__(sqlite3_bind_text) *sqlite3_bind_text;
    __typeof__(sqlite3_busy_timeout) *sqlite3_busy_timeout;
    __typeof__(sqlite3_changes64) *sqlite3_changes64;
    __typeof__(sqlite3_clear_bindings) *sqlite3_clear_bindings;
    __typeof__(sqlite3_close) *sqlite3_close;
    __typeof__(sqlite3_column_blob) *sqlite3_column_blob;
    __typeof__(sqlite3_column_bytes) *sqlite3_column_bytes;
    __typeof__(sqlite3_column_count) *sqlite3_column_count;
    __typeof__(sqlite3_column_text) *sqlite3_column_text;
    __typeof__(sqlite3_column_type) *sqlite3_column_type;
    __typeof__(sqlite3_errmsg) *sqlite3_errmsg;
    __typeof__(sqlite3_errstr) *sqlite3_errstr;
    __typeof__(sqlite3_exec) *sqlite3_exec;
    __typeof__(sqlite3_extended_errcode) *sqlite3_extended_errcode;
    __typeof__(sqlite3_extended_result_codes) *sqlite3_extended_result_codes;
    __typeof__(sqlite3_finalize) *sqlite3_finalize;
    __typeof__(sqlite3_free) *sqlite3_free;
    __typeof__(sqlite3_open_v2) *sqlite3_open_v2;
    __typeof__(sqlite3_prepare_v3) *sqlite3_prepare_v3;
    __typeof__(sqlite3_reset) *sqlite3_reset;
    __typeof__(sqlite3_step) *sqlite3_step;
};

static struct pq_api pq;
static struct lite_api lt;
static pthread_once_t pq_once = PTHREAD_ONCE_INIT;
static pthread_once_t lt_once = PTHREAD_ONCE_INIT;
static char pq_err[256]; /* written once, by the loader */
static char lt_err[256];

/* Resolves `names` (n of them) from `lib` into the table `fns`; the first failure goes to err. */
static void load_lib(const char *lib, const char *pkg, const char *const *names, void **fns,
                     size_t n, char *err, size_t errlen)
{
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(err, errlen, "cannot load %s (install %s): %s", lib, pkg, dlerror());
        return;
    }
    for (size_t i = 0; i < n; i++) {
        fns[i] = dlsym(h, names[i]);
        if (!fns[i]) {
            snprintf(err, errlen, "%s has no %s", lib, names[i]);
            return;
        }
    }
}

static const char *const pq_names[] = {"PQclear",
                                       "PQcmdTuples",
                                       "PQconnectdb",
                                       "PQerrorMessage",
                                       "PQexec",
                                       "PQexecParams",
                                       "PQfinish",
                                       "PQfreemem",
                                       "PQftype",
                                       "PQgetisnull",
                                       "PQgetlength",
                                       "PQgetvalue",
                                       "PQnfields",
                                       "PQntuples",
                                       "PQresultErrorField",
                                       "PQresultErrorMessage",
                                       "PQresultStatus",
                                       "PQsetNoticeProcessor",
                                       "PQstatus",
                                       "PQunescapeBytea"};
static const char *const lt_names[] = {"sqlite3_bind_blob64",
                                       "sqlite3_bind_double",
                                       "sqlite3_bind_int64",
                                       "sqlite3_bind_null",
                                       "sqlite3_bind_parameter_count",
                                       "sqlite3_bind_parameter_name",
                                       "sqlite3_bind_text",
                                       "sqlite3_busy_timeout",
                                       "sqlite3_changes64",
                                       "sqlite3_clear_bindings",
                                       "sqlite3_close",
                                       "sqlite3_column_blob",
                                       "sqlite3_column_bytes",
                                       "sqlite3_column_count",
                                       "sqlite3_column_text",
                                       "sqlite3_column_type",
                                       "sqlite3_errmsg",
                                       "sqlite3_errstr",
                                       "sqlite3_exec",
                                       "sqlite3_extended_errcode",
                                       "sqlite3_extended_result_codes",
                                       "sqlite3_finalize",
                                       "sqlite3_free",
                                       "sqlite3_open_v2",
                                       "sqlite3_prepare_v3",
                                       "sqlite3_reset",
                                       "sqlite3_step"};

static void pq_load(void)
{
    _Static_assert(sizeof(pq) == sizeof(pq_names) / sizeof(pq_names[0]) * sizeof(void *),
                   "pq_api and pq_names differ");
    load_lib("libpq.so.5", "libpq5", pq_names, (void **)&pq, sizeof(pq) / sizeof(void *), pq_err,
             sizeof(pq_err));
}

static void lt_load(void)
{
    _Static_assert(sizeof(lt) == sizeof(lt_names) / sizeof(lt_names[0]) * sizeof(void *),
                   "lite_api and lt_names differ");
    load_lib("libsqlite3.so.0", "libsqlite3-0", lt_names, (void **)&lt, sizeof(lt) / sizeof(void *),
             lt_err, sizeof(lt_err));
}

#define DB_STMT_CACHE 64
#define DB_MAX_PARAMS 64

/* PostgreSQL type oids (catalog/pg_type.h, stable). */
#define PG_OID_BYTEA 17
#define PG_OID_INT8 20
#define PG_OID_FLOAT8 701

struct db_stmt_slot {
    char *sql;
    sqlite3_stmt *stmt;
};

struct db {
    enum db_kind kind;
    char *url;
    sqlite3 *lite;
    PGconn *pg;
    bool in_tx;
    unsigned generation; /* PostgreSQL: counts (re)connections */
    unsigned cache_next;
    struct db_stmt_slot cache[DB_STMT_CACHE];
    char err[512];
};

struct db_param db_text(const char *s)
{
    struct db_param p = {.type = s ? DB_P_TEXT : DB_P_NULL, .data = s};
    return p;
}

struct db_param db_int(int64_t i)
{
    struct db_param p = {.type = DB_P_INT, .i = i};
    return p;
}

struct db_param db_real(double d)
{
    struct db_param p = {.type = DB_P_REAL, .d = d};
    return p;
}

struct db_param db_blob(const void *data, size_t len)
{
    struct db_param p = {.type = DB_P_BLOB, .data = data ? data : "", .len = len};
    return p;
}

struct db_param db_null(void)
{
    struct db_param p = {.type = DB_P_NULL};
    return p;
}

/* Sets the error message (one line: newlines become spaces) and returns code. */
__attribute__((format(printf, 3, 4))) static int fail(struct db *db, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(db->err, sizeof(db->err), fmt, ap);
    va_end(ap);
    size_t n = strlen(db->err);
    while (n > 0 && (db->err[n - 1] == '\n' || db->err[n - 1] == ' ')) {
        db->err[--n] = '\0';
    }
    for (char *p = db->err; *p; p++) {
        if (*p == '\n' || *p == '\t') {
            *p = ' ';
        }
    }
    return code;
}

static void no_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static bool is_pg_url(const char *url)
{
    return strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0;
}

static int pg_connect(struct db *db)
{
    if (db->pg) {
        pq.PQfinish(db->pg);
    }
    db->pg = pq.PQconnectdb(db->url);
    if (!db->pg) {
        return fail(db, EF_ENOMEM, "postgresql: out of memory");
    }
    if (pq.PQstatus(db->pg) != CONNECTION_OK) {
        return fail(db, EF_EIO, "postgresql: cannot connect: %s", pq.PQerrorMessage(db->pg));
    }
    pq.PQsetNoticeProcessor(db->pg, no_notices, NULL);
    db->in_tx = false;
    db->generation++;
    return 0;
}

int db_open(const char *url, struct db **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!url || !*url) {
        if (errlen) {
            snprintf(err, errlen, "no database given");
        }
        return EF_EINVAL;
    }
    struct db *db = calloc(1, sizeof(*db));
    if (!db || !(db->url = strdup(url))) {
        free(db);
        if (errlen) {
            snprintf(err, errlen, "out of memory");
        }
        return EF_ENOMEM;
    }
    int rc = 0;
    if (is_pg_url(url)) {
        db->kind = DB_POSTGRES;
        pthread_once(&pq_once, pq_load);
        rc = pq_err[0] ? fail(db, EF_EUNSUPP, "postgresql: %s", pq_err) : pg_connect(db);
    } else if (pthread_once(&lt_once, lt_load), lt_err[0]) {
        db->kind = DB_SQLITE;
        rc = fail(db, EF_EUNSUPP, "sqlite: %s", lt_err);
    } else {
        db->kind = DB_SQLITE;
        const char *path = strncmp(url, "file:", 5) == 0 ? url + 5 : url;
        int lrc =
            lt.sqlite3_open_v2(path, &db->lite, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
        if (lrc != SQLITE_OK) {
            rc = fail(db, EF_EIO, "sqlite %s: %s", path,
                      db->lite ? lt.sqlite3_errmsg(db->lite) : lt.sqlite3_errstr(lrc));
        } else {
            lt.sqlite3_extended_result_codes(db->lite, 1);
            lt.sqlite3_busy_timeout(db->lite, 10000);
            bool mem = strcmp(path, ":memory:") == 0;
            rc = db_script(db, mem ? "PRAGMA foreign_keys=ON"
                                   : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                                     "PRAGMA foreign_keys=ON");
        }
    }
    if (rc != 0) {
        if (errlen) {
            snprintf(err, errlen, "%s", db->err);
        }
        db_close(db);
        return rc;
    }
    *out = db;
    return 0;
}

void db_close(struct db *db)
{
    if (!db) {
        return;
    }
    for (unsigned i = 0; i < DB_STMT_CACHE; i++) {
        if (db->cache[i].stmt) {
            lt.sqlite3_finalize(db->cache[i].stmt);
        }
        free(db->cache[i].sql);
    }
    if (db->lite) {
        lt.sqlite3_close(db->lite);
    }
    if (db->pg) {
        pq.PQfinish(db->pg);
    }
    free(db->url);
    free(db);
}

enum db_kind db_kind(const struct db *db)
{
    return db->kind;
}

const char *db_errmsg(const struct db *db)
{
    return db->err;
}

void db_res_clear(struct db_res *res)
{
    if (!res) {
        return;
    }
    for (size_t i = 0; i < res->nrows * res->ncols; i++) {
        free(res->cells[i].data);
    }
    free(res->cells);
    memset(res, 0, sizeof(*res));
}

/* Appends one row of ncols empty cells; returns the row's first cell or NULL on OOM. */
static struct db_cell *res_add_row(struct db_res *res, size_t *cap)
{
    if (res->nrows == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct db_cell *cells = realloc(res->cells, ncap * res->ncols * sizeof(*cells));
        if (!cells) {
            return NULL;
        }
        res->cells = cells;
        *cap = ncap;
    }
    struct db_cell *row = res->cells + res->nrows * res->ncols;
    memset(row, 0, res->ncols * sizeof(*row));
    res->nrows++;
    return row;
}

static int cell_set(struct db_cell *cell, const void *data, size_t len)
{
    cell->data = malloc(len + 1);
    if (!cell->data) {
        return EF_ENOMEM;
    }
    if (len) {
        memcpy(cell->data, data, len);
    }
    cell->data[len] = '\0';
    cell->len = len;
    return 0;
}

/* ---------------------------------------------------------------- SQLite */

static sqlite3_stmt *lite_prepare(struct db *db, const char *sql)
{
    for (unsigned i = 0; i < DB_STMT_CACHE; i++) {
        if (db->cache[i].sql && strcmp(db->cache[i].sql, sql) == 0) {
            return db->cache[i].stmt;
        }
    }
    sqlite3_stmt *stmt = NULL;
    if (lt.sqlite3_prepare_v3(db->lite, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) !=
        SQLITE_OK) {
        fail(db, EF_EIO, "sqlite: %s (in: %.120s)", lt.sqlite3_errmsg(db->lite), sql);
        return NULL;
    }
    char *copy = strdup(sql);
    if (!copy) {
        lt.sqlite3_finalize(stmt);
        fail(db, EF_ENOMEM, "out of memory");
        return NULL;
    }
    struct db_stmt_slot *slot = &db->cache[db->cache_next];
    db->cache_next = (db->cache_next + 1) % DB_STMT_CACHE;
    lt.sqlite3_finalize(slot->stmt);
    free(slot->sql);
    slot->sql = copy;
    slot->stmt = stmt;
    return stmt;
}

static int lite_bind(struct db *db, sqlite3_stmt *stmt, const struct db_param *params, size_t np)
{
    int count = lt.sqlite3_bind_parameter_count(stmt);
    for (int i = 1; i <= count; i++) {
        const char *name = lt.sqlite3_bind_parameter_name(stmt, i);
        char *end = NULL;
        long k = name && name[0] == '$' ? strtol(name + 1, &end, 10) : 0;
        if (k < 1 || !end || *end || (size_t)k > np) {
            return fail(db, EF_EINVAL, "sqlite: parameter %s has no value (%zu given)",
                        name ? name : "?", np);
        }
        const struct db_param *p = &params[k - 1];
        int rc = SQLITE_OK;
        switch (p->type) {
        case DB_P_NULL: rc = lt.sqlite3_bind_null(stmt, i); break;
        case DB_P_TEXT: rc = lt.sqlite3_bind_text(stmt, i, p->data, -1, SQLITE_STATIC); break;
        case DB_P_INT: rc = lt.sqlite3_bind_int64(stmt, i, p->i); break;
        case DB_P_REAL: rc = lt.sqlite3_bind_double(stmt, i, p->d); break;
        case DB_P_BLOB: rc = lt.sqlite3_bind_blob64(stmt, i, p->data, p->len, SQLITE_STATIC); break;
        }
        if (rc != SQLITE_OK) {
            return fail(db, EF_EIO, "sqlite: binding %s: %s", name, lt.sqlite3_errstr(rc));
        }
    }
    return 0;
}

static int lite_error(struct db *db, int rc, const char *sql)
{
    int code = EF_EIO;
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        code = EF_EEXIST;
    } else if (rc == SQLITE_NOMEM) {
        code = EF_ENOMEM;
    }
    return fail(db, code, "sqlite: %s (in: %.120s)", lt.sqlite3_errmsg(db->lite), sql);
}

static int lite_exec(struct db *db, const char *sql, const struct db_param *params, size_t np,
                     struct db_res *res)
{
    sqlite3_stmt *stmt = lite_prepare(db, sql);
    if (!stmt) {
        return db->err[0] && strstr(db->err, "out of memory") ? EF_ENOMEM : EF_EIO;
    }
    int rc = lite_bind(db, stmt, params, np);
    size_t cap = 0;
    if (rc == 0 && res) {
        res->ncols = (size_t)lt.sqlite3_column_count(stmt);
    }
    while (rc == 0) {
        int s = lt.sqlite3_step(stmt);
        if (s == SQLITE_DONE) {
            break;
        }
        if (s != SQLITE_ROW) {
            rc = lite_error(db, lt.sqlite3_extended_errcode(db->lite), sql);
            break;
        }
        if (!res || res->ncols == 0) {
            continue;
        }
        struct db_cell *row = res_add_row(res, &cap);
        if (!row) {
            rc = fail(db, EF_ENOMEM, "out of memory");
            break;
        }
        for (size_t c = 0; c < res->ncols && rc == 0; c++) {
            int t = lt.sqlite3_column_type(stmt, (int)c);
            if (t == SQLITE_NULL) {
                continue;
            }
            const void *data = t == SQLITE_BLOB
                                   ? lt.sqlite3_column_blob(stmt, (int)c)
                                   : (const void *)lt.sqlite3_column_text(stmt, (int)c);
            size_t len = (size_t)lt.sqlite3_column_bytes(stmt, (int)c);
            if (cell_set(&row[c], data, len) != 0) {
                rc = fail(db, EF_ENOMEM, "out of memory");
            }
        }
    }
    if (rc == 0 && res) {
        res->changes = lt.sqlite3_changes64(db->lite);
    }
    lt.sqlite3_reset(stmt);
    lt.sqlite3_clear_bindings(stmt);
    return rc;
}

/* ---------------------------------------------------------------- PostgreSQL */

static int pg_error(struct db *db, PGresult *r, const char *sql)
{
    const char *state = r ? pq.PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    int code = state && strcmp(state, "23505") == 0 ? EF_EEXIST : EF_EIO;
    const char *msg = r ? pq.PQresultErrorMessage(r) : "";
    if (!msg || !*msg) {
        msg = pq.PQerrorMessage(db->pg);
    }
    fail(db, code, "postgresql: %s (in: %.120s)", msg, sql);
    pq.PQclear(r);
    return code;
}

/*
 * A connection found dead by an earlier call is reopened before the next one, unless a
 * transaction was open on it: then the caller's rollback comes first.
 */
static int pg_ready(struct db *db)
{
    if (pq.PQstatus(db->pg) == CONNECTION_BAD && !db->in_tx) {
        return pg_connect(db);
    }
    return 0;
}

static int pg_exec(struct db *db, const char *sql, const struct db_param *params, size_t np,
                   struct db_res *res)
{
    if (np > DB_MAX_PARAMS) {
        return fail(db, EF_EINVAL, "too many parameters (%zu)", np);
    }
    int rc = pg_ready(db);
    if (rc != 0) {
        return rc;
    }
    Oid types[DB_MAX_PARAMS];
    const char *values[DB_MAX_PARAMS];
    int lengths[DB_MAX_PARAMS];
    int formats[DB_MAX_PARAMS];
    char nums[DB_MAX_PARAMS][32];
    for (size_t i = 0; i < np; i++) {
        const struct db_param *p = &params[i];
        types[i] = 0;
        lengths[i] = 0;
        formats[i] = 0;
        values[i] = NULL;
        switch (p->type) {
        case DB_P_NULL: break;
        case DB_P_TEXT: values[i] = p->data; break;
        case DB_P_INT:
            types[i] = PG_OID_INT8;
            snprintf(nums[i], sizeof(nums[i]), "%lld", (long long)p->i);
            values[i] = nums[i];
            break;
        case DB_P_REAL:
            types[i] = PG_OID_FLOAT8;
            snprintf(nums[i], sizeof(nums[i]), "%.17g", p->d);
            values[i] = nums[i];
            break;
        case DB_P_BLOB:
            if (p->len > 0x7fffffff) {
                return fail(db, EF_ERANGE, "blob parameter too large (%zu bytes)", p->len);
            }
            types[i] = PG_OID_BYTEA;
            values[i] = p->data;
            lengths[i] = (int)p->len;
            formats[i] = 1;
            break;
        }
    }
    PGresult *r = pq.PQexecParams(db->pg, sql, (int)np, types, values, lengths, formats, 0);
    ExecStatusType s = r ? pq.PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        return pg_error(db, r, sql);
    }
    rc = 0;
    if (res) {
        res->ncols = s == PGRES_TUPLES_OK ? (size_t)pq.PQnfields(r) : 0;
        res->changes = atoll(pq.PQcmdTuples(r));
        size_t nrows = res->ncols ? (size_t)pq.PQntuples(r) : 0;
        size_t cap = 0;
        for (size_t row = 0; row < nrows && rc == 0; row++) {
            struct db_cell *cells = res_add_row(res, &cap);
            if (!cells) {
                rc = fail(db, EF_ENOMEM, "out of memory");
                break;
            }
            for (size_t c = 0; c < res->ncols && rc == 0; c++) {
                if (pq.PQgetisnull(r, (int)row, (int)c)) {
                    continue;
                }
                const char *v = pq.PQgetvalue(r, (int)row, (int)c);
                if (pq.PQftype(r, (int)c) == PG_OID_BYTEA) {
                    size_t blen = 0;
                    unsigned char *bytes = pq.PQunescapeBytea((const unsigned char *)v, &blen);
                    if (!bytes) {
                        rc = fail(db, EF_ENOMEM, "out of memory");
                        break;
                    }
                    rc = cell_set(&cells[c], bytes, blen);
                    pq.PQfreemem(bytes);
                } else {
                    rc = cell_set(&cells[c], v, (size_t)pq.PQgetlength(r, (int)row, (int)c));
                }
                if (rc != 0) {
                    fail(db, rc, "out of memory");
                }
            }
        }
    }
    pq.PQclear(r);
    return rc;
}

/* ---------------------------------------------------------------- both */

int db_exec(struct db *db, const char *sql, const struct db_param *params, size_t np,
            struct db_res *res)
{
    if (res) {
        memset(res, 0, sizeof(*res));
    }
    int rc = db->kind == DB_SQLITE ? lite_exec(db, sql, params, np, res)
                                   : pg_exec(db, sql, params, np, res);
    if (rc != 0 && res) {
        db_res_clear(res);
    }
    return rc;
}

int db_script(struct db *db, const char *sql)
{
    if (db->kind == DB_SQLITE) {
        char *msg = NULL;
        int rc = lt.sqlite3_exec(db->lite, sql, NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
            int code =
                fail(db, EF_EIO, "sqlite: %s (in: %.120s)", msg ? msg : lt.sqlite3_errstr(rc), sql);
            lt.sqlite3_free(msg);
            return code;
        }
        return 0;
    }
    int rc = pg_ready(db);
    if (rc != 0) {
        return rc;
    }
    PGresult *r = pq.PQexec(db->pg, sql);
    ExecStatusType s = r ? pq.PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        return pg_error(db, r, sql);
    }
    pq.PQclear(r);
    return 0;
}

const char *db_get_text(const struct db_res *res, size_t r, size_t c)
{
    if (!res || r >= res->nrows || c >= res->ncols) {
        return NULL;
    }
    return res->cells[r * res->ncols + c].data;
}

int64_t db_get_int(const struct db_res *res, size_t r, size_t c)
{
    const char *t = db_get_text(res, r, c);
    return t ? strtoll(t, NULL, 10) : 0;
}

double db_get_real(const struct db_res *res, size_t r, size_t c)
{
    const char *t = db_get_text(res, r, c);
    return t ? strtod(t, NULL) : 0;
}

const void *db_get_blob(const struct db_res *res, size_t r, size_t c, size_t *len)
{
    const char *t = db_get_text(res, r, c);
    *len = t ? res->cells[r * res->ncols + c].len : 0;
    return t;
}

char *db_dup_text(const struct db_res *res, size_t r, size_t c)
{
    const char *t = db_get_text(res, r, c);
    return t ? strdup(t) : NULL;
}

int db_begin(struct db *db)
{
    if (db->in_tx) {
        return fail(db, EF_EINVAL, "a transaction is already open");
    }
    int rc = db_script(db, db->kind == DB_SQLITE ? "BEGIN IMMEDIATE" : "BEGIN");
    db->in_tx = rc == 0;
    return rc;
}

int db_commit(struct db *db)
{
    if (!db->in_tx) {
        return fail(db, EF_EINVAL, "no transaction is open");
    }
    int rc = db_script(db, "COMMIT");
    if (rc != 0) {
        char saved[sizeof(db->err)];
        memcpy(saved, db->err, sizeof(saved));
        db_rollback(db);
        memcpy(db->err, saved, sizeof(saved));
        return rc;
    }
    db->in_tx = false;
    return 0;
}

void db_rollback(struct db *db)
{
    if (!db->in_tx) {
        return;
    }
    db->in_tx = false;
    if (db->kind == DB_SQLITE) {
        lt.sqlite3_exec(db->lite, "ROLLBACK", NULL, NULL, NULL);
    } else {
        PGresult *r = pq.PQexec(db->pg, "ROLLBACK");
        pq.PQclear(r);
    }
}

bool db_in_transaction(const struct db *db)
{
    return db->in_tx;
}

bool db_alive(struct db *db)
{
    if (db->kind == DB_SQLITE) {
        return true;
    }
    if (pq.PQstatus(db->pg) != CONNECTION_OK) {
        return false;
    }
    PGresult *r = pq.PQexec(db->pg, "SELECT 1");
    bool ok = r && pq.PQresultStatus(r) == PGRES_TUPLES_OK;
    pq.PQclear(r);
    return ok;
}

unsigned db_generation(const struct db *db)
{
    return db->generation;
}

int db_reconnect(struct db *db)
{
    if (db->kind == DB_SQLITE) {
        return 0;
    }
    return pg_connect(db);
}
