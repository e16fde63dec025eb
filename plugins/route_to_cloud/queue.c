/*
 * queue.c - the durable queue of route-to-cloud (format and guarantees in
 * queue.h and docs/route-to-cloud.md).
 *
 * In memory the queue is a list of segments (id = the seq its name carries,
 * size = bytes that belong to it) and three positions: `head` (the oldest
 * queued record), `rd` (the next record to read) and the end of the last
 * segment, where appends go. Positions move only forward through the
 * append-only files, so a byte range once written never changes; readers
 * keep a buffer of file bytes and refill it when they need more.
 *
 * Recovery: a record is valid when its magic, length and CRC agree. From an
 * invalid one, reading searches forward, byte by byte, for the next valid
 * record; the skipped range counts as one corrupt record, or as a truncated
 * one when it is a record cut short by the end of its segment. Segments
 * are never appended to after a restart (each open starts a new one), so a
 * torn tail stays where it is and is skipped once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <zlib.h>

#include <edgeflow/err.h>

#include "queue.h"

#define REC_MAGIC 0x51435452u /* "RTCQ" */
#define CUR_MAGIC 0x43435452u /* "RTCC" */
#define CUR_SLOT 32
#define RD_CHUNK (256u << 10)
#define SEQ_LIMIT RTCQ_SEQ_LIMIT

struct seg {
    uint64_t id;   /* first seq it may hold (its file name) */
    uint64_t size; /* bytes of the file that belong to the queue */
};

/* A position in the log: a segment id and an offset in it. */
struct pos {
    uint64_t seg;
    uint64_t off;
};

/* A buffered reader over one segment file. */
struct rdbuf {
    int fd;
    uint64_t seg; /* segment the fd is open on */
    uint64_t base;
    size_t len, cap;
    uint8_t *buf;
};

struct rtcq {
    char *dir;
    struct rtcq_opts o;
    int lock_fd, cur_fd, wfd;
    struct seg *segs;
    size_t nsegs, segs_cap;
    struct pos head, rd;
    struct pos scanned; /* skipped ranges before it have been counted */
    double head_ts;     /* time of the record at head (0 when none) */
    bool head_ts_known; /* head_ts is valid */
    uint64_t next_seq, trimmed_seq, cur_gen;
    uint64_t records, bytes;
    bool dirty, cur_dirty; /* written since the last sync: segment, cursor */
    struct rdbuf rbuf, hbuf;
    struct rtcq_stats c; /* counters */
};

/* ---- small helpers ---- */

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void seg_path(const struct rtcq *q, uint64_t id, char *out, size_t len)
{
    snprintf(out, len, "%s/%020" PRIu64 ".seg", q->dir, id);
}

static int mkdirs(const char *dir)
{
    char tmp[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(tmp)) {
        return -1;
    }
    memcpy(tmp, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == 0) {
            char c = tmp[i];
            tmp[i] = 0;
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
                return -1;
            }
            tmp[i] = c;
        }
    }
    return 0;
}

static struct seg *seg_find(struct rtcq *q, uint64_t id, size_t *idx)
{
    for (size_t i = 0; i < q->nsegs; i++) {
        if (q->segs[i].id == id) {
            if (idx) {
                *idx = i;
            }
            return &q->segs[i];
        }
    }
    return NULL;
}

static uint32_t rec_crc(const uint8_t *hdr, const uint8_t *data, size_t len)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, hdr + 4, 20);
    if (len) {
        crc = crc32(crc, data, (uInt)len);
    }
    return (uint32_t)crc;
}

/* ---- buffered reading ---- */

static void rdbuf_close(struct rdbuf *b)
{
    if (b->fd >= 0) {
        close(b->fd);
    }
    b->fd = -1;
    b->len = 0;
}

/*
 * Returns a pointer to n bytes at off of segment s, or NULL when they are
 * not all inside the segment's size (or cannot be read).
 */
