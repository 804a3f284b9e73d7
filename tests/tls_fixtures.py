"""Throwaway TLS for loopback tests: a CA and a server certificate (openssl), a quiet server."""

from __future__ import annotations

import subprocess
from http.server import ThreadingHTTPServer
from pathlib import Path


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(folder: Path, name: str) -> tuple[Path, Path]:
    """A throwaway CA: its certificate and key (EC P-256, valid two days)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca, key = folder / f"{name}.pem", folder / f"{name}.key"
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key.name, "-out", ca.name, "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=folder,
    )  # fmt: skip
    return ca, key


def make_server_cert(
    folder: Path, ca: Path, ca_key: Path, name: str = "127.0.0.1"
) -> tuple[Path, Path]:
    """A certificate for `name` (an IP address or a DNS name) signed by the CA: cert and key."""
    cert, key, csr = folder / "server.pem", folder / "server.key", folder / "server.csr"
    ext = folder / "server.ext"
    kind = "IP" if name.replace(".", "").isdigit() else "DNS"
    ext.write_text(
        f"subjectAltName={kind}:{name}\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n"
    )
    openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key.name, "-out", csr.name, "-subj", f"/CN={name}", cwd=folder,
    )  # fmt: skip
    openssl(
        "x509", "-req", "-in", csr.name, "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", cert.name, "-days", "2", "-extfile", ext.name, cwd=folder,
    )  # fmt: skip
    return cert, key


class QuietServer(ThreadingHTTPServer):
    """A loopback test server that does not print the handshakes its clients refuse."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that refuses the certificate ends its handshake: expected here
