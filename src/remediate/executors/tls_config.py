"""What `validate` finds in `acme` and `cert_check` configurations beyond their schemas:
fields that only work together (a challenge and how it is published, one account key,
one source), literal domains and hosts, templates where none may be.

Kept light (no `cryptography`, no `acme`): `validate` imports it for every ActionType of
these executors. Each problem is (key path, message, severity); the executors refuse the
same errors at run time.
"""

from __future__ import annotations

import re
from typing import Any

from remediate.executors.templates import is_template

_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
DOMAIN = re.compile(rf"(\*\.)?{_LABEL}(\.{_LABEL})+|{_LABEL}")
Problem = tuple[str, str, str]


def acme_problems(config: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    if is_template(str(config.get("directory", ""))):
        problems.append(
            ("directory", "may not be a template: the ActionType names the ACME server", "error")
        )
    challenge = config.get("challenge")
    has_webroot, has_hook = "webroot" in config, "hook" in config
    if challenge == "http-01" and has_webroot == has_hook:
        problems.append(
            ("challenge", "http-01 needs exactly one of webroot (files) or hook (an argv)", "error")
        )
    if challenge == "dns-01" and (has_webroot or not has_hook):
        problems.append(
            ("challenge", "dns-01 needs a hook (an argv that sets the TXT record), no webroot",
             "error")
        )  # fmt: skip
    if ("accountKey" in config) == ("accountKeyEnv" in config):
        problems.append(
            ("", "needs exactly one of accountKey (a path) or accountKeyEnv (a variable name)",
             "error")
        )  # fmt: skip
    for i, domain in enumerate(config.get("domains", [])):
        text = str(domain)
        if is_template(text):
            continue
        name = text.lower().rstrip(".")
        if not DOMAIN.fullmatch(name) or len(name) > 253:
            problems.append((f"domains[{i}]", f"{text!r} is not a DNS name", "error"))
        elif challenge == "http-01" and name.startswith("*."):
            problems.append(
                (f"domains[{i}]", "a wildcard domain can only be validated by dns-01", "error")
            )
    return problems


def cert_check_problems(config: dict[str, Any]) -> list[Problem]:
    from remediate.executors.egress import host_allowed

    source = dict(config.get("source") or {})
    problems: list[Problem] = []
    if ("file" in source) == ("host" in source):
        problems.append(
            ("source", "needs exactly one of file (a PEM path) or host (a TLS endpoint)", "error")
        )
        return problems
    if "file" in source:
        extra = sorted(set(source) & {"port", "serverName", "allowedHosts"})
        if extra:
            problems.append(
                ("source", f"{', '.join(extra)} only apply to a host, not to a file", "error")
            )
        return problems
    allowed = [str(h) for h in source.get("allowedHosts", [])]
    if not allowed:
        problems.append(
            (
                "source.allowedHosts" if "allowedHosts" in source else "source",
                "no allowedHosts are listed, so this check reaches no host "
                "(list the names it connects to, e.g. allowedHosts: [api.example.com])",
                "warning",
            )
        )
    host = str(source["host"])
    if allowed and not is_template(host) and not host_allowed(host, allowed):
        problems.append(
            ("source.host", f"host {host!r} is not in allowedHosts ({', '.join(allowed)})", "error")
        )
    return problems
