"""Debian's Burrow (LinkedIn's consumer-lag monitor) and the throwaway ZooKeeper it needs, as
child processes in a test's own directory.

- `ZooKeeper`: `java -cp /usr/share/java/zookeeper.jar:... ZooKeeperServerMain zoo.cfg` in the
  foreground, on a free 127.0.0.1 port, data in the test's directory, admin server off. Burrow
  1.x panics without `[zookeeper] servers`; it uses ZooKeeper only to coordinate itself.
- `Burrow`: `/usr/bin/Burrow --config-dir DIR` with a `burrow.toml` written here: one `kafka`
  cluster module (Metadata + ListOffsets for the log end offsets) and one `kafka` consumer
  module (reads `__consumer_offsets` from the start), refreshing every second; the HTTP API on a
  free 127.0.0.1 port.
- Burrow 1.2.1 sends every ListOffsets as v0 (whatever `kafka-version` says), which is why the
  broker offers ListOffsets from v0 (Kafka 4.0 dropped v0, KIP-896, and Burrow 1.2.1 cannot
  learn log end offsets from it).
"""

from __future__ import annotations

import atexit
import json
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from conftest import free_port, toml_value

ZOOKEEPER_JARS = ("/usr/share/java/zookeeper.jar",)  # its manifest's Class-Path names the rest
SLF4J_BINDING = "/usr/share/java/slf4j-simple.jar"  # ZooKeeper's log lines to stderr


def burrow_binary() -> str | None:
    return shutil.which("Burrow") or shutil.which("burrow")


def missing_tools() -> str | None:
    """Why Burrow cannot run here, or None."""
    missing = []
    if burrow_binary() is None:
        missing.append("Burrow (apt-get install burrow)")
    if not all(Path(j).exists() for j in ZOOKEEPER_JARS):
        missing.append("ZooKeeper's jars (apt-get install zookeeper)")
    if shutil.which("java") is None:
        missing.append("java (a JRE; apt-get install zookeeper pulls default-jre)")
    return ", ".join(missing) + " not installed" if missing else None


def wait_until(what: str, check, timeout: float, interval: float = 0.1, describe=None):
    """Calls check() until it returns something truthy; fails with the last value seen."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            detail = describe() if describe else last
            raise AssertionError(f"{what}: not within {timeout} s; last seen: {detail}")
        time.sleep(interval)


_CHILDREN: list[subprocess.Popen] = []


@atexit.register
def _kill_leftover_children():
    for proc in _CHILDREN:
        if proc.poll() is None:
            proc.kill()


class _Process:
    """A child process in its own session whose output goes to a log file."""

    name = "process"

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"{self.name}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _spawn(self, cmd: list[str]):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.workdir, start_new_session=True)
        _CHILDREN.append(self.proc)

    def log_text(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with code {self.proc.returncode}\n--- {self.log_path} ---\n{self.log_text()}")

    def stop(self, timeout: float = 10.0):
        if not self.running:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class ZooKeeper(_Process):
    """A standalone ZooKeeper 3.8 on 127.0.0.1:<free port>, data under workdir."""

    name = "zookeeper"

    def __init__(self, workdir: Path):
        super().__init__(workdir)
        self.port = free_port()
        self.config_path = self.workdir / "zoo.cfg"
        self.config_path.write_text("\n".join([
            "tickTime=500",
            f"dataDir={self.workdir / 'data'}",
            f"clientPort={self.port}",
            "clientPortAddress=127.0.0.1",
            "admin.enableServer=false",  # else Jetty on 8080
            "4lw.commands.whitelist=srvr",
            "maxClientCnxns=0",
        ]) + "\n")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0):
        classpath = list(ZOOKEEPER_JARS) + ([SLF4J_BINDING] if Path(SLF4J_BINDING).exists() else [])
        self._spawn(["java", "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                     "-cp", ":".join(classpath), "org.apache.zookeeper.server.ZooKeeperServerMain",
                     str(self.config_path)])
        started = time.monotonic()
        wait_until(f"ZooKeeper on {self.address} serving", self._serving, timeout, interval=0.1,
                   describe=lambda: self.log_text(15))
        self.start_seconds = time.monotonic() - started

    def _serving(self) -> bool:
        """`srvr` shows a Mode only once the server takes sessions (`ruok` says imok before that)."""
        self._check_alive()
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"srvr")
                reply = b""
                while chunk := s.recv(4096):
                    reply += chunk
            return b"Mode: standalone" in reply
        except OSError:
            return False


class Burrow(_Process):
    """Burrow with one cluster "lf" (cluster + consumer modules) and its HTTP API."""

    name = "burrow"
    cluster = "lf"

    def __init__(self, workdir: Path, zookeeper: str, kafka_servers: list[str], kafka_version: str = "2.0.0",
                 refresh_seconds: int = 1):
        super().__init__(workdir)
        self.http_port = free_port()
        servers = "[" + ", ".join(toml_value(s) for s in kafka_servers) + "]"
        (self.workdir / "burrow.toml").write_text(f"""\
