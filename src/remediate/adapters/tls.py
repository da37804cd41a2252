"""The one module that opens TLS connections for actions (`cert_check`), with the standard
library.

Like `adapters.http`, it connects to an address its caller resolved and checked, never
resolving the name again; the name goes only in SNI. It reads the endpoint's
certificate from a handshake that trusts nothing (the certificate is what is being
inspected, and nothing is sent over the connection), and, when asked, judges the chain
with a second handshake that verifies it against a CA file (hostname aside: names are a
check of their own).
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass

HANDSHAKE_ATTEMPTS = 2


@dataclass(frozen=True)
class Handshake:
    leaf: bytes  # DER
    address: str
    version: str | None
    verified: bool | None = None  # None: not asked
    verify_error: str | None = None


def _connect(
    address: str, port: int, server_name: str | None, context: ssl.SSLContext, timeout: float
) -> ssl.SSLSocket:
    raw = socket.create_connection((address, port), timeout)
    try:
        return context.wrap_socket(raw, server_hostname=server_name or None)
    except BaseException:
        raw.close()
        raise


def handshake(
    addresses: tuple[str, ...],
    port: int,
    server_name: str,
    timeout: float,
    verify: bool,
    ca_file: str | None,
) -> Handshake:
    """The endpoint's leaf certificate, from the first checked address that answers
    (OSError or ssl.SSLError if none does); with `verify`, whether its chain verifies."""
    inspect = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    inspect.check_hostname = False
    inspect.verify_mode = ssl.CERT_NONE  # reads the certificate; trusts and sends nothing
    last: OSError | None = None
    for address in addresses:
        try:
            with _connect(address, port, _sni(server_name), inspect, timeout) as tls:
                leaf = tls.getpeercert(binary_form=True)
                version = tls.version()
        except OSError as exc:
            last = exc
            continue
        if not leaf:
            raise ssl.SSLError("the endpoint sent no certificate")
        if not verify:
            return Handshake(leaf, address, version)
        verified, why = _verify(address, port, server_name, timeout, ca_file)
        return Handshake(leaf, address, version, verified, why)
    assert last is not None
    raise last


def _verify(
    address: str, port: int, server_name: str, timeout: float, ca_file: str | None
) -> tuple[bool, str | None]:
    context = ssl.create_default_context(cafile=ca_file)
    context.check_hostname = False  # requiredNames is the names' check
    context.verify_mode = ssl.CERT_REQUIRED
    try:
        with _connect(address, port, _sni(server_name), context, timeout):
            return True, None
    except ssl.SSLCertVerificationError as exc:
        return False, str(exc.verify_message or exc.reason or exc)


def _sni(name: str) -> str | None:
    """SNI carries names, never IP literals (RFC 6066)."""
    import ipaddress

    try:
        ipaddress.ip_address(name)
    except ValueError:
        return name
    return None
