/* up_files.c - the files and probes of `edgeflow up`: the data-dir lock, the generated
 * Mosquitto config and its port, up.json, log rotation, and the readiness checks (TCP accept,
 * HTTP 200, a log line). See up.h. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "up/up_int.h"

int up__lock(up *u, char *err, size_t n)
{
    char path[PATH_MAX + 16], buf[32] = {0};
    snprintf(path, sizeof path, "%s/up.lock", u->home);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, n, "cannot open %s: %s (check the data dir's permissions)", path,
                 strerror(errno));
        return EF_EIO;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        ssize_t r = e == EWOULDBLOCK ? pread(fd, buf, sizeof buf - 1, 0) : -1;
        close(fd);
        if (e != EWOULDBLOCK) {
            snprintf(err, n, "cannot lock %s: %s", path, strerror(e));
            return EF_EIO;
        }
        long pid = r > 0 ? strtol(buf, NULL, 10) : 0;
        if (pid > 0)
            snprintf(err, n,
                     "already running on %s (pid %ld); stop it (kill %ld) or use another "
                     "EDGEFLOW_HOME",
                     u->home, pid, pid);
        else
            snprintf(err, n,
                     "already running on %s (pid unknown, see %s); stop it or use another "
                     "EDGEFLOW_HOME",
                     u->home, path);
        return EF_EEXIST;
    }
    /* The lock, not the file, is what counts: a file left by a crashed run does not block. */
    int len = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)len, 0) != len)
        EF_WARN("cannot write our pid to %s: %s", path, strerror(errno));
    u->lock_fd = fd;
    return EF_OK;
}

static int resolve(const char *host, int port, int passive, struct addrinfo **out)
{
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    if (passive) hints.ai_flags = AI_PASSIVE;
    return getaddrinfo(host && *host ? host : NULL, ps, &hints, out) == 0 ? EF_OK : EF_EINVAL;
}

int up__port_free(const char *addr, int port)
{
    struct addrinfo *ai = NULL;
    if (resolve(addr, port, 1, &ai) != EF_OK) return 0;
    int ok = 0;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        ok = bind(fd, ai->ai_addr, ai->ai_addrlen) == 0;
        close(fd);
    }
    freeaddrinfo(ai);
    return ok;
}

/* A port the kernel considers free on addr right now (bind to port 0), or 0. */
static int any_free_port(const char *addr)
{
    struct addrinfo *ai = NULL;
    if (resolve(addr, 0, 1, &ai) != EF_OK) return 0;
    int port = 0;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
            port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                            : ntohs(((struct sockaddr_in *)&ss)->sin_port);
        close(fd);
    }
    freeaddrinfo(ai);
    return port;
}

/* The port of the "listener N ..." line of a previous run's generated config, or 0. */
static int previous_port(const up *u)
{
    char path[PATH_MAX + 32], line[512];
    snprintf(path, sizeof path, "%s/mosquitto/mosquitto.conf", u->home);
    FILE *f = fopen(path, "re");
    if (!f) return 0;
    int port = 0;
    while (!port && fgets(line, sizeof line, f)) {
        int p;
        if (sscanf(line, "listener %d", &p) == 1 && p > 0 && p < 65536) port = p;
    }
    fclose(f);
    return port;
}

int up__pick_mqtt_port(up *u, char *err, size_t n)
{
    const char *addr = u->o->mqtt_listen;
    int port = u->o->mqtt_port;
    if (port > 0) {
        if (!up__port_free(addr, port)) {
            snprintf(err, n,
                     "MQTT port %d on %s is in use (another broker?); choose another "
                     "--mqtt-port or pass --mqtt URL to use that broker",
                     port, addr);
            return EF_EIO;
        }
    } else {
        int prev = previous_port(u);
        if (prev && up__port_free(addr, prev))
            port = prev;
        else if (up__port_free(addr, 1883))
            port = 1883;
        else
            port = any_free_port(addr);
        if (prev && port != prev)
            EF_WARN("the previous MQTT port %d is taken; the broker moves to %d (point agents "
                    "there)",
                    prev, port);
        if (!port) {
            snprintf(err, n, "cannot find a free port on %s for Mosquitto (check --mqtt-listen)",
                     addr);
            return EF_EIO;
        }
    }
    u->mqtt_port = port;
    return EF_OK;
}

