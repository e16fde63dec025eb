/*
 * queue.h - the durable store-and-forward queue of route-to-cloud: an
 * append-only log of records in segment files in one directory, with a
 * persisted read position, bounded size and age, and recovery that skips
 * corrupt or truncated records instead of failing.
 *
 * On disk (all integers little-endian):
 *   <dir>/<first seq, 20 digits>.seg   records, each a 28-byte header
 *       magic "RTCQ" (u32 0x51435452), length u32, seq u64, time f64 (ms
 *       since the epoch), crc u32 (CRC-32 of the 20 header bytes after the
 *       magic and before the crc, then the data), followed by `length` data bytes.
 *   <dir>/cursor   two 32-byte slots written alternately: magic "RTCC",
 *       u32 0, generation u64, trimmed seq u64 (every record up to it was
 *       delivered or dropped), crc u32 of the 16 bytes before it, u32 0.
 *       The valid slot with the higher generation wins; none: nothing trimmed.
 *   <dir>/lock     flock()ed while the queue is open.
 *
 * Single-threaded: one owner calls everything. Nothing here logs; counters
 * and return codes (EF_E* from edgeflow/err.h) say what happened.
 */
#ifndef RTC_QUEUE_H
#define RTC_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#define RTCQ_HEADER 28
#define RTCQ_MAX_RECORD (64u << 20) /* data bytes per record */
/* seqs, cursor positions and segment ids at or above this are damage, so a seq never wraps */
#define RTCQ_SEQ_LIMIT ((uint64_t)1 << 63)

enum rtcq_fsync {
    RTCQ_FSYNC_ALWAYS,   /* fdatasync after every append and trim */
    RTCQ_FSYNC_INTERVAL, /* the owner calls rtcq_sync() on a timer */
    RTCQ_FSYNC_NONE,     /* only at close */
};

enum rtcq_overflow {
    RTCQ_DROP_OLDEST, /* make room by dropping the oldest records */
    RTCQ_REFUSE,      /* refuse the new record (EF_EFULL) */
};

struct rtcq_opts {
    uint64_t max_bytes;     /* queued bytes (headers included); 0: no limit */
    uint64_t max_records;   /* 0: no limit */
    double max_age_ms;      /* rtcq_expire() drops older records; 0: no limit */
    uint64_t segment_bytes; /* a new segment starts past this size; 0: 8 MiB */
    enum rtcq_fsync fsync;
    enum rtcq_overflow overflow;
};

struct rtcq_stats {
    uint64_t records, bytes; /* queued: appended and not yet trimmed */
    uint64_t segments;
    uint64_t next_seq;    /* the seq the next append gets */
    uint64_t trimmed_seq; /* every record up to this one is gone */
    double oldest_ms;     /* time of the oldest queued record; 0 when empty */
    /* counters since open */
    uint64_t appended, acked, dropped, refused, expired, corrupt, truncated, io_errors;
};

/* One record as read; data is borrowed until the next call on the queue. */
struct rtcq_rec {
    uint64_t seq;
    double ts_ms;
    const uint8_t *data;
    size_t len;
};

struct rtcq;

/*
 * Opens (creating it and its parents) the queue in dir, scans the segments
 * and starts a new segment for appends. Returns 0 and the queue in *out, or
 * EF_EIO / EF_ESTATE (locked by another process) / EF_ENOMEM / EF_EINVAL
 * with the reason in err.
 */
int rtcq_open(const char *dir, const struct rtcq_opts *o, struct rtcq **out, char *err,
              size_t errlen);
/* Syncs and frees the queue (NULL-safe). */
void rtcq_close(struct rtcq *q);
/*
 * Appends one record stamped ts_ms. When the queue is full, overflow decides:
 * drop the oldest records, or refuse. Returns 0 when the record is written
 * (and synced under RTCQ_FSYNC_ALWAYS), EF_EFULL (refused: full), EF_ERANGE
 * (larger than RTCQ_MAX_RECORD or than max_bytes alone, or no seq is left
 * below RTCQ_SEQ_LIMIT: only a damaged cursor can claim that), or EF_EIO
 * (nothing was appended).
 */
int rtcq_append(struct rtcq *q, const void *data, size_t len, double ts_ms);
/* fdatasyncs what was written since the last sync. 0 or EF_EIO. */
int rtcq_sync(struct rtcq *q);
/*
 * Reads the next record after the read position (which starts at the oldest
 * queued record) and moves past it. Corrupt records are skipped and counted
 * (corrupt), as is a record cut short at the end of a segment (truncated);
 * a record whose seq is not above the trimmed seq (a stale copy left in a
 * damaged log) is skipped. Seqs at or above 2^63 count as damage.
 * Returns 0, or EF_ENOENT when every queued record has been read.
 */
int rtcq_read(struct rtcq *q, struct rtcq_rec *rec);
/* Moves the read position back to the oldest queued record. */
void rtcq_rewind(struct rtcq *q);
/*
 * Trims every record with seq <= `seq` (delivered), deleting segments that
 * hold nothing queued and persisting the position. Seqs already trimmed are
 * ignored. Returns 0 or EF_EIO.
 */
int rtcq_ack(struct rtcq *q, uint64_t seq);
/* Drops records older than max_age_ms before now_ms (counted as expired); returns how many. */
uint64_t rtcq_expire(struct rtcq *q, double now_ms);
void rtcq_get_stats(const struct rtcq *q, struct rtcq_stats *st);

#endif
