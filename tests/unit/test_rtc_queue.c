/*
 * test_rtc_queue.c - the durable queue of route-to-cloud
 * (plugins/route_to_cloud/queue.c): order, acknowledgement and trimming,
 * reopening, bounds and overflow policies, age expiry, and recovery from
 * corrupt and truncated records and a torn cursor.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include <edgeflow/err.h>

#include "queue.h"

static char dir[256];

static void fresh_dir(void)
{
    char cmd[300];
    snprintf(dir, sizeof(dir), "/tmp/ef-rtcq-%d", (int)getpid());
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
}

static struct rtcq *open_q(const struct rtcq_opts *o)
{
    struct rtcq *q = NULL;
    char err[256] = "";
    int rc = rtcq_open(dir, o, &q, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "\nrtcq_open: %s\n", err);
    }
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    return q;
}

static void put(struct rtcq *q, int i)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "rec-%d", i);
    CU_ASSERT_EQUAL(rtcq_append(q, buf, (size_t)n, 1000.0 * i), 0);
}

/* Reads the next record and returns its number (rec-N), or -1. */
static int get(struct rtcq *q, uint64_t *seq)
{
    struct rtcq_rec r;
    if (rtcq_read(q, &r) != 0) {
        return -1;
    }
    if (seq) {
        *seq = r.seq;
    }
    char buf[32] = "";
    memcpy(buf, r.data, r.len < 31 ? r.len : 31);
    return atoi(buf + 4);
}

static int count_segments(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "ls '%s' | grep -c '\\.seg$'", dir);
    FILE *f = popen(cmd, "r");
    int n = -1;
    if (f) {
        if (fscanf(f, "%d", &n) != 1) {
            n = -1;
        }
        pclose(f);
    }
    return n;
}

static void test_order_ack_reopen(void)
{
    fresh_dir();
    struct rtcq_opts o = {.segment_bytes = 4096, .fsync = RTCQ_FSYNC_NONE};
    struct rtcq *q = open_q(&o);
    for (int i = 1; i <= 500; i++) {
        put(q, i);
    }
    struct rtcq_stats st;
    rtcq_get_stats(q, &st);
    CU_ASSERT_EQUAL(st.records, 500);
    CU_ASSERT_EQUAL(st.oldest_ms, 1000.0);
    CU_ASSERT(st.segments > 3);
    uint64_t seq = 0;
    for (int i = 1; i <= 200; i++) {
        CU_ASSERT_EQUAL(get(q, &seq), i);
    }
    CU_ASSERT_EQUAL(rtcq_ack(q, seq), 0);
    rtcq_get_stats(q, &st);
    CU_ASSERT_EQUAL(st.records, 300);
    CU_ASSERT_EQUAL(st.acked, 200);
    CU_ASSERT_EQUAL(st.oldest_ms, 201000.0);
    CU_ASSERT(st.segments < 10);
    /* read ahead without acknowledging: a reopen starts again at 201 */
    for (int i = 201; i <= 250; i++) {
        CU_ASSERT_EQUAL(get(q, NULL), i);
    }
    rtcq_close(q);
    q = open_q(&o);
    rtcq_get_stats(q, &st);
    CU_ASSERT_EQUAL(st.records, 300);
    for (int i = 201; i <= 500; i++) {
        CU_ASSERT_EQUAL(get(q, &seq), i);
    }
    CU_ASSERT_EQUAL(get(q, NULL), -1);
    put(q, 501);
    CU_ASSERT_EQUAL(get(q, &seq), 501);
    CU_ASSERT_EQUAL(rtcq_ack(q, seq), 0);
    rtcq_get_stats(q, &st);
    CU_ASSERT_EQUAL(st.records, 0);
    CU_ASSERT_EQUAL(st.oldest_ms, 0);
    CU_ASSERT_EQUAL(count_segments(), 1);
    rtcq_close(q);
    /* everything delivered: nothing comes back */
    q = open_q(&o);
    CU_ASSERT_EQUAL(get(q, NULL), -1);
    put(q, 502);
    CU_ASSERT_EQUAL(get(q, &seq), 502);
    CU_ASSERT(seq > 501);
    rtcq_close(q);
}