int up__write_mosquitto_conf(up *u)
{
    char dir[PATH_MAX + 16], path[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/mosquitto", u->home);
    snprintf(path, sizeof path, "%s/mosquitto.conf", dir);
    if (ef_fs_mkdir_p(dir) != EF_OK) return EF_EIO;
    struct passwd *pw = getpwuid(getuid());
    ef_buf b;
    ef_buf_init(&b);
    /* persistence + a raised queue limit: messages for a briefly absent ingest are kept, not
     * silently dropped; autosave bounds what a broker crash (not a stop) can lose. */
    int rc = ef_buf_appendf(&b,
                            "# Generated by `edgeflow up` at every start: change its flags, not "
                            "this file.\n"
                            "listener %d %s\n"
                            "allow_anonymous true\n"
                            "persistence true\n"
                            "persistence_location %s/\n"
                            "autosave_interval 60\n"
                            "max_queued_messages 1000000\n"
                            "max_inflight_messages 0\n"
                            "log_dest stdout\n"
                            "log_timestamp_format %%Y-%%m-%%dT%%H:%%M:%%S\n",
                            u->mqtt_port, u->o->mqtt_listen, dir);
    /* Mosquitto started as root drops to user "mosquitto" unless told otherwise; stay who we
     * are so it can write its persistence dir (and keeps our parent-death signal). */
    if (rc == EF_OK && pw) rc = ef_buf_appendf(&b, "user %s\n", pw->pw_name);
    if (rc == EF_OK) rc = ef_fs_write_atomic(path, b.data, b.len, 1);
    ef_buf_release(&b);
    return rc;
}

int up__write_state(const up *u)
{
    int rc = EF_ENOMEM;
    char path[PATH_MAX + 16], *text = NULL;
    json_t *children = json_array();
    json_t *root = NULL;
    if (!children) goto out;
    for (int i = 0; i < UP_NCHILD; i++) {
        const up_child *c = &u->c[i];
        if (!c->enabled) continue;
        if (json_array_append_new(children, json_pack("{s:s, s:I, s:i}", "name", c->name, "pid",
                                                      (json_int_t)c->pid, "restarts", c->restarts)))
            goto out;
    }
    root = json_pack("{s:I, s:s, s:s, s:s, s:s, s:O}", "pid", (json_int_t)getpid(), "http",
                     u->http_url, "mqtt", u->mqtt_url, "home", u->home, "logs", u->logs, "children",
                     children);
    if (!root || !(text = json_dumps(root, JSON_INDENT(2)))) goto out;
    snprintf(path, sizeof path, "%s/up.json", u->home);
    size_t len = strlen(text);
    text[len] = '\n'; /* json_dumps' NUL becomes the file's last newline */
    rc = ef_fs_write_atomic(path, text, len + 1, 0);
    if (rc != EF_OK) EF_WARN("cannot write %s: %s", path, strerror(errno));
out:
    free(text);
    json_decref(root);
    json_decref(children);
    return rc;
}

int64_t up__file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

/* Copies src to dst (through a temp file + rename), streaming, then empties src. */
static int copy_truncate(const char *src, const char *dst)
{
    char tmp[PATH_MAX + 16], chunk[65536];
    snprintf(tmp, sizeof tmp, "%s.tmp", dst);
    int rc = EF_EIO;
    int sfd = open(src, O_RDONLY | O_CLOEXEC);
    int dfd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (sfd < 0 || dfd < 0) goto out;
    for (;;) {
        ssize_t r = read(sfd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) goto out;
        if (r == 0) break;
        if (write(dfd, chunk, (size_t)r) != r) goto out;
    }
    if (close(dfd) != 0) {
        dfd = -1;
        goto out;
    }
    dfd = -1;
    if (rename(tmp, dst) != 0 || truncate(src, 0) != 0) goto out;
    rc = EF_OK;
out:
    if (sfd >= 0) close(sfd);
    if (dfd >= 0) close(dfd);
    if (rc != EF_OK) unlink(tmp);
    return rc;
}

void up__rotate(const char *path, int64_t max, int copy)
{
    if (max <= 0 || up__file_size(path) <= max) return;
    char old[PATH_MAX + 8];
    snprintf(old, sizeof old, "%s.1", path);
    int rc = copy ? copy_truncate(path, old) : rename(path, old) == 0 ? EF_OK : EF_EIO;
    if (rc != EF_OK)
        EF_WARN("cannot rotate %s: %s", path, strerror(errno));
    else
        EF_INFO("rotated %s to %s (over %lld bytes)", path, old, (long long)max);
}

/* Connects to host:port with 1 s send/receive timeouts. Returns the socket or -1. */
static int connect_to(const char *host, int port)
{
    struct addrinfo *ai = NULL;
    if (resolve(host, port, 0, &ai) != EF_OK) return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        struct timeval tv = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    return fd;
}

int up__tcp_accepts(const char *host, int port)
{
    int fd = connect_to(host, port);
    if (fd < 0) return 0;
    close(fd);
    return 1;
}

int up__http_ok(const char *host, int port, const char *path)
{
    int fd = connect_to(host, port);
    if (fd < 0) return 0;
    char req[512], resp[32] = {0};
    int len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                       path, host);
    size_t got = 0;
    if (send(fd, req, (size_t)len, MSG_NOSIGNAL) == len) {
        while (got < 12) {
            ssize_t r = recv(fd, resp + got, 12 - got, 0);
            if (r <= 0) break;
            got += (size_t)r;
        }
    }
    close(fd);
    /* "HTTP/1.1 200" */
    return got >= 12 && !strncmp(resp, "HTTP/1.", 7) && !strncmp(resp + 9, "200", 3);
}

int up__file_contains(const char *path, int64_t offset, const char *needle)
{
    char chunk[1 << 16];
    ef_buf b;
    ef_buf_init(&b);
    int found = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    /* Only what was written after offset, at most 4 MiB of it. */
    while (fd >= 0 && !found && b.len < (4u << 20)) {
        ssize_t r = pread(fd, chunk, sizeof chunk, (off_t)(offset + (int64_t)b.len));
        if (r <= 0 || ef_buf_append(&b, chunk, (size_t)r) != EF_OK) break;
        found = strstr(b.data, needle) != NULL;
    }
    if (fd >= 0) close(fd);
    ef_buf_release(&b);
    return found;
}
