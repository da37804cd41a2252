"""The JSON Schemas in `schemas/`, compiled once, and their errors as `Problem`s.

Validation is layered by discriminator: the envelope (`apiVersion`, `kind`,
`metadata.name`), then the kind's schema, then (in `references`) an action's
parameters against its ActionType. Each layer runs only when the one before
passed, so a user sees the error that matters instead of a cascade.

jsonschema-rs does the validating: it is about 40x faster than the
`jsonschema` package here and its `pattern` follows ECMA-262, where `$` does
not match before a trailing newline (Python's `re` does: `"rem-x\\n"` would
slip through as a name).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsonschema_rs

from remediate.core.document import KINDS, LineMap
from remediate.core.duration import duration_problem, too_long
from remediate.core.names import first_invisible
from remediate.resources import data_dir

SCHEMA_FILES = {
    "Settings": "settings.schema.json",
    "ActionType": "action-type.schema.json",
    "GuardrailPolicy": "guardrail-policy.schema.json",
    "PolicyTest": "policy-test.schema.json",
    "RemediationRequest": "remediation-request.schema.json",
    "Schedule": "schedule.schema.json",
}
ENVELOPE_FILE = "envelope.schema.json"


@dataclass(frozen=True)
class SchemaError:
    """One schema violation: where (key path and line) and what."""

    path: str
    line: int
    message: str


@cache
def raw_schemas() -> dict[str, dict[str, Any]]:
    """Every schema file by file name."""
    out = {}
    for path in sorted(data_dir("schemas").glob("*.schema.json")):
        out[path.name] = json.loads(path.read_text(encoding="utf-8"))
    return out


# The format of every duration (common.schema.json's `duration`): at most LONGEST. A pattern
# cannot say it (1h30m, 90m and 5400s are one duration); editors ignore the format.
DURATION_FORMAT = "remediate-duration"


@cache
def validator(file_name: str) -> Any:
    """Each schema file is self-contained (its shared `$defs` bundled in): no registry needed."""
    return jsonschema_rs.validator_for(
        raw_schemas()[file_name],
        validate_formats=True,
        formats={DURATION_FORMAT: lambda text: not too_long(text)},
    )


def compile_user_schema(schema: dict[str, Any]) -> Any:
    """Compile a schema written by a user (ActionType parameters); ValueError if invalid."""
    try:
        jsonschema_rs.meta.validate(schema)
        return jsonschema_rs.validator_for(schema, validate_formats=True)
    except Exception as exc:  # jsonschema-rs raises several types for bad schemas
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(first) from None


def check_envelope(data: Any, lines: LineMap) -> list[SchemaError]:
    """Layer 1: is this a remediate document at all, and of which kind?"""
    if not isinstance(data, dict):
        shown = type(data).__name__ if data is not None else "empty"
        return [SchemaError("", lines.line(""), f"a document must be a mapping, not {shown}")]
    errors: list[SchemaError] = []
    api = data.get("apiVersion")
    if api != "remediate/v1":
        what = "missing apiVersion" if api is None else f"apiVersion {api!r} is not supported"
        errors.append(
            SchemaError("apiVersion", lines.line("apiVersion"), f"{what} (expected remediate/v1)")
        )
    kind = data.get("kind")
    if kind not in KINDS:
        what = "missing kind" if kind is None else f"unknown kind {kind!r}"
        errors.append(
            SchemaError("kind", lines.line("kind"), f"{what} (expected one of: {', '.join(KINDS)})")
        )
    if errors:
        return errors
    return schema_errors(ENVELOPE_FILE, data, lines)


def check_kind(kind: str, data: Any, lines: LineMap) -> list[SchemaError]:
    """Layer 2: the kind's own schema."""
    return schema_errors(SCHEMA_FILES[kind], data, lines)


