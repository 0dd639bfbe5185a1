"""agents/install.sh into a staging root (--prefix), without root and without a broker; and the
sample configurations and the systemd unit it installs.

- The layout: binary, /etc/logflume/agent.toml from the chosen sample, the unit and its
  multi-user.target.wants link, the state directory, the reference copies; file modes.
- Idempotence: a second run changes nothing, keeps an edited agent.toml, replaces a changed binary.
- --dry-run creates nothing; --uninstall keeps configuration and state, --purge removes them.
- Under /bin/sh (dash on Debian) and bash alike.
- The samples: valid TOML, every top-level key and every key of the first [[input]] documented as
  `# key = default` with the documented default, and `logflume agent --check-config` accepts them
  (once the binary has the agent).
- The unit: the ExecStart the install puts in place, and `systemd-analyze verify` when available.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest

from conftest import REPO, logflume_binary

AGENTS = REPO / "agents"
INSTALL = AGENTS / "install.sh"

SAMPLES = ["nginx.toml", "app.toml"]


def fake_binary(tmp_path: Path, text: str = "one") -> Path:
    path = tmp_path / f"fake-logflume-{text}"
    path.write_text(f"#!/bin/sh\necho fake logflume {text}\n")
    path.chmod(0o755)
    return path


def install(*args: str, shell: str = "sh", check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SUDO_USER"}
    out = subprocess.run([shell, str(INSTALL), *args], capture_output=True, text=True, env=env, timeout=60)
    if check:
        assert out.returncode == 0, f"install.sh {' '.join(args)} exited {out.returncode}\n{out.stdout}{out.stderr}"
    return out


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_install_into_prefix_lays_out_everything(tmp_path, shell):
    root = tmp_path / "root"
    binary = fake_binary(tmp_path)
    out = install("--prefix", str(root), "--binary", str(binary), shell=shell)
    assert "staging into" in out.stdout

    bin_path = root / "usr/local/bin/logflume"
    assert bin_path.read_bytes() == binary.read_bytes()
    assert mode(bin_path) == 0o755

    config = root / "etc/logflume/agent.toml"
    assert config.read_text() == (AGENTS / "nginx.toml").read_text()
    assert mode(config) == 0o640

    unit = root / "etc/systemd/system/logflume-agent.service"
    assert unit.read_text() == (AGENTS / "logflume-agent.service").read_text()
    assert mode(unit) == 0o644
    wants = root / "etc/systemd/system/multi-user.target.wants/logflume-agent.service"
    assert wants.is_symlink() and os.readlink(wants) == "/etc/systemd/system/logflume-agent.service"

    state = root / "var/lib/logflume-agent"
    assert state.is_dir() and mode(state) == 0o750

    share = root / "usr/local/share/logflume/agent"
    for name in ["nginx.toml", "app.toml", "logflume-agent.service", "README.md"]:
        assert (share / name).read_bytes() == (AGENTS / name).read_bytes(), name

    assert tree(root) == sorted([
        "etc", "etc/logflume", "etc/logflume/agent.toml",
        "etc/systemd", "etc/systemd/system", "etc/systemd/system/logflume-agent.service",
        "etc/systemd/system/multi-user.target.wants", "etc/systemd/system/multi-user.target.wants/logflume-agent.service",
        "usr", "usr/local", "usr/local/bin", "usr/local/bin/logflume",
        "usr/local/share", "usr/local/share/logflume", "usr/local/share/logflume/agent",
        "usr/local/share/logflume/agent/README.md", "usr/local/share/logflume/agent/app.toml",
        "usr/local/share/logflume/agent/logflume-agent.service", "usr/local/share/logflume/agent/nginx.toml",
        "var", "var/lib", "var/lib/logflume-agent",
    ])


def test_install_is_idempotent_and_keeps_an_edited_config(tmp_path):
    root = tmp_path / "root"
    one, two = fake_binary(tmp_path, "one"), fake_binary(tmp_path, "two")
    install("--prefix", str(root), "--binary", str(one))
    config = root / "etc/logflume/agent.toml"
    edited = config.read_text().replace('brokers = ["127.0.0.1:9092"]', 'brokers = ["10.0.0.7:9092"]')
    assert edited != config.read_text()
    config.write_text(edited)
    (root / "var/lib/logflume-agent/checkpoints.json").write_text("{}")
    before = tree(root)

    again = install("--prefix", str(root), "--binary", str(one), "--config", "app")
    assert "unchanged" in again.stdout and "exists, kept" in again.stdout
    assert config.read_text() == edited  # neither the edit nor the sample choice overwrote it
    assert tree(root) == before
    assert (root / "var/lib/logflume-agent/checkpoints.json").read_text() == "{}"

    upgrade = install("--prefix", str(root), "--binary", str(two))
    assert "installed from" in upgrade.stdout
    assert (root / "usr/local/bin/logflume").read_bytes() == two.read_bytes()
    assert not (root / "usr/local/bin/logflume.new").exists()


def test_install_chooses_the_sample(tmp_path):
    for choice, sample in [("app", AGENTS / "app.toml"), ("nginx", AGENTS / "nginx.toml"), (str(AGENTS / "app.toml"), AGENTS / "app.toml")]:
        root = tmp_path / f"root-{len(list(tmp_path.iterdir()))}"
        install("--prefix", str(root), "--binary", str(fake_binary(tmp_path)), "--config", choice)
        assert (root / "etc/logflume/agent.toml").read_text() == sample.read_text(), choice
    bad = install("--prefix", str(tmp_path / "bad"), "--binary", str(fake_binary(tmp_path)), "--config", "nope", check=False)
    assert bad.returncode != 0 and "no such sample" in bad.stderr
    assert not (tmp_path / "bad").exists()


def test_dry_run_changes_nothing(tmp_path):
    root = tmp_path / "root"
    out = install("--dry-run", "--prefix", str(root), "--binary", str(fake_binary(tmp_path)))
    assert not root.exists()
    assert "+ install -m 0755" in out.stdout and "+ ln -sfn" in out.stdout
    # Without --prefix it shows the real thing, as any user, and still changes nothing.
    out = install("--dry-run", "--binary", str(fake_binary(tmp_path)))
    for expected in ["/usr/local/bin/logflume", "/etc/logflume/agent.toml", "/etc/systemd/system/logflume-agent.service",
                     "/var/lib/logflume-agent"]:
        assert expected in out.stdout, expected
    if not shutil.which("getent") or subprocess.run(["getent", "passwd", "logflume"], capture_output=True).returncode != 0:
        assert "useradd --system" in out.stdout and "adm" in out.stdout


def test_uninstall_keeps_config_and_state_unless_purged(tmp_path):
    root = tmp_path / "root"
    install("--prefix", str(root), "--binary", str(fake_binary(tmp_path)))
    install("--uninstall", "--prefix", str(root))
    assert not (root / "usr/local/bin/logflume").exists()
    assert not (root / "etc/systemd/system/logflume-agent.service").exists()
    assert not (root / "etc/systemd/system/multi-user.target.wants/logflume-agent.service").is_symlink()
    assert (root / "etc/logflume/agent.toml").exists() and (root / "var/lib/logflume-agent").is_dir()
    install("--uninstall", "--purge", "--prefix", str(root))
    assert not (root / "etc/logflume").exists() and not (root / "var/lib/logflume-agent").exists()


def test_bad_arguments(tmp_path):
    out = install("--prefix", str(tmp_path / "r"), "--frobnicate", check=False)
    assert out.returncode == 2 and "unknown argument" in out.stderr
    out = install("--prefix", str(tmp_path / "r"), "--binary", str(tmp_path / "missing"), check=False)
    assert out.returncode != 0 and "not an executable" in out.stderr
    assert "--prefix DIR" in install("--help").stdout


# --------------------------------------------------------------------------------------------
# The samples and the unit


@pytest.mark.parametrize("sample", SAMPLES)
def test_sample_is_valid_toml_with_inputs(sample):
    # Whether every key is documented with its real default is checked against the schema itself
    # by the Swift test AgentConfigTests.samplesDocumentDefaults.
    doc = tomllib.loads((AGENTS / sample).read_text())
    assert doc.get("input"), f"{sample}: no [[input]]"
    for inp in doc["input"]:
        assert inp.get("paths"), f"{sample}: an [[input]] without paths"


def test_nginx_sample_inputs():
    inputs = tomllib.loads((AGENTS / "nginx.toml").read_text())["input"]
    access, error = inputs
    assert access["paths"] == ["/var/log/nginx/access.log*"] and access["format"] == "nginx_combined" and access["key"] == "remote_addr"
    assert error["paths"] == ["/var/log/nginx/error.log*"] and error["format"] == "plain"


def test_app_sample_inputs():
    formats = [i["format"] for i in tomllib.loads((AGENTS / "app.toml").read_text())["input"]]
    assert formats == ["json", "plain"]


def agent_available() -> bool:
    binary = logflume_binary()
    if not binary.exists():
        return False
    out = subprocess.run([str(binary), "agent", "--help"], capture_output=True, text=True)
    return "USAGE: logflume agent" in out.stdout


@pytest.mark.parametrize("sample", SAMPLES)
def test_sample_passes_check_config(sample, tmp_path):
    if not agent_available():
        pytest.skip(f"{logflume_binary()} has no `agent` subcommand yet")
    # state_dir is /var/lib/logflume-agent in the samples; --check-config must not need it to exist.
    out = subprocess.run([str(logflume_binary()), "agent", "--check-config", "--config", str(AGENTS / sample)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, f"{sample}: --check-config exited {out.returncode}\n{out.stdout}{out.stderr}"


def test_unit_file():
    text = (AGENTS / "logflume-agent.service").read_text()
    service = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            service.setdefault(k, v)
    assert service["ExecStart"] == "/usr/local/bin/logflume agent --config /etc/logflume/agent.toml"
    assert service["Type"] == "simple" and service["KillSignal"] == "SIGTERM" and service["Restart"] == "on-failure"
    assert service["User"] == "logflume" and "adm" in service["SupplementaryGroups"].split()
    assert service["StateDirectory"] == "logflume-agent" and service["ProtectSystem"] == "strict"
    assert service["NoNewPrivileges"] == "yes" and "TimeoutStopSec" in service and "MemoryMax" in service
    assert "ExecReload" not in service
    if not shutil.which("systemd-analyze"):
        return
    # verify wants the binary to exist: point the unit at a stand-in.
    out = subprocess.run(["systemd-analyze", "verify", str(AGENTS / "logflume-agent.service")], capture_output=True, text=True, timeout=60)
    problems = [line for line in (out.stdout + out.stderr).splitlines()
                if line.strip() and "/usr/local/bin/logflume" not in line and "logflume-agent.service" in line]
    assert not problems, "\n".join(problems)
