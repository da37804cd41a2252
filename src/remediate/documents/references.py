"""Layer 3: checks across documents and inside strings the schemas cannot see.

A request's action type must exist and its parameters satisfy that type's
schema; names are unique per kind; cron expressions, time zones and durations
parse. Checks are a table by kind: adding a kind's check is adding a row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC
from functools import cache
from typing import Any

from remediate.core.document import Document
from remediate.core.duration import parse_duration
from remediate.core.times import parse_time
from remediate.documents import schemas
from remediate.documents.teams import check_teams
from remediate.errors import Problem


@dataclass
class Index:
    """The documents by kind and name, and compiled parameter schemas."""

    by_kind: dict[str, dict[str, Document]] = field(default_factory=dict)
    parameter_validators: dict[str, Any] = field(default_factory=dict)

    def get(self, kind: str, name: str) -> Document | None:
        return self.by_kind.get(kind, {}).get(name)


Check = Callable[[Document, Index], Iterable[Problem]]


# (kind, name, file, line of metadata.name): enough to find duplicates across processes
NameRecord = tuple[str, str, str, int]


def check_references(documents: list[Document]) -> list[Problem]:
    """Every cross-document problem among already schema-valid documents."""
    index, problems = build_index(documents)
    return problems + check_documents(documents, index)


def build_index(documents: list[Document]) -> tuple[Index, list[Problem]]:
    """Index documents by kind and name; report duplicates, extra Settings, bad ActionTypes."""
    problems = duplicate_names([name_record(doc) for doc in documents])
    index = Index()
    for doc in documents:
        index.by_kind.setdefault(doc.kind, {}).setdefault(doc.name, doc)
    settings = list(index.by_kind.get("Settings", {}).values())
    for extra in settings[1:]:
        problems.append(
            _p(
                extra,
                "kind",
                f"only one Settings document is allowed "
                f"(first is {settings[0].file}:{settings[0].line()})",
            )
        )
    for doc in index.by_kind.get("ActionType", {}).values():
        problems.extend(_check_action_type(doc, index))
    return index, problems


def check_documents(documents: Iterable[Document], index: Index) -> list[Problem]:
    """The per-kind checks of each document (a duplicate is checked only in its first place)."""
    problems: list[Problem] = []
    for doc in documents:
        if index.get(doc.kind, doc.name) not in (doc, None):
            continue
        for check in CHECKS.get(doc.kind, ()):
            problems.extend(check(doc, index))
    return problems


def name_record(doc: Document) -> NameRecord:
    return (doc.kind, doc.name, doc.file, doc.line("metadata.name"))


def duplicate_names(records: Iterable[NameRecord]) -> list[Problem]:
    first: dict[tuple[str, str], NameRecord] = {}
    problems = []
    for record in records:
        kind, name, file, line = record
        seen = first.setdefault((kind, name), record)
        if seen is not record:
            problems.append(
                Problem(
                    file,
                    line,
                    "metadata.name",
                    f"duplicate {kind} name {name!r} (first defined at {seen[2]}:{seen[3]})",
                )
            )
    return problems


def _p(doc: Document, path: str, message: str, severity: str = "error") -> Problem:
    return Problem(doc.file, doc.line(path), path, message, severity)


def _check_action_type(doc: Document, index: Index) -> Iterable[Problem]:
    spec = doc.spec
    try:
        index.parameter_validators[doc.name] = schemas.compile_user_schema(
            spec.get("parameters", {"type": "object"})
        )
    except ValueError as exc:
        yield _p(doc, "spec.parameters", f"not a valid JSON Schema: {exc}")
    for key in ("timeout", "retries.backoff"):
        yield from _duration(doc, f"spec.{key}", _dig(spec, key))
    from remediate.executors import registry

    (executor,) = spec["executor"]
    if not registry.available(executor):
        shipped = ", ".join(n for n in registry.BUILTINS if registry.available(n))
        yield _p(
            doc,
            f"spec.executor.{executor}",
            f"executor {executor!r} is not available in this version (available: {shipped})",
        )
    from remediate.executors.templates import template_problems

    prefix = f"spec.executor.{executor}"
    for path, message in template_problems(spec["executor"][executor]):
        yield _p(doc, f"{prefix}.{path}" if not path.startswith("[") else prefix + path, message)
    for path, message, severity in registry.config_problems(executor, spec["executor"][executor]):
        yield _p(doc, f"{prefix}.{path}" if path else prefix, message, severity)
    yield from _inner_timeout(doc, executor, spec)
    if executor == "github_pr":
        yield from _foreign_repository(doc, index, spec["executor"][executor])
    plugin = spec["executor"].get("plugin")
    if plugin is not None:
        from remediate.executors.registry import plugin_names

        if plugin["name"] not in plugin_names():
            yield _p(
                doc,
                "spec.executor.plugin.name",
                f"no executor plugin named {plugin['name']!r} is installed",
                "warning",
            )


def check_request_spec(
    doc: Document, index: Index, prefix: str, spec: dict[str, Any], parameters: bool = True
) -> Iterable[Problem]:
    """A request spec (in a request, a schedule job or a policy test case) names a real
    action; its parameters satisfy the action's schema (unless `parameters` is false)."""
    action = spec["action"]
    type_name = action["type"]
    action_type = index.get("ActionType", type_name)
    if action_type is None:
        known = ", ".join(sorted(index.by_kind.get("ActionType", {}))) or "none defined"
        yield _p(
            doc, f"{prefix}.action.type", f"unknown action type {type_name!r} (known: {known})"
        )
        return
    validator = index.parameter_validators.get(type_name)
    if validator is None or not parameters:
        return  # the ActionType's own schema error is reported there
    parameters = action.get("parameters", {})
    base = f"{prefix}.action.parameters"
    if validator.is_valid(parameters):
        return
    lines = doc.lines.subtree(base)
    for err in schemas.errors_of(
        validator, parameters, lines, action_type.spec.get("parameters", {})
    ):
        path = (
            f"{base}.{err.path}" if err.path and not err.path.startswith("[") else base + err.path
        )
        yield Problem(
            doc.file,
            err.line or doc.line(base),
            path,
            f"{err.message} (parameters of action type {type_name!r})",
        )


