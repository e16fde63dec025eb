/*
 * fuzz_rtc_queue.c - the route-to-cloud durable queue reader
 * (plugins/route_to_cloud/queue.c) on damaged files. The input is written
 * as the queue directory's files, the queue is opened, read to the end
 * twice, acknowledged, appended to and reopened, and the counters are
 * checked for consistency (a violation aborts, which libFuzzer reports).
 *
 * Input: byte 0 is flags, the rest parts separated by "@@@@":
 *   flags & 3        number of segment files (0 is taken as 1)
 *   flags & 4        the first part is the cursor file
 *   flags & 8        repair the CRC of every record (and cursor slot) whose
 *                    magic and length fit, so that valid records are common
 *   flags >> 4 & 7   segment i is named 1 + i * 16^(that), so ids range
 *                    from dense to far apart
 *   flags & 0x80     max_records 2 with drop-oldest for the append
 * Missing parts are empty files.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include <edgeflow/err.h>

#include "../../plugins/route_to_cloud/queue.h"
#include "fuzz_tmpdir.h"

#define SEP "@@@@"
#define MAX_PARTS 4

static char dir[64];

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_rtc_queue: invariant violated: %s\n", what);
        abort();
    }
}

static void clear_dir(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] != '.') {
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    if (d) {
        closedir(d);
    }
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* Gives every plausible record (magic, length inside the part) its right CRC. */
static void repair_records(uint8_t *p, size_t n)
{
    size_t off = 0;
    while (off + RTCQ_HEADER <= n) {
        uint32_t len = get32(p + off + 4);
        if (get32(p + off) == 0x51435452u && len <= n - off - RTCQ_HEADER) {
            uLong crc = crc32(0L, Z_NULL, 0);
            crc = crc32(crc, p + off + 4, 20);
            crc = crc32(crc, p + off + RTCQ_HEADER, len);
            put32(p + off + 24, (uint32_t)crc);
            off += RTCQ_HEADER + len;
        } else {
            off++;
        }
    }
}

/* How many offsets of a segment hold a valid record: a bound for the damage counters. */
static uint64_t valid_offsets(const uint8_t *p, size_t n)
{
    uint64_t k = 0;
    for (size_t off = 0; off + RTCQ_HEADER <= n; off++) {
        uint32_t len = get32(p + off + 4);
        if (get32(p + off) == 0x51435452u && len <= n - off - RTCQ_HEADER) {
            uLong crc = crc32(0L, Z_NULL, 0);
            crc = crc32(crc, p + off + 4, 20);
            crc = crc32(crc, p + off + RTCQ_HEADER, len);
            k += (uint32_t)crc == get32(p + off + 24);
        }
    }
    return k;
}

static void repair_cursor(uint8_t *p, size_t n)
{
    for (size_t s = 0; s + 32 <= n && s < 64; s += 32) {
        if (get32(p + s) == 0x43435452u) {
            put32(p + s + 24, (uint32_t)crc32(crc32(0L, Z_NULL, 0), p + s + 8, 16));
        }
    }
}

static void write_file(const char *name, const uint8_t *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    check(fd >= 0, "cannot create a file in the temp dir");
    check(n == 0 || write(fd, p, n) == (ssize_t)n, "cannot write a file in the temp dir");
    close(fd);
}

static struct rtcq *open_q(const struct rtcq_opts *o)
{
    struct rtcq *q = NULL;
    char err[256];
    int rc = rtcq_open(dir, o, &q, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "fuzz_rtc_queue: rtcq_open: %s\n", err);
    }
    check(rc == 0 && q, "the queue opens whatever its files hold");
    return q;
}

