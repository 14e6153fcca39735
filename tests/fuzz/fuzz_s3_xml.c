/* Fuzz target: the S3 client's tolerant XML tag reader (error bodies, ListObjectsV2 pages,
 * multipart replies come from the network). Includes s3.c to reach the static reader, like
 * tests/unit/test_s3_sign.c does. */
#include "../../src/s3/s3.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Response bodies live in an ef_buf, which is always NUL-terminated: mirror that. */
    char *xml = malloc(size + 1);
    if (!xml) return 0;
    memcpy(xml, data, size);
    xml[size] = '\0';
    static const char *const tags[] = {"Code", "Message", "UploadId", "Key", "Size",
                                       "IsTruncated", "NextContinuationToken"};
    ef_buf out;
    ef_buf_init(&out);
    for (size_t t = 0; t < sizeof tags / sizeof tags[0]; t++) {
        s3__xml_tag(xml, size, NULL, tags[t], &out, 1);
        ef_buf_clear(&out);
    }
    size_t pos = 0;
    for (int n = 0; n < 1000; n++) { /* the ListObjectsV2 loop over <Contents> */
        size_t before = pos;
        if (s3__xml_tag(xml, size, &pos, "Contents", &out, 0) != 1 || pos <= before) break;
        ef_buf inner;
        ef_buf_init(&inner);
        s3__xml_tag(out.data ? out.data : "", out.len, NULL, "Key", &inner, 1);
        ef_buf_release(&inner);
        ef_buf_clear(&out);
    }
    ef_buf_release(&out);
    free(xml);
    return 0;
}
