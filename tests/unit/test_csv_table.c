/* Unit tests for src/csv/table.c: the CSV must equal what pandas 1.5.3 writes for
 * pd.DataFrame([json.loads(r) for r in rows]).to_csv(index_label="idx"); floats print like
 * Python's repr() (the formatter itself, ef_json_format_double, is tested in test_json.c).
 * The expected strings below were produced by Debian's python3-pandas and python3 (3.11) on this
 * project's reference machine; tests/integration/test_40_export.py also compares live against
 * pandas when it is installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "csv/table.h"

typedef struct table_case {
    const char *rows[16];
    const char *csv;
} table_case;

static const table_case cases[] = {
    {{"{\"device\":\"a\",\"temp\":41000,\"load\":0.5}",
      "{\"device\":\"b\",\"temp\":42000,\"load\":1}", NULL},
     "idx,device,temp,load\n0,a,41000,0.5\n1,b,42000,1.0\n"},
    {{"{\"a\":1}", "{\"b\":2}", "{\"a\":3,\"c\":\"x\"}", NULL},
     "idx,a,b,c\n0,1.0,,\n1,,2.0,\n2,3.0,,x\n"},
    {{"{\"a\":1}", "{\"a\":null}", NULL}, "idx,a\n0,1.0\n1,\n"},
    {{"{\"a\":true}", "{\"a\":false}", NULL}, "idx,a\n0,True\n1,False\n"},
    {{"{\"a\":true}", "{}", NULL}, "idx,a\n0,True\n1,\n"},
    {{"{\"a\":true}", "{\"a\":1}", NULL}, "idx,a\n0,True\n1,1\n"},
    {{"{\"a\":1.5}", "{\"a\":\"s\"}", "{\"a\":2}", NULL}, "idx,a\n0,1.5\n1,s\n2,2\n"},
    {{"{\"f\":1e-05}", "{\"f\":1e16}", "{\"f\":0.0001}", "{\"f\":123.0}", "{\"f\":-0.0}",
      "{\"f\":0.1}", "{\"f\":1.7976931348623157e308}", "{\"f\":5e-324}",
      "{\"f\":123456789012345678}", "{\"f\":9007199254740993}", "{\"f\":0.30000000000000004}",
      "{\"f\":2.5e-7}", "{\"f\":1234567890123456.7}", NULL},
     "idx,f\n0,1e-05\n1,1e+16\n2,0.0001\n3,123.0\n4,-0.0\n5,0.1\n6,1.7976931348623157e+308\n7,5e-"
     "324\n8,1.2345678901234568e+17\n9,9007199254740992.0\n10,0.30000000000000004\n11,2.5e-07\n12,"
     "1234567890123456.8\n"},
    {{"{\"s\":\"a,b\",\"t\":\"say \\\"hi\\\"\",\"u\":\"line\\nbreak\",\"v\":\" lead\",\"w\":\"\"}",
      NULL},
     "idx,s,t,u,v,w\n0,\"a,b\",\"say \"\"hi\"\"\",\"line\nbreak\", lead,\n"},
    {{"{\"n\":{\"x\":1,\"y\":[1,2.0,\"q's\",null,true]},\"m\":[]}", "{\"n\":{}}", NULL},
     "idx,n,m\n0,\"{'x': 1, 'y': [1, 2.0, \"\"q's\"\", None, True]}\",[]\n1,{},\n"},
    {{"{\"n\":{\"k\":\"it's \\\"x\\\"\",\"t\":\"tab\\tnl\\n\\\\ \\u00e9 \\u00a0 \\u2028\"}}", NULL},
     "idx,n\n0,\"{'k': 'it\\'s \"\"x\"\"', 't': 'tab\\tnl\\n\\\\ \303\251 \\xa0 \\u2028'}\"\n"},
    {{"{\"a,b\":1,\"c\\\"d\":2}", NULL}, "idx,\"a,b\",\"c\"\"d\"\n0,1,2\n"},
    {{"{\"x\":null}", "{\"x\":null}", NULL}, "idx,x\n0,\n1,\n"},
    {{"{\"i\":-9223372036854775808}", "{\"i\":9223372036854775807}", NULL},
     "idx,i\n0,-9223372036854775808\n1,9223372036854775807\n"},
    {{"{\"a\":1,\"b\":2}", "{\"b\":3,\"a\":4}", NULL}, "idx,a,b\n0,1,2\n1,4,3\n"},
};

static void test_pandas_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ef_csv_table *t = ef_csv_table_new();
        assert_non_null(t);
        size_t n = 0;
        for (; cases[i].rows[n]; n++)
            assert_int_equal(ef_csv_table_add_text(t, cases[i].rows[n], strlen(cases[i].rows[n])),
                             EF_OK);
        assert_int_equal(ef_csv_table_rows(t), n);
        ef_buf out;
        ef_buf_init(&out);
        assert_int_equal(ef_csv_table_render(t, &out), EF_OK);
        if (strcmp(out.data, cases[i].csv) != 0)
            fail_msg("case %zu:\n got: %s\nwant: %s", i, out.data, cases[i].csv);
        ef_buf_release(&out);
        ef_csv_table_free(t);
    }
}

static void test_errors_and_empty(void **state)
{
    (void)state;
    ef_csv_table *t = ef_csv_table_new();
    ef_buf out;
    ef_buf_init(&out);
    assert_int_equal(ef_csv_table_add_text(t, "[1,2]", 5), EF_EINVAL);
    assert_int_equal(ef_csv_table_add_text(t, "{\"a\":", 5), EF_EINVAL);
    json_t *arr = json_array();
    assert_int_equal(ef_csv_table_add(t, arr), EF_EINVAL);
    json_decref(arr);
    assert_int_equal(ef_csv_table_rows(t), 0);
    assert_int_equal(ef_csv_table_render(t, &out), EF_OK);
    assert_string_equal(out.data, "idx\n");
    ef_buf_release(&out);
    ef_csv_table_free(t);
    ef_csv_table_free(NULL);
}

/* add() takes its own reference; many columns exercise the column hash's growth. */
static void test_refs_and_many_columns(void **state)
{
    (void)state;
    ef_csv_table *t = ef_csv_table_new();
    json_t *o = json_object();
    char key[16];
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "c%d", i);
        json_object_set_new(o, key, json_integer(i));
    }
    assert_int_equal(ef_csv_table_add(t, o), EF_OK);
    json_object_set_new(o, "late", json_string("x")); /* shared object: visible at render */
    json_decref(o);
    json_t *o2 = json_pack("{s:i}", "c299", 7);
    assert_int_equal(ef_csv_table_add(t, o2), EF_OK);
    json_decref(o2);
    ef_buf out;
    ef_buf_init(&out);
    assert_int_equal(ef_csv_table_render(t, &out), EF_OK);
    assert_non_null(strstr(out.data, "idx,c0,c1,c2,"));
    /* c0 is missing in row 1 -> float column; c299 present in both -> int column */
    assert_non_null(strstr(out.data, "\n0,0.0,1.0,"));
    assert_non_null(strstr(out.data, ",299\n1,,"));
    assert_non_null(strstr(out.data, ",7\n"));
    ef_buf_release(&out);
    ef_csv_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pandas_cases),
        cmocka_unit_test(test_errors_and_empty),
        cmocka_unit_test(test_refs_and_many_columns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
