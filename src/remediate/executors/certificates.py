"""What the `acme` and `cert_check` executors share: reading certificates (with
`cryptography`), naming their keys and signatures, name coverage, and atomic files.

Nothing here returns key material: a certificate is summarised by its serial, names,
issuer, dates and fingerprint; private keys are only ever written to files (0600).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import stat
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from remediate.executors.base import ExecutorError

KEY_TYPES = ("RSA-2048", "RSA-3072", "RSA-4096", "EC-P256", "EC-P384", "EC-P521", "Ed25519")
_CURVES = {"secp256r1": "EC-P256", "secp384r1": "EC-P384", "secp521r1": "EC-P521"}
MAX_PEM = 1 << 20  # a certificate file larger than this is not a certificate file


def key_type(key: Any) -> str:
    """`RSA-2048`, `EC-P256`, `Ed25519`, …: the vocabulary of `keyTypes` and `keyType`."""
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return _CURVES.get(key.curve.name, f"EC-{key.curve.name}")
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey | ed448.Ed448PrivateKey):
        return "Ed448"
    if isinstance(key, dsa.DSAPublicKey | dsa.DSAPrivateKey):
        return f"DSA-{key.key_size}"
    return type(key).__name__


def new_private_key(kind: str) -> Any:
    """A fresh private key of `kind` (one of KEY_TYPES)."""
    if kind.startswith("RSA-"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[4:]))
    if kind == "Ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    curves: dict[str, ec.EllipticCurve] = {
        "EC-P256": ec.SECP256R1(),
        "EC-P384": ec.SECP384R1(),
        "EC-P521": ec.SECP521R1(),
    }
    return ec.generate_private_key(curves[kind])


def private_pem(key: Any) -> bytes:
    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def load_private_key(data: bytes, where: str) -> Any:
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ExecutorError(f"{where} is not an unencrypted PEM private key: {exc}") from None


def same_key(certificate: x509.Certificate, key: Any) -> bool:
    """Whether `certificate` is for the private `key`."""
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return bool(
        certificate.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)
    )


def load_chain(data: bytes, where: str) -> list[x509.Certificate]:
    """The certificates of a PEM file, leaf first (ExecutorError if it holds none)."""
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError:
        chain = []
    if not chain:
        raise ExecutorError(f"{where} holds no PEM certificate")
    return chain


def read_chain(path: Path, where: str) -> list[x509.Certificate]:
    return load_chain(read_small(path, where), where)


def read_small(path: Path, where: str) -> bytes:
    """The bytes of a regular file of at most MAX_PEM bytes (ExecutorError otherwise);
    a FIFO or a device is never read (opened without blocking, checked, then read)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise ExecutorError(f"{where} {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ExecutorError(f"{where} {path} is not a regular file")
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_PEM + 1)
    if len(data) > MAX_PEM:
        raise ExecutorError(f"{where} {path} is larger than {MAX_PEM} bytes")
    return data


def names(certificate: x509.Certificate) -> list[str]:
    """The DNS names and IP addresses in the subjectAltName extension (none: empty)."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    found: list[str] = [str(n) for n in san.get_values_for_type(x509.DNSName)]
    found += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return found


def covers(certificate_names: Iterable[str], name: str) -> bool:
    """Whether a certificate with these SANs is valid for `name` (RFC 6125: a wildcard
    stands for exactly one whole left-most label)."""
    wanted = name.lower().rstrip(".")
    with contextlib.suppress(ValueError):
        address = ipaddress.ip_address(wanted)
        return any(_same_ip(n, address) for n in certificate_names)
    for entry in certificate_names:
        entry = entry.lower().rstrip(".")
        if entry == wanted:
            return True
        if entry.startswith("*.") and "." in wanted:
            label, rest = wanted.split(".", 1)
            if label and rest == entry[2:]:
                return True
    return False


def _same_ip(entry: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        return ipaddress.ip_address(entry) == address
    except ValueError:
        return False


def not_after(certificate: x509.Certificate) -> datetime:
    return certificate.not_valid_after_utc


def lifetime(certificate: x509.Certificate) -> timedelta:
    return certificate.not_valid_after_utc - certificate.not_valid_before_utc


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def serial(certificate: x509.Certificate) -> str:
    """The serial number as openssl prints it (upper-case hex)."""
    text = f"{certificate.serial_number:X}"
    return text if len(text) % 2 == 0 else "0" + text


def signature_algorithm(certificate: x509.Certificate) -> str:
    """`sha256WithRSAEncryption`, `ecdsa-with-SHA256`, `ed25519`, …: OpenSSL's names."""
    oid = certificate.signature_algorithm_oid
    return str(getattr(oid, "_name", None) or oid.dotted_string)


def summary(certificate: x509.Certificate) -> dict[str, Any]:
    """What may be recorded about a certificate: public facts, never key material."""
    return {
        "subject": certificate.subject.rfc4514_string(),
        "issuer": certificate.issuer.rfc4514_string(),
        "serial": serial(certificate),
        "notBefore": iso(certificate.not_valid_before_utc),
        "notAfter": iso(certificate.not_valid_after_utc),
        "names": names(certificate),
        "sha256": certificate.fingerprint(hashes.SHA256()).hex(),
    }


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Replace `path` by `data` in one rename, with `mode` from the first byte on (a key is
    never readable by others, not even while it is written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(handle, mode)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def pem(certificates: Iterable[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def now() -> datetime:
    return datetime.now(UTC)
