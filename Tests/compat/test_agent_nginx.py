"""Real nginx (Debian `nginx-light`) under load from `wrk` writes access logs that `logflume agent`
ships to the broker; every record must be the line nginx wrote, stamped with the request time.

One nginx on a free loopback port, with its own prefix, pid file and error log, runs in a timezone
with a half-hour offset (TZ=LFT-5:30, i.e. +0530) so that offset handling shows. It writes the
same requests to four access logs:

| file           | log_format                                   | agent input                        | topic |
|----------------|----------------------------------------------|------------------------------------|-------|
| access.log     | built-in `combined`                          | format nginx_combined, key remote_addr, value raw | raw   |
| timed.log      | custom: $time_iso8601, $msec, $request_time  | format nginx + log_format, value raw              | timed |
| access-js.log  | built-in `combined`                          | format nginx_combined, value json                 | cjson |
| timed-js.log   | the custom one                               | format nginx + log_format, value json             | tjson |

The agent starts before the load (the files are empty then and grow under it), `wrk` runs a Lua
script that varies method, path, query, status (200, 301, 404), body size, referrer (present or
not) and user agent (with a double quote, a backslash and UTF-8, which nginx's escape=default
writes as \\xXX). Then, per topic, once the end offset reaches the file's line count (and stays
there): record i is line i of the file (one partition, so file order), its timestamp is the
request time nginx logged ($time_local to the second; $msec to the millisecond where the format
has it), its headers carry `host` (from the config) and `path` (the file), and no
`logflume.parse_error`. For value = "json" the record is one flat JSON object named by nginx
variables; remote_addr, status, request_method, request_uri, body_bytes_sent and http_user_agent
must match the line (unescaped: the user agent equals what wrk sent). For `combined`, whose
$request holds method, URI and protocol, request_method and request_uri are its first two words.

Skipped, with the reason, when nginx or wrk is not installed (scripts/setup installs both) or
when the logflume binary has no `agent` subcommand yet.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from conftest import consumer_conf, create_topic, logflume_binary, toml_value, watermarks

LOAD_SECONDS = 3
NGINX_TZ = "LFT-5:30"  # POSIX TZ: local time = UTC + 5:30, no tzdata needed
HOST_HEADER = "compat-nginx-host"

COMBINED = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"'
TIMED = ('$remote_addr - $remote_user [$time_iso8601] $msec "$request_method $request_uri $server_protocol" '
         '$status $body_bytes_sent $request_time "$http_referer" "$http_user_agent"')

# Sent by wrk; nginx logs them escaped (\x22 for ", \x5C for \, \xC3\xBC for ü).
USER_AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0",
    'curl/8.5.0 "quoted" back\\slash',
    "Mozilla/5.0 (Macintosh) Grüße/1.0",
    "wrk-compat",
]

pytestmark = pytest.mark.timeout(240)


def nginx_binary() -> str | None:
    return shutil.which("nginx") or (("/usr/sbin/nginx") if os.access("/usr/sbin/nginx", os.X_OK) else None)


def agent_available() -> bool:
    binary = logflume_binary()
    if not binary.exists():
        return False
    out = subprocess.run([str(binary), "agent", "--help"], capture_output=True, text=True)
    # ArgumentParser answers --help of an unknown subcommand with the top-level help and exit 0.
    return "USAGE: logflume agent" in out.stdout


def wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{what} is not listening on {port} after {timeout} s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------
# What nginx wrote, parsed independently of the agent


def unescape(text: str) -> str:
    """nginx escape=default: \\xXX for ", \\ and bytes outside 32..126; the rest as is."""
    raw = re.sub(rb"\\x([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), text.encode("ascii"))
    return raw.decode("utf-8")


COMBINED_RE = re.compile(
    r'^(?P<remote_addr>\S+) - (?P<remote_user>\S+) \[(?P<time_local>[^\]]+)\] "(?P<request>[^"]*)" '
    r'(?P<status>\d{3}) (?P<body_bytes_sent>\d+) "(?P<http_referer>[^"]*)" "(?P<http_user_agent>[^"]*)"$')
TIMED_RE = re.compile(
    r'^(?P<remote_addr>\S+) - (?P<remote_user>\S+) \[(?P<time_iso8601>[^\]]+)\] (?P<msec>\d+\.\d{3}) '
    r'"(?P<request_method>\S+) (?P<request_uri>\S+) (?P<server_protocol>[^"]+)" (?P<status>\d{3}) '
    r'(?P<body_bytes_sent>\d+) (?P<request_time>\d+\.\d{3}) "(?P<http_referer>[^"]*)" "(?P<http_user_agent>[^"]*)"$')


def parse_line(line: str, fmt: str) -> dict:
    m = (COMBINED_RE if fmt == "combined" else TIMED_RE).match(line)
    assert m, f"nginx wrote a line this test cannot parse ({fmt}): {line!r}"
    fields = m.groupdict()
    if fmt == "combined":
        method, uri, _proto = fields["request"].split(" ", 2)
        fields["request_method"], fields["request_uri"] = method, uri
    return fields


def expected_timestamp_ms(fields: dict) -> int:
    """The request time nginx logged, in ms since the epoch: $msec when present, else $time_local."""
    if "msec" in fields:
        seconds, millis = fields["msec"].split(".")
        return int(seconds) * 1000 + int(millis)
    return int(dt.datetime.strptime(fields["time_local"], "%d/%b/%Y:%H:%M:%S %z").timestamp()) * 1000


def same(expected: str, got) -> bool:
    """A field as the test read it (text) against the agent's JSON value (text or number)."""
    if isinstance(got, bool) or got is None:
        return False
    if isinstance(got, (int, float)):
        try:
            return float(expected) == float(got)
        except ValueError:
            return False
    return got == expected


# --------------------------------------------------------------------------------------------
# Processes


class Nginx:
    def __init__(self, prefix: Path):
        self.prefix = prefix
        self.port = free_port()
        self.logs = prefix / "logs"
        self.proc: subprocess.Popen | None = None

    def log(self, name: str) -> Path:
        return self.logs / name

    def write_config(self):
        (self.prefix / "conf").mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.prefix / "temp" / sub).mkdir(parents=True, exist_ok=True)
        # As root, nginx would switch its workers to `nobody`, which cannot enter pytest's 0700
        # temporary directories; the workers only `return`, so root is harmless here.
        user = "user root;\n" if os.geteuid() == 0 else ""
        p = self.prefix
        conf = f"""{user}worker_processes 1;
daemon off;
pid {p}/nginx.pid;
error_log {self.logs}/error.log info;
env TZ;
events {{ worker_connections 256; }}
http {{
    log_format timed '{TIMED}';
    access_log {self.logs}/access.log combined;
    access_log {self.logs}/timed.log timed;
    access_log {self.logs}/access-js.log combined;
    access_log {self.logs}/timed-js.log timed;
    client_body_temp_path {p}/temp/client_body;
    proxy_temp_path {p}/temp/proxy;
    fastcgi_temp_path {p}/temp/fastcgi;
    uwsgi_temp_path {p}/temp/uwsgi;
    scgi_temp_path {p}/temp/scgi;
    default_type text/plain;
    server {{
        listen 127.0.0.1:{self.port};
        location = /redirect {{ return 301 /; }}
        location /missing/ {{ return 404; }}
        location /api/ {{ default_type application/json; return 200 '{{"ok":true,"uri":"$request_uri"}}'; }}
        location / {{ return 200 "hello $request_uri\\n"; }}
    }}
}}
"""
        (p / "conf" / "nginx.conf").write_text(conf)

    def command(self, *extra: str) -> list[str]:
        return [nginx_binary(), "-p", str(self.prefix), "-c", str(self.prefix / "conf" / "nginx.conf"),
                "-e", str(self.logs / "error.log"), *extra]

    def start(self):
        self.write_config()
        env = dict(os.environ, TZ=NGINX_TZ)
        check = subprocess.run(self.command("-t"), capture_output=True, text=True, env=env)
        assert check.returncode == 0, f"nginx -t failed:\n{check.stderr}"
        self.proc = subprocess.Popen(self.command(), env=env, stdout=subprocess.DEVNULL,
                                     stderr=open(self.prefix / "stderr.txt", "ab"), start_new_session=True)
        wait_port(self.port, self.proc, "nginx")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: finish requests, flush, exit
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


