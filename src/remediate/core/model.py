"""The remediation repository as typed values, built from validated documents.

Everything here is frozen data; the loaders produce `Document`s and
`build_repository` turns them into these. Fields keep the documents' defaults
in one place.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from remediate.core.authorship import RunnerTrust
from remediate.core.document import Document
from remediate.core.duration import parse_duration

STATUSES = (
    "NEW",
    "PENDING_APPROVAL",
    "QUEUED",
    "EXECUTING",
    "COMPLETED",
    "FAILED",
    "REJECTED",
    "POLICY_VIOLATION",
    "CANCELLED",
)
DEFAULT_EXECUTOR_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "TZ")


@dataclass(frozen=True)
class Settings:
    name: str = "default"
    organization: str = ""
    forge: dict[str, Any] = field(default_factory=lambda: {"type": "local"})
    default_decision: str = "require_approval"
    default_approvals: dict[str, Any] = field(default_factory=lambda: {"min": 1, "from": []})
    admins: tuple[str, ...] = ()
    operators: tuple[str, ...] = ()
    viewers: tuple[str, ...] = ("*",)
    people: tuple[dict[str, Any], ...] = ()
    teams: dict[str, tuple[str, ...]] = field(default_factory=dict)
    runner_name: str = "remediate-bot"
    runner_email: str = "remediate-bot@localhost"
    runner_identities: tuple[str, ...] = ()  # earlier e-mails, still the runner's for their commits
    runner_signing: tuple[str, ...] = ()  # allowed SSH public keys of the runner's commits
    runner_signing_since: str = ""  # the last commit whose runner commits need no signature
    clock_skew: timedelta = timedelta(seconds=5)  # runner.clockSkew: leases, claim deadlines
    retention_days: int = 30
    reporting: dict[str, Any] = field(
        default_factory=lambda: {
            "scheduledReportEnabled": False,
            "reportCadence": "weekly",
            "reportRecipients": [],
        }
    )
    executor_environment: tuple[str, ...] = DEFAULT_EXECUTOR_ENVIRONMENT
    auto_remediation: tuple[dict[str, Any], ...] = ()  # spec.autoRemediation's rules

    @property
    def base_branch(self) -> str:
        """The branch the runner reads and writes (`forge.baseBranch`, default main)."""
        return str(self.forge.get("baseBranch", "main"))

    @property
    def runner_trust(self) -> RunnerTrust:
        """What makes a commit the runner's (`core.authorship`)."""
        return RunnerTrust.of(
            self.runner_email,
            self.runner_identities,
            self.runner_signing,
            self.runner_signing_since,
        )

    @classmethod
    def from_spec(cls, name: str, spec: dict[str, Any]) -> Settings:
        rbac = spec.get("rbac", {})
        runner = spec.get("runner", {})
        defaults = cls()
        return cls(
            name=name,
            organization=spec.get("organization", ""),
            forge=spec.get("forge", {"type": "local"}),
            default_decision=spec.get("defaultDecision", "require_approval"),
            default_approvals=spec.get("defaultApprovals", defaults.default_approvals),
            admins=tuple(rbac.get("admins", ())),
            operators=tuple(rbac.get("operators", ())),
            viewers=tuple(rbac.get("viewers", ("*",))),
            people=tuple(spec.get("people", ())),
            teams={k: tuple(v) for k, v in spec.get("teams", {}).items()},
            runner_name=runner.get("name", defaults.runner_name),
            runner_email=runner.get("email", defaults.runner_email),
            runner_identities=tuple(runner.get("identities", ())),
            runner_signing=tuple(runner.get("signing", ())),
            runner_signing_since=runner.get("signingSince", ""),
            clock_skew=_duration(runner.get("clockSkew"), defaults.clock_skew),
            retention_days=spec.get("retentionDays", 30),
            reporting={**defaults.reporting, **spec.get("reporting", {})},
            executor_environment=tuple(
                spec.get("executorEnvironment", DEFAULT_EXECUTOR_ENVIRONMENT)
            ),
            auto_remediation=tuple(spec.get("autoRemediation", ())),
        )


