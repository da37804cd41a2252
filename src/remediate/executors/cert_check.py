"""The `cert_check` executor: a certificate, from a PEM file or a live TLS endpoint,
against a policy (the seed's "Venafi checks").

Checks, each reported with its value whether it passes or not:

- `minDaysRemaining` (always applied, default 0: an expired certificate fails),
- `keyTypes` (`RSA-2048`, `EC-P256`, …: the leaf's public key),
- `signatureAlgorithms` (OpenSSL's names: `sha256WithRSAEncryption`, `ecdsa-with-SHA256`),
- `requiredNames` (each must be covered by a SAN; a wildcard covers one label),
- `allowedIssuers` (the issuer's RFC 4514 name, or its CN alone),
- `verifyChain` (to a root of `caBundle`, or of the system's store: for a file with
  `cryptography`'s verifier over the file's own intermediates, for an endpoint with a
  second, verifying handshake over the chain the server sends).

A live endpoint is reached under the webhook's egress rules (`executors.egress`): its host
must be in `allowedHosts` (none listed, none reached) and every address it resolves to must
be public unless the runner sets REMEDIATE_WEBHOOK_ALLOW_PRIVATE=1; the checked address is
the one connected to.
"""

from __future__ import annotations

import ssl
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography import x509

from remediate.adapters import environment, http, tls
from remediate.adapters.environment import ALLOW_PRIVATE_WEBHOOKS
from remediate.core.duration import parse_duration
from remediate.executors import certificates as certs
from remediate.executors.base import (
    ExecutionContext,
    ExecutionResult,
    ExecutorError,
    Redactor,
    ambient_secrets,
    refuse_characters,
    render,
    template_data,
)
from remediate.executors.egress import address_problem, host_allowed
from remediate.executors.tls_config import cert_check_problems

Check = dict[str, Any]


class CertCheckExecutor:
    def run(self, context: ExecutionContext) -> ExecutionResult:
        redact = Redactor(ambient_secrets(context.environment))
        config: dict[str, Any] = dict(context.action.config)
        data = template_data(context.request)
        details: dict[str, Any] = {}
        try:
            problems = [m for _, m, s in cert_check_problems(config) if s == "error"]
            if problems:
                raise ExecutorError(problems[0])
            source = render(dict(config["source"]), data)
            policy = render(dict(config["policy"]), data)
            chain, verified, details["source"] = _fetch(context, source, policy)
        except ExecutorError as exc:
            return ExecutionResult(False, details, redact(str(exc)))
        leaf = chain[0]
        details["certificate"] = certs.summary(leaf)
        checks = evaluate(leaf, chain, policy, certs.now(), verified)
        details["checks"] = checks
        failed = [c for c in checks if not c["ok"]]
        details["failed"] = [c["check"] for c in failed]
        if not failed:
            return ExecutionResult(True, details)
        why = "; ".join(f"{c['check']}: {c['message']}" for c in failed)
        return ExecutionResult(False, details, f"{len(failed)} check(s) failed: {why}")


def _fetch(
    context: ExecutionContext, source: dict[str, Any], policy: dict[str, Any]
) -> tuple[list[x509.Certificate], tuple[bool, str | None] | None, dict[str, Any]]:
    """The chain (leaf first), the endpoint's own verification when there is one, and what
    to record about the source."""
    ca_file = _path(context, "caBundle", source.get("caBundle")) if "caBundle" in source else None
    verify = policy.get("verifyChain") is True
    if "file" in source:
        path = _path(context, "file", source["file"])
        chain = certs.read_chain(path, "file")
        verified = _verify_file(chain, _roots(ca_file), certs.now()) if verify else None
        return chain, verified, {"file": str(path)}
    host = refuse_characters("host", str(source["host"]).strip(), "\x00/@ \t\r\n")
    port = int(source.get("port", 443))
    server_name = str(source.get("serverName") or host)
    allowed = [str(h) for h in source.get("allowedHosts", [])]
    if not host_allowed(host, allowed):
        listed = ", ".join(allowed) if allowed else "none are listed, so no host is reached"
        raise ExecutorError(f"host {host!r} is not in allowedHosts ({listed})")
    addresses = _addresses(context, host, port)
    timeout = parse_duration(str(source.get("timeout", "10s"))).total_seconds()
    timeout = min(timeout, context.action.timeout.total_seconds())
    cafile = str(ca_file) if ca_file is not None else None
    try:
        done = tls.handshake(addresses, port, server_name, timeout, verify, cafile)
    except (OSError, ssl.SSLError) as exc:
        raise ExecutorError(f"TLS handshake with {host}:{port} failed: {exc}") from None
    recorded = {"host": host, "port": port, "serverName": server_name, "address": done.address}
    recorded["tlsVersion"] = done.version
    verified = (bool(done.verified), done.verify_error) if verify else None
    return [x509.load_der_x509_certificate(done.leaf)], verified, recorded


def _addresses(context: ExecutionContext, host: str, port: int) -> tuple[str, ...]:
    try:
        found = http.resolve(host, port)
    except OSError as exc:
        raise ExecutorError(f"host {host!r} does not resolve: {exc}") from None
    if not environment.webhooks_may_reach_private(context.environment):
        for address in found:
            problem = address_problem(address)
            if problem:
                raise ExecutorError(
                    f"host {host!r} resolves to {address}, {problem}: refused unless the "
                    f"runner sets {ALLOW_PRIVATE_WEBHOOKS}=1"
                )
    return tuple(found)