WRK_SCRIPT = r"""
local paths = {"/", "/index.html", "/api/v1/items?id=%d&sort=desc", "/missing/%d", "/static/app.js?v=%d",
               "/search?q=a%%20b&n=%d", "/redirect"}
local methods = {"GET", "GET", "GET", "POST", "GET", "PUT", "DELETE", "GET"}
local agents = {AGENTS}
local counter = 0
-- About 4,000 requests/s over 8 connections: enough lines to matter, few enough to check one by one.
delay = function() return 2 end
request = function()
    counter = counter + 1
    local path = string.format(paths[counter % #paths + 1], counter)
    local method = methods[counter % #methods + 1]
    local headers = {["User-Agent"] = agents[counter % #agents + 1]}
    if counter % 3 == 0 then headers["Referer"] = "http://example.test/page/" .. counter end
    local body = nil
    if method == "POST" or method == "PUT" then body = "x=" .. counter end
    return wrk.format(method, path, headers, body)
end
"""


def lua_string(s: str) -> str:
    return '"' + "".join(c if c.isascii() and c not in '"\\' else "".join(f"\\{b}" for b in c.encode()) for c in s) + '"'


class Agent:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.config = workdir / "agent.toml"
        self.log_path = workdir / "agent.log"
        self.proc: subprocess.Popen | None = None

    def write_config(self, brokers: str, inputs: list[dict]):
        lines = [
            f"brokers = [{toml_value(brokers)}]",
            f"state_dir = {toml_value(self.workdir / 'state')}",
            f"host = {toml_value(HOST_HEADER)}",
            'checkpoint.interval = "200ms"',
            'output.linger = "20ms"',
        ]
        for inp in inputs:
            lines += ["", "[[input]]"]
            for key, value in inp.items():
                if isinstance(value, list):
                    lines.append(f"{key} = [{', '.join(toml_value(v) for v in value)}]")
                else:
                    lines.append(f"{key} = {toml_value(value)}")
        self.config.write_text("\n".join(lines) + "\n")

    def check_config(self):
        out = subprocess.run([str(logflume_binary()), "agent", "--check-config", "--config", str(self.config)],
                             capture_output=True, text=True)
        assert out.returncode == 0, f"logflume agent --check-config failed ({out.returncode}):\n{out.stdout}{out.stderr}\n{self.config.read_text()}"

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([str(logflume_binary()), "agent", "--config", str(self.config)],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"logflume agent did not exit within 15 s of SIGTERM\n{self.log_tail()}")


