"""SARIF 2.1.0 text → a validated log, or the problems that make it no SARIF log.

Validated with jsonschema-rs against the OASIS SARIF 2.1.0 schema (errata 01, vendored
unchanged under `remediate/vendor/`), after bounds of our own that the schema cannot
express: the file's size (checked before anything is read, by the caller), UTF-8, JSON
syntax and nesting (Python's reader refuses what its recursion limit, about 1,000 levels,
cannot hold; jsonschema-rs validates 990 levels, measured; the importer reads fixed
paths only and never recurses into a log). Problems read `FILE: PATH: message`, PATH a key path such as
`runs[0].results[3].level` (`-` for the document itself).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from remediate.resources import package_file

SCHEMA_FILE = "sarif-schema-2.1.0.json"
MAX_BYTES = 256 * 1024 * 1024  # a SARIF file larger than this is refused unread
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
    except RecursionError:  # Python's JSON reader stops at its recursion limit (~1,000)
        return None, [f"{name}: -: JSON nested too deeply to read"]
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
