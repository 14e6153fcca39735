"""A private RabbitMQ node with the MQTT plugin, for interoperability tests of edgeflow's MQTT client.

Debian 12 ships rabbitmq-server 3.10.8 (Erlang 25). Its MQTT plugin speaks MQTT 3.1 / 3.1.1 only
(MQTT 5 arrived in RabbitMQ 3.13): a v5 CONNECT is an "unparseable frame" and the connection is
closed without a CONNACK. So edgeflow must be run with --mqtt-version 4 against it.

The node runs as a child of the test (the foreground `rabbitmq-server` script, in its own process
group) with every path in a temp dir: mnesia/data, logs, plugins file, config, Erlang cookie
($HOME). It gets its own epmd on a free port (ERL_EPMD_PORT), started and stopped here, so a
test run never leaves an epmd daemon behind or meets a system one. Start-up takes ~10 s (most of
it the MQTT plugin's Raft client-id tracker waiting for cluster peers), so the fixture using this is
module-scoped.
"""
import os
import shutil
import signal
import socket
import subprocess
import time

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"  # the real script; /usr/sbin's wrapper su's
CTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"
EPMD = shutil.which("epmd") or "/usr/bin/epmd"


def missing():
    """Why a node cannot be started here (a skip reason), or None."""
    for path in (SERVER, CTL, EPMD):
        if not os.access(path, os.X_OK):
            return f"{path} not installed (Debian package rabbitmq-server)"
    return None


def _port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class StartError(Exception):
    pass


class RabbitMQ:
    """RabbitMQ node `edgeflow-test-<mqtt port>@localhost` listening only on 127.0.0.1.

    mqtt_config: extra rabbitmq.conf lines. Raises StartError (with the log tail) if the node does
    not accept MQTT connections within start_timeout seconds.
    """

    def __init__(self, base_dir, free_port, mqtt_config="", start_timeout=60.0):
        self.dir = base_dir
        os.makedirs(self.dir, exist_ok=True)
        self.mqtt_port = free_port()
        self.amqp_port = free_port()
        self.dist_port = free_port()  # must be explicit: the default is amqp port + 20000
        self.epmd_port = free_port()
        self.node = f"edgeflow-test-{self.mqtt_port}@localhost"
        self.conf = os.path.join(self.dir, "rabbitmq.conf")
        with open(self.conf, "w") as f:
            f.write(f"listeners.tcp.default = 127.0.0.1:{self.amqp_port}\n"
                    f"mqtt.listeners.tcp.default = 127.0.0.1:{self.mqtt_port}\n"
                    "mqtt.allow_anonymous = true\n"
                    "loopback_users = none\n"
                    "log.console = false\n"
                    "log.file.level = info\n" + mqtt_config)
        plugins = os.path.join(self.dir, "enabled_plugins")
        with open(plugins, "w") as f:
            f.write("[rabbitmq_mqtt].\n")
        env_file = os.path.join(self.dir, "rabbitmq-env.conf")  # instead of /etc/rabbitmq's
        open(env_file, "w").close()
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.dir,  # .erlang.cookie
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONF_ENV_FILE": env_file,
            "RABBITMQ_CONFIG_FILE": self.conf,
            "RABBITMQ_ADVANCED_CONFIG_FILE": os.path.join(self.dir, "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": plugins,
            "RABBITMQ_MNESIA_BASE": os.path.join(self.dir, "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(self.dir, "log"),
            # Erlang distribution (rabbitmqctl) on loopback only, like everything else.
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }
        self.epmd = None
        self.proc = None
        self.start_seconds = None
        try:
            self._start(start_timeout)
        except BaseException:
            self.stop()
            raise

    def _spawn(self, args, name):
        log = open(os.path.join(self.dir, f"{name}.out"), "ab")
        try:
            return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                    cwd=self.dir, start_new_session=True)
        finally:
            log.close()

    def _start(self, timeout):
        t0 = time.monotonic()
        # Our own epmd in the foreground: the node registers with it instead of daemonizing one.
        self.epmd = self._spawn([EPMD, "-port", str(self.epmd_port)], "epmd")
        deadline = time.monotonic() + 10
        while not _port_open(self.epmd_port):
            if self.epmd.poll() is not None or time.monotonic() > deadline:
                raise StartError(f"epmd did not listen on {self.epmd_port}: {self.tail('epmd.out')}")
            time.sleep(0.05)
        self.proc = self._spawn([SERVER], "server")
        deadline = t0 + timeout
        while not _port_open(self.mqtt_port):
            if self.proc.poll() is not None:
                raise StartError(f"rabbitmq-server exited {self.proc.returncode} during start-up:\n"
                                 + self.log_tail())
            if time.monotonic() > deadline:
                raise StartError(f"MQTT port {self.mqtt_port} not open after {timeout:.0f} s:\n"
                                 + self.log_tail())
            time.sleep(0.1)
        self.start_seconds = time.monotonic() - t0

    def url(self):
        return f"mqtt://127.0.0.1:{self.mqtt_port}"

    def tail(self, name, n=3000):
        try:
            with open(os.path.join(self.dir, name), "rb") as f:
                return f.read().decode("utf-8", "replace")[-n:]
        except OSError:
            return ""

    def log_tail(self, n=4000):
        return (self.tail("server.out", n) + "\n--- node log ---\n"
                + self.tail(os.path.join("log", f"{self.node}.log"), n))

    def ctl(self, *args, timeout=30):
        """Runs rabbitmqctl against this node; returns its stdout (raises on failure)."""
        r = subprocess.run([CTL, "-n", self.node, "-q", *args], capture_output=True, text=True,
                           env=self.env, timeout=timeout)
        if r.returncode != 0:
            raise AssertionError(f"rabbitmqctl {' '.join(args)} exited {r.returncode}:\n"
                                 f"{r.stdout}\n{r.stderr}")
        return r.stdout

    def queues(self):
        """{queue name: (messages, durable)} of the default vhost."""
        out = {}
        for line in self.ctl("list_queues", "--no-table-headers", "name", "messages",
                             "durable").splitlines():
            parts = line.split("\t")
            if len(parts) == 3:
                out[parts[0]] = (int(parts[1]), parts[2] == "true")
        return out

    @staticmethod
    def _end(p, timeout):
        """SIGTERM p's process group, SIGKILL it after timeout; reaps p."""
        if p is None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10)):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Stragglers of the group (erl_child_setup, inet_gethost) once the VM is gone.
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def stop(self):
        """Stops the node (the script's SIGTERM trap shuts the VM down cleanly), then epmd."""
        self._end(self.proc, 30)
        self.proc = None
        self._end(self.epmd, 5)
        self.epmd = None
