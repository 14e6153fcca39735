/* xgb_dl.c - libxgboost, loaded on first use (dlopen) instead of linked.
 *
 * edgeflow is one binary for every role; linking libxgboost (and through it libdmlc, libgomp
 * and much of libstdc++) put ~4.5 MiB of library pages into every process at start, including
 * the tracking server, ingest and agents that never train or serve a boosted model. Loading it
 * when the first XGBoost call happens keeps those roles small (bench/tracking.sh's peak RSS).
 * The library is Debian's libxgboost0 (soname libxgboost.so.0), or the file named by
 * $EDGEFLOW_XGBOOST_LIBRARY (e.g. a newer XGBoost build); when it cannot be loaded every call
 * fails with -1 and XGBGetLastError() says what to install.
 */
#define XGB_DL_IMPLEMENTATION
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "ml/xgb_dl.h"

#define XGB_DL_SONAME "libxgboost.so.0"

#define XGB_DL_POINTER(name, params, args) static __typeof__(name) *p_##name;
XGB_DL_FUNCS(XGB_DL_POINTER)
#undef XGB_DL_POINTER
static __typeof__(XGBGetLastError) *p_XGBGetLastError;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_loaded;
static char g_why[512];

static void *sym(void *lib, const char *file, const char *name, int *ok)
{
    void *p = dlsym(lib, name);
    if (!p && *ok) {
        snprintf(g_why, sizeof g_why, "%s has no %s: install Debian's libxgboost0 (>= 1.6)",
                 file, name);
        *ok = 0;
    }
    return p;
}

static void load(void)
{
    const char *file = getenv("EDGEFLOW_XGBOOST_LIBRARY");
    if (!file || !*file)
        file = XGB_DL_SONAME;
    void *lib = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();
        snprintf(g_why, sizeof g_why, "cannot load XGBoost (%s): install Debian's libxgboost0 "
                 "or point EDGEFLOW_XGBOOST_LIBRARY at a libxgboost.so", e ? e : file);
        return;
    }
    int ok = 1;
#define XGB_DL_RESOLVE(name, params, args) *(void **)&p_##name = sym(lib, file, #name, &ok);
    XGB_DL_FUNCS(XGB_DL_RESOLVE)
#undef XGB_DL_RESOLVE
    *(void **)&p_XGBGetLastError = sym(lib, file, "XGBGetLastError", &ok);
    g_loaded = ok; /* the library stays loaded for the process's life */
}

static int loaded(void)
{
    pthread_once(&g_once, load);
    return g_loaded;
}

#define XGB_DL_DEFINE(name, params, args)                                                          \
    int xgb__##name params { return loaded() ? p_##name args : -1; }
XGB_DL_FUNCS(XGB_DL_DEFINE)
#undef XGB_DL_DEFINE

const char *xgb__XGBGetLastError(void)
{
    return loaded() ? p_XGBGetLastError() : g_why;
}