def _path(context: ExecutionContext, key: str, value: Any) -> Path:
    text = refuse_characters(key, str(value))
    if not text or ".." in PurePosixPath(text).parts:
        raise ExecutorError(f"{key} {text!r} may not be empty or contain a '..' component")
    path = Path(text)
    return path if path.is_absolute() else context.root / path


def evaluate(
    leaf: x509.Certificate,
    chain: list[x509.Certificate],
    policy: dict[str, Any],
    now: datetime,
    verified: tuple[bool, str | None] | None,
) -> list[Check]:
    """Every check of `policy` on `leaf`, in a fixed order, each with its value."""
    checks = [_days(leaf, int(policy.get("minDaysRemaining", 0)), now)]
    if "keyTypes" in policy:
        kind = certs.key_type(leaf.public_key())
        wanted = [str(k) for k in policy["keyTypes"]]
        checks.append(_check("keyTypes", kind in wanted, kind, wanted,
                             f"{kind} is not one of {', '.join(wanted)}"))  # fmt: skip
    if "signatureAlgorithms" in policy:
        algorithm = certs.signature_algorithm(leaf)
        wanted = [str(a) for a in policy["signatureAlgorithms"]]
        ok = algorithm.lower() in {a.lower() for a in wanted}
        checks.append(_check("signatureAlgorithms", ok, algorithm, wanted,
                             f"{algorithm} is not one of {', '.join(wanted)}"))  # fmt: skip
    if "requiredNames" in policy:
        present = certs.names(leaf)
        wanted = [str(n) for n in policy["requiredNames"]]
        missing = [n for n in wanted if not certs.covers(present, n)]
        checks.append(_check("requiredNames", not missing, present, wanted,
                             f"not covered: {', '.join(missing)}"))  # fmt: skip
    if "allowedIssuers" in policy:
        issuer = leaf.issuer.rfc4514_string()
        wanted = [str(i) for i in policy["allowedIssuers"]]
        ok = _issuer_allowed(leaf, wanted)
        checks.append(_check("allowedIssuers", ok, issuer, wanted,
                             f"issuer {issuer} is not allowed"))  # fmt: skip
    if policy.get("verifyChain") is True:
        ok, why = verified if verified is not None else (False, "not verified")
        checks.append(_check("verifyChain", ok, "verified" if ok else why, True,
                             f"the chain does not verify: {why}"))  # fmt: skip
    return checks


def _check(name: str, ok: bool, value: Any, expected: Any, message: str) -> Check:
    found: Check = {"check": name, "ok": ok, "value": value, "expected": expected}
    if not ok:
        found["message"] = message
    return found


def _days(leaf: x509.Certificate, minimum: int, now: datetime) -> Check:
    left = (certs.not_after(leaf) - now).total_seconds() / 86400
    days = int(left)  # whole days, toward zero: expired a day ago is -1
    if left < 0:
        message = f"expired at {certs.iso(certs.not_after(leaf))}"
    else:
        message = f"{days} days remaining, needs at least {minimum}"
    ok = left >= minimum and left > 0 and leaf.not_valid_before_utc <= now
    if leaf.not_valid_before_utc > now:
        message = f"not valid before {certs.iso(leaf.not_valid_before_utc)}"
    return _check("minDaysRemaining", ok, days, minimum, message)


def _issuer_allowed(leaf: x509.Certificate, wanted: list[str]) -> bool:
    issuer = leaf.issuer.rfc4514_string()
    names = {_normal(issuer)}
    names.update(_normal(str(a.value)) for a in leaf.issuer.get_attributes_for_oid(_CN))
    return any(_matches(w, names) for w in wanted)


def _matches(pattern: str, names: set[str]) -> bool:
    """`pattern` (a name, `*` standing for any text) matches one of `names`."""
    from fnmatch import fnmatchcase

    wanted = _normal(pattern)
    return any(fnmatchcase(name, wanted) if "*" in wanted else name == wanted for name in names)


def _normal(text: str) -> str:
    return ",".join(part.strip() for part in text.split(",")).casefold()


_CN = x509.oid.NameOID.COMMON_NAME


def _roots(ca_file: Path | None) -> list[x509.Certificate]:
    """The trusted roots: the caBundle's, else the system's store (OpenSSL's CA file)."""
    if ca_file is not None:
        return certs.read_chain(ca_file, "caBundle")
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and Path(candidate).is_file():
            return certs.read_chain(Path(candidate), "the system's CA file")
    return []


def _verify_file(
    chain: list[x509.Certificate], roots: list[x509.Certificate], now: datetime
) -> tuple[bool, str | None]:
    """Whether a file's chain (leaf first, then its intermediates) verifies to `roots`."""
    import ipaddress

    from cryptography.x509 import verification

    if not roots:
        return False, "no trusted roots (set source.caBundle)"
    names = certs.names(chain[0])
    if not names:
        return False, "the certificate has no subjectAltName to verify it for"
    subject: x509.DNSName | x509.IPAddress
    try:
        subject = x509.IPAddress(ipaddress.ip_address(names[0]))
    except ValueError:  # verified for its own first name: names are requiredNames' check
        subject = x509.DNSName(names[0].replace("*.", "wildcard.", 1))
    builder = verification.PolicyBuilder().store(verification.Store(roots)).time(now)
    try:
        builder.build_server_verifier(subject).verify(chain[0], chain[1:])
    except verification.VerificationError as exc:
        return False, str(exc)
    return True, None
