/* spool.c - the agent's crash-safe on-disk FIFO; layout and contract in spool.h. */
#include "agent/spool.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define SPOOL_MAGIC 0x50534645u
#define HDR_SIZE 20
#define MAX_PAYLOAD (16u << 20)
#define CURSOR_TAG "EFSPOOL1"

typedef struct pending {
    uint64_t seq;
    int acked;
    size_t len;
    unsigned char *payload;
} pending;

typedef struct segment {
    uint64_t first, last; /* last == first - 1 while empty */
    size_t bytes;
} segment;

struct ef_spool {
    char *dir;
    ef_spool_options opt;
    uint64_t acked, next_seq, dropped;
    int cursor_dirty;
    pending *pend; /* ring buffer of unacknowledged readings, seqs contiguous */
    size_t pend_head, pend_n, pend_cap;
    segment *segs;
    size_t nsegs, segs_cap;
    int fd; /* append fd of segs[nsegs-1], or -1 */
};

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint32_t record_crc(uint64_t seq, const void *payload, size_t len)
{
    unsigned char s[8];
    put64(s, seq);
    uLong c = crc32(0L, Z_NULL, 0);
    c = crc32(c, s, 8);
    c = crc32(c, payload, (uInt)len);
    return (uint32_t)c;
}

static void seg_path(const char *dir, uint64_t first, char *out, size_t n)
{
    snprintf(out, n, "%s/seg-%016" PRIx64 ".log", dir, first);
}

/* Parses records in data[0..len). Calls on_rec for each valid one. Returns the length of the
 * valid prefix; *why says what stopped it early (NULL when the whole buffer is valid). */
typedef int (*rec_cb)(void *ctx, uint64_t seq, const unsigned char *p, size_t len);
static size_t parse_records(const unsigned char *data, size_t len, rec_cb cb, void *ctx,
                            const char **why)
{
    size_t off = 0;
    *why = NULL;
    while (off < len) {
        if (len - off < HDR_SIZE) {
            *why = "truncated record header";
            break;
        }
        const unsigned char *h = data + off;
        uint32_t plen = get32(h + 4);
        if (get32(h) != SPOOL_MAGIC) {
            *why = "bad record magic";
            break;
        }
        if (plen > MAX_PAYLOAD || plen > len - off - HDR_SIZE) {
            *why = "truncated or oversized record";
            break;
        }
        uint64_t seq = get64(h + 12);
        if (record_crc(seq, h + HDR_SIZE, plen) != get32(h + 8)) {
            *why = "record CRC mismatch";
            break;
        }
        if (cb && cb(ctx, seq, h + HDR_SIZE, plen) != 0) {
            *why = "sequence out of order";
            break;
        }
        off += HDR_SIZE + plen;
    }
    return off;
}

/* --- cursor -------------------------------------------------------------------------------- */

static int read_cursor(const char *dir, uint64_t *acked, uint64_t *next, uint64_t *dropped)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/cursor", dir);
    ef_buf b;
    ef_buf_init(&b);
    int rc = ef_fs_read(path, 4096, &b);
    if (rc == EF_OK) {
        char tag[16];
        unsigned long long a, n, d;
        if (!b.data || sscanf(b.data, "%15s %llu %llu %llu", tag, &a, &n, &d) != 4 ||
            strcmp(tag, CURSOR_TAG) != 0 || a >= n) {
            rc = EF_ECORRUPT;
        } else {
            *acked = a;
            *next = n;
            *dropped = d;
        }
    }
    ef_buf_release(&b);
    return rc;
}

static int write_cursor(ef_spool *s)
{
    char path[4096], text[128];
    snprintf(path, sizeof path, "%s/cursor", s->dir);
    int n = snprintf(text, sizeof text, "%s %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", CURSOR_TAG,
                     s->acked, s->next_seq, s->dropped);
    int rc = ef_fs_write_atomic(path, text, (size_t)n, s->opt.durable);
    if (rc == EF_OK) s->cursor_dirty = 0;
    else EF_ERROR("spool: cannot write %s: %s", path, strerror(errno));
    return rc;
}

