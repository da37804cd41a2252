"""Auto-remediation at import: the requests `Settings.spec.autoRemediation` makes of the
open findings, as `remediation_requested` events in the import's own commit.

`import sarif` calls `changes` inside the build it rebuilds on the fetched tip after a
rejected push (`audit_log.write`), so two racing imports make each request once: the
second sees the first's events, and `core.autoremediation.plan` skips a finding a rule
made a request for already. A rule's templates read `finding.*` through the bounded
jinja2 sandbox (`executors.templates`); what they render is data (never rendered again),
and the request it makes is checked as a request file would be (the RemediationRequest
schema, the ActionType's parameters) before it is recorded: a request that would not
validate is not made, and the import says why (tried again at the next import).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remediate.core import autoremediation as ar
from remediate.core import findings as fd
from remediate.core.model import Repository
from remediate.core.snapshot import AuditSnapshot


def changes(
    repository: Repository,
    snap: AuditSnapshot,
    found: Mapping[str, Mapping[str, Any]],
    requester: str,
) -> tuple[list[fd.Change], list[str]]:
    """The `remediation_requested` events to record on `found` (the findings after this
    import's changes), and notes on the requests that could not be made."""
    rules = ar.rules_of(repository.settings.auto_remediation)
    if not rules:
        return [], []

    def exists(name: str) -> bool:
        return name in repository.requests or bool(snap.state(name).ids)

    def render(rule: ar.Rule, finding: Mapping[str, Any], name: str) -> dict[str, Any] | str:
        return request_spec(repository, rule, finding, name)

    planned, notes = ar.plan(rules, found, lambda n: snap.state(n).status, exists, render)
    out = [
        fd.remediation_change(found[p.finding], p.name, p.rule, p.spec, requester) for p in planned
    ]
    return out, notes


def request_spec(
    repository: Repository, rule: ar.Rule, finding: Mapping[str, Any], name: str
) -> dict[str, Any] | str:
    """The spec of the request `rule` makes for `finding`, or why there is none."""
    data = ar.template_data(finding)
    try:
        spec = _render(dict(rule.request), data, "request")
    except _Failed as exc:
        return str(exc)
    spec.setdefault("severity", finding.get("severity"))
    spec["findingId"] = finding["id"]
    if finding.get("assetId"):
        spec.setdefault("assetId", finding["assetId"])
    return _problem(repository, name, spec) or spec


class _Failed(Exception):
    pass


_VALIDATORS: dict[str, Any] = {}  # ActionType content hash → its parameters' validator


def _render(value: Any, data: Mapping[str, Any], path: str) -> Any:
    from remediate.executors.templates import RenderError, is_template, render_pieces

    if isinstance(value, str):
        if not is_template(value):
            return value
        try:
            return "".join(render_pieces(value, data))
        except RenderError as exc:
            raise _Failed(f"{path}: template cannot render: {exc}") from None
    if isinstance(value, list):
        return [_render(v, data, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _render(v, data, f"{path}.{k}") for k, v in value.items()}
    return value


def _problem(repository: Repository, name: str, spec: dict[str, Any]) -> str | None:
    """The first reason the request would not validate as a file (None: it would)."""
    from remediate.core.document import LineMap
    from remediate.documents import schemas

    document = {
        "apiVersion": "remediate/v1",
        "kind": "RemediationRequest",
        "metadata": {"name": name},
        "spec": spec,
    }
    errors = schemas.check_kind("RemediationRequest", document, LineMap())
    if errors:
        e = errors[0]
        return f"request {e.path}: {e.message}"
    action = repository.action_types.get(spec["action"]["type"])
    if action is None:
        return f"request spec.action.type: unknown action type {spec['action']['type']!r}"
    validator = _VALIDATORS.get(action.content_hash)
    if validator is None:
        validator = _VALIDATORS[action.content_hash] = schemas.compile_user_schema(
            action.parameters_schema
        )
    parameters = spec["action"].get("parameters", {})
    if not validator.is_valid(parameters):
        e = schemas.errors_of(validator, parameters, LineMap(), action.parameters_schema)[0]
        where = f"spec.action.parameters.{e.path}" if e.path else "spec.action.parameters"
        return f"request {where}: {e.message} (parameters of action type {action.name!r})"
    return None
