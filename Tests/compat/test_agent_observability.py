"""What an operator sees of a running agent: Prometheus /metrics, `logflume agent status`, the
status line logged on SIGUSR1, and `--check-config` errors that name the file, line and key."""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from conftest import free_port, logflume_binary, new_topic_name
from helpers.agent import AgentProcess, NumberedWriter


def test_metrics_status_and_sigusr1(broker, tmp_path: Path):
    topic = new_topic_name("observe")
    log = tmp_path / "app.log"
    writer = NumberedWriter(log, "m")
    writer.write(500)
    port = free_port()
    agent = AgentProcess(tmp_path, broker.bootstrap, topic, [{"paths": [str(log)]}], **{"metrics.listen": f"127.0.0.1:{port}"})
    agent.start()
    try:
        agent.wait_status(lambda s: int(s["shipped"]) >= 500)
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        values = {}
        for line in metrics.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        assert values["logflume_agent_lines_read_total"] == 500
        assert values["logflume_agent_lines_shipped_total"] == 500
        assert values["logflume_agent_parse_errors_total"] == 0
        assert values["logflume_agent_spool_bytes"] == 0
        assert any(name.startswith("logflume_agent_file_bytes_behind{") for name in values), metrics
        assert "logflume_agent_broker_round_trip_seconds" in metrics
        status = urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10).read().decode()
        assert "shipped=500" in status

        cli = subprocess.run([str(logflume_binary()), "agent", "status", "--config", str(agent.config_path)],
                             capture_output=True, text=True, timeout=30)
        assert cli.returncode == 0 and "shipped=500" in cli.stdout, cli

        agent.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while "status: files=" not in agent.log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "status: files=" in agent.log_path.read_text(), agent.log_tail()
        assert agent.stop() == 0
    finally:
        writer.close()
        agent.close()


def test_check_config_names_file_line_and_key(tmp_path: Path):
    config = tmp_path / "agent.toml"
    config.write_text('topic = "x"\nbuffer.memory = "8MiB"\n\n[[input]]\npaths = ["/var/log/a.log"]\n')
    out = subprocess.run([str(logflume_binary()), "agent", "--check-config", "--config", str(config)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert f"{config}:2: key 'buffer.memory': unknown key" in out.stderr, out.stderr
    config.write_text('[[input]]\npaths = ["/var/log/a.log"]\nformat = "nginx"\nlog_format = "$a$b"\n')
    out = subprocess.run([str(logflume_binary()), "agent", "--check-config", "--config", str(config)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and f"{config}:4: key 'log_format'" in out.stderr, out.stderr
    config.write_text('[[input]]\npaths = ["/var/log/nginx/access.log*"]\nformat = "nginx_combined"\n')
    out = subprocess.run([str(logflume_binary()), "agent", "--check-config", "--config", str(config)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "OK" in out.stdout, out
