/*
 * db.h - one small SQL layer over SQLite (sqlite3) and PostgreSQL (libpq), so
 * the store's statements are written once.
 *
 * SQL uses $1, $2, ... placeholders on both (SQLite takes "$1" as a named
 * parameter; the layer binds by that name). Parameters are typed (text,
 * integer, real, blob, null); results are fully read into memory as cells of
 * bytes (text as the database prints it, blobs as their bytes), so the same
 * accessors work on both backends.
 *
 * Errors: functions return 0 or a negative EF_E* code: EF_EEXIST for a
 * unique-constraint violation, EF_EIO for any other database failure,
 * EF_ENOMEM, EF_EINVAL. db_errmsg() gives the message of the last failure.
 *
 * Transactions: db_begin / db_commit / db_rollback (not nested). On SQLite
 * db_begin takes the write lock at once (BEGIN IMMEDIATE) so two handles on
 * one file queue instead of failing; a busy file is waited for up to 10 s.
 */
#ifndef EF_FLEET_DB_H
#define EF_FLEET_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum db_kind {
    DB_SQLITE,
    DB_POSTGRES,
};

enum db_ptype {
    DB_P_NULL,
    DB_P_TEXT,
    DB_P_INT,
    DB_P_REAL,
    DB_P_BLOB,
};

/* One parameter; the pointers are borrowed for the call. */
struct db_param {
    enum db_ptype type;
    const void *data; /* text (NUL-terminated) or blob bytes */
    size_t len;       /* blob length */
    int64_t i;
    double d;
};

/* Text parameter; NULL becomes SQL NULL. */
struct db_param db_text(const char *s);
struct db_param db_int(int64_t i);
struct db_param db_real(double d);
struct db_param db_blob(const void *data, size_t len);
struct db_param db_null(void);

struct db_cell {
    char *data; /* NUL-terminated (also for blobs); NULL for SQL NULL */
    size_t len;
};

/* A result: nrows x ncols cells, and the number of rows a write changed. */
struct db_res {
    size_t nrows, ncols;
    struct db_cell *cells;
    int64_t changes;
};

struct db;

/*
 * Opens `url`: "postgresql://..." / "postgres://..." (libpq connection URI)
 * or an SQLite file path ("file:" prefix optional; ":memory:" works).
 * Returns 0 and *out, or an EF_E* code with a message in err.
 */
int db_open(const char *url, struct db **out, char *err, size_t errlen);
/* Closes the connection (NULL-safe). */
void db_close(struct db *db);
enum db_kind db_kind(const struct db *db);
/* The last failure's message ("" if none); borrowed. */
const char *db_errmsg(const struct db *db);

/*
 * Runs one statement with np parameters. If res is not NULL it receives the
 * rows (release with db_res_clear; it is zeroed first, and left empty on
 * failure). Returns 0, EF_EEXIST (unique violation) or EF_EIO/EF_ENOMEM.
 */
int db_exec(struct db *db, const char *sql, const struct db_param *params, size_t np,
            struct db_res *res);
/* Runs several ;-separated statements without parameters (schema scripts). */
int db_script(struct db *db, const char *sql);
void db_res_clear(struct db_res *res);

/* Cell accessors (row r, column c); out-of-range or NULL cells give NULL / 0. */
const char *db_get_text(const struct db_res *res, size_t r, size_t c);
int64_t db_get_int(const struct db_res *res, size_t r, size_t c);
double db_get_real(const struct db_res *res, size_t r, size_t c);
/* Bytes of the cell (blob or text); *len gets the length. */
const void *db_get_blob(const struct db_res *res, size_t r, size_t c, size_t *len);
/* A malloc'ed copy of the text (NULL for SQL NULL, or on OOM). */
char *db_dup_text(const struct db_res *res, size_t r, size_t c);

int db_begin(struct db *db);
int db_commit(struct db *db);
/* Rolls back if a transaction is open; never fails (errors are logged in errmsg). */
void db_rollback(struct db *db);
bool db_in_transaction(const struct db *db);

/*
 * PostgreSQL only: whether the connection is alive, and reconnecting it
 * (session state such as advisory locks is lost). Always true / 0 on SQLite.
 */
bool db_alive(struct db *db);
int db_reconnect(struct db *db);
/*
 * PostgreSQL: how many times the connection was opened (db_exec reopens a
 * connection found dead when no transaction is open); a change means session
 * state was lost. Always 0 on SQLite.
 */
unsigned db_generation(const struct db *db);

#endif
