/* Fuzz target for the MQTT packet decoder (src/mqtt/packet.c) and the client's input path.
 *
 * The first byte picks the mode: even -> decode every packet in the rest as MQTT 3.1.1, odd ->
 * as 5.0; bit 1 set -> also feed the bytes to a client handle through mqtt__feed() (which
 * expects a CONNACK first and then dispatches PUBLISH/PUBACK/SUBACK/...). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "mqtt/mqtt.h"
#include "mqtt/mqtt_int.h"

static ef_mqtt *g_client; /* the handle being fed, for the callback */

static void on_message(void *ctx, const ef_mqtt_message *msg)
{
    (void)ctx;
    ef_mqtt *m = g_client;
    /* touch every byte handed out, then ack (sometimes out of order) */
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < msg->payload_len; i++)
        sink ^= msg->payload[i];
    sink ^= (uint8_t)strlen(msg->topic);
    if (msg->qos == 1 && (msg->packet_id & 1)) ef_mqtt_ack(m, msg->packet_id);
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int protocol = (data[0] & 1) ? 5 : 4;
    int feed = data[0] & 2;
    data++;
    size--;
    size_t off = 0;
    mqtt__packet p;
    while (off < size) {
        size_t used = 0;
        int rc = mqtt__decode(data + off, size - off, protocol, &p, &used);
        if (rc != EF_OK) break;
        if (used == 0 || used > size - off) __builtin_trap();
        if (p.type == MQTT__PUBLISH &&
            (p.payload < data + off || p.payload + p.payload_len > data + off + used))
            __builtin_trap();
        off += used;
    }
    if (feed) {
        static int quiet;
        if (!quiet) {
            ef_log_set_level(EF_LOG_ERROR);
            quiet = 1;
        }
        ef_mqtt_options o = {.host = "127.0.0.1",
                             .client_id = "fuzz",
                             .protocol = protocol,
                             .max_packet_size = 65536};
        ef_mqtt_callbacks cb = {.on_message = on_message};
        ef_mqtt *m = ef_mqtt_new(&o, &cb, NULL);
        if (!m) return 0;
        g_client = m;
        ef_mqtt_subscribe(m, "a/+", 1);
        mqtt__feed(m, data, size);
        for (uint16_t id = 1; id < 64; id++)
            ef_mqtt_ack(m, id);
        ef_mqtt_free(m);
        g_client = NULL;
    }
    return 0;
}