/* --- segments ------------------------------------------------------------------------------ */

static int list_segments(const char *dir, uint64_t **firsts, size_t *n)
{
    DIR *d = opendir(dir);
    if (!d) return EF_EIO;
    size_t cap = 0;
    *firsts = NULL;
    *n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        unsigned long long first;
        char tail[8];
        if (strlen(e->d_name) != 4 + 16 + 4 ||
            sscanf(e->d_name, "seg-%16llx%7s", &first, tail) != 2 || strcmp(tail, ".log"))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            uint64_t *p = realloc(*firsts, cap * sizeof *p);
            if (!p) {
                closedir(d);
                return EF_ENOMEM;
            }
            *firsts = p;
        }
        (*firsts)[(*n)++] = first;
    }
    closedir(d);
    for (size_t i = 1; i < *n; i++) /* insertion sort: few segments */
        for (size_t j = i; j > 0 && (*firsts)[j - 1] > (*firsts)[j]; j--) {
            uint64_t t = (*firsts)[j];
            (*firsts)[j] = (*firsts)[j - 1];
            (*firsts)[j - 1] = t;
        }
    return EF_OK;
}

static int push_segment(ef_spool *s, uint64_t first, uint64_t last, size_t bytes)
{
    if (s->nsegs == s->segs_cap) {
        size_t cap = s->segs_cap ? s->segs_cap * 2 : 8;
        segment *p = realloc(s->segs, cap * sizeof *p);
        if (!p) return EF_ENOMEM;
        s->segs = p;
        s->segs_cap = cap;
    }
    s->segs[s->nsegs++] = (segment){first, last, bytes};
    return EF_OK;
}

/* --- pending ring -------------------------------------------------------------------------- */

static pending *pend_at(const ef_spool *s, size_t i)
{
    return &s->pend[(s->pend_head + i) % s->pend_cap];
}

static int pend_push(ef_spool *s, uint64_t seq, const void *payload, size_t len)
{
    if (s->pend_n == s->pend_cap) {
        size_t cap = s->pend_cap ? s->pend_cap * 2 : 64;
        pending *p = malloc(cap * sizeof *p);
        if (!p) return EF_ENOMEM;
        for (size_t i = 0; i < s->pend_n; i++)
            p[i] = *pend_at(s, i);
        free(s->pend);
        s->pend = p;
        s->pend_cap = cap;
        s->pend_head = 0;
    }
    unsigned char *copy = malloc(len ? len : 1);
    if (!copy) return EF_ENOMEM;
    memcpy(copy, payload, len);
    *pend_at(s, s->pend_n) = (pending){seq, 0, len, copy};
    s->pend_n++;
    return EF_OK;
}

static void pend_pop(ef_spool *s)
{
    pending *p = pend_at(s, 0);
    s->acked = p->seq;
    free(p->payload);
    s->pend_head = (s->pend_head + 1) % s->pend_cap;
    s->pend_n--;
    s->cursor_dirty = 1;
}

static void drop_oldest(ef_spool *s)
{
    uint64_t seq = pend_at(s, 0)->seq;
    pend_pop(s);
    s->dropped++;
    while (s->pend_n && pend_at(s, 0)->acked)
        pend_pop(s);
    EF_WARN("spool full (%" PRIu64 " readings): dropped the oldest, seq %" PRIu64
            "; %" PRIu64 " dropped in total",
            s->opt.max_records, seq, s->dropped);
}

/* --- open ---------------------------------------------------------------------------------- */

typedef struct load_ctx {
    ef_spool *s;
    uint64_t prev; /* last seq seen, 0 = none */
    uint64_t first, last;
    int rc;
} load_ctx;

static int load_record(void *ctx, uint64_t seq, const unsigned char *p, size_t len)
{
    load_ctx *lc = ctx;
    if (lc->prev && seq != lc->prev + 1) return 1;
    lc->prev = seq;
    if (!lc->first) lc->first = seq;
    lc->last = seq;
    if (seq > lc->s->acked && pend_push(lc->s, seq, p, len) != EF_OK) {
        lc->rc = EF_ENOMEM;
        return 1;
    }
    return 0;
}

