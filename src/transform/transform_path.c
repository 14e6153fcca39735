/* transform_path.c - the dotted field paths of the transform pipeline (transform.c): "meta.site"
 * compiled once into its segments ("\." is a literal dot and "\\" a backslash in a name), and
 * the walks through a document that reading ops (the parent object; a non-object on the way
 * counts as a missing field) and writing ops (missing or null intermediates created, other types
 * refused) make. Shared through transform_int.h.
 */
#include "transform/transform_int.h"

#include "base/err.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void transform__path_release(transform__path *p)
{
    free(p->text);
    free(p->seg);
    memset(p, 0, sizeof *p);
}

int transform__path_compile(transform__path *p, const char *text, char *why, size_t whylen)
{
    size_t len = strlen(text), n = 1, k = 0;
    int rc = EF_EINVAL;
    memset(p, 0, sizeof *p);
    if (len == 0) {
        snprintf(why, whylen, "empty field name");
        goto fail;
    }
    if (!transform__utf8_valid(text, len)) {
        snprintf(why, whylen, "field name is not valid UTF-8");
        goto fail;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\\' && i + 1 < len)
            i++;
        else if (text[i] == '.')
            n++;
    }
    size_t hdr = n * (sizeof(char *) + sizeof(size_t));
    char *block = malloc(hdr + len + 1);
    p->text = strdup(text);
    if (!block || !p->text) {
        free(block);
        rc = EF_ENOMEM;
        goto fail;
    }
    p->seg = (char **)(void *)block;
    p->end = (size_t *)(void *)(block + n * sizeof(char *));
    char *w = block + hdr;
    p->seg[0] = w;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '\\' && i + 1 < len && (text[i + 1] == '.' || text[i + 1] == '\\')) {
            *w++ = text[++i];
            continue;
        }
        if (c == '.') {
            if (w == p->seg[k]) goto empty;
            *w++ = '\0';
            p->end[k++] = i;
            assert(k < n);
            p->seg[k] = w;
            continue;
        }
        *w++ = c;
    }
    if (w == p->seg[k]) goto empty;
    *w = '\0';
    p->end[k] = len;
    p->n = k + 1;
    return EF_OK;
empty:
    snprintf(why, whylen, "invalid field '%s' (empty name between dots)", text);
fail:
    transform__path_release(p);
    return rc;
}

/* The object holding the path's last segment, or NULL when an intermediate is missing or is not an
 * object (reading ops treat both as "field missing"). */
json_t *transform__walk_find(json_t *doc, const transform__path *p)
{
    json_t *cur = doc;
    for (size_t i = 0; i + 1 < p->n; i++) {
        cur = json_object_get(cur, p->seg[i]);
        if (!json_is_object(cur)) return NULL;
    }
    return cur;
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "a value";
}

/* Like transform__walk_find, creating missing or null intermediates as {}. */
int transform__walk_create(json_t *doc, const transform__path *p, json_t **parent, char *why,
                           size_t whylen)
{
    json_t *cur = doc;
    for (size_t i = 0; i + 1 < p->n; i++) {
        json_t *next = json_object_get(cur, p->seg[i]);
        if (!next || json_is_null(next)) {
            next = json_object();
            if (!next || json_object_set_new_nocheck(cur, p->seg[i], next) != 0) return EF_ENOMEM;
        } else if (!json_is_object(next)) {
            snprintf(why, whylen, "'%.*s' is %s, not an object", (int)p->end[i], p->text,
                     json_kind(next));
            return EF_EINVAL;
        }
        cur = next;
    }
    *parent = cur;
    return EF_OK;
}

const char *transform__path_leaf(const transform__path *p)
{
    return p->seg[p->n - 1];
}