def schema_errors(file_name: str, data: Any, lines: LineMap) -> list[SchemaError]:
    v = validator(file_name)
    if v.is_valid(data):
        return []
    return errors_of(v, data, lines, raw_schemas()[file_name])


def errors_of(v: Any, data: Any, lines: LineMap, root: dict[str, Any]) -> list[SchemaError]:
    out = [_shape(e, lines, root) for e in v.iter_errors(data)]
    return sorted(set(out), key=lambda e: (e.line, e.path, e.message))


def _shape(error: Any, lines: LineMap, root: dict[str, Any]) -> SchemaError:
    path = render_path(error.instance_path)
    kind = error.kind.name
    sub = _subschema(root, list(error.schema_path)[:-1])
    if kind == "additionalProperties":
        unexpected = list(error.kind.unexpected)
        child = _join(path, unexpected[0])
        allowed = ", ".join(sorted((sub or {}).get("properties", {})))
        names = ", ".join(repr(u) for u in unexpected)
        hint = f" (expected one of: {allowed})" if allowed else ""
        return SchemaError(child, lines.line(child), f"unknown key {names}{hint}")
    if kind == "required":
        return SchemaError(path, lines.line(path), f"missing required key {error.kind.property!r}")
    if kind in ("maxProperties", "minProperties") and sub and sub.get("maxProperties") == 1:
        choices = ", ".join(sub.get("properties", {}))
        return SchemaError(path, lines.line(path), f"needs exactly one of: {choices}")
    if kind == "enum":
        options = ", ".join(str(o) for o in error.kind.options)
        return SchemaError(
            path, lines.line(path), f"{_show(error.instance)} is not one of: {options}"
        )
    if kind == "not" and sub and "description" in sub:
        # a key that is not allowed here: the schema says why (`approvals` on an allow rule)
        given = error.instance if isinstance(error.instance, dict) else {}
        present = [k for k in _required_keys(sub.get("not", {})) if k in given]
        child = _join(path, present[0]) if present else path
        return SchemaError(child, lines.line(child), sub["description"])
    if kind == "pattern":
        return SchemaError(path, lines.line(path), _pattern_message(error, sub))
    if kind == "format" and error.kind.format == DURATION_FORMAT:
        return SchemaError(path, lines.line(path), duration_problem(error.instance) or "")
    return SchemaError(path, lines.line(path), error.message)


def _pattern_message(error: Any, sub: dict[str, Any] | None) -> str:
    """What is wrong with a string, naming a character a reader cannot see for what it is
    (a Cyrillic `р` in `рroduction`, a zero-width joiner), then what would be valid."""
    value = error.instance
    odd = first_invisible(value) if isinstance(value, str) else None
    if sub and "description" in sub:
        why = f"{odd}. {sub['description']}" if odd else sub["description"]
        return f"{_show(value)} is not valid: {why}"
    return f"{error.message} ({odd})" if odd else str(error.message)


def _required_keys(schema: dict[str, Any]) -> list[str]:
    """The keys a `required` (or an `anyOf` of `required`s) names."""
    keys = list(schema.get("required", []))
    for option in schema.get("anyOf", []):
        keys += option.get("required", [])
    return keys


def _subschema(root: dict[str, Any], schema_path: list[Any]) -> dict[str, Any] | None:
    """Follow a schema path from the root schema (a `$ref` is always to the root's `$defs`)."""
    node: Any = root
    for part in schema_path:
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and part < len(node)
        ):
            node = node[part]
        else:
            return None
    if isinstance(node, dict) and "$ref" in node and len(node) <= 2:
        ref = node["$ref"]
        if ref.startswith("#/$defs/"):
            target = root.get("$defs", {}).get(ref.rsplit("/", 1)[1])
            return {**target, **{k: v for k, v in node.items() if k != "$ref"}} if target else node
    return node if isinstance(node, dict) else None


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def render_path(parts: Any) -> str:
    """['spec', 'rules', 0, 'when'] → 'spec.rules[0].when'."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out