[general]
pidfile = {toml_value(str(self.workdir / "burrow.pid"))}

[logging]
level = "debug"

[zookeeper]
servers = [{toml_value(zookeeper)}]
timeout = 6
root-path = "/burrow-compat"

[client-profile.compat]
client-id = "burrow-compat"
kafka-version = {toml_value(kafka_version)}

[cluster.{self.cluster}]
class-name = "kafka"
servers = {servers}
client-profile = "compat"
topic-refresh = {refresh_seconds}
offset-refresh = {refresh_seconds}

[consumer.{self.cluster}]
class-name = "kafka"
cluster = "{self.cluster}"
servers = {servers}
client-profile = "compat"
offsets-topic = "__consumer_offsets"
start-latest = false

[evaluator.default]
class-name = "caching"
expire-cache = 1

[storage.default]
class-name = "inmemory"
workers = 4
intervals = 10
expire-group = 604800
min-distance = 1

[httpserver.default]
address = "127.0.0.1:{self.http_port}"
""")

    def start(self, timeout: float = 30.0):
        self._spawn([burrow_binary(), "--config-dir", str(self.workdir)])
        wait_until(f"Burrow's HTTP API on 127.0.0.1:{self.http_port}", self._admin_ok, timeout,
                   describe=lambda: self.log_text(15))

    def _admin_ok(self) -> bool:
        self._check_alive()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/burrow/admin", timeout=2) as r:
                return r.read().strip() == b"GOOD"
        except (OSError, urllib.error.URLError):
            return False

    def get(self, path: str) -> dict:
        """GET a Burrow API path; the JSON body, also for 404s (Burrow answers errors in JSON)."""
        self._check_alive()
        url = f"http://127.0.0.1:{self.http_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            return json.loads(e.read() or b"{}")

    def topic_offsets(self, topic: str) -> list[int] | None:
        """The log end offsets Burrow's cluster module holds for a topic, per partition."""
        body = self.get(f"/v3/kafka/{self.cluster}/topic/{topic}")
        return None if body.get("error") else body.get("offsets")

    def consumer_lag(self, group: str) -> dict | None:
        """The evaluator's status for a group (/lag), or None while Burrow does not know it."""
        body = self.get(f"/v3/kafka/{self.cluster}/consumer/{group}/lag")
        return None if body.get("error") else body.get("status")

    def stop(self, timeout: float = 1.0):
        """SIGTERM, SIGKILL after `timeout`: Burrow reads its signals only once every module has
        started, and its consumer module subscribes the 50 partitions of __consumer_offsets one
        per fetch wait (about 15 s), so a Burrow stopped earlier would sit out the rest."""
        super().stop(timeout)

    def log_lines(self, needle: str) -> list[str]:
        try:
            return [line for line in self.log_path.read_text(errors="replace").splitlines() if needle in line]
        except FileNotFoundError:
            return []

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the log, of the debug lines only those about committed offsets (the
        rest are log end offsets of every partition every second, and answers to our polling)."""
        about_commits = ('"msg":"consumer offset"', '"request":"StorageSetConsumerOffset"', '"msg":"dropped"')
        kept = [line for line in self.log_lines("")
                if '"level":"debug"' not in line or any(k in line for k in about_commits)]
        return "\n".join(kept[-lines:])
