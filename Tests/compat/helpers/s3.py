"""A real S3 API server for tests and benches: moto in server mode (`moto_server` from the compat
venv) on a loopback port, over http or over https with a certificate from a throwaway CA.
`python3 s3.py certificates DIR` makes only the certificates (for the Swift tests)."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

# moto's app served by cheroot, which keeps connections open between requests (moto_server does not).
KEEP_ALIVE_SERVER = Path(__file__).with_name("moto_keepalive.py")


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate it issued for localhost, with the openssl tool: (CA PEM,
    server certificate, server key)."""
    def openssl(*args: str):
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=logflume test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=localhost")
    (directory / "server.ext").write_text("subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem",
            "-days", "2", "-extfile", "server.ext")
    return directory / "ca.pem", directory / "server.pem", directory / "server.key"


def start_moto(moto_server: Path, directory: Path, port: int, tls: bool, env: dict[str, str] | None = None,
               keep_alive: bool = False) -> tuple[subprocess.Popen, str, str]:
    """Starts moto_server on 127.0.0.1:`port` (logging to `directory`/moto.log) and waits until it
    listens; with `keep_alive`, moto's app under cheroot instead. Returns the
    process, the endpoint (https://localhost:port with `tls`) and the CA file to trust ("" without
    TLS)."""
    command = [sys.executable, str(KEEP_ALIVE_SERVER), str(port)] if keep_alive else [str(moto_server), "-H", "127.0.0.1", "-p", str(port)]
    ca_file = ""
    if tls:
        ca, certificate, key = make_certificates(directory)
        command += [str(certificate), str(key)] if keep_alive else ["-s", "-c", str(certificate), "-k", str(key)]
        ca_file = str(ca)
    with open(directory / "moto.log", "wb") as log:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}: {(directory / 'moto.log').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.1)
    endpoint = f"https://localhost:{port}" if tls else f"http://127.0.0.1:{port}"
    return proc, endpoint, ca_file


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


if __name__ == "__main__" and sys.argv[1:2] == ["certificates"]:
    try:
        make_certificates(Path(sys.argv[2]))
    except subprocess.CalledProcessError as error:
        print(f"{' '.join(error.cmd)} failed: {error.stderr.decode(errors='replace')}")
        sys.exit(1)


def client(endpoint: str, ca_file: str = "", key: str = "bench", secret: str = "bench"):
    """A boto3 S3 client for the server at `endpoint` (moto takes any credentials unless its
    request authentication is on), trusting `ca_file` over https."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", verify=ca_file or None,
                        aws_access_key_id=key, aws_secret_access_key=secret)
