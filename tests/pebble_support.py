"""Real TLS peers on 127.0.0.1 for the certificate tests: Pebble and pebble-challtestsrv
(the Debian package `pebble`), a webroot HTTP server for HTTP-01, and certificates made
by openssl.

Pebble's listener certificate is made with openssl and its CA is the client's
`caBundle`: verification is never turned off. Pebble resolves every name through
challtestsrv's DNS (A → 127.0.0.1), so HTTP-01 reaches the webroot server here and DNS-01
reads the TXT records a hook sets through challtestsrv's management API. Without the
binaries a test skips, except under CI (`CI` set) or with REMEDIATE_REQUIRE_PEERS=1, where a
missing peer is a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

PEBBLE = shutil.which("pebble") or "/usr/bin/pebble"
CHALLTESTSRV = shutil.which("pebble-challtestsrv") or "/usr/bin/pebble-challtestsrv"


def require(*programs: str) -> None:
    """Skip (or, under CI, fail) when a peer program is not installed."""
    missing = [p for p in programs if not (shutil.which(p) or Path(p).exists())]
    if not missing:
        return
    why = f"{', '.join(missing)} not installed (Debian package: pebble / openssl)"
    if os.environ.get("CI") or os.environ.get("REMEDIATE_REQUIRE_PEERS") == "1":
        pytest.fail(f"a required test peer is missing under CI: {why}")
    pytest.skip(why)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(directory: Path, name: str = "Test Root CA") -> tuple[Path, Path]:
    """A self-signed CA (certificate, key) made by openssl."""
    directory.mkdir(parents=True, exist_ok=True)
    key, cert = directory / "ca.key", directory / "ca.pem"
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key.name, cwd=directory)
    openssl(
        "req", "-x509", "-new", "-key", key.name, "-out", cert.name, "-days", "30",
        "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory,
    )  # fmt: skip
    return cert, key


def make_leaf(
    directory: Path,
    ca: tuple[Path, Path],
    names: list[str],
    *,
    stem: str = "leaf",
    days: int = 30,
    key_spec: tuple[str, ...] = ("ec", "prime256v1"),
    digest: str = "sha256",
) -> tuple[Path, Path]:
    """A leaf certificate for `names` (DNS names or IPs) signed by `ca`, made by openssl."""
    key, csr, cert = directory / f"{stem}.key", directory / f"{stem}.csr", directory / f"{stem}.pem"
    if key_spec[0] == "ec":
        openssl(
            "ecparam", "-name", key_spec[1], "-genkey", "-noout", "-out", key.name, cwd=directory
        )
    else:
        openssl("genrsa", "-out", key.name, key_spec[1], cwd=directory)
    sans = ",".join(
        f"IP:{n}" if n.replace(".", "").isdigit() or ":" in n else f"DNS:{n}" for n in names
    )
    openssl(
        "req", "-new", "-key", key.name, "-out", csr.name, "-subj", f"/CN={names[0]}", cwd=directory
    )
    ext = directory / f"{stem}.ext"
    ext.write_text(f"subjectAltName={sans}\nbasicConstraints=CA:FALSE\n")
    openssl(
        "x509", "-req", "-in", csr.name, "-CA", str(ca[0]), "-CAkey", str(ca[1]),
        "-CAcreateserial", "-out", cert.name, "-days", str(days), f"-{digest}",
        "-extfile", ext.name, cwd=directory,
    )  # fmt: skip
    return cert, key


@dataclass
class Pebble:
    directory: str  # the ACME directory URL
    ca_bundle: Path  # the CA of Pebble's listener certificate
    management: str  # Pebble's management URL (roots, intermediates)
    challtestsrv: str  # challtestsrv's management URL (set-txt, clear-txt)
    webroot: Path  # what the HTTP-01 server on Pebble's httpPort serves
    log: Path  # Pebble's standard output: one line per request it handled

    def root_pem(self) -> str:
        """The root Pebble signs with (new on every start), from its management API."""
        context = ssl.create_default_context(cafile=str(self.ca_bundle))
        with urllib.request.urlopen(f"{self.management}/roots/0", context=context) as reply:
            return str(reply.read().decode())

    def new_orders(self) -> int:
        """How many orders Pebble has created so far (from its log: a request it refused,
        a rejected nonce, is logged as handled too, so requests are not counted)."""
        return self._count("Added order ")

    def issued(self) -> int:
        """How many certificates Pebble has issued so far."""
        return self._count("Issued certificate serial ")

    def _count(self, text: str) -> int:
        return sum(text in line for line in self.log.read_text().splitlines())

    def set_txt(self, host: str, value: str) -> None:
        body = json.dumps({"host": host, "value": value}).encode()
        urllib.request.urlopen(f"{self.challtestsrv}/set-txt", body).read()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def _webroot_server(root: Path, port: int) -> Iterator[None]:
    server = ThreadingHTTPServer(("127.0.0.1", port), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def _wait_for(url: str, context: ssl.SSLContext | None, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while True:
        try:
            urllib.request.urlopen(url, context=context, timeout=2).read()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up") from None
            time.sleep(0.05)


@contextlib.contextmanager
def pebble(tmp: Path, nonce_reject: int = 5) -> Iterator[Pebble]:
    """Pebble and challtestsrv on free loopback ports, torn down afterwards."""
    require(PEBBLE, CHALLTESTSRV, "openssl")
    tmp.mkdir(parents=True, exist_ok=True)
    ca = make_ca(tmp / "listener-ca", "Pebble listener test CA")
    listener = make_leaf(tmp / "listener-ca", ca, ["localhost", "127.0.0.1"], stem="listener")
    acme, mgmt, http01, dns, chall_mgmt = (free_port() for _ in range(5))
    config = tmp / "pebble-config.json"
    config.write_text(
        json.dumps(
            {
                "pebble": {
                    "listenAddress": f"127.0.0.1:{acme}",
                    "managementListenAddress": f"127.0.0.1:{mgmt}",
                    "certificate": str(listener[0]),
                    "privateKey": str(listener[1]),
                    "httpPort": http01,
                    "tlsPort": free_port(),
                    "ocspResponderURL": "",
                    "externalAccountBindingRequired": False,
                }
            }
        )
    )
    webroot = tmp / "webroot"
    webroot.mkdir()
    log = tmp / "pebble.log"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PEBBLE_VA_NOSLEEP": "1",  # else the VA waits up to 15 s before each validation
        "PEBBLE_WFE_NONCEREJECT": str(nonce_reject),
        "PEBBLE_AUTHZREUSE": "0",  # every order proves control afresh
    }
    chall = subprocess.Popen(
        [CHALLTESTSRV, "-http01", "", "-https01", "", "-tlsalpn01", "",
         "-dns01", f"127.0.0.1:{dns}", "-management", f"127.0.0.1:{chall_mgmt}",
         "-defaultIPv6", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    with log.open("wb") as out:
        server = subprocess.Popen(
            [PEBBLE, "-config", str(config), "-dnsserver", f"127.0.0.1:{dns}"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp,
        )  # fmt: skip
    try:
        context = ssl.create_default_context(cafile=str(ca[0]))
        _wait_for(f"https://127.0.0.1:{acme}/dir", context, server)
        _wait_for(f"http://127.0.0.1:{chall_mgmt}/", None, chall)
        with _webroot_server(webroot, http01):
            yield Pebble(
                directory=f"https://127.0.0.1:{acme}/dir",
                ca_bundle=ca[0],
                management=f"https://127.0.0.1:{mgmt}",
                challtestsrv=f"http://127.0.0.1:{chall_mgmt}",
                webroot=webroot,
                log=log,
            )
    finally:
        for process in (server, chall):
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
