"""The one module that speaks HTTP for actions (webhooks), with the standard library.

A call goes to addresses its caller resolved (`resolve`) and checked: `send` connects to
those addresses, never resolving the name again, so what was checked is what is reached
(no DNS rebinding between the check and the connection). The name still goes in the
Host header and, over TLS, in SNI and the certificate check. No redirects are followed
and no proxy is used: either would send the call somewhere that was not checked.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass

MAX_BODY = 1 << 20


@dataclass(frozen=True)
class Target:
    """Where one call goes: the URL's parts, and the checked addresses of its host."""

    scheme: str  # http | https
    host: str  # the name (or IP literal) of the URL, without brackets
    port: int
    path: str  # path and query, as sent in the request line
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class Response:
    status: int | None  # None: no response
    body: bytes
    sent: bool  # False only when the request certainly never reached the server
    error: str | None = None
    cut: bool = False  # the body was longer than MAX_BODY: its end is cut
    address: str | None = None  # the address the call was sent to


def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, in the system's order (OSError if none)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _Pinned(http.client.HTTPConnection):
    """Connects to `address`; the Host header names `host`."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedTLS(http.client.HTTPSConnection):
    """Connects to `address`; SNI, the certificate check and the Host header use `host`."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        self.tls = ssl.create_default_context()  # verified, with the system's CAs
        super().__init__(host, port, timeout=timeout, context=self.tls)
        self.address = address

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        try:
            self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise


def send(
    method: str, target: Target, headers: Mapping[str, str], body: bytes | None, timeout: float
) -> Response:
    """One HTTP request to the first of `target.addresses` that accepts a connection within
    `timeout` (for all of them together); no retries, no redirects."""
    errors = []
    deadline = time.monotonic() + timeout
    for address in target.addresses:
        left = deadline - time.monotonic()
        if left <= 0:
            errors.append(f"{address}: not tried, the timeout was spent")
            break
        kind = _PinnedTLS if target.scheme == "https" else _Pinned
        connection = kind(target.host, target.port, address, left)
        try:
            connection.connect()
        except (OSError, ssl.SSLError) as exc:  # nothing was sent: the next address may do
            connection.close()
            errors.append(f"{address}: {_describe(exc)}")
            continue
        try:
            return _exchange(connection, method, target.path, headers, body, address)
        finally:
            connection.close()
    return Response(None, b"", False, error="; ".join(errors) or "no address to connect to")


def _exchange(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes | None,
    address: str,
) -> Response:
    try:
        connection.request(method, path, body=body, headers=dict(headers))
    except (http.client.InvalidURL, ValueError) as exc:  # refused before anything was sent
        return Response(None, b"", False, error=f"{type(exc).__name__}: {exc}", address=address)
    except (OSError, http.client.HTTPException) as exc:  # maybe (partly) sent: unknown
        return Response(None, b"", True, error=_describe(exc), address=address)
    try:
        reply = connection.getresponse()
    except (OSError, http.client.HTTPException) as exc:  # sent, no reply: unknown
        return Response(None, b"", True, error=_describe(exc), address=address)
    try:  # the status is known: a body that is not whole is only cut
        data = reply.read(MAX_BODY + 1)
        short = bool(reply.length)  # it promised more than it sent
    except http.client.IncompleteRead as exc:
        data, short = exc.partial, True
    except (OSError, http.client.HTTPException):
        data, short = b"", True
    cut = short or len(data) > MAX_BODY
    return Response(reply.status, data[:MAX_BODY], True, cut=cut, address=address)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
