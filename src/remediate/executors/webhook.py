"""The `webhook` executor: one HTTP call with a timeout and an Idempotency-Key.

It reaches only the hosts its `allowedHosts` lists, at public addresses unless the runner
allows others (`executors.egress`). Secrets are named by environment variable
(`secretHeaders`), never written in documents, and redacted from everything this executor
returns; the reply body is kept only with `recordResponse: true` (capped, redacted).

Outcomes: a call that certainly never reached the server (no connection) is tried again,
up to 3 times, all within its timeout. A call that may have reached it is an *unknown* outcome, never a definite
failure: no reply (lost, timed out) or a gateway's 502, 503 or 504, behind which the
application may have acted. A non-idempotent method (POST, PATCH) is then not repeated;
GET, PUT and DELETE are, within the same 3 attempts.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from remediate.adapters import environment, http
from remediate.core.duration import parse_duration
from remediate.executors import egress
from remediate.executors.base import (
    ExecutionContext,
    ExecutionResult,
    ExecutorError,
    Redactor,
    ambient_secrets,
    check_environment,
    refuse_characters,
    render,
    template_data,
)

IDEMPOTENT_METHODS = ("GET", "PUT", "DELETE")
GATEWAY_STATUSES = (502, 503, 504)  # the application behind the gateway may have acted
ATTEMPTS = 3
CONTROL = "".join(map(chr, range(32))) + "\x7f"  # not in a URL or a header, rendered or not


@dataclass(frozen=True)
class _Call:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    timeout: float


class WebhookExecutor:
    def run(self, context: ExecutionContext) -> ExecutionResult:
        config: dict[str, Any] = dict(context.action.config)
        secrets = ambient_secrets(context.environment)
        try:
            call = _prepare(context, config, secrets)
        except ExecutorError as exc:
            return ExecutionResult(False, {}, Redactor(secrets)(str(exc)))
        redact = Redactor(secrets)
        details: dict[str, Any] = {"method": call.method, "url": redact(call.url)}
        try:
            reply, attempts = _send(context, config, call)
        except ExecutorError as exc:  # a destination it may not reach: nothing was sent
            return ExecutionResult(False, details, redact(str(exc)))
        details.update(status=reply.status, address=reply.address, attempts=attempts)
        if config.get("recordResponse") is True:
            details["response"] = redact.output(reply.body, cut_end=reply.cut)
        return _outcome(call, reply, attempts, details, redact, config)


def _prepare(context: ExecutionContext, config: dict[str, Any], secrets: list[str]) -> _Call:
    """The call as configured and rendered (ExecutorError: nothing is sent)."""
    secret_headers = {str(k): str(v) for k, v in dict(config.get("secretHeaders", {})).items()}
    check_environment(context, [("secretHeaders", v) for v in secret_headers.values()])
    data = template_data(context.request)
    url = refuse_characters("url", str(render(config["url"], data)), CONTROL)
    headers = {
        refuse_characters("header name", str(k), CONTROL): refuse_characters(
            f"header {k}", str(v), CONTROL
        )
        for k, v in render(dict(config.get("headers", {})), data).items()
    }
    for header, variable in secret_headers.items():
        value = context.environment.get(variable)
        if not value:
            raise ExecutorError(f"secret header {header}: ${variable} is not set")
        headers[header] = value
        secrets.append(value)
    if any(name.lower() == "host" for name in headers):
        raise ExecutorError("header Host is not allowed: the Host header names the url's host")
    body = None
    if "body" in config:
        body = json.dumps(render(config["body"], data)).encode()
        headers.setdefault("Content-Type", "application/json")
    headers["Idempotency-Key"] = context.idempotency_key
    timeout = parse_duration(str(config.get("timeout", "30s"))).total_seconds()
    timeout = min(timeout, context.action.timeout.total_seconds())
    return _Call(str(config.get("method", "POST")), url, headers, body, timeout)


def _send(
    context: ExecutionContext, config: dict[str, Any], call: _Call
) -> tuple[http.Response, int]:
    """The reply of the last attempt, and how many were made; each attempt resolves and
    checks the destination again and connects to the addresses it checked."""
    allowed = [str(h) for h in config.get("allowedHosts", [])]
    private = environment.webhooks_may_reach_private(context.environment)
    deadline = time.monotonic() + call.timeout  # all attempts together, within the timeout
    attempts = 0
    while True:
        attempts += 1
        target = egress.target(call.url, allowed, private, http.resolve)
        left = max(deadline - time.monotonic(), 0.001)
        reply = http.send(call.method, target, call.headers, call.body, left)
        if attempts >= ATTEMPTS or not _repeatable(reply, call.method):
            return reply, attempts
        if time.monotonic() >= deadline:
            return reply, attempts


def _repeatable(reply: http.Response, method: str) -> bool:
    if not reply.sent:
        return True
    unknown = reply.status is None or reply.status in GATEWAY_STATUSES
    return unknown and method in IDEMPOTENT_METHODS


def _outcome(
    call: _Call,
    reply: http.Response,
    attempts: int,
    details: dict[str, Any],
    redact: Redactor,
    config: dict[str, Any],
) -> ExecutionResult:
    expect = [int(s) for s in config.get("expectStatus", [])]
    status = reply.status
    if status is not None and (status in expect if expect else 200 <= status < 300):
        return ExecutionResult(True, details)
    if status is None and not reply.sent:
        return ExecutionResult(False, details, redact(reply.error or "no connection"))
    if status is None or status in GATEWAY_STATUSES:
        why = redact(reply.error or "no response") if status is None else f"HTTP {status}"
        if call.method in IDEMPOTENT_METHODS:
            tried = "once" if attempts == 1 else f"{attempts} times"
            tail = f"the outcome is unknown (tried {tried})"
        else:
            tail = "the outcome is unknown and the call was not repeated"
        return ExecutionResult(False, details, f"{why}; {tail}", True)
    if 300 <= status < 400:
        return ExecutionResult(False, details, f"HTTP {status} (redirects are not followed)")
    return ExecutionResult(False, details, f"HTTP {status}")
