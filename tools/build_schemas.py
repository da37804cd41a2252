"""Build the self-contained JSON Schemas in `schemas/` from their source in `schemas-src/`.

    python tools/build_schemas.py           # (re)write schemas/
    python tools/build_schemas.py --check   # exit 1 when schemas/ is not what the source makes

Edit the source, never `schemas/`. In the source, a kind's schema refers to a
shared definition as `common.schema.json#/$defs/<name>`, and definitions in
`common.schema.json` refer to each other as `#/$defs/<name>`. A built file
carries every shared definition it uses (transitively) in its own `$defs`,
and each of those references becomes `#/$defs/<name>`: one file then works
alone -- in an editor, or in `check-jsonschema --schemafile FILE` -- with no
sibling file, no `--base-uri` and no network. `common.schema.json` itself is
copied unchanged (it refers only to itself). A test (`tests/test_schemas.py`)
fails when the committed files are not the generator's output.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "schemas-src"
TARGET = ROOT / "schemas"
COMMON = "common.schema.json"
SHARED = COMMON + "#/$defs/"
LOCAL = "#/$defs/"


def build(source: Path = SOURCE) -> dict[str, str]:
    """File name → text of every built schema."""
    shared = _load(source / COMMON)["$defs"]
    out = {}
    for path in sorted(source.glob("*.schema.json")):
        schema = _load(path)
        if path.name != COMMON:
            schema = bundle(path.name, schema, shared)
        out[path.name] = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    return out


def bundle(name: str, schema: dict[str, Any], shared: dict[str, Any]) -> dict[str, Any]:
    """`schema` with the shared definitions it uses moved into its own `$defs`."""
    own_names = set(schema.get("$defs", {}))
    body = _rewrite(name, schema, own_names)
    own = body.pop("$defs", {})
    used = _closure(name, [k for k in _refs([body, own]) if k not in own_names], shared, own_names)
    wanted = [key for key in shared if key in used]  # in the order of common.schema.json
    return {**body, "$defs": {**own, **{key: shared[key] for key in wanted}}}


def _rewrite(name: str, node: Any, own: set[str]) -> Any:
    """References to common.schema.json become local ones; any other file is refused."""
    if isinstance(node, list):
        return [_rewrite(name, item, own) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            if value.startswith(SHARED):
                value = LOCAL + value[len(SHARED) :]
                _no_clash(name, value[len(LOCAL) :], own)
            elif not (value.startswith(LOCAL) and value[len(LOCAL) :] in own):
                raise ValueError(f"{name}: $ref {value!r} is neither {SHARED}… nor its own")
            out[key] = value
        else:
            out[key] = _rewrite(name, value, own)
    return out


def _closure(name: str, pending: list[str], shared: dict[str, Any], own: set[str]) -> set[str]:
    """These shared definitions and those they refer to, transitively."""
    found: set[str] = set()
    while pending:
        key = pending.pop()
        if key in found:
            continue
        _no_clash(name, key, own)
        if key not in shared:
            raise ValueError(f"{name}: $defs/{key} is not defined in {COMMON}")
        found.add(key)
        pending += _refs(shared[key])
    return found


def _no_clash(name: str, key: str, own: set[str]) -> None:
    if key in own:
        raise ValueError(f"{name} defines $defs/{key}, which is also a shared definition")


def _refs(node: Any) -> list[str]:
    if isinstance(node, list):
        return [key for item in node for key in _refs(item)]
    if not isinstance(node, dict):
        return []
    found = [key for value in node.values() for key in _refs(value)]
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(LOCAL):
        found.append(ref[len(LOCAL) :])
    return found


def _load(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    built = build()
    current = {p.name: p.read_text(encoding="utf-8") for p in TARGET.glob("*.json")}
    stale = sorted(n for n in built.keys() | current.keys() if built.get(n) != current.get(n))
    if args.check:
        for name in stale:
            print(f"schemas/{name} is stale: run python tools/build_schemas.py", file=sys.stderr)
        return 1 if stale else 0
    TARGET.mkdir(exist_ok=True)
    for name in stale:
        if name in built:
            (TARGET / name).write_text(built[name], encoding="utf-8")
        else:
            (TARGET / name).unlink()
        print(f"wrote schemas/{name}" if name in built else f"removed schemas/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
