"""The shipped schemas are self-contained, generated from one source, and work offline alone.

`schemas-src/` holds the source (a kind's schema refers to the shared
definitions in `common.schema.json`); `tools/build_schemas.py` bundles the
definitions each schema uses into it. Each file in `schemas/` then works on
its own: check-jsonschema needs no other file, no `--base-uri` and no network.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import ROOT

SCHEMAS = ROOT / "schemas"
QUICKSTART = ROOT / "examples" / "quickstart"
CHECK = Path(sys.executable).parent / "check-jsonschema"

# kind schema → example documents (one document per file: check-jsonschema reads one)
EXAMPLES = {
    "settings.schema.json": [QUICKSTART / "remediate.yaml", ROOT / "src/remediate/scaffold/remediate.yaml"],
    "action-type.schema.json": sorted((QUICKSTART / "actions").glob("*.yaml")),
    "guardrail-policy.schema.json": sorted((ROOT / "policies").glob("*.yaml")),
    "policy-test.schema.json": [ROOT / "policies/tests/baseline.yaml"],
    "remediation-request.schema.json": sorted((QUICKSTART / "remediations").rglob("*.yaml")),
    "schedule.schema.json": sorted((QUICKSTART / "schedules").glob("*.yaml")),
}  # fmt: skip
EXAMPLES["envelope.schema.json"] = [p for files in EXAMPLES.values() for p in files]


def builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_schemas", ROOT / "tools/build_schemas.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_the_committed_schemas_are_what_the_generator_makes() -> None:
    built = builder().build(ROOT / "schemas-src")
    committed = {p.name: p.read_text(encoding="utf-8") for p in SCHEMAS.glob("*.json")}
    assert sorted(built) == sorted(committed)
    for name, text in built.items():
        assert committed[name] == text, f"{name} is stale: run `python tools/build_schemas.py`"


@pytest.mark.parametrize("path", sorted(SCHEMAS.glob("*.json")), ids=lambda p: p.name)
def test_every_schema_refers_only_to_itself(path: Path) -> None:
    schema = json.loads(path.read_text())
    for ref in refs(schema):
        assert ref.startswith("#/$defs/"), ref
        assert ref.removeprefix("#/$defs/") in schema["$defs"], ref
    if path.name != "common.schema.json":  # the source of the shared definitions, all of them
        assert set(schema.get("$defs", {})) == {r.removeprefix("#/$defs/") for r in refs(schema)}


def test_the_generator_refuses_a_definition_clash(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(ROOT / "schemas-src", source)
    kind = json.loads((source / "schedule.schema.json").read_text())
    kind["$defs"] = {"cron": {"type": "string"}}
    (source / "schedule.schema.json").write_text(json.dumps(kind))
    with pytest.raises(ValueError, match=r"schedule.schema.json defines \$defs/cron"):
        builder().build(source)


def offline_env() -> dict[str, str]:
    """Any network access would go to a closed port and fail."""
    dead = "http://127.0.0.1:9"
    return {**os.environ, "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "NO_PROXY": ""}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_check_jsonschema_works_offline_with_one_schema_file(name: str, tmp_path: Path) -> None:
    alone = tmp_path / "alone"
    alone.mkdir()
    schema = shutil.copy(SCHEMAS / name, alone / name)  # no sibling files to find
    documents = [str(p) for p in EXAMPLES[name]]
    assert documents
    cmd = [str(CHECK), "--schemafile", str(schema)]
    good = subprocess.run(
        [*cmd, *documents], capture_output=True, text=True, env=offline_env(), cwd=tmp_path,
        timeout=120,
    )  # fmt: skip
    assert good.returncode == 0, good.stdout + good.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        Path(documents[0]).read_text().replace("apiVersion: remediate/v1", "apiVersion: v2")
    )
    refused = subprocess.run(
        [*cmd, str(bad)], capture_output=True, text=True, env=offline_env(), cwd=tmp_path,
        timeout=120,
    )  # fmt: skip
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "bad.yaml::$.apiVersion" in refused.stdout


def test_the_runtime_validates_with_the_bundled_files() -> None:
    from remediate.documents import schemas

    assert "common.schema.json" in schemas.raw_schemas()
    request = schemas.raw_schemas()["remediation-request.schema.json"]
    assert request["properties"]["spec"] == {"$ref": "#/$defs/requestSpec"}
