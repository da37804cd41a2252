"""Auto-remediation in `apply`: the requests `Settings.spec.autoRemediation` makes of the
open findings, as `remediation_requested` events in apply's decision commit, each
decided in that same commit on the normal policy path.

`apply` calls `make` inside the build that `audit_log.write` rebuilds on the fetched tip
after a rejected push (the branch push is a compare-and-swap), so two racing applies
make each request once and never more than `maxOpen` unfinished: the second sees the
first's events, and `core.autoremediation.plan` skips a finding a rule made a request
for already and counts the requests still unfinished on the chain it builds (a request
this apply ended frees its slot in the same commit). A rule's templates read
`finding.*` through the bounded jinja2 sandbox (`executors.templates`); what they render
is data (never rendered again), and the request it makes is checked as a request file
would be (the RemediationRequest schema, the ActionType's parameters) before it is
recorded: a request that would not validate is not made, and apply says why (tried
again at the next apply).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from remediate.core import autoremediation as ar
from remediate.core import findings as fd
from remediate.core.drafting import Chain, new_id
from remediate.core.model import Repository, Request
from remediate.core.streams import StreamEvent
from remediate.core.times import iso


def make(
    repository: Repository, chain: Chain, actor: str, now: datetime
) -> tuple[list[Request], list[str]]:
    """Link onto `chain` the `remediation_requested` events of the requests to make now;
    the requests (as `core.schedules.with_fired` will read them back), and notes on those
    that could not be made."""
    rules = ar.rules_of(repository.settings.auto_remediation)
    if not rules:
        return [], []
    found = {
        subject: chain.subject(fd.STREAM, subject).value
        for subject, state in chain.snap.stream(fd.STREAM).items()
        if fd.is_finding(state.value)
    }

    def exists(name: str) -> bool:
        return name in repository.requests or bool(chain.state(name).ids)

    def render(rule: ar.Rule, finding: Mapping[str, Any], name: str) -> dict[str, Any] | str:
        return request_spec(repository, rule, finding, name)

    planned, notes = ar.plan(rules, found, lambda n: chain.state(n).status, exists, render)
    made: list[Request] = []
    for p in planned:
        change = fd.remediation_change(found[p.finding], p.name, p.rule, p.spec, p.requester)
        event = StreamEvent(
            id=new_id(),
            at=iso(now) or "",
            stream=fd.STREAM,
            subject=change.subject,
            verb=change.verb,
            actor=actor,
            details=change.details,
        )
        chain.add_to(event)
        value = chain.subject(fd.STREAM, p.finding).value
        made += [r for r in fd.FOLD.requests(value) if r.name == p.name]
    return made, notes


def request_spec(
    repository: Repository, rule: ar.Rule, finding: Mapping[str, Any], name: str
) -> dict[str, Any] | str:
    """The spec of the request `rule` makes for `finding`, or why there is none."""
    data = ar.template_data(finding)
    defaults = {"severity": finding.get("severity")}
    if finding.get("assetId"):
        defaults["assetId"] = finding["assetId"]
    forced = {"findingId": finding["id"]}
    return render_spec(repository, rule.request, data, name, defaults, forced)


def render_spec(
    repository: Repository,
    template: Mapping[str, Any],
    data: Mapping[str, Any],
    name: str,
    defaults: Mapping[str, Any],
    forced: Mapping[str, Any] = {},
) -> dict[str, Any] | str:
    """A rule's request `template` rendered from `data` in the sandbox (values are data),
    with `defaults` for the fields it leaves out and `forced` fields set, checked as a
    request file would be: the spec, or why there is no request (auto-remediation's and
    follow-ups')."""
    try:
        spec = _render(dict(template), data, "request")
    except _Failed as exc:
        return str(exc)
    for key, value in defaults.items():
        spec.setdefault(key, value)
    spec.update(forced)
    return _problem(repository, name, spec) or spec


class _Failed(Exception):
    pass


# A name made by the audit: `<rule>-<finding id>`, `<rule>-<request id>` (a schedule's
# fire is `<schedule>-<yyyymmddThhmmZ>`, so letters of either case, as fires have).
_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?")
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
        "metadata": {"name": "checked-by-name"},  # the name: `_NAME` (a fire's is one)
        "spec": spec,
    }
    if not _NAME.fullmatch(name):
        return f"request name {name!r}: letters, digits, '.', '_' and '-', at most 253"
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