static void test_rewind_and_lock(void)
{
    fresh_dir();
    struct rtcq_opts o = {.fsync = RTCQ_FSYNC_ALWAYS};
    struct rtcq *q = open_q(&o);
    struct rtcq *q2 = NULL;
    char err[200];
    CU_ASSERT_EQUAL(rtcq_open(dir, &o, &q2, err, sizeof(err)), EF_ESTATE);
    CU_ASSERT_PTR_NULL(q2);
    put(q, 1);
    put(q, 2);
    CU_ASSERT_EQUAL(get(q, NULL), 1);
    CU_ASSERT_EQUAL(get(q, NULL), 2);
    rtcq_rewind(q);
    CU_ASSERT_EQUAL(get(q, NULL), 1);
    rtcq_close(q);
}

static void test_drop_oldest(void)
{
    fresh_dir();
    struct rtcq_opts o = {.max_records = 10, .segment_bytes = 4096, .overflow = RTCQ_DROP_OLDEST};
    struct rtcq *q = open_q(&o);
    for (int i = 1; i <= 25; i++) {
        put(q, i);
    }
    struct rtcq_stats st;
    rtcq_get_stats(q, &st);
    CU_ASSERT_EQUAL(st.records, 10);
    CU_ASSERT_EQUAL(st.dropped, 15);
    CU_ASSERT_EQUAL(st.oldest_ms, 16000.0);
    for (int i = 16; i <= 25; i++) {
        CU_ASSERT_EQUAL(get(q, NULL), i);
    }
    rtcq_close(q);
    q = open_q(&o); /* the drops were persisted */
    CU_ASSERT_EQUAL(get(q, NULL), 16);
    rtcq_close(q);
}

static void test_refuse_and_bytes(void)
{
    fresh_dir();
    struct rtcq_opts o = {.max_bytes = 10 * (RTCQ_HEADER + 5), .overflow = RTCQ_REFUSE};
    struct rtcq *q = open_q(&o);
    for (int i = 1; i <= 10; i++) {
        CU_ASSERT_EQUAL(rtcq_append(q, "abcde", 5, 1), 0);
    }
    CU_ASSERT_EQUAL(rtcq_append(q, "abcde", 5, 1), EF_EFULL);
    CU_ASSERT_EQUAL(rtcq_append(q, "a", 1, 1), EF_EFULL);
    char big[1024] = {0};
    CU_ASSERT_EQUAL(rtcq_append(q, big, sizeof(big), 1), EF_ERANGE);
    struct rtcq_stats st;
    rtcq_get_stats(q, &st);
    CU_ASSERT_EQUAL(st.records, 10);
    CU_ASSERT_EQUAL(st.refused, 3);
    struct rtcq_rec r;
    CU_ASSERT_EQUAL(rtcq_read(q, &r), 0);
    CU_ASSERT_EQUAL(rtcq_ack(q, r.seq), 0);
    CU_ASSERT_EQUAL(rtcq_append(q, "abcde", 5, 1), 0);
    rtcq_close(q);
}

static void test_expire(void)
{
    fresh_dir();
    struct rtcq_opts o = {.max_age_ms = 5000};
    struct rtcq *q = open_q(&o);
    for (int i = 1; i <= 10; i++) {
        put(q, i); /* stamped i seconds */
    }
    CU_ASSERT_EQUAL(rtcq_expire(q, 12000.0), 6); /* stamped before 7 s: 1..6 */
    CU_ASSERT_EQUAL(get(q, NULL), 7);
    struct rtcq_stats st;
    rtcq_get_stats(q, &st);
    CU_ASSERT_EQUAL(st.expired, 6);
    CU_ASSERT_EQUAL(st.records, 4);
    rtcq_close(q);
}

/* Path of the first segment that has data. */
static void first_segment(char *out, size_t len)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "ls '%s'/*.seg | head -1", dir);
    FILE *f = popen(cmd, "r");
    out[0] = 0;
    if (f) {
        if (!fgets(out, (int)len, f)) {
            out[0] = 0;
        }
        pclose(f);
    }
    out[strcspn(out, "\n")] = 0;
}

