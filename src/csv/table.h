/* table.h - CSV output shaped like pandas: DataFrame(list_of_dicts).to_csv(index_label="idx").
 *
 * Rows are JSON objects. Columns are the union of their keys in first-seen order; the first
 * column is "idx" (0, 1, 2, ...). Cells follow pandas' formatting: missing -> empty; strings as
 * is (RFC 4180 quoting when needed); booleans True/False; integers as integers unless the column
 * also holds floats or has missing values (then pandas' float64 repr, e.g. "23.0"); floats in
 * Python repr (shortest round-trip, "1e-05", "1e+16": ef_json_format_double() in json/json.h);
 * nested objects/arrays as their Python repr. Line terminator "\n".
 */
#ifndef EF_CSV_TABLE_H
#define EF_CSV_TABLE_H

#include <jansson.h>
#include <stddef.h>

#include "base/buf.h"

typedef struct ef_csv_table ef_csv_table;

ef_csv_table *ef_csv_table_new(void);
void ef_csv_table_free(ef_csv_table *t);
/* Adds a row; takes a new reference to obj (must be a JSON object). 0, EF_EINVAL or EF_ENOMEM. */
int ef_csv_table_add(ef_csv_table *t, json_t *obj);
/* Parses text as a JSON object and adds it. 0, EF_EINVAL or EF_ENOMEM. */
int ef_csv_table_add_text(ef_csv_table *t, const char *json, size_t len);
size_t ef_csv_table_rows(const ef_csv_table *t);
/* Appends the whole CSV (header + rows) to out. With zero rows: pandas writes "idx\n"... we write
 * just the header line "idx\n". Returns 0 or EF_ENOMEM. */
int ef_csv_table_render(const ef_csv_table *t, ef_buf *out);

#endif
