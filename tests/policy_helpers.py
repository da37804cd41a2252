"""Building blocks for policy engine tests: documents, requests and contexts in code."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from remediate.core.decision import Approval, Context, Decision, Execution
from remediate.core.document import Document, LineMap
from remediate.core.identity import Directory
from remediate.core.model import Request, Settings
from remediate.core.policy import PolicySet, compile_policies, evaluate

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday

SETTINGS = Settings(
    operators=("bob@example.com", "team:sre"),
    admins=("alice@example.com",),
    people=({"github": "bob", "emails": ["bob@example.com", "robert@example.com"]},),
    teams={"sre": ("bob@example.com", "carol@example.com", "dave@example.com")},
)
DIRECTORY = Directory.from_settings(SETTINGS)


def policy(name: str, **spec: Any) -> Document:
    return Document("GuardrailPolicy", name, spec, f"policies/{name}.yaml", LineMap({"": 1}))


def policies(*docs: Document) -> PolicySet:
    return compile_policies(list(docs))


def request(
    name: str = "rem-1",
    environment: str = "production",
    severity: str = "HIGH",
    service: str = "api-gateway",
    action: str = "restart-service",
    **extra: Any,
) -> Request:
    spec = {
        "action": {"type": action, "parameters": {"service": service}},
        "serviceName": service,
        "environment": environment,
        "severity": severity,
        **extra,
    }
    return Request.from_spec(name, spec, file=f"remediations/{name}.yaml")


def context(
    now: datetime = NOW,
    requester: str | None = "erin@example.com",
    approvals: tuple[Approval, ...] = (),
    executions: tuple[Execution, ...] = (),
    default: str = "allow",
    default_approvals: dict[str, Any] | None = None,
) -> Context:
    return Context(
        now=now,
        directory=DIRECTORY,
        requester=requester,
        approvals=approvals,
        executions=executions,
        default_decision=default,
        default_approvals=default_approvals or {"min": 1, "from": ["team:sre"]},
    )


def decide(req: Request, ps: PolicySet, ctx: Context | None = None) -> Decision:
    return evaluate(req, ps, ctx or context())
