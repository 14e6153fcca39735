/* prepare.c - turns one raw MQTT payload into a stored document, or says why it can't.
 *
 * Checks, in order: size limit, UTF-8 (validated here to report the byte offset; jansson would
 * only say "unable to decode"), JSON syntax (jansson), top level is an object, known fields have
 * the right types (device: string, seq: non-negative integer, ts: integer), the transform
 * pipeline, and finally that the time field (a dotted path) holds an epoch-ms number. */
#include "base/err.h"
#include "ingest/ingest.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Returns the offset of the first invalid byte, or len when s is valid UTF-8 (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t utf8_invalid_at(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            n = 2;
            cp = c & 0x1F;
            min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3;
            cp = c & 0x0F;
            min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return i;
        }
        if (len - i < n) return i;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += n;
    }
    return len;
}

int ef_ingest_prepare(const ef_transform *t, const char *topic,
                      const void *payload, size_t len, size_t max_payload, int64_t now_ms,
                      json_t **doc, int64_t *collected, char *err, size_t errlen)
{
    *doc = NULL;
    if (len > max_payload) {
        snprintf(err, errlen, "payload too large: %zu bytes > limit %zu", len, max_payload);
        return EF_EINVAL;
    }
    size_t bad = utf8_invalid_at(payload, len);
    if (bad != len) {
        snprintf(err, errlen, "invalid UTF-8 at byte %zu", bad);
        return EF_EINVAL;
    }
    json_error_t je;
    json_t *d = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &je);
    if (!d) {
        snprintf(err, errlen, "invalid JSON: %s at line %d column %d", je.text, je.line,
                 je.column);
        return EF_EINVAL;
    }
    if (!json_is_object(d)) {
        snprintf(err, errlen, "not a JSON object");
        goto fail;
    }
    json_t *v = json_object_get(d, "device");
    if (v && !json_is_string(v)) {
        snprintf(err, errlen, "wrong type: \"device\" must be a string");
        goto fail;
    }
    v = json_object_get(d, "seq");
    if (v && (!json_is_integer(v) || json_integer_value(v) < 0)) {
        snprintf(err, errlen, "wrong type: \"seq\" must be a non-negative integer");
        goto fail;
    }
    v = json_object_get(d, "ts");
    if (v && !json_is_integer(v)) {
        snprintf(err, errlen, "wrong type: \"ts\" must be an integer (epoch ms)");
        goto fail;
    }
    int rc;
    ef_transform_ctx ctx = {.now_ms = now_ms, .topic = topic};
    char terr[256];
    if (ef_transform_apply(t, d, &ctx, terr, sizeof terr) != EF_OK) {
        snprintf(err, errlen, "transform failed: %s", terr);
        goto fail;
    }
    const char *time_field = ef_transform_time_field(t) ? ef_transform_time_field(t) : "collected";
    rc = ef_transform_doc_time_ms(t, d, collected);
    if (rc == EF_ENOTFOUND) {
        snprintf(err, errlen,
                 "missing time field \"%s\" (add a default, e.g. --default '%s=${now_ms}')",
                 time_field, time_field);
        goto fail;
    }
    if (rc != EF_OK) {
        snprintf(err, errlen, "wrong type: time field \"%s\" must be an epoch-ms number "
                              "(add --cast %s=long)",
                 time_field, time_field);
        goto fail;
    }
    *doc = d;
    return EF_OK;
fail:
    json_decref(d);
    return EF_EINVAL;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ull;
    return h;
}

char *ef_ingest_key(const json_t *doc, const char *topic, const void *payload, size_t len)
{
    const char *device = json_string_value(json_object_get(doc, "device"));
    if (!device) {
        const char *slash = strrchr(topic, '/');
        device = slash ? slash + 1 : topic;
    }
    json_t *seq = json_object_get(doc, "seq");
    json_t *ts = json_object_get(doc, "ts");
    char *key = NULL;
    int n;
    if (seq && ts)
        n = asprintf(&key, "%s:s%" JSON_INTEGER_FORMAT ":t%" JSON_INTEGER_FORMAT, device,
                     json_integer_value(seq), json_integer_value(ts));
    else if (seq)
        n = asprintf(&key, "%s:s%" JSON_INTEGER_FORMAT, device, json_integer_value(seq));
    else if (ts)
        n = asprintf(&key, "%s:t%" JSON_INTEGER_FORMAT, device, json_integer_value(ts));
    else
        n = asprintf(&key, "%s:h%016" PRIx64, device,
                     fnv1a(fnv1a(1469598103934665603ull, topic, strlen(topic) + 1), payload,
                           len));
    return n < 0 ? NULL : key;
}
