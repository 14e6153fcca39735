/* sensors.h - what the agent reads: 1-minute load average, CPU temperature, any numeric file,
 * or clearly labelled simulated values for machines without them. */
#ifndef EF_AGENT_SENSORS_H
#define EF_AGENT_SENSORS_H

#include <jansson.h>
#include <stdint.h>

#include "base/strlist.h"

typedef struct ef_sensors ef_sensors;

/* extra: "name=path" entries (--sensor). simulate: produce synthetic temp/load (the reading gets
 * "simulated": true). seed varies the simulated series per device. Returns NULL with a log line on
 * a malformed --sensor entry. */
ef_sensors *ef_sensors_new(const ef_strlist *extra, int simulate, uint64_t seed);
void ef_sensors_free(ef_sensors *s);

/* Adds the sensor fields to obj: "temp" (int millidegrees) when a thermal zone or the simulation
 * gives one, "load" (double) and one field per --sensor. A sensor that cannot be read this time
 * is left out and logged at debug level. Returns the number of fields added. */
int ef_sensors_read(ef_sensors *s, json_t *obj, int64_t now_ms);

#endif
