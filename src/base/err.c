/* err.c - names for the EF_E* status codes. */
#include "base/err.h"

const char *ef_strerror(int code)
{
    switch (code) {
    case EF_OK: return "ok";
    case EF_EAGAIN: return "try again";
    case EF_ENOMEM: return "out of memory";
    case EF_EINVAL: return "invalid argument";
    case EF_EIO: return "I/O error";
    case EF_EPROTO: return "protocol error";
    case EF_ENOTFOUND: return "not found";
    case EF_ECLOSED: return "connection closed";
    case EF_ETIMEDOUT: return "timed out";
    case EF_EEXIST: return "already exists";
    case EF_ETOOBIG: return "too big";
    case EF_ECORRUPT: return "corrupt";
    case EF_EAUTH: return "not authorised";
    case EF_EDB: return "database error";
    case EF_EUNSUPPORTED: return "unsupported";
    default: return "unknown error";
    }
}
