/* router.c - the HTTP router: METHOD + pattern -> handler, a segment trie; see http_int.h.
 *
 * Hand-written because libmicrohttpd has no router and a trie over pre-split patterns is ~250
 * lines. Path rules: the path starts with '/'; "/" has no segments; segments are separated by
 * '/'; an empty segment ("//", trailing '/') matches no literal or parameter, only a rest
 * parameter, which needs a non-empty remainder.
 */
#include "http/http_int.h"
#include "base/err.h"

#include <stdlib.h>
#include <string.h>

typedef struct lit_child {
    char *seg;
    size_t len;
    http__node *node;
} lit_child;

struct http__node {
    lit_child *lits;
    size_t nlits, caplits;
    http__node *param; /* "{name}" child */
    http__route **end; /* routes whose pattern ends at this node */
    size_t nend;
    http__route **rest; /* "{name*}" routes whose rest starts at this node */
    size_t nrest;
};

static void node_free(http__node *n)
{
    if (!n) return;
    for (size_t i = 0; i < n->nlits; i++) {
        free(n->lits[i].seg);
        node_free(n->lits[i].node);
    }
    free(n->lits);
    node_free(n->param);
    free(n->end);
    free(n->rest);
    free(n);
}

static void route_free(http__route *rt)
{
    if (!rt) return;
    free(rt->method);
    free(rt->pattern);
    for (int i = 0; i < rt->nparams; i++)
        free(rt->param_names[i]);
    free(rt);
}

void http__router_init(http__router *r)
{
    memset(r, 0, sizeof *r);
}

void http__router_release(http__router *r)
{
    node_free(r->root);
    for (size_t i = 0; i < r->nroutes; i++)
        route_free(r->routes[i]);
    free(r->routes);
    http__router_init(r);
}

static int valid_method(const char *m)
{
    if (strcmp(m, "*") == 0) return 1;
    if (!*m || strlen(m) > 16) return 0;
    for (const char *p = m; *p; p++)
        if (*p < 'A' || *p > 'Z') return 0;
    return 1;
}

static int valid_param_name(const char *s, size_t len)
{
    if (len == 0) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static http__node *child_literal(http__node *n, const char *seg, size_t len, int create)
{
    for (size_t i = 0; i < n->nlits; i++)
        if (n->lits[i].len == len && memcmp(n->lits[i].seg, seg, len) == 0) return n->lits[i].node;
    if (!create) return NULL;
    if (n->nlits == n->caplits) {
        size_t cap = n->caplits ? n->caplits * 2 : 4;
        lit_child *nl = realloc(n->lits, cap * sizeof *nl);
        if (!nl) return NULL;
        n->lits = nl;
        n->caplits = cap;
    }
    lit_child *c = &n->lits[n->nlits];
    c->seg = strndup(seg, len);
    c->node = calloc(1, sizeof *c->node);
    if (!c->seg || !c->node) {
        free(c->seg);
        free(c->node);
        return NULL;
    }
    c->len = len;
    n->nlits++;
    return c->node;
}

static int push_route(http__route ***list, size_t *n, http__route *rt)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*list)[i]->method, rt->method) == 0) return EF_EEXIST;
    http__route **nl = realloc(*list, (*n + 1) * sizeof *nl);
    if (!nl) return EF_ENOMEM;
    nl[(*n)++] = rt;
    *list = nl;
    return EF_OK;
}

int http__router_add(http__router *r, const char *method, const char *pattern, ef_http_handler h,
                     void *ctx, http__route **out)
{
    int rc = EF_EINVAL;
    http__route *rt = NULL;
    if (!method || !pattern || !h || !valid_method(method) || pattern[0] != '/') goto fail;
    rc = EF_ENOMEM;
    if (!r->root && !(r->root = calloc(1, sizeof *r->root))) goto fail;
    if (r->nroutes == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        http__route **nr = realloc(r->routes, cap * sizeof *nr);
        if (!nr) goto fail;
        r->routes = nr;
        r->cap = cap;
    }
    rt = calloc(1, sizeof *rt);
    if (!rt) goto fail;
    rt->method = strdup(method);
    rt->pattern = strdup(pattern);
    if (!rt->method || !rt->pattern) goto fail;
    rt->handler = h;
    rt->ctx = ctx;

    http__node *n = r->root;
    const char *p = pattern + 1;
    int depth = 0;
    while (*p) { /* pattern "/" has no segments */
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        rc = EF_EINVAL;
        if (len == 0 || depth >= HTTP__MAX_DEPTH) goto fail;
        if (p[0] == '{') {
            int is_rest = len >= 3 && p[len - 2] == '*' && p[len - 1] == '}';
            size_t nlen = len - 2 - (size_t)is_rest;
            if (p[len - 1] != '}' || !valid_param_name(p + 1, nlen)) goto fail;
            if (rt->nparams == HTTP__MAX_PARAMS) goto fail;
            for (int i = 0; i < rt->nparams; i++)
                if (strlen(rt->param_names[i]) == nlen &&
                    memcmp(rt->param_names[i], p + 1, nlen) == 0)
                    goto fail;
            rc = EF_ENOMEM;
            rt->param_names[rt->nparams] = strndup(p + 1, nlen);
            if (!rt->param_names[rt->nparams]) goto fail;
            rt->param_depth[rt->nparams++] = depth;
            if (is_rest) {
                rc = EF_EINVAL;
                if (e) goto fail; /* "{name*}" must be the last segment */
                rt->rest = 1;
                break;
            }
            rc = EF_ENOMEM;
            if (!n->param && !(n->param = calloc(1, sizeof *n->param))) goto fail;
            n = n->param;
        } else {
            if (memchr(p, '{', len) || memchr(p, '}', len)) goto fail;
            rc = EF_ENOMEM;
            n = child_literal(n, p, len, 1);
            if (!n) goto fail;
        }
        depth++;
        if (!e) break;
        p = e + 1;
        rc = EF_EINVAL;
        if (!*p) goto fail; /* trailing '/' in a pattern */
    }
    rc = rt->rest ? push_route(&n->rest, &n->nrest, rt) : push_route(&n->end, &n->nend, rt);
    if (rc == EF_EEXIST) rc = EF_EINVAL; /* same method and pattern twice */
    if (rc != EF_OK) goto fail;
    r->routes[r->nroutes++] = rt;
    if (out) *out = rt;
    return EF_OK;
fail:
    /* nodes created on the way stay in the trie: empty nodes never match */
    route_free(rt);
    return rc;
}