int ef_spool_open(const char *dir, const ef_spool_options *opt, ef_spool **out)
{
    *out = NULL;
    if (ef_fs_mkdir_p(dir) != EF_OK) {
        EF_ERROR("spool: cannot create %s: %s", dir, strerror(errno));
        return EF_EIO;
    }
    ef_spool *s = calloc(1, sizeof *s);
    if (!s) return EF_ENOMEM;
    s->fd = -1;
    s->opt = *opt;
    if (s->opt.max_records < 1) s->opt.max_records = 1;
    if (!s->opt.segment_bytes) s->opt.segment_bytes = 1u << 20;
    s->dir = strdup(dir);
    s->next_seq = 1;
    uint64_t *firsts = NULL;
    size_t nfirst = 0;
    ef_buf data;
    ef_buf_init(&data);
    int rc = s->dir ? EF_OK : EF_ENOMEM;
    if (rc) goto fail;

    rc = read_cursor(dir, &s->acked, &s->next_seq, &s->dropped);
    if (rc == EF_ECORRUPT) {
        EF_ERROR("spool: %s/cursor is damaged; run `edgeflow agent --check-spool %s`", dir, dir);
        goto fail;
    }
    if (rc == EF_ENOTFOUND) {
        s->acked = 0;
        s->next_seq = 1;
    } else if (rc) {
        goto fail;
    }
    rc = list_segments(dir, &firsts, &nfirst);
    if (rc) goto fail;

    load_ctx lc = {.s = s};
    for (size_t i = 0; i < nfirst; i++) {
        char path[4096];
        seg_path(dir, firsts[i], path, sizeof path);
        ef_buf_clear(&data);
        rc = ef_fs_read(path, (size_t)1 << 31, &data);
        if (rc) goto fail;
        lc.first = lc.last = 0;
        const char *why;
        size_t good = parse_records((const unsigned char *)data.data, data.len, load_record, &lc,
                                    &why);
        if (lc.rc) {
            rc = lc.rc;
            goto fail;
        }
        if (why && i + 1 < nfirst) {
            EF_ERROR("spool: %s: %s at byte %zu (not the newest segment); run `edgeflow agent "
                     "--check-spool %s`",
                     path, why, good, dir);
            rc = EF_ECORRUPT;
            goto fail;
        }
        if (why) {
            EF_WARN("spool: %s: %s at byte %zu: truncating the torn tail (%zu bytes)", path, why,
                    good, data.len - good);
            if (truncate(path, (off_t)good) != 0) {
                rc = EF_EIO;
                goto fail;
            }
        }
        if (lc.first && lc.first != firsts[i]) {
            EF_ERROR("spool: %s starts with seq %" PRIu64 ", not its name's", path, lc.first);
            rc = EF_ECORRUPT;
            goto fail;
        }
        rc = push_segment(s, firsts[i], lc.first ? lc.last : firsts[i] - 1, good);
        if (rc) goto fail;
        if (lc.last >= s->next_seq) s->next_seq = lc.last + 1;
    }
    if (s->acked >= s->next_seq) s->next_seq = s->acked + 1;
    while (s->pend_n > s->opt.max_records)
        drop_oldest(s);
    if (s->pend_n)
        EF_INFO("spool %s: %zu readings waiting to be published (seq %" PRIu64 "..%" PRIu64 ")",
                dir, s->pend_n, pend_at(s, 0)->seq, pend_at(s, s->pend_n - 1)->seq);
    s->cursor_dirty = 1;
    rc = ef_spool_sync(s);
    if (rc) goto fail;
    free(firsts);
    ef_buf_release(&data);
    *out = s;
    return EF_OK;
fail:
    free(firsts);
    ef_buf_release(&data);
    ef_spool_close(s);
    return rc;
}

