"""The `webhook` executor: one HTTP call with a timeout and an Idempotency-Key.

Secrets are named by environment variable (`secretHeaders`), never written in
documents, and redacted from everything this executor returns. A call whose
outcome is unknown (sent, no reply) is not retried: it fails with the outcome
unknown, unless the method is idempotent.
"""

from __future__ import annotations

import json
from typing import Any

from remediate.adapters import http
from remediate.core.duration import parse_duration
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
ATTEMPTS_WHEN_NOT_SENT = 3
CONTROL = "".join(map(chr, range(32))) + "\x7f"  # not in a URL or a header, rendered or not


class WebhookExecutor:
    def run(self, context: ExecutionContext) -> ExecutionResult:
        config: dict[str, Any] = dict(context.action.config)
        method = str(config.get("method", "POST"))
        secrets = ambient_secrets(context.environment)
        secret_headers = {str(k): str(v) for k, v in dict(config.get("secretHeaders", {})).items()}
        try:
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
            body = None
            if "body" in config:
                body = json.dumps(render(config["body"], data)).encode()
                headers.setdefault("Content-Type", "application/json")
        except ExecutorError as exc:
            return ExecutionResult(False, {}, Redactor(secrets)(str(exc)))
        headers["Idempotency-Key"] = context.idempotency_key
        timeout = parse_duration(str(config.get("timeout", "30s"))).total_seconds()
        timeout = min(timeout, context.action.timeout.total_seconds())
        expect = [int(s) for s in config.get("expectStatus", [])]
        redact = Redactor(secrets)
        attempts = 0
        while True:
            attempts += 1
            reply = http.send(method, url, headers, body, timeout)
            retryable = not reply.sent or (reply.status is None and method in IDEMPOTENT_METHODS)
            if reply.status is not None or not retryable or attempts >= ATTEMPTS_WHEN_NOT_SENT:
                break
        details = {
            "method": method,
            "url": redact(url),
            "status": reply.status,
            "response": redact.output(reply.body, cut_end=reply.cut),
            "attempts": attempts,
        }
        if reply.status is None:
            unknown = reply.sent
            why = redact(reply.error or "no response")
            if unknown:
                return ExecutionResult(
                    False,
                    details,
                    f"{why}; the outcome is unknown and the call was not repeated",
                    True,
                )
            return ExecutionResult(False, details, why)
        good = reply.status in expect if expect else 200 <= reply.status < 300
        if not good:
            return ExecutionResult(False, details, f"HTTP {reply.status}")
        return ExecutionResult(True, details)
