"""SARIF 2.1.0 text → a validated log, or the problems that make it no SARIF log.

Validated with jsonschema-rs against the OASIS SARIF 2.1.0 schema (errata 01, vendored
unchanged under `remediate/vendor/`), after bounds of our own that the schema cannot
express: the file's size (checked before anything is read, by the caller), UTF-8, JSON
syntax, and the nesting depth (a walk without recursion, before the validator and the
importer recurse into it). Problems read `FILE: PATH: message`, PATH a key path such as
`runs[0].results[3].level` (`-` for the document itself).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from remediate.resources import package_file

SCHEMA_FILE = "sarif-schema-2.1.0.json"
MAX_BYTES = 256 * 1024 * 1024  # a SARIF file larger than this is refused unread
MAX_DEPTH = 100  # SARIF's own objects nest about 15 deep (code flows); property bags more
MAX_PROBLEMS = 20  # schema violations reported per file


@cache
def validator() -> Any:
    import jsonschema_rs

    schema = json.loads(package_file("vendor", SCHEMA_FILE).read_text(encoding="utf-8"))
    return jsonschema_rs.validator_for(schema)


def key_path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "-"


def _too_deep(data: Any) -> str | None:
    """The key path of the first value nested deeper than MAX_DEPTH, without recursion."""
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(data, 0, ())]
    while stack:
        value, depth, path = stack.pop()
        if depth > MAX_DEPTH:
            return key_path(path)
        if isinstance(value, dict):
            stack.extend((v, depth + 1, (*path, k)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, depth + 1, (*path, i)) for i, v in enumerate(value))
    return None


def parse(name: str, raw: bytes) -> tuple[dict[str, Any] | None, list[str]]:
    """The SARIF log in `raw` (from file `name`), or None and why it is not one."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, [f"{name}: -: not UTF-8 (byte {exc.start})"]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [f"{name}: -: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]
    except RecursionError:
        return None, [f"{name}: -: JSON nested more than {MAX_DEPTH} levels deep"]
    deep = _too_deep(data)
    if deep is not None:
        return None, [f"{name}: {deep}: JSON nested more than {MAX_DEPTH} levels deep"]
    if not isinstance(data, dict):
        return None, [f"{name}: -: a SARIF log is a JSON object"]
    if data.get("version") != "2.1.0":
        found = data.get("version")
        return None, [
            f"{name}: version: SARIF {found!r} is not supported (only version 2.1.0)"
            if found is not None
            else f'{name}: version: missing (a SARIF 2.1.0 log says "version": "2.1.0")'
        ]
    problems = []
    for error in validator().iter_errors(data):
        problems.append(f"{name}: {key_path(error.instance_path)}: {error.message}")
        if len(problems) >= MAX_PROBLEMS:
            problems.append(f"{name}: -: … and maybe more schema violations")
            break
    return (None, problems) if problems else (data, [])
