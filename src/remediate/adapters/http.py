"""The one module that speaks HTTP for actions (webhooks), with the standard library."""

from __future__ import annotations

import http.client
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

MAX_BODY = 1 << 20


@dataclass(frozen=True)
class Response:
    status: int | None  # None: no response
    body: bytes
    sent: bool  # False only when the request certainly never reached the server
    error: str | None = None
    cut: bool = False  # the body was longer than MAX_BODY: its end is cut


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a redirect could carry secret headers elsewhere: report it instead


_OPENER = urllib.request.build_opener(_NoRedirect)


def send(
    method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float
) -> Response:
    """One HTTP request, no retries, no redirects."""
    try:
        request = urllib.request.Request(url, data=body, method=method, headers=dict(headers))
    except ValueError as exc:  # not a URL: nothing was sent
        return Response(None, b"", False, error=str(exc))
    try:
        with _OPENER.open(request, timeout=timeout) as reply:
            data = reply.read(MAX_BODY + 1)
            return Response(reply.status, data[:MAX_BODY], True, cut=len(data) > MAX_BODY)
    except urllib.error.HTTPError as exc:
        data = exc.read(MAX_BODY + 1) if exc.fp is not None else b""
        return Response(exc.code, data[:MAX_BODY], True, cut=len(data) > MAX_BODY)
    except urllib.error.URLError as exc:
        reason = exc.reason
        refused = isinstance(reason, ConnectionRefusedError | socket.gaierror)
        return Response(None, b"", not refused, error=str(reason))
    except http.client.InvalidURL as exc:  # refused before anything was sent
        return Response(None, b"", False, error=f"InvalidURL: {exc}")
    except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        return Response(None, b"", True, error=f"{type(exc).__name__}: {exc}")
