"""Headless Chromium (Debian `chromium`) for rendering checks, with no network: every
request the page makes would go to a recording proxy on loopback (and name resolution
is off), so a test can assert that none left."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import threading
import zlib
from pathlib import Path

import pytest


def chromium() -> str:
    """The browser, or a skip; under CI a missing browser fails (.ci/run installs it)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") or os.environ.get("REMEDIATE_REQUIRE_PEERS") == "1":
            pytest.fail("chromium is not installed (.ci/run installs the Debian package)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


class Recorder:
    """A TCP listener that records each connection (a request that tried to leave)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.seen: list[bytes] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    self.seen.append(conn.recv(4096))
                except OSError:
                    self.seen.append(b"")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.sock.close()


def screenshot(page: Path, out: Path, size: str = "1000,1800") -> list[bytes]:
    """Render `page` to the PNG `out`; the requests that tried to leave it."""
    recorder = Recorder()
    try:
        done = subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-pings",
                "--disable-domain-reliability",
                f"--user-data-dir={out.parent / 'chromium-profile'}",
                f"--proxy-server=http://127.0.0.1:{recorder.port}",
                "--proxy-bypass-list=<-loopback>",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                f"--window-size={size}",
                f"--screenshot={out}",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.exists(), done.stderr[-2000:]
    finally:
        recorder.close()
    return [r for r in recorder.seen if _host(r) not in BROWSER_OWN]


# What Chromium itself asks for at start (component updates, its clock, accounts), never
# the page: a page's font, script or image comes from any other host (fonts.googleapis.com
# included), and is reported.
BROWSER_OWN = {
    "clients2.google.com",
    "update.googleapis.com",
    "redirector.gvt1.com",
    "accounts.google.com",
    "optimizationguide-pa.googleapis.com",
}


def _host(request: bytes) -> str:
    for line in request.decode("latin-1").split("\r\n")[1:]:
        if line.lower().startswith("host:"):
            return line.split(":", 1)[1].strip().rsplit(":", 1)[0]
    return ""


def pixels(png: Path) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit, non-interlaced PNG."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    step = 3 if colour == 2 else 4
    raw, stride, rows, previous = zlib.decompress(idat), width * step, [], bytes(width * step)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for x in range(stride):
            left = line[x - step] if x >= step else 0
            up, corner = previous[x], previous[x - step] if x >= step else 0
            if kind == 1:
                line[x] = (line[x] + left) & 255
            elif kind == 2:
                line[x] = (line[x] + up) & 255
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[x] = (
                    line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)
                ) & 255
        rows.append(bytes(line))
        previous = bytes(line)
    return width, height, rows


def ink(png: Path) -> tuple[float, set[tuple[int, int, int]]]:
    """The share of pixels that are not white, and the colours seen (sampled)."""
    width, _, rows = pixels(png)
    step = len(rows[0]) // width
    coloured, colours, total = 0, set(), 0
    for row in rows[::4]:
        for x in range(0, width, 4):
            r, g, b = row[x * step], row[x * step + 1], row[x * step + 2]
            total += 1
            colours.add((r, g, b))
            if (r, g, b) != (255, 255, 255):
                coloured += 1
    return coloured / max(total, 1), colours