def _check_request(doc: Document, index: Index) -> Iterable[Problem]:
    yield from check_request_spec(doc, index, "spec", doc.spec)


def _check_schedule(doc: Document, index: Index) -> Iterable[Problem]:
    yield from _cron(doc, "spec", doc.spec)
    job = doc.spec["job"]
    if "remediation" in job:
        yield from check_request_spec(doc, index, "spec.job.remediation", job["remediation"])
    for key in ("recipients", "environment"):
        if key in (job.get("report") or {}):
            yield _p(
                doc,
                f"spec.job.report.{key}",
                "not used yet: a scheduled report covers every environment and goes to "
                "Settings spec.reporting.reportRecipients",
                "warning",
            )
    source = (job.get("import") or {}).get("source")
    if isinstance(source, str) and (
        source.startswith("/") or ".." in source.replace("\\", "/").split("/")
    ):
        yield _p(
            doc,
            "spec.job.import.source",
            f"{source!r} must be a path inside the repository's checkout (no leading `/`, "
            "no `..`): a SARIF file, or a directory whose *.sarif files are imported",
        )
    for key in ("actionType", "environment"):
        if key in (job.get("import") or {}):
            yield _p(
                doc,
                f"spec.job.import.{key}",
                "not used: findings become requests through Settings spec.autoRemediation "
                "rules (see docs/findings.md)",
                "warning",
            )


def _check_auto_remediation(doc: Document, index: Index) -> Iterable[Problem]:
    """Settings spec.autoRemediation: unique rule names, a real action type, templates
    that compile and read only `finding`, literal fields valid as a request's (a
    template's value is checked when the finding renders it, at import)."""

    names: dict[str, int] = {}
    for i, rule in enumerate(doc.spec.get("autoRemediation", [])):
        prefix = f"spec.autoRemediation[{i}]"
        if rule["name"] in names:
            yield _p(
                doc,
                f"{prefix}.name",
                f"duplicate rule name {rule['name']!r} (first at "
                f"spec.autoRemediation[{names[rule['name']]}])",
            )
        names.setdefault(rule["name"], i)
        yield from _rendered_request(doc, index, f"{prefix}.request", rule["request"], ("finding",))


def _check_follow_ups(doc: Document, index: Index) -> Iterable[Problem]:
    """GuardrailPolicy spec.followUps: rule names unique across every policy (they name
    requests; nor one that is another's followed by `-`), a real action type, templates
    that compile and read only `request` and `result`, literal fields valid as a
    request's (a template's value is checked when an outcome renders it, at apply)."""

    others = {
        rule["name"]: other.name
        for other in index.by_kind.get("GuardrailPolicy", {}).values()
        if other.name < doc.name
        for rule in other.spec.get("followUps", [])
    }
    names: dict[str, int] = {}
    for i, rule in enumerate(doc.spec.get("followUps", [])):
        prefix = f"spec.followUps[{i}]"
        if rule["name"] in names:
            yield _p(
                doc,
                f"{prefix}.name",
                f"duplicate follow-up name {rule['name']!r} (first at "
                f"spec.followUps[{names[rule['name']]}])",
            )
        elif rule["name"] in others:
            yield _p(
                doc,
                f"{prefix}.name",
                f"duplicate follow-up name {rule['name']!r} (a follow-up of policy "
                f"{others[rule['name']]!r} too): it names requests",
            )
        names.setdefault(rule["name"], i)
        yield from _overlapping(doc, f"{prefix}.name", rule["name"], index)
        yield from _rendered_request(
            doc, index, f"{prefix}.request", rule["request"], ("request", "result")
        )