static void test_corrupt_and_truncated(void)
{
    fresh_dir();
    struct rtcq_opts o = {0};
    struct rtcq *q = open_q(&o);
    for (int i = 1; i <= 20; i++) {
        put(q, i);
    }
    rtcq_close(q);
    char path[512];
    first_segment(path, sizeof(path));
    struct stat sb;
    CU_ASSERT_EQUAL_FATAL(stat(path, &sb), 0);
    int fd = open(path, O_RDWR);
    CU_ASSERT_FATAL(fd >= 0);
    /* records are 28 + 5 or 6 bytes: 1..9 take 33, 10..20 take 34 */
    off_t r5 = 4 * 33 + RTCQ_HEADER + 2; /* a byte of record 5's data */
    char c = 'X';
    CU_ASSERT_EQUAL(pwrite(fd, &c, 1, r5), 1);
    off_t r12 = 9 * 33 + 2 * 34; /* record 12's magic */
    CU_ASSERT_EQUAL(pwrite(fd, "\0\0\0\0", 4, r12), 4);
    CU_ASSERT_EQUAL(ftruncate(fd, sb.st_size - 3), 0); /* record 20 cut short */
    close(fd);
    q = open_q(&o);
    struct rtcq_stats st;
    rtcq_get_stats(q, &st);
    CU_ASSERT_EQUAL(st.records, 17);
    int want[] = {1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19};
    uint64_t seq = 0;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        CU_ASSERT_EQUAL(get(q, &seq), want[i]);
    }
    CU_ASSERT_EQUAL(get(q, NULL), -1);
    rtcq_get_stats(q, &st);
    CU_ASSERT_EQUAL(st.corrupt, 2);
    CU_ASSERT_EQUAL(st.truncated, 1);
    /* acknowledging walks the same ranges: they are not counted twice */
    CU_ASSERT_EQUAL(rtcq_ack(q, seq), 0);
    rtcq_get_stats(q, &st);
    CU_ASSERT_EQUAL(st.corrupt, 2);
    CU_ASSERT_EQUAL(st.truncated, 1);
    CU_ASSERT_EQUAL(st.records, 0);
    put(q, 21);
    CU_ASSERT_EQUAL(get(q, NULL), 21);
    rtcq_close(q);
}

static void test_torn_cursor(void)
{
    fresh_dir();
    struct rtcq_opts o = {0};
    struct rtcq *q = open_q(&o);
    uint64_t seq;
    for (int i = 1; i <= 5; i++) {
        put(q, i);
    }
    get(q, &seq);
    rtcq_ack(q, seq); /* generation 1 (slot 1): trimmed 1 */
    get(q, &seq);
    rtcq_ack(q, seq); /* generation 2 (slot 0): trimmed 2 */
    rtcq_close(q);
    char path[512];
    snprintf(path, sizeof(path), "%s/cursor", dir);
    int fd = open(path, O_RDWR);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(pwrite(fd, "garbage!", 8, 10), 8); /* tear the newer slot */
    close(fd);
    q = open_q(&o);
    CU_ASSERT_EQUAL(get(q, NULL), 2); /* the older slot: a resend, never a loss */
    rtcq_close(q);
    fresh_dir();
}

int init_rtc_queue_tests(void)
{
    CU_pSuite s = CU_add_suite("rtc_queue", NULL, NULL);
    if (!s || !CU_add_test(s, "order, ack, reopen", test_order_ack_reopen) ||
        !CU_add_test(s, "rewind and lock", test_rewind_and_lock) ||
        !CU_add_test(s, "drop oldest", test_drop_oldest) ||
        !CU_add_test(s, "refuse and max bytes", test_refuse_and_bytes) ||
        !CU_add_test(s, "expire", test_expire) ||
        !CU_add_test(s, "corrupt and truncated", test_corrupt_and_truncated) ||
        !CU_add_test(s, "torn cursor", test_torn_cursor)) {
        return -1;
    }
    return 0;
}
