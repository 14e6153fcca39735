/* artifact_path.c - the artifact-path normaliser every artifact request goes through, the
 * symlink-refusing walk of a normalised path under the local repository's folder, the listing
 * container, and the Content-Type guess for downloads. See artifact_path.h for the rules and why
 * they exist.
 *
 * Hand-written: the check is a few dozen lines whose exact behaviour is the security contract
 * (fuzzed by tests/fuzz/fuzz_trk_artifact_path.c); realpath(3)-style libraries resolve against the
 * file system and follow symlinks, which is exactly what must not happen here.
 *
 * Deliberately self-contained (fills trk_err itself instead of calling trk__fail) so the fuzz
 * target links this object alone.
 */
#include "tracking/artifact_path.h"

#include "base/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEGMENT_MAX 255 /* NAME_MAX on Linux file systems; S3 keys allow more, but keep one rule   \
                         */

static int invalid(trk_err *e)
{
    if (e) {
        e->code = TRK_INVALID_PARAMETER_VALUE;
        memcpy(e->message, "Invalid path", sizeof "Invalid path");
    }
    return -1;
}

static int set_err(trk_err *e, trk_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int set_err(trk_err *e, trk_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    e->code = code;
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int trk__artifact_path_normalize_n(const char *raw, size_t rawlen, char *out, size_t outlen,
                                   trk_err *e)
{
    size_t o = 0;
    if (!out || outlen == 0) return invalid(e);
    out[0] = '\0';
    if (!raw) rawlen = 0;
    /* whole-path checks: characters, encodings, absolute forms */
    for (size_t i = 0; i < rawlen; i++) {
        unsigned char c = (unsigned char)raw[i];
        if (c < 0x20 || c == 0x7f || c == '\\' || c == '#') return invalid(e);
        if (c == '%' && i + 2 < rawlen && is_hex((unsigned char)raw[i + 1]) &&
            is_hex((unsigned char)raw[i + 2]))
            return invalid(e);
    }
    if (rawlen > 0 && raw[0] == '/') return invalid(e);
    /* segments */
    size_t i = 0;
    while (i < rawlen) {
        size_t start = i;
        while (i < rawlen && raw[i] != '/')
            i++;
        size_t len = i - start;
        if (i < rawlen) i++; /* the '/' */
        if (len == 0 || (len == 1 && raw[start] == '.')) continue;
        if (len == 2 && raw[start] == '.' && raw[start + 1] == '.') return invalid(e);
        if (len > SEGMENT_MAX) return invalid(e);
        size_t need = (o ? 1 : 0) + len;
        if (o + need + 1 > outlen) return invalid(e);
        if (o) out[o++] = '/';
        memcpy(out + o, raw + start, len);
        o += len;
    }
    out[o] = '\0';
    /* Windows drive and file: URI forms, checked on the result so "./C:/x" is caught too */
    if ((o >= 2 && is_alpha((unsigned char)out[0]) && out[1] == ':') ||
        (o >= 5 && strncasecmp(out, "file:", 5) == 0)) {
        out[0] = '\0';
        return invalid(e);
    }
    return 0;
}

int trk__artifact_path_normalize(const char *raw, char *out, size_t outlen, trk_err *e)
{
    return trk__artifact_path_normalize_n(raw, raw ? strlen(raw) : 0, out, outlen, e);
}

/* --- resolving a normalised path under a folder, never through a symlink ---
 */

/* errno of a failed openat of a component -> the error to report: -1, or MISSING. */
int trk__artifact_path_errno(int dfd, const char *name, const char *path, trk_err *e)
{
    int err = errno;
    struct stat st;
    if (err == ELOOP || (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)))
        return invalid(e); /* a symlink under the root: never followed */
    if (err == ENOENT || err == ENOTDIR) {
        set_err(e, TRK_INTERNAL_ERROR, "No such file or directory: '%s'", path);
        return TRK_ARTIFACT_MISSING;
    }
    return set_err(e, TRK_INTERNAL_ERROR, "%s: %s", path, strerror(err));
}

/* Opens the folders of norm (a normalised path) except its last segment, without following
 * symlinks; create: make missing ones. *dfd: the parent folder (caller closes), *leaf: the last
 * segment inside buf. norm "" gives the root and leaf "". */
int trk__artifact_path_walk(int root_fd, const char *norm, int create, char *buf, size_t buflen,
                            int *dfd, const char **leaf, trk_err *e)
{
    *dfd = -1;
    snprintf(buf, buflen, "%s", norm);
    int fd = dup(root_fd);
    if (fd < 0) return set_err(e, TRK_INTERNAL_ERROR, "dup: %s", strerror(errno));
    char *seg = buf;
    for (char *slash; (slash = strchr(seg, '/')) != NULL; seg = slash + 1) {
        *slash = '\0';
        int next = openat(fd, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 && errno == ENOENT && create) {
            if (mkdirat(fd, seg, 0755) != 0 && errno != EEXIST) {
                int rc = set_err(e, TRK_INTERNAL_ERROR, "cannot create folder '%s': %s", norm,
                                 strerror(errno));
                close(fd);
                return rc;
            }
            next = openat(fd, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (next < 0) {
            int rc = trk__artifact_path_errno(fd, seg, norm, e);
            close(fd);
            return rc;
        }
        close(fd);
        fd = next;
    }
    *dfd = fd;
    *leaf = seg;
    return 0;
}

/* --- file lists (the repository's listings)
 * -------------------------------------------------------------------------------- */

void trk__file_list_release(trk_file_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i].path);
    free(l->items);
    memset(l, 0, sizeof *l);
}

int trk__file_list_add(trk_file_list *l, const char *name, size_t len, int is_dir, int64_t size)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        trk_file_info *p = realloc(l->items, cap * sizeof *p);
        if (!p) return EF_ENOMEM;
        l->items = p;
        l->cap = cap;
    }
    char *s = strndup(name, len);
    if (!s) return EF_ENOMEM;
    l->items[l->n++] = (trk_file_info){s, is_dir, is_dir ? 0 : size};
    return EF_OK;
}