def read_topic(b, topic: str, count: int) -> list:
    c = Consumer(consumer_conf(b))
    try:
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        out = []
        deadline = time.monotonic() + 60
        while len(out) < count and time.monotonic() < deadline:
            for m in c.consume(num_messages=5000, timeout=1.0):
                if m.error() is not None and m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                assert m.error() is None, m.error()
                out.append(m)
        assert len(out) >= count, f"{topic}: read {len(out)} records, expected {count}"
        return out[:count]
    finally:
        c.close()


# --------------------------------------------------------------------------------------------
# The test


@pytest.fixture
def tools():
    missing = [name for name, found in (("nginx (Debian nginx-light)", nginx_binary()), ("wrk", shutil.which("wrk"))) if not found]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (scripts/setup installs nginx-light and wrk)")
    if not agent_available():
        pytest.skip(f"{logflume_binary()} has no `agent` subcommand yet")


def test_agent_ships_real_nginx_access_logs(broker, tools, tmp_path):
    nginx = Nginx(tmp_path / "nginx")
    topics = {name: create_topic(broker, prefix=f"nginx-{name}") for name in ("raw", "timed", "cjson", "tjson")}
    files = {"raw": nginx.log("access.log"), "timed": nginx.log("timed.log"),
             "cjson": nginx.log("access-js.log"), "tjson": nginx.log("timed-js.log")}
    formats = {"raw": "combined", "timed": "timed", "cjson": "combined", "tjson": "timed"}
    nginx.start()
    agent = Agent(tmp_path / "agent")
    agent.workdir.mkdir()
    try:
        agent.write_config(broker.bootstrap, [
            {"name": "raw", "paths": [str(files["raw"])], "format": "nginx_combined", "topic": topics["raw"],
             "key": "remote_addr", "value": "raw"},
            {"name": "timed", "paths": [str(files["timed"])], "format": "nginx", "log_format": TIMED,
             "escape": "default", "topic": topics["timed"], "value": "raw"},
            {"name": "cjson", "paths": [str(files["cjson"])], "format": "nginx_combined", "topic": topics["cjson"],
             "value": "json"},
            {"name": "tjson", "paths": [str(files["tjson"])], "format": "nginx", "log_format": TIMED,
             "topic": topics["tjson"], "value": "json"},
        ])
        agent.check_config()
        agent.start()
        time.sleep(1.0)
        assert agent.proc.poll() is None, f"logflume agent exited with {agent.proc.returncode}\n{agent.log_tail()}"

        script = tmp_path / "load.lua"
        script.write_text(WRK_SCRIPT.replace("{AGENTS}", "{" + ", ".join(lua_string(a) for a in USER_AGENTS) + "}"))
        load = subprocess.run(["wrk", "-t1", "-c8", f"-d{LOAD_SECONDS}s", "-s", str(script), f"http://127.0.0.1:{nginx.port}/"],
                              capture_output=True, text=True, timeout=LOAD_SECONDS + 60)
        assert load.returncode == 0, f"wrk failed:\n{load.stdout}{load.stderr}"
    finally:
        nginx.stop()  # every line is in the files now

    try:
        # nginx escapes every byte outside 32..126 (escape=default), so each line is ASCII.
        lines = {name: path.read_bytes().decode("ascii").split("\n")[:-1] for name, path in files.items()}
        counts = {name: len(v) for name, v in lines.items()}
        assert counts["raw"] > 1000, f"wrk made only {counts['raw']} requests:\n{load.stdout}"
        assert len(set(counts.values())) == 1, f"the four access logs differ in length: {counts}"

        # All lines arrive, and no more.
        deadline = time.monotonic() + 60
        highs = {}
        while time.monotonic() < deadline:
            highs = {name: watermarks(broker, topics[name])[1] for name in topics}
            if all(highs[n] >= counts[n] for n in topics):
                break
            assert agent.proc.poll() is None, f"logflume agent exited with {agent.proc.returncode}\n{agent.log_tail()}"
            time.sleep(0.5)
        assert all(highs[n] >= counts[n] for n in topics), f"records {highs}, lines written {counts} (after 60 s)\n{agent.log_tail()}"
        time.sleep(2)
        highs = {name: watermarks(broker, topics[name])[1] for name in topics}
        assert highs == counts, f"more records than lines (duplicates): records {highs}, lines {counts}"
    finally:
        code = agent.stop()
    assert code == 0, f"logflume agent exited with {code} after SIGTERM\n{agent.log_tail()}"

    sent_agents = set(USER_AGENTS)
    for name, topic in topics.items():
        records = read_topic(broker, topic, counts[name])
        path_header = str(files[name]).encode()
        for i, (line, rec) in enumerate(zip(lines[name], records)):
            where = f"{name} line {i + 1} ({files[name].name}): {line!r}"
            fields = parse_line(line, formats[name])
            ts_type, ts = rec.timestamp()
            assert ts == expected_timestamp_ms(fields), f"{where}: record timestamp {ts} (type {ts_type}), expected {expected_timestamp_ms(fields)}"
            headers = rec.headers() or []
            assert ("host", HOST_HEADER.encode()) in headers, f"{where}: headers {headers}"
            assert ("path", path_header) in headers, f"{where}: headers {headers}"
            assert not any(k.startswith("logflume.") for k, _ in headers), f"{where}: flagged: {headers}"
            if name in ("raw", "timed"):
                assert rec.value() == line.encode(), f"{where}: record value {rec.value()!r}"
                if name == "raw":
                    assert rec.key() == fields["remote_addr"].encode(), f"{where}: key {rec.key()!r}"
                continue
            value = json.loads(rec.value())
            assert isinstance(value, dict), f"{where}: value is not a JSON object: {rec.value()!r}"
            for field in ("remote_addr", "status", "request_method", "request_uri", "body_bytes_sent", "http_user_agent"):
                want = unescape(fields[field])
                assert field in value, f"{where}: no {field} in {value}"
                assert same(want, value[field]), f"{where}: {field} = {value[field]!r}, nginx logged {want!r}"
            assert value["http_user_agent"] in sent_agents, f"{where}: http_user_agent {value['http_user_agent']!r} is not one wrk sent"
