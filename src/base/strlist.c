/* strlist.c - list of owned strings; see strlist.h. */
#include "base/strlist.h"
#include "base/err.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

void ef_strlist_init(ef_strlist *l)
{
    l->v = NULL;
    l->n = l->cap = 0;
}

void ef_strlist_clear(ef_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    l->n = 0;
}

void ef_strlist_release(ef_strlist *l)
{
    ef_strlist_clear(l);
    free(l->v);
    ef_strlist_init(l);
}

static int push_n(ef_strlist *l, const char *s, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) return EF_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    char *copy = strndup(s, len);
    if (!copy) return EF_ENOMEM;
    l->v[l->n++] = copy;
    return EF_OK;
}

int ef_strlist_push(ef_strlist *l, const char *s)
{
    return push_n(l, s, strlen(s));
}

int ef_strlist_push_split(ef_strlist *l, const char *s, char sep)
{
    while (*s) {
        const char *end = strchr(s, sep);
        if (!end) end = s + strlen(s);
        const char *a = s, *b = end;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if (b > a && push_n(l, a, (size_t)(b - a)) != EF_OK) return EF_ENOMEM;
        s = *end ? end + 1 : end;
    }
    return EF_OK;
}
