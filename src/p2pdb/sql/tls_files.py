"""The MySQL listener's TLS certificate: generated in the data directory, or given with options.

On first use :func:`load_or_create_tls` writes a private CA (``mysql-ca.pem``, its key
``mysql-ca-key.pem``) and a server certificate signed by it (``mysql-server-cert.pem``,
``mysql-server-key.pem``; keys mode 0600) for ``localhost``, the loopback addresses and the listen
address, valid ten years. Clients that verify the server (``mariadb --ssl-verify-server-cert
--ssl-ca=<data-dir>/mysql-ca.pem``) trust that CA. ``--mysql-ssl-cert``/``--mysql-ssl-key`` use a
certificate of your own instead.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CA_CERT = "mysql-ca.pem"
CA_KEY = "mysql-ca-key.pem"
SERVER_CERT = "mysql-server-cert.pem"
SERVER_KEY = "mysql-server-key.pem"
_VALID = datetime.timedelta(days=3650)


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    tmp.replace(path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _names(host: str) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    addresses = {"127.0.0.1", "::1"}
    if host not in ("", "0.0.0.0", "::"):
        addresses.add(host)
    for address in sorted(addresses):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError:
            names.append(x509.DNSName(address))
    return names


def create_certificates(directory: Path, host: str, peer_id: str = "") -> None:
    """A CA and a server certificate signed by it, written to ``directory``."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"P2PDB MySQL CA {peer_id[-12:]}".strip())])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALID)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALID)
        .add_extension(x509.SubjectAlternativeName(_names(host)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    _write(directory / CA_KEY, _key_pem(ca_key), 0o600)
    _write(directory / SERVER_KEY, _key_pem(server_key), 0o600)
    _write(directory / CA_CERT, ca.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(directory / SERVER_CERT, server.public_bytes(serialization.Encoding.PEM), 0o644)


def load_or_create_tls(
    data_dir: Path, host: str, *, cert: Path | None = None, key: Path | None = None, peer_id: str = ""
) -> ssl.SSLContext:
    """The server-side TLS context: ``cert``/``key`` if given, else the data directory's generated ones
    (created now if missing). Raises OSError/ssl.SSLError for unreadable or mismatched files."""
    if cert is None or key is None:
        if cert is not None or key is not None:
            raise ValueError("give both --mysql-ssl-cert and --mysql-ssl-key, or neither")
        cert, key = data_dir / SERVER_CERT, data_dir / SERVER_KEY
        if not cert.exists() or not key.exists():
            create_certificates(data_dir, host, peer_id)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    return context