def _overlapping(doc: Document, at: str, name: str, index: Index) -> Iterable[Problem]:
    """A follow-up rule `name` that extends another's, `<other>-<rest>`: the two can name
    the same request (`<other>` of request `<rest>-X` and `name` of request `X` both make
    `name-X`), and the second would not be made. Reported at the longer name, once per
    shorter one, wherever it is."""
    for other in sorted(index.by_kind.get("GuardrailPolicy", {}).values(), key=_by_file):
        for j, rule in enumerate(other.spec.get("followUps", [])):
            short = rule["name"]
            if not name.startswith(f"{short}-"):
                continue
            rest = name[len(short) + 1 :]
            where = f"{other.file}:{other.line(f'spec.followUps[{j}].name')}"
            owner = "" if other is doc else f" of policy {other.name!r}"
            yield _p(
                doc,
                at,
                f"follow-up names {name!r} and {short!r} ({where}{owner}) can name the same "
                f"request: {name!r} of request 'X' and {short!r} of request '{rest}-X' both "
                f"make '{name}-X'; rename one so that neither is the other followed by '-'",
            )


def _by_file(doc: Document) -> tuple[str, int]:
    return doc.file, doc.line("metadata.name")


def _rendered_request(
    doc: Document, index: Index, at: str, request: dict[str, Any], names: tuple[str, ...]
) -> Iterable[Problem]:
    """A request spec a rule renders (auto-remediation's, a follow-up's): the request's own
    checks (a parameter that is a template is checked when it is rendered), templates that
    compile and read only `names`, and the literal fields valid as a request's."""
    from remediate.executors.templates import is_template, template_problems

    parameters = request["action"].get("parameters", {})
    templated = any(is_template(v) for v in _strings(parameters))
    yield from check_request_spec(doc, index, at, request, not templated)
    for path, message in template_problems(request, names=names):
        yield _p(doc, f"{at}.{path}", message)
    for key in ("serviceName", "environment", "severity"):
        value = request.get(key)
        if isinstance(value, str) and not is_template(value):
            validator, schema = _literal(key)
            lines = doc.lines.subtree(f"{at}.{key}")
            for err in schemas.errors_of(validator, value, lines, schema):
                yield _p(doc, f"{at}.{key}", err.message)


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)


@cache
def _literal(key: str) -> tuple[Any, dict[str, Any]]:
    """A validator of a request's `key` (serviceName, environment, severity) alone, and
    its schema (each a self-contained definition of common.schema.json)."""
    import jsonschema_rs

    schema = schemas.raw_schemas()["common.schema.json"]["$defs"][key]
    return jsonschema_rs.validator_for(schema), schema


def _check_policy(doc: Document, index: Index) -> Iterable[Problem]:
    spec = doc.spec
    for i, window in enumerate(spec.get("changeWindows", [])):
        yield from _cron(doc, f"spec.changeWindows[{i}]", window)
        yield from _duration(doc, f"spec.changeWindows[{i}].duration", window["duration"])
    if "rateLimit" in spec:
        yield from _duration(doc, "spec.rateLimit.per", spec["rateLimit"]["per"])
    for i, exception in enumerate(spec.get("exceptions", [])):
        yield from _time(doc, f"spec.exceptions[{i}].expires", exception.get("expires"))
    names: dict[str, int] = {}
    for i, rule in enumerate(spec.get("rules", [])):
        if rule["name"] in names:
            yield _p(
                doc,
                f"spec.rules[{i}].name",
                f"duplicate rule name {rule['name']!r} (first at spec.rules[{names[rule['name']]}])",
            )
        names.setdefault(rule["name"], i)
        if rule.get("overridable") and rule["effect"] != "deny":
            yield _p(doc, f"spec.rules[{i}].overridable", "only a deny rule can be overridable")
    yield from _check_follow_ups(doc, index)
    if any("when" in rule for rule in (*spec.get("rules", []), *spec.get("followUps", []))):
        from remediate.core.compiled import policy_problems  # imports CEL only when needed

        for err in policy_problems(doc):
            yield Problem(err.file, err.line, err.path, err.message)


