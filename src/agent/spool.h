/* spool.h - the agent's on-disk FIFO of readings awaiting their PUBACK.
 *
 * Every reading is appended here before it is published and leaves only when its PUBACK arrives
 * (ef_spool_ack), so a broker outage, a restart or a SIGKILL loses nothing. The spool is bounded:
 * when it holds max_records unacknowledged readings, appending drops the oldest one (counted in
 * ef_spool_dropped() and logged).
 *
 * On-disk layout of a spool directory:
 *   seg-<first seq as 16 hex digits>.log   segment files, appended in seq order
 *   cursor                                 "EFSPOOL1 <acked> <next_seq> <dropped>\n", replaced
 *                                          atomically (write temp + rename)
 * A segment is a sequence of records, little-endian:
 *   u32 magic 0x50534645 ("EFSP") | u32 payload length | u32 CRC-32 of (seq, payload) | u64 seq |
 *   payload bytes
 * Each record is written with one write(2). Readings with seq <= acked are done; a segment whose
 * last seq <= acked is deleted (after the cursor naming that point is on disk). On open, a torn or
 * corrupt tail of the newest segment (a crash mid-append on a power cut) is truncated and logged;
 * ef_spool_check() verifies the whole structure without changing it.
 *
 * The unacknowledged readings are also kept in memory (bounded by max_records) so publishing never
 * re-reads the disk. Not thread-safe: the agent's loop thread owns it.
 */
#ifndef EF_AGENT_SPOOL_H
#define EF_AGENT_SPOOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct ef_spool ef_spool;

typedef struct ef_spool_options {
    uint64_t max_records;  /* bound on unacknowledged readings (>= 1) */
    int durable;           /* fsync each append and cursor update (survives power loss) */
    size_t segment_bytes;  /* rotate segments above this size; default 1 MiB */
} ef_spool_options;

/* Opens or creates the spool in dir (created if missing). Returns 0, EF_EIO or EF_ECORRUPT (the
 * cursor or a non-tail record is damaged: the log line says which file). */
int ef_spool_open(const char *dir, const ef_spool_options *opt, ef_spool **out);
/* Writes the cursor and closes. NULL is fine. */
void ef_spool_close(ef_spool *s);

/* The seq the next appended reading must carry (monotonic across restarts). */
uint64_t ef_spool_next_seq(const ef_spool *s);
/* Appends a reading with seq == ef_spool_next_seq(). Drops the oldest reading first when full.
 * Returns 0, EF_EINVAL (wrong seq) or EF_EIO. */
int ef_spool_append(ef_spool *s, uint64_t seq, const void *payload, size_t len);

/* Unacknowledged readings, oldest first: i in [0, ef_spool_pending()). */
size_t ef_spool_pending(const ef_spool *s);
/* The i-th unacknowledged reading; pointers valid until the next append/ack. */
int ef_spool_get(const ef_spool *s, size_t i, uint64_t *seq, const void **payload, size_t *len);
/* Marks seq acknowledged. Acks may arrive out of order; the cursor advances over the contiguous
 * acknowledged prefix. Unknown or already-acked seqs are ignored. Returns 0 or EF_EIO. */
int ef_spool_ack(ef_spool *s, uint64_t seq);
/* Persists the cursor if it moved since the last sync and deletes finished segments. */
int ef_spool_sync(ef_spool *s);

uint64_t ef_spool_dropped(const ef_spool *s);

/* Verifies a spool directory without modifying it: cursor syntax, every record's magic, length
 * and CRC, strictly increasing seqs, no gap between segments. Returns 0 (and *report = summary)
 * or EF_ECORRUPT (*report says where). *report is malloc'd; the caller frees it. */
int ef_spool_check(const char *dir, char **report);

#endif
