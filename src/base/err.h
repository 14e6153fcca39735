/* err.h - edgeflow's one status space.
 *
 * Every fallible function returns an int: 0 (EF_OK) on success, a negative EF_E* code on failure.
 * EF_EAGAIN is the distinct "try again later" code (window full, not connected, would block).
 * Results come back through out-parameters. ef_strerror() names any code.
 */
#ifndef EF_BASE_ERR_H
#define EF_BASE_ERR_H

enum {
    EF_OK = 0,
    EF_EAGAIN = -1,    /* try again later */
    EF_ENOMEM = -2,    /* out of memory */
    EF_EINVAL = -3,    /* invalid argument or input */
    EF_EIO = -4,       /* I/O error (errno tells more) */
    EF_EPROTO = -5,    /* protocol violation by the peer */
    EF_ENOTFOUND = -6, /* no such thing */
    EF_ECLOSED = -7,   /* connection closed */
    EF_ETIMEDOUT = -8, /* deadline passed */
    EF_EEXIST = -9,    /* already exists */
    EF_ETOOBIG = -10,  /* over a configured limit */
    EF_ECORRUPT = -11, /* on-disk structure failed its integrity check */
    EF_EAUTH = -12,    /* refused: authentication or authorisation */
    EF_EDB = -13,      /* database error */
    EF_EUNSUPPORTED = -14,
};

/* A static, human-readable name for a status code; never NULL. */
const char *ef_strerror(int code);

#endif
