"""The `logflume agent` as a child process, for tests that kill, rotate and starve it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from conftest import logflume_binary, toml_value


class AgentProcess:
    """An agent with its own config file, state directory and log file under `workdir`."""

    def __init__(self, workdir: Path, brokers: str, topic: str, inputs: list[dict], **settings):
        self.workdir = workdir
        self.state_dir = workdir / "state"
        self.config_path = workdir / "agent.toml"
        self.log_path = workdir / "agent.log"
        self.proc: subprocess.Popen | None = None
        self.kills = 0
        lines = [f"brokers = [{toml_value(brokers)}]", f"topic = {toml_value(topic)}", f"state_dir = {toml_value(str(self.state_dir))}"]
        defaults = {"scan_interval": "250ms", "rotate_wait": "2s", "checkpoint.interval": "200ms", "output.linger": "5ms"}
        defaults.update(settings)
        lines += [f"{key} = {toml_value(value)}" for key, value in defaults.items()]
        for input in inputs:
            lines.append("\n[[input]]")
            for key, value in input.items():
                if isinstance(value, list):
                    lines.append(f"{key} = [{', '.join(toml_value(v) for v in value)}]")
                else:
                    lines.append(f"{key} = {toml_value(value)}")
        self.config_path.write_text("\n".join(lines) + "\n")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(logflume_binary()), "agent", "--config", str(self.config_path)], stdout=log, stderr=log, stdin=subprocess.DEVNULL
        )
        log.close()

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.kills += 1

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM; returns the exit code (the agent must exit 0)."""
        if not self.running:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def status(self) -> dict[str, str]:
        """The fields of the status line the agent writes about once a second."""
        try:
            text = (self.state_dir / "status").read_text().strip()
        except FileNotFoundError:
            return {}
        return dict(part.split("=", 1) for part in text.split() if "=" in part)

    def wait_status(self, predicate, timeout: float = 60) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        status = self.status()
        while time.monotonic() < deadline:
            status = self.status()
            if status and predicate(status):
                return status
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"agent exited with {self.proc.returncode}\n{self.log_tail()}")
            time.sleep(0.1)
        raise AssertionError(f"agent status never satisfied the condition; last: {status}\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def close(self):
        if self.running:
            self.proc.kill()
            self.proc.wait()


class NumberedWriter:
    """Appends numbered lines `<prefix>-<n>` to a log file the way a server does (O_APPEND)."""

    def __init__(self, path: Path, prefix: str):
        self.path = path
        self.prefix = prefix
        self.next = 1
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, count: int):
        lines = "".join(f"{self.prefix}-{n}\n" for n in range(self.next, self.next + count))
        os.write(self.fd, lines.encode())
        self.next += count

    @property
    def written(self) -> int:
        return self.next - 1

    def reopen(self):
        """After rename or delete: what nginx does on USR1."""
        os.close(self.fd)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def close(self):
        os.close(self.fd)
