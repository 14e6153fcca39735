/* demo.h - `edgeflow demo`: the platform's whole story on one machine, narrated on the terminal,
 * against a running `edgeflow up` (found through $EDGEFLOW_HOME/up.json) or one it starts itself:
 * simulated sensors -> MQTT -> ingest -> store (_search, CSV export) -> training with tracking
 * and a registry -> the model server answering the reference Seldon request -> the EEG training
 * jobs -> a summary (also written to <home>/demo-summary.json for tests and scripts).
 */
#ifndef EF_DEMO_DEMO_H
#define EF_DEMO_DEMO_H

#include <stddef.h>
#include <stdint.h>

typedef struct ef_demo_opts {
    const char *home;          /* data dir of the `up` used or started (required) */
    const char *data_dir;      /* holds winequality-red.csv, eeg-letters-{train,test}.csv */
    const char *bin;           /* the edgeflow binary run for every step */
    int64_t publish_ms;        /* how long the agents publish before the data steps */
    int64_t interval_ms;       /* agents' sampling interval */
    const char *export_target; /* file:///dir or s3://bucket/prefix; NULL = <home>/exports */
    uint16_t port;             /* HTTP port of an `up` the demo starts (0: 8080, else a free one) */
    uint16_t mqtt_port;        /* its broker's port (0: up's default) */
    int quick;                 /* smaller grid and fewer MLP epochs (tests) */
    int keep_running;          /* leave an `up` the demo started running at the end */
    int color;                 /* bold step headers */
} ef_demo_opts;

/* Runs every step in order. Returns 0, or an EF_E* code with one readable line in err saying
 * which step failed and where its log is. Stops early (EF_EAGAIN, "interrupted") on SIGINT/SIGTERM
 * (base/sig.h; the caller installs the handlers). Children it started are always stopped. */
int ef_demo_run(const ef_demo_opts *o, char *err, size_t errlen);

#endif