@dataclass(frozen=True)
class ActionType:
    name: str
    executor: str  # registry name: command, webhook, …
    config: dict[str, Any]  # the executor's own block
    parameters_schema: dict[str, Any]
    timeout: timedelta = timedelta(seconds=300)
    idempotent: bool = False
    retries: int = 0
    backoff: timedelta = timedelta(seconds=30)
    description: str = ""
    content_hash: str = ""  # approvals bind to it too: an edit of the action voids them

    @classmethod
    def from_document(cls, doc: Document) -> ActionType:
        spec = doc.spec
        ((executor, config),) = spec["executor"].items()
        retries = spec.get("retries", {})
        return cls(
            name=doc.name,
            executor=executor,
            config=config,
            parameters_schema=spec.get("parameters", {"type": "object"}),
            timeout=parse_duration(spec.get("timeout", "300s")),
            idempotent=bool(spec.get("idempotent", False)),
            retries=int(retries.get("max", 0)),
            backoff=parse_duration(retries.get("backoff", "30s")),
            description=spec.get("description", ""),
            content_hash=content_hash(doc.name, spec),
        )


@dataclass(frozen=True)
class Request:
    """A remediation request: from a file, or fired by a schedule (file is None)."""

    name: str
    spec: dict[str, Any]
    content_hash: str
    file: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def action_type(self) -> str:
        return str(self.spec["action"]["type"])

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self.spec["action"].get("parameters", {}))

    @property
    def environment(self) -> str:
        return str(self.spec["environment"])

    @property
    def service_name(self) -> str:
        return str(self.spec["serviceName"])

    @property
    def severity(self) -> str:
        return str(self.spec["severity"])

    @property
    def incident_id(self) -> str | None:
        value = self.spec.get("incidentId")
        return None if value is None else str(value)

    @classmethod
    def from_spec(
        cls,
        name: str,
        spec: dict[str, Any],
        file: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> Request:
        return cls(name, spec, content_hash(name, spec), file, dict(labels or {}))

    @classmethod
    def from_document(cls, doc: Document) -> Request:
        return cls.from_spec(doc.name, doc.spec, doc.file, doc.metadata.get("labels", {}))


def content_hash(name: str, spec: dict[str, Any]) -> str:
    """The identity of a request's content: approvals bind to it, so an edit voids them.

    Canonical JSON, so re-indenting or adding a comment does not void anything.
    """
    body = json.dumps({"name": name, "spec": spec}, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class Repository:
    """Every document of a remediation repository, by kind."""

    settings: Settings
    action_types: dict[str, ActionType]
    policies: tuple[Document, ...]
    requests: dict[str, Request]
    schedules: tuple[Document, ...]
    policy_tests: tuple[Document, ...]
    documents: tuple[Document, ...] = ()


def build_repository(documents: list[Document]) -> Repository:
    """Typed values from documents that already passed validation."""
    by_kind: dict[str, list[Document]] = {}
    for doc in documents:
        by_kind.setdefault(doc.kind, []).append(doc)
    settings_docs = by_kind.get("Settings", [])
    settings = (
        Settings.from_spec(settings_docs[0].name, settings_docs[0].spec)
        if settings_docs
        else Settings()
    )
    return Repository(
        settings=settings,
        action_types={d.name: ActionType.from_document(d) for d in by_kind.get("ActionType", [])},
        policies=tuple(by_kind.get("GuardrailPolicy", [])),
        requests={d.name: Request.from_document(d) for d in by_kind.get("RemediationRequest", [])},
        schedules=tuple(by_kind.get("Schedule", [])),
        policy_tests=tuple(by_kind.get("PolicyTest", [])),
        documents=tuple(documents),
    )


def _duration(text: Any, default: timedelta) -> timedelta:
    """A validated duration field, or `default` when it is absent."""
    return parse_duration(text) if isinstance(text, str) else default