def _check_policy_test(doc: Document, index: Index) -> Iterable[Problem]:
    for name in doc.spec.get("policies", []):
        if index.get("GuardrailPolicy", name) is None:
            yield _p(doc, "spec.policies", f"unknown policy {name!r}")
    for i, case in enumerate(doc.spec["cases"]):
        yield from check_request_spec(doc, index, f"spec.cases[{i}].request", case["request"])
        context, expect = case.get("context", {}), case.get("expect", {})
        yield from _time(doc, f"spec.cases[{i}].context.now", context.get("now"))
        for j, execution in enumerate(context.get("executions", [])):
            yield from _time(doc, f"spec.cases[{i}].context.executions[{j}].at", execution["at"])
        yield from _time(doc, f"spec.cases[{i}].expect.notBefore", expect.get("notBefore"))


def _time(doc: Document, path: str, value: Any) -> Iterable[Problem]:
    """The exact range of `core.times`, which the schema's pattern on the local year (for
    editors) approximates: `9000-12-31T23:00:00-05:00` is already 9001 in UTC."""
    if value is None:
        return
    try:
        parse_time(value)
    except ValueError as exc:
        yield _p(doc, path, str(exc))


def _cron(doc: Document, prefix: str, spec: dict[str, Any]) -> Iterable[Problem]:
    problem = cron_problem(spec["cron"])
    if problem:
        yield _p(doc, f"{prefix}.cron", problem)
    if not timezone_known(spec["timezone"]):
        yield _p(
            doc,
            f"{prefix}.timezone",
            f"unknown time zone {spec['timezone']!r} (expected an IANA name such as Europe/Berlin)",
        )


# Executors whose config bounds one step by a timeout of its own: within the action's
# timeout, which stops the whole action (a longer one would silently be cut short).
INNER_TIMEOUTS = {
    "github_pr": "change.command.timeout",
    "webhook": "timeout",
    "cert_check": "source.timeout",
}


def _inner_timeout(doc: Document, executor: str, spec: dict[str, Any]) -> Iterable[Problem]:
    key = INNER_TIMEOUTS.get(executor)
    inner = _dig(spec["executor"][executor], key) if key else None
    if not isinstance(inner, str):
        return
    outer = spec.get("timeout", "300s")
    try:
        longer = parse_duration(inner) > parse_duration(str(outer))
    except ValueError:
        return  # reported as a duration problem
    if longer:
        where = "spec.timeout" if "timeout" in spec else "spec.timeout, by default"
        yield _p(
            doc,
            f"spec.executor.{executor}.{key}",
            f"{inner} is longer than the action's timeout ({outer}, {where}), which stops "
            "the whole action first: shorten it, or lengthen spec.timeout",
        )


def _foreign_repository(doc: Document, index: Index, config: dict[str, Any]) -> Iterable[Problem]:
    """github_pr's `repository` must be the forge's (Settings spec.forge.repository): the
    runner pushes the branch to its own remote, and opens pull requests only there."""
    named = config.get("repository")
    found = list(index.by_kind.get("Settings", {}).values())
    if not isinstance(named, str) or not found:
        return  # no Settings among the documents checked: execution checks it
    from remediate.executors.github_pr import foreign_repository

    why = foreign_repository(named, found[0].spec.get("forge") or {})
    if why is not None:
        yield _p(doc, "spec.executor.github_pr.repository", why)


def _duration(doc: Document, path: str, value: Any) -> Iterable[Problem]:
    if value is None:
        return
    try:
        if parse_duration(value).total_seconds() <= 0:
            yield _p(doc, path, "must be longer than zero")
    except ValueError as exc:
        yield _p(doc, path, str(exc))


def cron_problem(expr: str) -> str | None:
    """Why a five-field cron expression is invalid, or None."""
    from datetime import datetime

    from cronsim import CronSim, CronSimError

    if len(expr.split()) != 5:
        return f"{expr!r} is not a five-field cron expression (minute hour day-of-month month day-of-week)"
    try:
        CronSim(expr, datetime(2026, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        return f"{expr!r} is not a valid cron expression: {exc}"
    return None


@cache
def timezone_known(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _dig(data: dict[str, Any], dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


CHECKS: dict[str, list[Check]] = {
    "Settings": [check_teams, _check_auto_remediation],
    "RemediationRequest": [_check_request],
    "Schedule": [_check_schedule],
    "GuardrailPolicy": [_check_policy, check_teams],
    "PolicyTest": [_check_policy_test],
}