void ef_spool_close(ef_spool *s)
{
    if (!s) return;
    if (s->dir && s->cursor_dirty) ef_spool_sync(s);
    if (s->fd >= 0) close(s->fd);
    for (size_t i = 0; i < s->pend_n; i++)
        free(pend_at(s, i)->payload);
    free(s->pend);
    free(s->segs);
    free(s->dir);
    free(s);
}

uint64_t ef_spool_next_seq(const ef_spool *s)
{
    return s->next_seq;
}

size_t ef_spool_pending(const ef_spool *s)
{
    return s->pend_n;
}

uint64_t ef_spool_dropped(const ef_spool *s)
{
    return s->dropped;
}

int ef_spool_get(const ef_spool *s, size_t i, uint64_t *seq, const void **payload, size_t *len)
{
    if (i >= s->pend_n) return EF_ENOTFOUND;
    const pending *p = pend_at(s, i);
    *seq = p->seq;
    *payload = p->payload;
    *len = p->len;
    return EF_OK;
}

static int open_new_segment(ef_spool *s, uint64_t first)
{
    char path[4096];
    if (s->fd >= 0) close(s->fd);
    seg_path(s->dir, first, path, sizeof path);
    s->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (s->fd < 0) {
        EF_ERROR("spool: cannot create %s: %s", path, strerror(errno));
        return EF_EIO;
    }
    if (s->opt.durable) ef_fs_sync_dir_of(path);
    return push_segment(s, first, first - 1, 0);
}

int ef_spool_append(ef_spool *s, uint64_t seq, const void *payload, size_t len)
{
    if (seq != s->next_seq || len > MAX_PAYLOAD) return EF_EINVAL;
    if (s->pend_n >= s->opt.max_records) drop_oldest(s);
    segment *cur = s->nsegs ? &s->segs[s->nsegs - 1] : NULL;
    if (s->fd < 0 && cur && cur->bytes < s->opt.segment_bytes && cur->last + 1 == seq) {
        char path[4096];
        seg_path(s->dir, cur->first, path, sizeof path);
        s->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    }
    if (s->fd < 0 || !cur || cur->bytes >= s->opt.segment_bytes) {
        int rc = open_new_segment(s, seq);
        if (rc) return rc;
        cur = &s->segs[s->nsegs - 1];
    }
    unsigned char *rec = malloc(HDR_SIZE + len);
    if (!rec) return EF_ENOMEM;
    put32(rec, SPOOL_MAGIC);
    put32(rec + 4, (uint32_t)len);
    put32(rec + 8, record_crc(seq, payload, len));
    put64(rec + 12, seq);
    memcpy(rec + HDR_SIZE, payload, len);
    ssize_t w;
    do {
        w = write(s->fd, rec, HDR_SIZE + len);
    } while (w < 0 && errno == EINTR);
    free(rec);
    if (w != (ssize_t)(HDR_SIZE + len)) {
        EF_ERROR("spool: append to %s failed: %s", s->dir, w < 0 ? strerror(errno) : "short write");
        /* a short write leaves a torn tail that open() truncates; start a fresh segment */
        close(s->fd);
        s->fd = -1;
        cur->bytes = s->opt.segment_bytes;
        return EF_EIO;
    }
    if (s->opt.durable && fdatasync(s->fd) != 0) return EF_EIO;
    cur->last = seq;
    cur->bytes += HDR_SIZE + len;
    s->next_seq = seq + 1;
    int rc = pend_push(s, seq, payload, len);
    return rc;
}

int ef_spool_ack(ef_spool *s, uint64_t seq)
{
    if (!s->pend_n || seq <= s->acked) return EF_OK;
    uint64_t first = pend_at(s, 0)->seq;
    if (seq < first || seq - first >= s->pend_n) return EF_OK;
    pend_at(s, (size_t)(seq - first))->acked = 1;
    while (s->pend_n && pend_at(s, 0)->acked)
        pend_pop(s);
    return EF_OK;
}

