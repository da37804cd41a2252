"""A real HTTP server on 127.0.0.1 for the webhook tests, and a way to call the executor."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from remediate.executors.webhook import WebhookExecutor
from tests.test_runner_executors import context, make_request

PRIVATE = {"REMEDIATE_WEBHOOK_ALLOW_PRIVATE": "1"}
REPLY = b"INTERNAL-ONLY: db_password=hunter2-in-the-reply"
REFUSED_LOOPBACK = (
    "webhook host '127.0.0.1' resolves to 127.0.0.1, a loopback address: "
    "refused unless the runner sets REMEDIATE_WEBHOOK_ALLOW_PRIVATE=1"
)


class Endpoint(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, Any]]] = []
    status = 200
    mode = "reply"
    location = ""

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        Endpoint.seen.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers),
             "body": self.rfile.read(length).decode(), "peer": self.client_address[0]}
        )  # fmt: skip
        if Endpoint.mode == "hangup":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if Endpoint.mode == "slow":
            time.sleep(3)
        if Endpoint.mode == "short":  # promises more than it sends, then closes
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(REPLY)
            self.close_connection = True
            return
        body = REPLY * (3000 if Endpoint.mode == "big" else 1)
        self.send_response(Endpoint.status)
        if Endpoint.location:
            self.send_header("Location", Endpoint.location)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def serving(wrap: Any = None) -> Iterator[int]:
    """An Endpoint on 127.0.0.1 (its socket wrapped by `wrap`, e.g. for TLS): its port."""
    Endpoint.seen, Endpoint.status, Endpoint.mode, Endpoint.location = [], 200, "reply", ""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    if wrap is not None:
        httpd.socket = wrap(httpd.socket)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()


def call(config: dict[str, Any], env: dict[str, str] | None = None, **parameters: Any) -> Any:
    request = make_request(**parameters)
    return WebhookExecutor().run(context("webhook", config, env or {}, request=request))
