"""The `acme` executor: issue or renew a certificate through ACME (RFC 8555).

One run, in order:

1. **Resume**: a `<certificate>.order.json` beside the certificate records the order of
   a run that did not finish (written right after the order was created, before any
   challenge or finalize). Its order is taken up again (its authorizations answered,
   finalized, or only downloaded if already valid) with the key written before it, so a
   re-run after a crash never orders a second certificate for the same attempt.
2. **Still valid**: else, when the certificate on disk covers every domain and stays
   valid for longer than `renewBefore` (default: a third of its lifetime), nothing is
   issued ("still valid until …").
3. **Issue**: a new key (written 0600 beside `key`, as `<key>.pending`), an order
   (recorded), challenges published under `webroot` or by the `hook`, finalize, then the
   certificate and the key are each replaced in one rename.

Hooks are argv (never a shell), rendered from the request's data like a command's; what
the ACME server says (domain, token, validation) reaches them as environment variables
(ACME_*), never inside argv. The account key comes from `accountKey` (created 0600 if it
does not exist) or from the variable `accountKeyEnv` names (the runner must allow it).
The result records serial, not-after, issuer and the order URL: never key material.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

from remediate.executors import certificates as certs
from remediate.executors.acme_config import Config, prepare
from remediate.executors.base import (
    ExecutionContext,
    ExecutionResult,
    ExecutorError,
    Redactor,
    ambient_secrets,
)

HOOK_TIMEOUT = 120.0  # seconds, within the action's own timeout


class AcmeExecutor:
    def run(self, context: ExecutionContext) -> ExecutionResult:
        secrets = ambient_secrets(context.environment)
        try:
            config = prepare(context)
        except ExecutorError as exc:
            return ExecutionResult(False, {}, Redactor(secrets)(str(exc)))
        details: dict[str, Any] = {
            "directory": config.directory,
            "domains": list(config.domains),
            "challenge": config.challenge,
            "certificate": str(config.certificate),
        }
        run = _Run(context, config, details, secrets)
        try:
            return run.go()
        except ExecutorError as exc:
            problem = getattr(exc, "problem", None)
            if problem:
                details["problem"] = problem
            return ExecutionResult(False, details, run.redact(str(exc)))
        except OSError as exc:  # a file that cannot be read or written
            return ExecutionResult(False, details, run.redact(f"{type(exc).__name__}: {exc}"))


class _Run:
    """One run of the executor: its configuration, secrets and growing details."""

    def __init__(
        self,
        context: ExecutionContext,
        config: Config,
        details: dict[str, Any],
        secrets: list[str],
    ) -> None:
        self.context, self.config, self.details = context, config, details
        self.secrets = secrets
        self.redact = Redactor(secrets)
        self.deadline = time.monotonic() + context.action.timeout.total_seconds()
        self.hook_runs: list[dict[str, Any]] = []

    def _secret(self, pem: bytes) -> None:
        """Key material, redacted from anything a hook or a server prints."""
        text = pem.decode()
        body = "".join(line for line in text.splitlines() if not line.startswith("-----"))
        self.secrets += [text, text.strip(), body]
        self.redact = Redactor(self.secrets)

    def go(self) -> ExecutionResult:
        # one run per certificate path at a time: two requests sharing it (on different
        # targets, so no target lock orders them) would each find no order record and no
        # certificate, and each order one; the second now waits, then finds the first's
        # certificate still valid (or its unfinished order to resume)
        with _certificate_lock(self.config.certificate, self.deadline) as waited:
            if waited:
                self.details["waitedForLock"] = round(waited, 3)
            return self._go()

    def _go(self) -> ExecutionResult:
        state = _read_state(self.config)
        if state is None:
            still = self._still_valid()
            if still is not None:
                return still
        from remediate.executors import acme_protocol as protocol

        session = protocol.connect(
            self.config.directory,
            self._account_key(),
            self.config.email,
            self.config.verify,
            self.deadline,
        )
        try:
            return self._issue(session, state)
        finally:
            self.details["stepRetries"] = session.retries
            if self.hook_runs:
                self.details["hooks"] = self.hook_runs

    def _still_valid(self) -> ExecutionResult | None:
        """A result without issuing, when the certificate on disk needs no renewal yet."""
        path = self.config.certificate
        if not path.exists():
            return None
        try:
            leaf = certs.read_chain(path, "certificate")[0]
        except ExecutorError:
            return None  # unreadable: replace it
        present = certs.names(leaf)
        if not all(certs.covers(present, d) for d in self.config.domains):
            self.details["renewalReason"] = "the certificate does not cover every domain"
            return None
        renew_before = self.config.renew_before or certs.lifetime(leaf) / 3
        renew_at = certs.not_after(leaf) - renew_before
        if certs.now() >= renew_at:
            self.details["renewalReason"] = f"renewal was due at {certs.iso(renew_at)}"
            return None
        summary = certs.summary(leaf)
        self.details.update(
            issued=False,
            serial=summary["serial"],
            notAfter=summary["notAfter"],
            issuer=summary["issuer"],
            renewAt=certs.iso(renew_at),
            message=f"still valid until {summary['notAfter']} (renewal due {certs.iso(renew_at)})",
        )
        return ExecutionResult(True, self.details)

    def _account_key(self) -> Any:
        config = self.config
        if config.account_key_env:
            value = self.context.environment.get(config.account_key_env, "")
            if not value:
                raise ExecutorError(f"accountKeyEnv: ${config.account_key_env} is not set")
            self._secret(value.encode())
            return certs.load_private_key(value.encode(), f"${config.account_key_env}")
        path = config.account_key
        assert path is not None
        if not path.exists():
            key = certs.new_private_key("EC-P256")
            certs.write_atomic(path, certs.private_pem(key), 0o600)
            self.details["accountKeyCreated"] = True
        data = certs.read_small(path, "accountKey")
        self._secret(data)
        return certs.load_private_key(data, f"accountKey {path}")

    def _issue(self, session: Any, state: dict[str, Any] | None) -> ExecutionResult:
        from remediate.executors import acme_protocol as protocol

        order = self._resumed(session, state) if state else None
        if order is None:
            key = certs.new_private_key(self.config.key_type)
            key_pem = certs.private_pem(key)
            self._secret(key_pem)
            certs.write_atomic(self.config.pending_key, key_pem, 0o600)
            order = protocol.new_order(session, _csr(key, self.config.domains))
            _write_state(self.config, str(order.uri))
        else:
            self.details["resumed"] = True
        self.details["orderUrl"] = str(order.uri)
        if _status(order) == "pending":
            self._authorize(session, order)
            order = session.order(str(order.uri), order.csr_pem)
        if _status(order) != "valid":
            order = protocol.finalize(session, order)
        return self._install(protocol.certificate_pem(session, order))

    def _resumed(self, session: Any, state: dict[str, Any]) -> Any:
        """The recorded order if it can still give the certificate (else None, and the
        record is dropped: an invalid or unknown order issued nothing)."""
        from remediate.executors import acme_protocol as protocol

        url = str(state["orderUrl"])
        key_path = self.config.pending_key
        if not key_path.exists():
            key_path = self.config.key
        try:
            key_pem = certs.read_small(key_path, "key")
            self._secret(key_pem)
            key = certs.load_private_key(key_pem, f"key {key_path}")
            order = session.order(url, _csr(key, self.config.domains))
        except protocol.StepFailed as exc:
            self.details["abandonedOrder"] = {"orderUrl": url, "why": str(exc)}
            self.config.state.unlink(missing_ok=True)
            return None
        except ExecutorError:
            self.config.state.unlink(missing_ok=True)
            return None
        if _status(order) in ("invalid", "expired", "deactivated", "revoked"):
            self.details["abandonedOrder"] = {"orderUrl": url, "status": _status(order)}
            self.config.state.unlink(missing_ok=True)
            return None
        return order

    def _authorize(self, session: Any, order: Any) -> None:
        from remediate.executors import acme_protocol as protocol

        for url in order.body.authorizations:
            authorization = session.authorization(str(url))
            if _status(authorization) == "valid":
                continue
            body, challenge = protocol.challenge_of(session, authorization, self.config.challenge)
            self._publish(challenge)
            try:
                if _status(body) == "pending":
                    protocol.answer(session, body)
                protocol.settled_authorization(session, str(url))
            finally:
                self._unpublish(challenge)

    def _publish(self, challenge: Any) -> None:
        if self.config.hook is None:
            target = self._challenge_file(challenge.token)
            target.parent.mkdir(parents=True, exist_ok=True)
            certs.write_atomic(target, challenge.key_authorization.encode(), 0o644)
            return
        done = self._hook("publish", challenge)
        if done["exitCode"] != 0:
            raise ExecutorError(
                f"hook (publish {challenge.kind} for {challenge.domain}) "
                + (done.get("error") or f"exited with status {done['exitCode']}")
            )

    def _unpublish(self, challenge: Any) -> None:
        if self.config.hook is None:
            with contextlib.suppress(OSError):
                self._challenge_file(challenge.token).unlink()
            return
        self._hook("cleanup", challenge)  # recorded; a failed cleanup fails nothing

    def _challenge_file(self, token: str) -> Path:
        assert self.config.webroot is not None
        if not all(c.isalnum() or c in "-_" for c in token) or not token.isascii():
            raise ExecutorError(f"the ACME server sent a token that is not base64url: {token!r}")
        return self.config.webroot / ".well-known" / "acme-challenge" / token

    def _hook(self, phase: str, challenge: Any) -> dict[str, Any]:
        assert self.config.hook is not None
        source = self.context.environment
        env = {k: source[k] for k in self.context.allowed_environment if k in source}
        passed = {k: source[k] for k in self.config.pass_env if k in source}
        env.update(passed)
        self.redact = Redactor([*self.secrets, *passed.values()])
        env.update(
            ACME_PHASE=phase,
            ACME_CHALLENGE=challenge.kind,
            ACME_DOMAIN=challenge.domain,
            ACME_TOKEN=challenge.token,
            ACME_KEY_AUTHORIZATION=challenge.key_authorization,
            ACME_VALIDATION=challenge.validation,
            ACME_RECORD_NAME=challenge.record,
        )
        left = max(1.0, min(HOOK_TIMEOUT, self.deadline - time.monotonic()))
        done = self.context.processes.run(
            self.config.hook, env, str(self.context.root.resolve()), left
        )
        record: dict[str, Any] = {
            "phase": phase,
            "domain": challenge.domain,
            "exitCode": done.returncode,
            "stdout": self.redact.output(done.stdout, cut_start=done.stdout_cut),
            "stderr": self.redact.output(done.stderr, cut_start=done.stderr_cut),
        }
        if done.error or done.timed_out:
            record["error"] = self.redact(done.error or f"timed out after {left:g}s")
            record["exitCode"] = record["exitCode"] if record["exitCode"] is not None else -1
        self.hook_runs.append(record)
        return record

    def _install(self, chain_pem: bytes) -> ExecutionResult:
        """Check what the server issued against the key and domains, then put it in place."""
        config = self.config
        chain = certs.load_chain(chain_pem, "the certificate the ACME server returned")
        leaf = chain[0]
        key_path = config.pending_key if config.pending_key.exists() else config.key
        key = certs.load_private_key(certs.read_small(key_path, "key"), f"key {key_path}")
        if not certs.same_key(leaf, key):
            raise ExecutorError(f"the issued certificate is not for the key at {key_path}")
        missing = [d for d in config.domains if not certs.covers(certs.names(leaf), d)]
        if missing:
            raise ExecutorError(f"the issued certificate does not cover {', '.join(missing)}")
        try:
            certs.write_atomic(config.certificate, certs.pem(chain), 0o644)
            if key_path == config.pending_key:
                config.key.parent.mkdir(parents=True, exist_ok=True)
                config.pending_key.replace(config.key)
        except OSError as exc:  # the order record stays: the next run installs, not issues
            raise ExecutorError(
                f"the certificate was issued but cannot be installed at {config.certificate}: "
                f"{exc.strerror or exc}; the next run installs it from order {self.details['orderUrl']}"
            ) from None
        config.state.unlink(missing_ok=True)
        summary = certs.summary(leaf)
        self.details.update(
            issued=True,
            serial=summary["serial"],
            notBefore=summary["notBefore"],
            notAfter=summary["notAfter"],
            issuer=summary["issuer"],
            names=summary["names"],
            sha256=summary["sha256"],
            message=f"issued serial {summary['serial']}, valid until {summary['notAfter']}",
        )
        return ExecutionResult(True, self.details)


def _status(resource: Any) -> str:
    """`pending`, `valid`, …: the status of an order, authorization or challenge body."""
    status = getattr(resource, "body", resource).status
    return str(getattr(status, "name", status))


def _csr(key: Any, domains: tuple[str, ...]) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domains[0])])
        if len(domains[0]) <= 64
        else x509.Name([])
    )
    builder = builder.add_extension(
        x509.SubjectAlternativeName([x509.DNSName(d) for d in domains]), critical=False
    )
    algorithm = None if certs.key_type(key) == "Ed25519" else hashes.SHA256()
    return bytes(builder.sign(key, algorithm).public_bytes(serialization.Encoding.PEM))


LOCK_SUFFIX = ".lock"
LOCK_POLL = 0.05  # seconds between attempts while another run holds the lock


@contextlib.contextmanager
def _certificate_lock(certificate: Path, deadline: float) -> Any:
    """An exclusive `flock` on `<certificate>.lock` (created 0600 beside it) for the whole
    run, waited for until the action's deadline (ExecutorError then: nothing was done).
    The kernel drops it when the runner dies, so a crash leaves no stale lock."""
    import fcntl
    import os

    path = certificate.with_name(certificate.name + LOCK_SUFFIX)
    path.parent.mkdir(parents=True, exist_ok=True)  # as the certificate's own write does
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    start = time.monotonic()
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() + LOCK_POLL >= deadline:
                    raise ExecutorError(
                        f"another run holds {path} (issuing this certificate) past this "
                        "action's timeout; nothing was done"
                    ) from None
                time.sleep(LOCK_POLL)
        yield time.monotonic() - start if time.monotonic() - start > LOCK_POLL else 0.0
    finally:
        os.close(fd)  # releases the lock


def _read_state(config: Config) -> dict[str, Any] | None:
    """The unfinished order recorded for this certificate, if it is for these domains."""
    try:
        state = json.loads(certs.read_small(config.state, "order record"))
    except (ExecutorError, ValueError):
        return None
    if not isinstance(state, dict) or not isinstance(state.get("orderUrl"), str):
        return None
    if sorted(state.get("domains", [])) != sorted(config.domains):
        return None
    return state


def _write_state(config: Config, order_url: str) -> None:
    record = {"orderUrl": order_url, "domains": list(config.domains), "at": certs.iso(certs.now())}
    certs.write_atomic(config.state, json.dumps(record, indent=2).encode() + b"\n", 0o644)
