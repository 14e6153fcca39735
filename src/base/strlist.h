/* strlist.h - a growable list of owned C strings (repeated flags, topic filters, sensors). */
#ifndef EF_BASE_STRLIST_H
#define EF_BASE_STRLIST_H

#include <stddef.h>

typedef struct ef_strlist {
    char **v;
    size_t n;
    size_t cap;
} ef_strlist;

void ef_strlist_init(ef_strlist *l);
void ef_strlist_release(ef_strlist *l); /* frees every string */
void ef_strlist_clear(ef_strlist *l);
int ef_strlist_push(ef_strlist *l, const char *s); /* copies s; 0 or EF_ENOMEM */
/* Splits s on sep and pushes each trimmed, non-empty part. */
int ef_strlist_push_split(ef_strlist *l, const char *s, char sep);

#endif