/* Reads to the end; returns how many records, their last seq in *last. */
static uint64_t read_all(struct rtcq *q, uint64_t *last, uint32_t *sum)
{
    struct rtcq_rec r;
    uint64_t n = 0;
    *sum = 0;
    while (rtcq_read(q, &r) == 0) {
        check(r.len <= RTCQ_MAX_RECORD, "record length within the limit");
        *sum = (uint32_t)crc32(*sum, r.data, (uInt)r.len) ^ (uint32_t)r.seq;
        *last = r.seq;
        n++;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        const char *d = fuzz_tmpdir("ef-fuzz-rtcq");
        check(d != NULL, "cannot create a temporary directory");
        snprintf(dir, sizeof(dir), "%s", d);
    }
    if (size < 1) {
        return 0;
    }
    uint8_t flags = data[0];
    uint8_t *buf = malloc(size);
    memcpy(buf, data + 1, size - 1);
    size_t len = size - 1;

    /* split into parts */
    uint8_t *part[MAX_PARTS] = {0};
    size_t plen[MAX_PARTS] = {0};
    int nparts = 0;
    size_t at = 0;
    while (nparts < MAX_PARTS) {
        part[nparts] = buf + at;
        uint8_t *sep = len - at >= 4 ? memmem(buf + at, len - at, SEP, 4) : NULL;
        if (!sep || nparts == MAX_PARTS - 1) {
            plen[nparts++] = len - at;
            break;
        }
        plen[nparts++] = (size_t)(sep - (buf + at));
        at = (size_t)(sep - buf) + 4;
    }

    clear_dir();
    int nsegs = flags & 3 ? flags & 3 : 1;
    int pi = 0;
    if (flags & 4) {
        if (flags & 8) {
            repair_cursor(part[0], plen[0]);
        }
        write_file("cursor", part[0], plen[0]);
        pi = 1;
    }
    uint64_t step = (uint64_t)1 << (4 * ((flags >> 4) & 7));
    uint64_t ranges = 0; /* most corrupt ranges there can be */
    for (int i = 0; i < nsegs; i++, pi++) {
        uint8_t *p = pi < nparts ? part[pi] : NULL;
        size_t n = pi < nparts ? plen[pi] : 0;
        if (p && (flags & 8)) {
            repair_records(p, n);
        }
        ranges += (p ? valid_offsets(p, n) : 0) + 1;
        char name[32];
        snprintf(name, sizeof(name), "%020" PRIu64 ".seg", 1 + (uint64_t)i * step);
        write_file(name, p, n);
    }

    struct rtcq_opts o = {.fsync = RTCQ_FSYNC_NONE};
    struct rtcq *q = open_q(&o);
    struct rtcq_stats st0, st1, st2;
    rtcq_get_stats(q, &st0);
    check(st0.records == 0 || st0.bytes >= st0.records * RTCQ_HEADER, "bytes cover the headers");
    check(st0.next_seq > st0.trimmed_seq, "next seq after the trimmed one");

    /* read everything twice: same records, damage counted once */
    uint64_t last = 0, last2 = 0;
    uint32_t sum1, sum2;
    uint64_t n1 = read_all(q, &last, &sum1);
    rtcq_get_stats(q, &st1);
    rtcq_rewind(q);
    uint64_t n2 = read_all(q, &last2, &sum2);
    rtcq_get_stats(q, &st2);
    check(n1 == n2 && sum1 == sum2 && last == last2, "a rewound read returns the same records");
    check(st1.corrupt == st2.corrupt && st1.truncated == st2.truncated,
          "damage is counted once, not again when read again");
    check(st1.corrupt >= st0.corrupt && st1.truncated >= st0.truncated, "counters only grow");
    check(st2.truncated <= (uint64_t)nsegs, "at most one truncated record per segment");
    check(st2.corrupt <= ranges, "a corrupt range lies between valid records or segment ends");

    /* acknowledge everything: the queue is empty and the old segments are gone */
    check(rtcq_ack(q, st2.next_seq - 1) == 0, "ack succeeds");
    struct rtcq_stats st3;
    rtcq_get_stats(q, &st3);
    check(st3.records == 0 && st3.bytes == 0, "empty after acknowledging every seq");
    check(st3.corrupt == st2.corrupt && st3.truncated == st2.truncated,
          "acknowledging counts no damage already seen");
    struct rtcq_rec r;
    check(rtcq_read(q, &r) == EF_ENOENT, "nothing to read after acknowledging every seq");

    /* append one record, read it back, and find it alone after reopening */
    if (flags & 0x80) {
        rtcq_close(q);
        struct rtcq_opts o2 = {.fsync = RTCQ_FSYNC_NONE, .max_records = 2};
        q = open_q(&o2);
    }
    uint64_t seq = st3.next_seq;
    static const char rec[] = "fuzz";
    if (seq >= RTCQ_SEQ_LIMIT) {
        /* a damaged cursor used up the seqs: appends are refused, not written unreadable */
        check(rtcq_append(q, rec, 4, 1.0) == EF_ERANGE, "no append past the last seq");
        rtcq_close(q);
        free(buf);
        return 0;
    }
    check(rtcq_append(q, rec, 4, 1.0) == 0, "append after recovery");
    check(rtcq_read(q, &r) == 0 && r.seq >= seq && r.len == 4 && memcmp(r.data, rec, 4) == 0,
          "the appended record reads back");
    rtcq_close(q);
    q = open_q(&o);
    struct rtcq_stats st4;
    rtcq_get_stats(q, &st4);
    check(st4.records == 1 && st4.corrupt == 0 && st4.truncated == 0,
          "after reopening only the appended record is queued, undamaged");
    check(rtcq_read(q, &r) == 0 && r.len == 4 && memcmp(r.data, rec, 4) == 0,
          "the appended record survives reopening");
    rtcq_close(q);
    free(buf);
    return 0;
}
