/* artifact_path.h - the artifact repository behind the MLflow artifact proxy, and the one function
 * every artifact path goes through before it touches storage (artifact_path.c).
 *
 * MLflow shipped several path-traversal CVEs in its artifact handlers (CVE-2023-1177,
 * CVE-2023-2780, CVE-2023-6014 ...): a path is therefore normalised and checked once, here, and the
 * local backend additionally opens every component with O_NOFOLLOW so a symlink planted under
 * the root cannot lead outside it.
 */
#ifndef EF_TRACKING_ARTIFACT_PATH_H
#define EF_TRACKING_ARTIFACT_PATH_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "tracking/trk_int.h"

/* Longest normalised artifact path (bytes, without the NUL). */
#define TRK_ARTIFACT_PATH_MAX 4096

/* Normalises a relative artifact path (already percent-decoded once, as libmicrohttpd and the
 * query-string parser hand it over): empty and "." segments are dropped, so "a//b/./c/" becomes
 * "a/b/c" and "" or "/"-free "." become "" (the root). Refused with INVALID_PARAMETER_VALUE
 * "Invalid path" (MLflow's message, HTTP 400): a ".." segment; an absolute path ("/x", "C:x",
 * "file:..."); a backslash; '#'; a NUL or other control character; '%' followed by two hex digits
 * (the client encoded twice: "%2e%2e", "%252e", "%2F", "%5C"); a segment longer than 255 bytes; a
 * result that does not fit in outlen. Returns 0 (out holds the result) or -1 (e filled).
 * raw NULL counts as "". The _n form takes a length and refuses embedded NUL bytes. */
int trk__artifact_path_normalize(const char *raw, char *out, size_t outlen, trk_err *e);
int trk__artifact_path_normalize_n(const char *raw, size_t rawlen, char *out, size_t outlen,
                                   trk_err *e);

/* Resolving a normalised path under a folder (the local backend). Opens every folder of norm
 * but the last segment relative to root_fd with O_NOFOLLOW|O_DIRECTORY (create: makes missing
 * ones). *dfd: the parent folder (caller closes); *leaf: the last segment, inside buf (a copy
 * of norm). norm "" gives the root and leaf "". Returns 0; -1 with e (a symlink on the way is
 * INVALID_PARAMETER_VALUE "Invalid path"); or TRK_ARTIFACT_MISSING with e (INTERNAL_ERROR "No
 * such file or directory") when a folder does not exist. */
#define TRK_ARTIFACT_MISSING (-2)
int trk__artifact_path_walk(int root_fd, const char *norm, int create, char *buf, size_t buflen,
                            int *dfd, const char **leaf, trk_err *e);
/* After a failed openat(dfd, name, ...) of path: e from errno (and a symlink check), returning
 * -1 or TRK_ARTIFACT_MISSING as above. */
int trk__artifact_path_errno(int dfd, const char *name, const char *path, trk_err *e);

/* --- the repository (artifacts.c) ---------------------------------------------------------------
 * A root URI: a folder (path or file:///dir; created if missing when asked) or s3://bucket/prefix.
 * Every operation takes a path relative to the root and normalises it with the function above
 * itself, so no caller can bypass the check. All operations are thread-safe. */
typedef struct trk_file_info {
    char *path; /* relative to the listed directory's root: see trk__artifacts_list */
    int is_dir;
    int64_t size; /* files only */
} trk_file_info;

typedef struct trk_file_list {
    trk_file_info *items;
    size_t n, cap;
} trk_file_list;

void trk__file_list_release(trk_file_list *l);
/* Appends an entry (name: len bytes, copied). 0 or EF_ENOMEM. */
int trk__file_list_add(trk_file_list *l, const char *name, size_t len, int is_dir, int64_t size);
/* Sorts by path and merges duplicates (an S3 "folder" is seen once per key under it). */
void trk__file_list_sort(trk_file_list *l);

/* Opens a repository at uri. create: make a missing local folder (else it must exist).
 * s3_endpoint/s3_region may be NULL (environment, see s3/s3.h). durable: fsync local uploads.
 * Returns 0 or an EF_E* code with *errmsg (malloc'd). */
int trk__artifacts_open_uri(const char *uri, int create, const char *s3_endpoint,
                            const char *s3_region, int durable, struct trk_artifacts **out,
                            char **errmsg);

/* Stores data at path atomically (local: temp file + rename; S3: one PUT, multipart above the
 * client's threshold). Missing parent folders are created. 0 or -1 with e. */
int trk__artifacts_put(struct trk_artifacts *a, const char *path, const void *data, size_t len,
                       trk_err *e);
/* Appends the file's bytes to out. A missing file is INTERNAL_ERROR (500), as MLflow 2.12.2
 * answers; a path through a symlink is INVALID_PARAMETER_VALUE. 0 or -1 with e. */
int trk__artifacts_get(struct trk_artifacts *a, const char *path, ef_buf *out, trk_err *e);
/* Lists one level of the folder at path ("" = the root), sorted by name; each item's path is
 * the entry's name alone (callers prefix what they need). A missing folder or a file gives an
 * empty list, like MLflow's repositories. 0 or -1 with e. */
int trk__artifacts_list(struct trk_artifacts *a, const char *path, trk_file_list *out, trk_err *e);
/* Deletes the file or the folder tree at path; a missing path is not an error. The root itself
 * ("") cannot be deleted (INVALID_PARAMETER_VALUE). 0 or -1 with e. */
int trk__artifacts_delete(struct trk_artifacts *a, const char *path, trk_err *e);

/* The Content-Type MLflow's _guess_mime_type gives a file name (text types -> text/plain). */
const char *trk__artifact_mime_type(const char *path);

#endif