static const uint8_t *rdbuf_get(struct rtcq *q, struct rdbuf *b, const struct seg *s, uint64_t off,
                                size_t n)
{
    if (off + n > s->size) {
        return NULL;
    }
    if (b->fd >= 0 && b->seg == s->id && off >= b->base && off + n <= b->base + b->len) {
        return b->buf + (off - b->base);
    }
    if (b->fd < 0 || b->seg != s->id) {
        rdbuf_close(b);
        char path[4096];
        seg_path(q, s->id, path, sizeof(path));
        b->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (b->fd < 0) {
            q->c.io_errors++;
            return NULL;
        }
        b->seg = s->id;
    }
    size_t want = n > RD_CHUNK ? n : RD_CHUNK;
    if (want > s->size - off) {
        want = (size_t)(s->size - off);
    }
    if (want > b->cap) {
        uint8_t *nb = realloc(b->buf, want);
        if (!nb) {
            return NULL;
        }
        b->buf = nb;
        b->cap = want;
    }
    size_t got = 0;
    while (got < want) {
        ssize_t r = pread(b->fd, b->buf + got, want - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
    }
    b->base = off;
    b->len = got;
    if (got < n) {
        q->c.io_errors++;
        return NULL;
    }
    return b->buf;
}

/*
 * Checks for a valid record at off of s. Returns 1 and fills rec (data
 * borrowed from b) when there is one, 0 when there is none, -1 when the
 * bytes there are a plausible header whose record runs past the segment's
 * end (a torn write).
 */
static int rec_at(struct rtcq *q, struct rdbuf *b, const struct seg *s, uint64_t off,
                  struct rtcq_rec *rec)
{
    const uint8_t *h = rdbuf_get(q, b, s, off, RTCQ_HEADER);
    if (!h || get32(h) != REC_MAGIC) {
        return 0;
    }
    uint32_t len = get32(h + 4);
    if (len > RTCQ_MAX_RECORD) {
        return 0;
    }
    if (off + RTCQ_HEADER + len > s->size) {
        return -1;
    }
    h = rdbuf_get(q, b, s, off, RTCQ_HEADER + (size_t)len);
    if (!h) {
        return 0;
    }
    if (rec_crc(h, h + RTCQ_HEADER, len) != get32(h + 24)) {
        return 0;
    }
    rec->seq = get64(h + 8);
    if (rec->seq >= SEQ_LIMIT) {
        return 0;
    }
    uint64_t bits = get64(h + 16);
    memcpy(&rec->ts_ms, &bits, sizeof(bits));
    rec->data = h + RTCQ_HEADER;
    rec->len = len;
    return 1;
}

/*
 * Finds the first valid record at or after *p, moving across segment ends
 * (up to the last segment's end). Returns 1 with the record and *p at it,
 * or 0 with *p at the end. With `count`, skipped ranges are counted as
 * corrupt or truncated records.
 */
static bool pos_before(const struct pos *a, const struct pos *b)
{
    return a->seg < b->seg || (a->seg == b->seg && a->off < b->off);
}

/* Counts a skipped range once, whichever position (read or head) meets it first. */
static void count_skip(struct rtcq *q, const struct pos *start, uint64_t *counter)
{
    if (!pos_before(start, &q->scanned)) {
        (*counter)++;
    }
}

/*
 * Finds the first valid record at or after *p, moving across segment ends
 * (up to the last segment's end). Returns 1 with the record and *p at it,
 * or 0 with *p at the end. With `count`, skipped ranges not seen before are
 * counted as corrupt or truncated records.
 */
static int next_rec(struct rtcq *q, struct rdbuf *b, struct pos *p, struct rtcq_rec *rec,
                    bool count)
{
    size_t i;
    int found = 0;
    if (!seg_find(q, p->seg, &i)) {
        return 0;
    }
    for (; i < q->nsegs && !found; i++) {
        const struct seg *s = &q->segs[i];
        if (s->id != p->seg) {
            p->seg = s->id;
            p->off = 0;
        }
        bool skipping = false;
        struct pos start = *p;
        while (p->off < s->size) {
            int r = rec_at(q, b, s, p->off, rec);
            if (r == 1) {
                found = 1;
                break;
            }
            if (r == -1) {
                /* a record cut short by the segment end: nothing valid can follow it */
                if (count) {
                    if (skipping) {
                        count_skip(q, &start, &q->c.corrupt);
                    }
                    struct pos t = *p;
                    count_skip(q, &t, &q->c.truncated);
                }
                skipping = false;
                p->off = s->size;
                break;
            }
            if (!skipping) {
                start = *p;
            }
            skipping = true;
            p->off++;
        }
        if (skipping && count) {
            count_skip(q, &start, &q->c.corrupt);
        }
        if (!found && i + 1 == q->nsegs) {
            p->off = s->size;
        }
    }
    if (count && pos_before(&q->scanned, p)) {
        q->scanned = *p;
    }
    return found;
}

/* ---- the cursor file ---- */

static int cursor_write(struct rtcq *q)
{
    uint8_t slot[CUR_SLOT] = {0};
    q->cur_gen++;
    put32(slot, CUR_MAGIC);
    put64(slot + 8, q->cur_gen);
    put64(slot + 16, q->trimmed_seq);
    put32(slot + 24, (uint32_t)crc32(crc32(0L, Z_NULL, 0), slot + 8, 16));
    off_t at = (off_t)((q->cur_gen & 1) * CUR_SLOT);
    if (pwrite(q->cur_fd, slot, sizeof(slot), at) != (ssize_t)sizeof(slot)) {
        q->c.io_errors++;
        return EF_EIO;
    }
    q->cur_dirty = true;
    return 0;
}

static void cursor_read(struct rtcq *q)
{
    uint8_t buf[2 * CUR_SLOT];
    ssize_t n = pread(q->cur_fd, buf, sizeof(buf), 0);
    q->cur_gen = 0;
    q->trimmed_seq = 0;
    for (int i = 0; i < 2; i++) {
        const uint8_t *s = buf + i * CUR_SLOT;
        if (n < (ssize_t)((i + 1) * CUR_SLOT) || get32(s) != CUR_MAGIC ||
            (uint32_t)crc32(crc32(0L, Z_NULL, 0), s + 8, 16) != get32(s + 24) ||
            get64(s + 16) >= SEQ_LIMIT) {
            continue;
        }
        uint64_t gen = get64(s + 8);
        if (gen >= q->cur_gen) {
            q->cur_gen = gen;
            q->trimmed_seq = get64(s + 16);
        }
    }
}

/* ---- segments ---- */

static int seg_add(struct rtcq *q, uint64_t id, uint64_t size)
{
    if (q->nsegs == q->segs_cap) {
        size_t cap = q->segs_cap ? q->segs_cap * 2 : 8;
        struct seg *ns = realloc(q->segs, cap * sizeof(*ns));
        if (!ns) {
            return EF_ENOMEM;
        }
        q->segs = ns;
        q->segs_cap = cap;
    }
    q->segs[q->nsegs].id = id;
    q->segs[q->nsegs].size = size;
    q->nsegs++;
    return 0;
}

/* Starts a new segment for appends, named by the next seq. */
static int seg_start(struct rtcq *q)
{
    char path[4096];
    seg_path(q, q->next_seq, path, sizeof(path));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        q->c.io_errors++;
        return EF_EIO;
    }
    if (seg_add(q, q->next_seq, 0) != 0) {
        close(fd);
        unlink(path);
        return EF_ENOMEM;
    }
    if (q->wfd >= 0) {
        if (q->o.fsync != RTCQ_FSYNC_NONE) {
            fdatasync(q->wfd);
        }
        close(q->wfd);
    }
    q->wfd = fd;
    if (q->o.fsync != RTCQ_FSYNC_NONE) {
        int dfd = open(q->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return 0;
}

/* Deletes the segments before the head's (they hold nothing queued). */
static void seg_trim(struct rtcq *q)
{
    size_t n = 0;
    while (n + 1 < q->nsegs && q->segs[n].id < q->head.seg) {
        char path[4096];
        seg_path(q, q->segs[n].id, path, sizeof(path));
        if (q->rbuf.seg == q->segs[n].id) {
            rdbuf_close(&q->rbuf);
        }
        if (q->hbuf.seg == q->segs[n].id) {
            rdbuf_close(&q->hbuf);
        }
        unlink(path);
        n++;
    }
    if (n) {
        memmove(q->segs, q->segs + n, (q->nsegs - n) * sizeof(q->segs[0]));
        q->nsegs -= n;
    }
}

/*
 * Removes the oldest queued record (delivered or dropped). Returns false
 * when the queue is empty.
 */
static bool head_step(struct rtcq *q)
{
    struct rtcq_rec rec;
    if (!q->records || !next_rec(q, &q->hbuf, &q->head, &rec, true)) {
        q->records = 0;
        q->bytes = 0;
        q->head_ts_known = false;
        return false;
    }
    q->head.off += RTCQ_HEADER + rec.len;
    q->records--;
    /* a damaged log can hold out-of-order copies the scan did not count: never underflow */
    q->bytes =
        q->records && q->bytes > RTCQ_HEADER + rec.len ? q->bytes - (RTCQ_HEADER + rec.len) : 0;
    if (rec.seq > q->trimmed_seq) {
        q->trimmed_seq = rec.seq;
    }
    q->head_ts_known = false;
    if (pos_before(&q->rd, &q->head)) {
        q->rd = q->head;
    }
    return true;
}

/* Loads the time of the head record (after head moved). */
static void head_load(struct rtcq *q)
{
    struct rtcq_rec rec;
    struct pos p = q->head;
    q->head_ts = 0;
    if (q->records && next_rec(q, &q->hbuf, &p, &rec, true)) {
        q->head = p;
        q->head_ts = rec.ts_ms;
        if (pos_before(&q->rd, &q->head)) {
            q->rd = q->head;
        }
    }
    q->head_ts_known = true;
}

/* After the head moved: persist the position and drop finished segments. */
static int trimmed(struct rtcq *q)
{
    if (!q->records) {
        /* empty: the head moves to where the next append goes, as at open, so
         * the segments before it (and any damage left in them) are deleted */
        q->head.seg = q->segs[q->nsegs - 1].id;
        q->head.off = q->segs[q->nsegs - 1].size;
        if (pos_before(&q->rd, &q->head)) {
            q->rd = q->head;
        }
    }
    head_load(q);
    seg_trim(q);
    int rc = cursor_write(q);
    if (rc == 0 && q->o.fsync == RTCQ_FSYNC_ALWAYS) {
        rc = rtcq_sync(q);
    }
    return rc;
}

/* ---- open and close ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Lists the segment files, sorted. */
static int list_segments(struct rtcq *q)
{
    DIR *d = opendir(q->dir);
    if (!d) {
        return EF_EIO;
    }
    uint64_t *ids = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        char *end;
        size_t l = strlen(e->d_name);
        if (l != 24 || strcmp(e->d_name + 20, ".seg") != 0) {
            continue;
        }
        uint64_t id = strtoull(e->d_name, &end, 10);
        if (end != e->d_name + 20 || id >= SEQ_LIMIT) {
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *ni = realloc(ids, cap * sizeof(*ni));
            if (!ni) {
                rc = EF_ENOMEM;
                break;
            }
            ids = ni;
        }
        ids[n++] = id;
    }
    closedir(d);
    if (rc == 0 && n) {
        qsort(ids, n, sizeof(*ids), cmp_u64);
        for (size_t i = 0; i < n && rc == 0; i++) {
            char path[4096];
            struct stat st;
            seg_path(q, ids[i], path, sizeof(path));
            if (stat(path, &st) == 0) {
                rc = seg_add(q, ids[i], (uint64_t)st.st_size);
            }
        }
    }
    free(ids);
    return rc;
}

/*
 * Scans every segment: counts the queued records, finds the head and the
 * next seq. Corrupt and truncated ranges are counted when a queued record
 * may have been lost in them (no delivered record follows them).
 */
static void scan(struct rtcq *q)
{
    struct rtcq_rec rec;
    bool have_head = false;
    q->next_seq = q->trimmed_seq + 1;
    if (!q->nsegs) {
        return;
    }
    struct pos p = {q->segs[0].id, 0};
    while (next_rec(q, &q->hbuf, &p, &rec, true)) {
        if (rec.seq > q->trimmed_seq) {
            if (!have_head) {
                q->head = p;
                have_head = true;
            }
            q->records++;
            q->bytes += RTCQ_HEADER + rec.len;
        } else {
            q->c.corrupt = q->c.truncated = 0; /* damage among delivered records */
        }
        if (rec.seq >= q->next_seq) {
            q->next_seq = rec.seq + 1;
        }
        p.off += RTCQ_HEADER + rec.len;
    }
    if (q->nsegs && q->segs[q->nsegs - 1].id >= q->next_seq) {
        q->next_seq = q->segs[q->nsegs - 1].id + 1;
    }
    if (!have_head) {
        q->head = p; /* the end */
    }
}

int rtcq_open(const char *dir, const struct rtcq_opts *o, struct rtcq **out, char *err,
              size_t errlen)
{
    char path[4096];
    *out = NULL;
    if (!dir || !*dir || strlen(dir) > 4000 || !o) {
        seterr(err, errlen, "invalid queue directory");
        return EF_EINVAL;
    }
    struct rtcq *q = calloc(1, sizeof(*q));
    if (!q || !(q->dir = strdup(dir))) {
        free(q);
        seterr(err, errlen, "out of memory");
        return EF_ENOMEM;
    }
    q->o = *o;
    if (!q->o.segment_bytes) {
        q->o.segment_bytes = 8u << 20;
    }
    q->lock_fd = q->cur_fd = q->wfd = -1;
    q->rbuf.fd = q->hbuf.fd = -1;
    if (mkdirs(dir) != 0) {
        seterr(err, errlen, "cannot create queue directory %s: %s", dir, strerror(errno));
        rtcq_close(q);
        return EF_EIO;
    }
    snprintf(path, sizeof(path), "%s/lock", dir);
    q->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (q->lock_fd < 0) {
        seterr(err, errlen, "cannot open %s: %s", path, strerror(errno));
        rtcq_close(q);
        return EF_EIO;
    }
    if (flock(q->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        seterr(err, errlen, "queue %s is in use by another process", dir);
        rtcq_close(q);
        return EF_ESTATE;
    }
    snprintf(path, sizeof(path), "%s/cursor", dir);
    q->cur_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (q->cur_fd < 0) {
        seterr(err, errlen, "cannot open %s: %s", path, strerror(errno));
        rtcq_close(q);
        return EF_EIO;
    }
    cursor_read(q);
    int rc = list_segments(q);
    if (rc != 0) {
        seterr(err, errlen, "cannot list queue directory %s", dir);
        rtcq_close(q);
        return rc;
    }
    scan(q);
    rc = seg_start(q);
    if (rc != 0) {
        seterr(err, errlen, "cannot create a segment in %s: %s", dir, strerror(errno));
        rtcq_close(q);
        return rc;
    }
    if (!q->records) {
        q->head.seg = q->segs[q->nsegs - 1].id;
        q->head.off = 0;
    }
    q->rd = q->head;
    head_load(q);
    seg_trim(q);
    *out = q;
    return 0;
}

void rtcq_close(struct rtcq *q)
{
    if (!q) {
        return;
    }
    if (q->cur_fd >= 0 && q->wfd >= 0) {
        rtcq_sync(q);
    }
    rdbuf_close(&q->rbuf);
    rdbuf_close(&q->hbuf);
    free(q->rbuf.buf);
    free(q->hbuf.buf);
    if (q->wfd >= 0) {
        close(q->wfd);
    }
    if (q->cur_fd >= 0) {
        close(q->cur_fd);
    }
    if (q->lock_fd >= 0) {
        close(q->lock_fd); /* releases the lock */
    }
    free(q->segs);
    free(q->dir);
    free(q);
}

/* ---- appending ---- */

int rtcq_append(struct rtcq *q, const void *data, size_t len, double ts_ms)
{
    uint64_t need = RTCQ_HEADER + (uint64_t)len;
    if (len > RTCQ_MAX_RECORD || (q->o.max_bytes && need > q->o.max_bytes) || (len && !data) ||
        q->next_seq >= SEQ_LIMIT) {
        /* a record numbered SEQ_LIMIT or above would read back as damage */
        q->c.refused++;
        return len && !data ? EF_EINVAL : EF_ERANGE;
    }
    bool dropped = false;
    while ((q->o.max_records && q->records + 1 > q->o.max_records) ||
           (q->o.max_bytes && q->bytes + need > q->o.max_bytes)) {
        if (q->o.overflow == RTCQ_REFUSE || !head_step(q)) {
            if (dropped) {
                trimmed(q);
            }
            q->c.refused++;
            return EF_EFULL;
        }
        q->c.dropped++;
        dropped = true;
    }
    if (dropped) {
        trimmed(q);
    }
    struct seg *w = &q->segs[q->nsegs - 1];
    if (w->size >= q->o.segment_bytes) {
        int rc = seg_start(q);
        if (rc != 0) {
            return rc;
        }
        w = &q->segs[q->nsegs - 1];
    }
    uint8_t h[RTCQ_HEADER];
    uint64_t bits;
    memcpy(&bits, &ts_ms, sizeof(bits));
    put32(h, REC_MAGIC);
    put32(h + 4, (uint32_t)len);
    put64(h + 8, q->next_seq);
    put64(h + 16, bits);
    put32(h + 24, rec_crc(h, data, len));
    struct iovec iov[2] = {{h, RTCQ_HEADER}, {(void *)data, len}};
    size_t done = 0;
    while (done < need) {
        struct iovec v[2];
        int nv = 0;
        if (done < RTCQ_HEADER) {
            v[nv].iov_base = h + done;
            v[nv++].iov_len = RTCQ_HEADER - done;
            if (len) {
                v[nv++] = iov[1];
            }
        } else {
            v[nv].iov_base = (uint8_t *)data + (done - RTCQ_HEADER);
            v[nv++].iov_len = need - done;
        }
        ssize_t r = pwritev(q->wfd, v, nv, (off_t)(w->size + done));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            q->c.io_errors++;
            if (ftruncate(q->wfd, (off_t)w->size) != 0) {
                /* the partial record stays; readers skip it as corrupt */
                w->size += done;
            }
            return EF_EIO;
        }
        done += (size_t)r;
    }
    w->size += need;
    if (!q->records) {
        q->head_ts = ts_ms;
        q->head_ts_known = true;
    }
    q->records++;
    q->bytes += need;
    q->next_seq++;
    q->c.appended++;
    q->dirty = true;
    if (q->o.fsync == RTCQ_FSYNC_ALWAYS) {
        return rtcq_sync(q);
    }
    return 0;
}

int rtcq_sync(struct rtcq *q)
{
    int rc = 0;
    if (q->dirty && q->wfd >= 0 && fdatasync(q->wfd) != 0) {
        rc = EF_EIO;
    }
    if (q->cur_dirty && q->cur_fd >= 0 && fdatasync(q->cur_fd) != 0) {
        rc = EF_EIO;
    }
    q->dirty = q->cur_dirty = false;
    if (rc) {
        q->c.io_errors++;
    }
    return rc;
}

/* ---- reading and trimming ---- */

int rtcq_read(struct rtcq *q, struct rtcq_rec *rec)
{
    if (!q->records) {
        return EF_ENOENT;
    }
    do {
        if (!next_rec(q, &q->rbuf, &q->rd, rec, true)) {
            return EF_ENOENT;
        }
        q->rd.off += RTCQ_HEADER + rec->len;
    } while (rec->seq <= q->trimmed_seq); /* a stale copy of a delivered record (damage) */
    return 0;
}

void rtcq_rewind(struct rtcq *q)
{
    q->rd = q->head;
}

int rtcq_ack(struct rtcq *q, uint64_t seq)
{
    if (seq <= q->trimmed_seq) {
        return 0;
    }
    uint64_t before = q->records;
    struct rtcq_rec rec;
    while (q->records) {
        struct pos p = q->head;
        if (!next_rec(q, &q->hbuf, &p, &rec, true) || rec.seq > seq) {
            break;
        }
        head_step(q);
    }
    q->c.acked += before - q->records;
    if (seq > q->trimmed_seq && seq < q->next_seq) {
        q->trimmed_seq = seq;
    }
    return trimmed(q);
}

uint64_t rtcq_expire(struct rtcq *q, double now_ms)
{
    uint64_t n = 0;
    if (q->o.max_age_ms <= 0) {
        return 0;
    }
    for (;;) {
        if (!q->head_ts_known) {
            head_load(q);
        }
        if (!q->records || q->head_ts >= now_ms - q->o.max_age_ms) {
            break;
        }
        if (!head_step(q)) {
            break;
        }
        n++;
    }
    if (n) {
        q->c.expired += n;
        trimmed(q);
    }
    return n;
}

void rtcq_get_stats(const struct rtcq *q, struct rtcq_stats *st)
{
    *st = q->c;
    st->records = q->records;
    st->bytes = q->bytes;
    st->segments = q->nsegs;
    st->next_seq = q->next_seq;
    st->trimmed_seq = q->trimmed_seq;
    st->oldest_ms = q->records && q->head_ts_known ? q->head_ts : 0;
}