/* Lookup state, on the caller's stack. */
typedef struct walk_state {
    const char *method;
    const char *path;
    size_t len;
    size_t seg_off[HTTP__MAX_DEPTH + 1];
    size_t seg_len[HTTP__MAX_DEPTH + 1];
    http__match *m;
} walk_state;

static void allow_add(http__match *m, const char *method)
{
    size_t have = strlen(m->allow), mlen = strlen(method);
    /* already listed? */
    for (const char *p = m->allow; *p;) {
        const char *e = strstr(p, ", ");
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == mlen && memcmp(p, method, l) == 0) return;
        if (!e) break;
        p = e + 2;
    }
    if (have + mlen + 3 > sizeof m->allow) return;
    if (have) {
        memcpy(m->allow + have, ", ", 2);
        have += 2;
    }
    memcpy(m->allow + have, method, mlen + 1);
}

/* Picks the route of list fitting ws->method: exact, then GET for HEAD, then "*". */
static const http__route *pick(walk_state *ws, http__route *const *list, size_t n)
{
    const http__route *get = NULL, *any = NULL;
    if (n == 0) return NULL;
    ws->m->path_matched = 1;
    for (size_t i = 0; i < n; i++) {
        const char *rm = list[i]->method;
        if (strcmp(rm, ws->method) == 0) return list[i];
        if (rm[0] == '*')
            any = list[i];
        else if (strcmp(rm, "GET") == 0)
            get = list[i];
    }
    if (get && strcmp(ws->method, "HEAD") == 0) return get;
    if (any) return any;
    for (size_t i = 0; i < n; i++) {
        allow_add(ws->m, list[i]->method);
        if (strcmp(list[i]->method, "GET") == 0) allow_add(ws->m, "HEAD");
    }
    return NULL;
}

static void fill_params(walk_state *ws, const http__route *rt)
{
    http__match *m = ws->m;
    m->route = rt;
    m->nparams = rt->nparams;
    for (int i = 0; i < rt->nparams; i++) {
        int d = rt->param_depth[i];
        m->params[i].name = rt->param_names[i];
        m->params[i].off = ws->seg_off[d];
        m->params[i].len =
            (rt->rest && i == rt->nparams - 1) ? ws->len - ws->seg_off[d] : ws->seg_len[d];
    }
}

/* pos: offset of the current segment's first byte, or (size_t)-1 when the path is consumed.
 * Returns 1 when a route was chosen. */
static int walk(walk_state *ws, const http__node *n, size_t pos, int depth)
{
    const http__route *rt;
    if (pos == (size_t)-1) {
        rt = pick(ws, n->end, n->nend);
        if (rt) fill_params(ws, rt);
        return rt != NULL;
    }
    const char *seg = ws->path + pos;
    const char *slash = memchr(seg, '/', ws->len - pos);
    size_t slen = slash ? (size_t)(slash - seg) : ws->len - pos;
    size_t next = slash ? (size_t)(slash - ws->path) + 1 : (size_t)-1;
    if (depth < HTTP__MAX_DEPTH) {
        ws->seg_off[depth] = pos;
        ws->seg_len[depth] = slen;
        if (slen > 0) {
            for (size_t i = 0; i < n->nlits; i++) {
                const lit_child *c = &n->lits[i];
                if (c->len == slen && c->seg[0] == seg[0] && memcmp(c->seg, seg, slen) == 0) {
                    if (walk(ws, c->node, next, depth + 1)) return 1;
                    break;
                }
            }
            if (n->param && walk(ws, n->param, next, depth + 1)) return 1;
        }
        /* the recursive calls may have overwritten this depth's slot */
        ws->seg_off[depth] = pos;
        ws->seg_len[depth] = slen;
    }
    if (n->nrest && ws->len > pos) {
        rt = pick(ws, n->rest, n->nrest);
        if (rt) {
            fill_params(ws, rt);
            return 1;
        }
    }
    return 0;
}

void http__router_lookup(const http__router *r, const char *method, const char *path,
                         http__match *m)
{
    walk_state ws;
    m->route = NULL;
    m->path_matched = 0;
    m->nparams = 0;
    m->allow[0] = '\0';
    if (!r->root || !path || path[0] != '/') return;
    ws.method = method;
    ws.path = path;
    ws.len = strlen(path);
    ws.m = m;
    walk(&ws, r->root, ws.len > 1 ? 1 : (size_t)-1, 0);
}
