"""`logflume aggregator fingerprint` on emulated CPUs: where the aggregator's bytes agree.

Rebuilds, replays and a zombie's late rename rely on every instance writing the same bytes for
the same records. ISA-L picks SIMD code at run time, so this runs the real binary under
qemu-user with CPU models that switch its dispatcher between its generic, SSE4.2, AVX2 and
(natively, where the machine has it) AVX-512 code, and compares the fingerprints: the SHA-256 of
the files written for a built-in sample through the live writer.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import logflume_binary

QEMU = shutil.which("qemu-x86_64")

# Westmere: SSE4.2 without AVX. Sandy Bridge: AVX without AVX2. Haswell and EPYC-Rome: AVX2
# (Intel and AMD). Penryn: SSE4.1 only, so ISA-L runs its generic C code. AVX-512 only natively
# (qemu 7.2 does not emulate it).
SSE42 = "Westmere-v1"
AVX = "SandyBridge-v2"
AVX2_INTEL = "Haswell-v4"
AVX2_AMD = "EPYC-Rome-v2"
NO_SSE42 = "Penryn-v1"


def fingerprint(tmp_path: Path, cpu: str | None, keep: Path | None = None, **output: object) -> dict[str, str]:
    """Runs the command (natively when `cpu` is None; with `--keep keep` when given) and returns
    its `name: value` lines, with stderr under "stderr"."""
    config = tmp_path / f"{hashlib.sha1(repr(sorted(output.items())).encode()).hexdigest()}.toml"
    lines = ['[kafka]', 'topics = ["web"]', "[output]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in output.items()]
    config.write_text("\n".join(lines) + "\n")
    command = [str(logflume_binary()), "aggregator", "fingerprint", "--config", str(config)] + (["--keep", str(keep)] if keep else [])
    if cpu is not None:
        assert QEMU is not None, "qemu-x86_64 not found: scripts/setup installs qemu-user"
        command = [QEMU, "-cpu", cpu] + command
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    fields = dict(line.split(": ", 1) for line in done.stdout.splitlines())
    fields = {key: value.strip() for key, value in fields.items()}
    # qemu's own notes about CPU flags it cannot emulate are not the command's.
    fields["stderr"] = "\n".join(line for line in done.stderr.splitlines() if not line.startswith("qemu-x86_64: warning"))
    return fields


def test_the_fingerprint_is_the_hash_of_the_files_written(tmp_path):
    keep = tmp_path / "kept"
    fields = fingerprint(tmp_path, None, keep=keep)
    files = sorted((keep / "fingerprint").glob("fingerprint-0-*.jsonl.gz"))
    assert [f.name for f in files] == ["fingerprint-0-00000000000000000000.jsonl.gz"]
    assert fields["output"].strip() == "jsonl, gzip through isa-l level 1, parts of 268435456 bytes"
    hashed = (fields["output"].strip() + "\n").encode() + files[0].read_bytes()
    assert fields["fingerprint"].strip() == hashlib.sha256(hashed).hexdigest()
    records = [json.loads(line) for line in gzip.decompress(files[0].read_bytes()).splitlines()]
    assert [r["offset"] for r in records] == list(range(10_000))
    assert records[0]["timestamp"] == 1_767_225_600_000
    assert all(' HTTP/1.1" ' in r["value"] for r in records)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("level", [0, 1, 2])
def test_isal_levels_0_to_2_write_the_same_bytes_on_every_cpu_with_sse42(tmp_path, level):
    native = fingerprint(tmp_path, None, gzip_encoder="isa-l", compression_level=level)
    emulated = {cpu: fingerprint(tmp_path, cpu, gzip_encoder="isa-l", compression_level=level) for cpu in (SSE42, AVX, AVX2_INTEL, AVX2_AMD)}
    assert emulated[SSE42]["cpu"] == "x86-64 with SSE4.2"
    assert emulated[AVX]["cpu"] == "x86-64 with SSE4.2, AVX"
    assert emulated[AVX2_INTEL]["cpu"] == emulated[AVX2_AMD]["cpu"] == "x86-64 with SSE4.2, AVX, AVX2"
    prints = {cpu: fields["fingerprint"] for cpu, fields in emulated.items()}
    if "SSE4.2" in native["cpu"]:
        prints["native: " + native["cpu"]] = native["fingerprint"]
    assert len(set(prints.values())) == 1, prints
    # Which machines the claim was checked on shows in the report (-rA); AVX-512 only natively.
    print(f"level {level}: one fingerprint on {sorted(prints)}")
    assert all(fields["stderr"] == "" for fields in [native, *emulated.values()])


@pytest.mark.timeout(300)
def test_isal_bytes_differ_without_sse42_and_at_level_3_and_the_command_warns(tmp_path):
    portable = fingerprint(tmp_path, SSE42, gzip_encoder="isa-l")
    old = fingerprint(tmp_path, NO_SSE42, gzip_encoder="isa-l")
    assert old["cpu"] == "x86-64 without SSE4.2"
    assert old["fingerprint"] != portable["fingerprint"]
    assert "this CPU lacks SSE4.2" in old["stderr"] and "logflume aggregator fingerprint" in old["stderr"]

    level3 = {cpu: fingerprint(tmp_path, cpu, gzip_encoder="isa-l", compression_level=3) for cpu in (SSE42, AVX2_INTEL)}
    assert level3[SSE42]["fingerprint"] != level3[AVX2_INTEL]["fingerprint"]
    assert all("level 3 writes different gzip bytes" in fields["stderr"] for fields in level3.values())


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "output", [{"gzip_encoder": "libdeflate"}, {"codec": "zstd"}, {"codec": "zstd", "format": "raw", "compression_level": 3}]
)
def test_libdeflate_and_zstd_write_the_same_bytes_on_any_cpu(tmp_path, output):
    native = fingerprint(tmp_path, None, **output)
    old = fingerprint(tmp_path, NO_SSE42, **output)
    assert old["fingerprint"] == native["fingerprint"]
    assert old["stderr"] == "" and native["stderr"] == ""
    # The fingerprint follows the settings: another level, or another part size, is another print.
    other_level = {**output, "compression_level": 9 if output.get("compression_level") != 9 else 8}
    assert native["fingerprint"] != fingerprint(tmp_path, None, **other_level)["fingerprint"]
    assert native["fingerprint"] != fingerprint(tmp_path, None, **output, max_file_bytes="1GiB")["fingerprint"]
