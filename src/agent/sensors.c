/* sensors.c - reads /proc/loadavg, the first readable thermal zone and --sensor files. */
#include "agent/sensors.h"
#include "base/err.h"
#include "base/log.h"

#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct extra_sensor {
    char *name, *path;
} extra_sensor;

struct ef_sensors {
    int simulate;
    uint64_t rng;
    double sim_phase;
    char *thermal_path; /* first readable thermal zone, or NULL */
    extra_sensor *extra;
    size_t nextra;
};

static int read_small(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "re");
    if (!f) return EF_EIO;
    size_t r = fread(buf, 1, n - 1, f);
    fclose(f);
    buf[r] = '\0';
    return r ? EF_OK : EF_EIO;
}

static double rng_uniform(ef_sensors *s)
{
    /* xorshift64*: only for simulated values, never for anything that must be unpredictable */
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return (double)((s->rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

ef_sensors *ef_sensors_new(const ef_strlist *extra, int simulate, uint64_t seed)
{
    ef_sensors *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->simulate = simulate;
    s->rng = seed ? seed : 0x9E3779B97F4A7C15ull;
    s->sim_phase = (double)(seed % 1000) / 1000.0 * 6.283185307;
    if (!simulate) {
        glob_t g;
        if (glob("/sys/class/thermal/thermal_zone*/temp", 0, NULL, &g) == 0) {
            char buf[64];
            for (size_t i = 0; i < g.gl_pathc; i++) {
                if (read_small(g.gl_pathv[i], buf, sizeof buf) == EF_OK) {
                    s->thermal_path = strdup(g.gl_pathv[i]);
                    break;
                }
            }
            globfree(&g);
        }
        if (!s->thermal_path)
            EF_INFO("no readable /sys/class/thermal/thermal_zone*/temp: readings carry no temp "
                    "(use --simulate on machines without sensors)");
    }
    if (extra && extra->n) {
        s->extra = calloc(extra->n, sizeof *s->extra);
        if (!s->extra) goto fail;
        for (size_t i = 0; i < extra->n; i++) {
            const char *eq = strchr(extra->v[i], '=');
            if (!eq || eq == extra->v[i] || !eq[1]) {
                EF_ERROR("--sensor '%s': expected name=path, e.g. humidity=/sys/bus/iio/devices/"
                         "iio:device0/in_humidityrelative_input",
                         extra->v[i]);
                goto fail;
            }
            s->extra[i].name = strndup(extra->v[i], (size_t)(eq - extra->v[i]));
            s->extra[i].path = strdup(eq + 1);
            s->nextra = i + 1;
            if (!s->extra[i].name || !s->extra[i].path) goto fail;
        }
    }
    return s;
fail:
    ef_sensors_free(s);
    return NULL;
}

void ef_sensors_free(ef_sensors *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->nextra; i++) {
        free(s->extra[i].name);
        free(s->extra[i].path);
    }
    free(s->extra);
    free(s->thermal_path);
    free(s);
}

/* Parses the first number of a file: an integer stays an integer. */
static json_t *number_from(const char *text)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (!errno && end != text && (*end == '\0' || *end == '\n' || *end == ' '))
        return json_integer(v);
    errno = 0;
    double d = strtod(text, &end);
    if (!errno && end != text && isfinite(d)) return json_real(d);
    return NULL;
}

int ef_sensors_read(ef_sensors *s, json_t *obj, int64_t now_ms)
{
    int added = 0;
    char buf[256];
    if (s->simulate) {
        double t = (double)now_ms / 60000.0; /* one slow cycle per ~hour */
        double temp = 45000 + 8000 * sin(t / 10.0 + s->sim_phase) + 500 * (rng_uniform(s) - 0.5);
        double load = 0.5 + 0.4 * sin(t / 7.0 + s->sim_phase) + 0.1 * rng_uniform(s);
        json_object_set_new(obj, "temp", json_integer((json_int_t)temp));
        json_object_set_new(obj, "load", json_real(round(load * 100) / 100));
        json_object_set_new(obj, "simulated", json_true());
        added += 3;
    } else {
        if (s->thermal_path && read_small(s->thermal_path, buf, sizeof buf) == EF_OK) {
            json_t *v = number_from(buf);
            if (v && json_is_integer(v)) {
                json_object_set_new(obj, "temp", v);
                added++;
            } else {
                json_decref(v);
            }
        }
        double l1;
        if (read_small("/proc/loadavg", buf, sizeof buf) == EF_OK && sscanf(buf, "%lf", &l1) == 1) {
            json_object_set_new(obj, "load", json_real(l1));
            added++;
        }
    }
    for (size_t i = 0; i < s->nextra; i++) {
        json_t *v = NULL;
        if (read_small(s->extra[i].path, buf, sizeof buf) == EF_OK) v = number_from(buf);
        if (!v) {
            EF_DEBUG("sensor %s: cannot read a number from %s", s->extra[i].name,
                     s->extra[i].path);
            continue;
        }
        json_object_set_new(obj, s->extra[i].name, v);
        added++;
    }
    return added;
}