int ef_spool_sync(ef_spool *s)
{
    if (!s->cursor_dirty) return EF_OK;
    int rc = write_cursor(s);
    if (rc) return rc;
    /* The cursor on disk now covers every seq <= acked: finished segments can go. */
    size_t keep = 0;
    for (size_t i = 0; i < s->nsegs; i++) {
        segment *g = &s->segs[i];
        int last = i + 1 == s->nsegs;
        int finished = g->last < g->first ? !last : g->last <= s->acked;
        if (finished && !(last && g->last < g->first)) {
            char path[4096];
            seg_path(s->dir, g->first, path, sizeof path);
            if (last && s->fd >= 0) {
                close(s->fd);
                s->fd = -1;
            }
            if (unlink(path) != 0 && errno != ENOENT)
                EF_WARN("spool: cannot remove %s: %s", path, strerror(errno));
            continue;
        }
        s->segs[keep++] = *g;
    }
    s->nsegs = keep;
    return EF_OK;
}

/* --- check --------------------------------------------------------------------------------- */

typedef struct check_ctx {
    uint64_t prev, count, first;
} check_ctx;

static int check_record(void *ctx, uint64_t seq, const unsigned char *p, size_t len)
{
    (void)p;
    (void)len;
    check_ctx *cc = ctx;
    if (cc->prev && seq != cc->prev + 1) return 1;
    if (!cc->first) cc->first = seq;
    cc->prev = seq;
    cc->count++;
    return 0;
}

int ef_spool_check(const char *dir, char **report)
{
    ef_buf r;
    ef_buf_init(&r);
    uint64_t acked = 0, next = 1, dropped = 0;
    uint64_t *firsts = NULL;
    size_t n = 0;
    ef_buf data;
    ef_buf_init(&data);
    int rc = read_cursor(dir, &acked, &next, &dropped);
    if (rc == EF_ECORRUPT) {
        ef_buf_appendf(&r, "%s/cursor: malformed", dir);
        goto out;
    }
    if (rc == EF_ENOTFOUND) {
        acked = 0;
        next = 1;
    } else if (rc) {
        ef_buf_appendf(&r, "%s/cursor: cannot read", dir);
        rc = EF_ECORRUPT;
        goto out;
    }
    if (list_segments(dir, &firsts, &n) != EF_OK) {
        ef_buf_appendf(&r, "%s: cannot list", dir);
        rc = EF_ECORRUPT;
        goto out;
    }
    check_ctx cc = {0};
    uint64_t pending = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        seg_path(dir, firsts[i], path, sizeof path);
        ef_buf_clear(&data);
        if (ef_fs_read(path, (size_t)1 << 31, &data) != EF_OK) {
            ef_buf_appendf(&r, "%s: cannot read", path);
            rc = EF_ECORRUPT;
            goto out;
        }
        const char *why;
        cc.first = 0;
        size_t good =
            parse_records((const unsigned char *)data.data, data.len, check_record, &cc, &why);
        if (why) {
            ef_buf_appendf(&r, "%s: %s at byte %zu of %zu", path, why, good, data.len);
            rc = EF_ECORRUPT;
            goto out;
        }
        if (cc.first && cc.first != firsts[i]) {
            ef_buf_appendf(&r, "%s: first seq %" PRIu64 " does not match its name", path,
                           cc.first);
            rc = EF_ECORRUPT;
            goto out;
        }
    }
    /* The cursor's next seq may lag behind the segments (it is rewritten on acks, not on every
     * append); open() takes the larger of the two, so that is not damage. */
    if (cc.prev > acked) pending = cc.prev - (acked >= firsts[0] - 1 ? acked : firsts[0] - 1);
    ef_buf_appendf(&r,
                   "ok: %zu segments, %" PRIu64 " records, %" PRIu64 " pending, acked through %" PRIu64
                   ", next seq %" PRIu64 ", %" PRIu64 " dropped",
                   n, cc.count, pending, acked, next, dropped);
    rc = EF_OK;
out:
    free(firsts);
    ef_buf_release(&data);
    *report = ef_buf_take(&r, NULL);
    return rc;
}
