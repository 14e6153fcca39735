/* ingest.h - `edgeflow ingest`: MQTT -> validate -> transforms -> store, acknowledged after commit.
 *
 * One loop thread owns the MQTT connection and the batch. Each incoming reading is validated
 * (size limit, UTF-8, JSON object, field types), run through the transform pipeline, given an index
 * name (strftime-like pattern on the time field) and a de-duplication key, and added to the batch;
 * a reading that fails any step becomes a dead letter with the reason and its raw payload. When the
 * batch is full (batch_size) or old enough (batch_time), documents and dead letters are committed in
 * one transaction, and only then are their PUBACKs sent. If the commit fails nothing is acked: the
 * batch is retried with back-off and, if the process dies, the broker redelivers; the key
 * (device + seq + ts, or device + ts, or a hash of topic + payload) makes redelivery idempotent.
 */
#ifndef EF_INGEST_INGEST_H
#define EF_INGEST_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "base/strlist.h"
#include "mqtt/mqtt.h"
#include "transform/transform.h"

typedef struct ef_ingest_options {
    ef_mqtt_options mqtt;      /* broker and session; client_id required (persistent session) */
    const ef_strlist *topics;  /* filters, e.g. "sensor/+" */
    const char *share_group;   /* non-NULL: subscribe as $share/<group>/<filter> */
    const char *store_uri;
    int durable;               /* fsync every batch commit */
    const ef_transform *transform; /* never NULL; also names the index pattern and time field */
    size_t batch_size;
    int64_t batch_time_ms;
    size_t max_payload;
    const char *metrics_listen; /* NULL = no HTTP endpoint; else the address to bind */
    uint16_t metrics_port;
} ef_ingest_options;

/* Runs until SIGTERM/SIGINT; then commits and acknowledges the open batch and disconnects.
 * Returns 0, or an EF_E* code when the store cannot be opened or the options are unusable. */
int ef_ingest_run(const ef_ingest_options *opt);

/* Validates one raw payload as a reading and produces its document (exposed for tests and the
 * fuzz target). On success returns 0 with *doc (owned by the caller) and the value of the
 * pipeline's time field in *collected; else EF_EINVAL with a reason in err. */
int ef_ingest_prepare(const ef_transform *t, const char *topic,
                      const void *payload, size_t len, size_t max_payload, int64_t now_ms,
                      json_t **doc, int64_t *collected, char *err, size_t errlen);

/* The de-duplication key of a prepared document (see header comment), malloc'd. */
char *ef_ingest_key(const json_t *doc, const char *topic, const void *payload, size_t len);

#endif