static int cmp_info(const void *a, const void *b)
{
    return strcmp(((const trk_file_info *)a)->path, ((const trk_file_info *)b)->path);
}

/* Sorts by name and merges duplicates (S3 "folders" seen once per key under them). */
void trk__file_list_sort(trk_file_list *l)
{
    if (l->n < 2) return;
    qsort(l->items, l->n, sizeof *l->items, cmp_info);
    size_t w = 1;
    for (size_t i = 1; i < l->n; i++) {
        if (strcmp(l->items[i].path, l->items[w - 1].path) == 0) {
            l->items[w - 1].is_dir |= l->items[i].is_dir;
            free(l->items[i].path);
        } else {
            l->items[w++] = l->items[i];
        }
    }
    l->n = w;
}

/* --- Content-Type
 * --------------------------------------------------------------------------------- MLflow's
 * mlflow/utils/mime_type_utils.py: a fixed list of text extensions (and the extension-less MLmodel
 * / MLproject files) is text/plain; otherwise Python's mimetypes table; otherwise
 * application/octet-stream. The table below holds the mimetypes entries artifacts plausibly use. */
static const char *const text_exts[] = {
    "txt",  "log",   "err",  "cfg",  "conf", "cnf",     "cf",        "ini", "properties",
    "prop", "hocon", "toml", "yaml", "yml",  "xml",     "json",      "js",  "py",
    "py3",  "csv",   "tsv",  "md",   "rst",  "MLmodel", "MLproject",
};

static const struct {
    const char *ext, *type;
} mime_table[] = {
    {"html", "text/html"},
    {"htm", "text/html"},
    {"css", "text/css"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"svg", "image/svg+xml"},
    {"bmp", "image/bmp"},
    {"ico", "image/vnd.microsoft.icon"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"webp", "image/webp"},
    {"pdf", "application/pdf"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
    {"wasm", "application/wasm"},
    {"mp4", "video/mp4"},
    {"mp3", "audio/mpeg"},
    {"wav", "audio/x-wav"},
    {"h5", "application/x-hdf5"},
    {"pkl", "application/octet-stream"},
};

const char *trk__artifact_mime_type(const char *path)
{
    const char *name = path ? strrchr(path, '/') : NULL;
    name = name ? name + 1 : (path ? path : "");
    /* os.path.splitext: the extension is after the last '.', unless the name starts with it */
    const char *dot = strrchr(name, '.');
    /* no extension: the file name itself is compared (MLmodel, MLproject) */
    const char *ext = (dot && dot != name) ? dot + 1 : name;
    for (size_t i = 0; i < sizeof text_exts / sizeof text_exts[0]; i++)
        if (strcmp(ext, text_exts[i]) == 0) return "text/plain";
    if (ext != name)
        for (size_t i = 0; i < sizeof mime_table / sizeof mime_table[0]; i++)
            if (strcasecmp(ext, mime_table[i].ext) == 0) return mime_table[i].type;
    return "application/octet-stream";
}
