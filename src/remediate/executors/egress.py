"""Where a webhook may connect: the hosts its ActionType allows, checked after resolution.

A rendered URL is parsed once, here, and the call is built from these parts only (no
second parser to disagree). Its host must be listed in `allowedHosts` (an exact name, or
`*.example.com` for the names under example.com; none listed, none reached) before it is
even resolved, so a requester's value cannot make the runner look names up either. Every
address it resolves to must then be public: loopback, private, link-local, unspecified,
multicast, reserved, shared (100.64/10) and cloud metadata addresses are refused, also
inside IPv6 (IPv4-mapped, NAT64, 6to4), unless the runner, not the repository, sets
REMEDIATE_WEBHOOK_ALLOW_PRIVATE=1. The checked addresses are the ones the call connects to.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from remediate.adapters.environment import ALLOW_PRIVATE_WEBHOOKS
from remediate.executors.base import ExecutorError
from remediate.executors.templates import is_template

if TYPE_CHECKING:
    from remediate.adapters.http import Target

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
_NAME = re.compile(rf"{_LABEL}(\.{_LABEL})*\.?")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# metadata and platform endpoints of cloud providers (most are link-local anyway)
_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, …
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.170.23",  # AWS EKS pod identity
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::23",  # AWS EKS pod identity over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure WireServer (a public address)
        "192.0.0.192",  # Oracle Cloud
    )
)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_SHARED = ipaddress.ip_network("100.64.0.0/10")


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """`host` is one of `allowed`: an exact name, or under the domain of a `*.` entry."""
    name = host.lower().removesuffix(".")
    for entry in allowed:
        entry = entry.lower()
        if entry.startswith("*."):
            if name.endswith(entry[1:]) and len(name) > len(entry) - 1:
                return True
        elif name == entry:
            return True
    return False


def target(
    url: str,
    allowed: Sequence[str],
    private_allowed: bool,
    resolve: Callable[[str, int], list[str]],
) -> Target:
    """The checked destination of `url`, or ExecutorError saying why it may not be reached."""
    scheme, host, port, path = _parse(url)
    if not host_allowed(host, allowed):
        listed = ", ".join(allowed) if allowed else "none are listed, so no host is reached"
        raise ExecutorError(f"webhook host {host!r} is not in allowedHosts ({listed})")
    try:
        addresses = resolve(host, port)
    except OSError as exc:
        raise ExecutorError(f"webhook host {host!r} does not resolve: {exc}") from None
    if not private_allowed:
        for address in addresses:
            problem = address_problem(address)
            if problem:
                raise ExecutorError(
                    f"webhook host {host!r} resolves to {address}, {problem}: refused unless "
                    f"the runner sets {ALLOW_PRIVATE_WEBHOOKS}=1"
                )
    from remediate.adapters.http import Target

    return Target(scheme, host, port, path, tuple(addresses))


def config_problems(config: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(key path, message, severity) of a webhook config that cannot work as written (for
    `validate`): no allowedHosts, a literal url host not among them, a Host header."""
    problems = []
    allowed = [str(h) for h in config.get("allowedHosts", [])]
    if not allowed:
        problems.append(
            (
                "allowedHosts" if "allowedHosts" in config else "",
                "no allowedHosts are listed, so this webhook reaches no host "
                "(list the names it calls, e.g. allowedHosts: [hooks.example.com])",
                "warning",
            )
        )
    url = str(config.get("url", ""))
    literal = url.split("{{")[0].split("{%")[0]
    if not is_template(url) or re.match(r"[a-z]+://[^/?#]*[/?#]", literal):
        try:
            host = _parse(literal if is_template(url) else url)[1]
        except ExecutorError as exc:
            return [*problems, ("url", str(exc).removeprefix("webhook "), "error")]
        if allowed and not host_allowed(host, allowed):
            listed = ", ".join(allowed)
            problems.append(("url", f"host {host!r} is not in allowedHosts ({listed})", "error"))
    if any(str(name).lower() == "host" for name in config.get("headers", {})):
        problems.append(
            ("headers", "a Host header is not allowed: the url names the host", "error")
        )
    return problems


def _parse(url: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ExecutorError(f"webhook url {url!r} is not valid: {exc}") from None
    if parts.scheme not in _DEFAULT_PORTS:
        raise ExecutorError(f"webhook url {url!r} must start with http:// or https://")
    if "@" in parts.netloc:
        raise ExecutorError(
            f"webhook url {url!r} holds user information (user@host): "
            "credentials belong in secretHeaders"
        )
    host = parts.hostname or ""
    if not _valid_host(host):
        raise ExecutorError(
            f"webhook url {url!r} has no valid host (an ASCII name, xn-- for other letters, "
            "or an IP address)"
        )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, host, port or _DEFAULT_PORTS[parts.scheme], path


def _valid_host(host: str) -> bool:
    if _NAME.fullmatch(host) and len(host) <= 254:
        return True
    try:
        ipaddress.ip_address(host)  # a bracketed IPv6 literal, brackets already removed
    except ValueError:
        return False
    return "%" not in host


def address_problem(address: str) -> str | None:
    """What kind of non-public address `address` is (a phrase), or None if it is public."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None and (ip.ipv4_mapped is not None or _in_nat64(ip)):
            return _problem(embedded)  # only the IPv4 address counts: that is where it goes
        if embedded is not None:
            return _problem(ip) or _problem(embedded)
    return _problem(ip)


def _problem(ip: Address) -> str | None:
    checks = (
        ("a cloud metadata address", ip in _METADATA),
        ("a loopback address", ip.is_loopback),
        ("an unspecified address", ip.is_unspecified),
        ("a link-local address", ip.is_link_local),
        ("a multicast address", ip.is_multicast),
        ("a reserved address", ip.is_reserved),
        ("a private address", ip.is_private),
        ("a site-local address", ip.version == 6 and ip.is_site_local),
        ("a shared (carrier-grade NAT) address", ip.version == 4 and ip in _SHARED),
        ("not a public address", not ip.is_global),
    )
    return next((phrase for phrase, found in checks if found), None)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if _in_nat64(ip) or int(ip) >> 32 == 0:  # NAT64, or IPv4-compatible (::a.b.c.d)
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _in_nat64(ip: ipaddress.IPv6Address) -> bool:
    return any(ip in network for network in _NAT64)
