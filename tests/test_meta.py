"""Meta-tests: schemas are valid and complete, examples validate, the registry is the vocabulary."""

from __future__ import annotations

import filecmp
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import ROOT, Result

SCHEMAS = sorted((ROOT / "schemas").glob("*.schema.json"))


@pytest.mark.parametrize("path", SCHEMAS, ids=[p.name for p in SCHEMAS])
def test_every_schema_is_a_valid_2020_12_schema_with_id_title_description(path: Path) -> None:
    schema = json.loads(path.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://remediate.dev/schemas/v1/{path.name}"
    assert schema["title"] and schema["description"]


def test_every_kind_has_a_schema() -> None:
    from remediate.core.document import KINDS
    from remediate.documents.schemas import SCHEMA_FILES

    assert set(SCHEMA_FILES) == set(KINDS)
    for kind, name in SCHEMA_FILES.items():
        schema = json.loads((ROOT / "schemas" / name).read_text())
        assert schema["properties"]["kind"] == {"const": kind}


def test_executor_schema_keys_are_the_registry() -> None:
    from remediate.executors.registry import BUILTINS

    schema = json.loads((ROOT / "schemas" / "action-type.schema.json").read_text())
    executor = schema["properties"]["spec"]["properties"]["executor"]
    assert list(executor["properties"]) == list(BUILTINS)


EXAMPLES = sorted(p for p in (ROOT / "examples").iterdir() if p.is_dir())


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_validates(example: Path, run_cli: Callable[..., Result]) -> None:
    result = run_cli("validate", "--repo", str(example))
    assert result.code == 0, result.err
    assert result.err == ""


def test_quickstart_carries_the_baseline_policies_unchanged() -> None:
    shipped = sorted(p.relative_to(ROOT / "policies") for p in (ROOT / "policies").rglob("*.yaml"))
    copied = ROOT / "examples" / "quickstart" / "policies"
    for rel in shipped:
        assert filecmp.cmp(ROOT / "policies" / rel, copied / rel, shallow=False), rel


def test_init_scaffolds_a_repository_that_validates(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    target = tmp_path / "new"
    result = run_cli("init", str(target))
    assert result.code == 0
    for rel in (
        "remediate.yaml",
        "actions/restart-service.yaml",
        "policies/production-safety.yaml",
        "policies/tests/baseline.yaml",
        "schedules/weekly-log-rotation.yaml",
        ".github/workflows/remediate.yml",
    ):
        assert f"created {target / rel}" in result.out
        assert (target / rel).is_file()
    check = run_cli("validate", "--repo", str(target))
    assert (check.code, check.err) == (0, ""), check.err


def test_init_refuses_to_overwrite(tmp_path: Path, run_cli: Callable[..., Result]) -> None:
    (tmp_path / "remediate.yaml").write_text("mine\n")
    result = run_cli("init", str(tmp_path))
    assert result.code == 1
    assert (
        result.err
        == f"remediate: {tmp_path}: would overwrite remediate.yaml (use --force to overwrite)\n"
    )
    assert (tmp_path / "remediate.yaml").read_text() == "mine\n"
    assert not (tmp_path / "actions").exists()


def test_importing_the_cli_stays_light() -> None:
    code = (
        "import sys, remediate.cli; from remediate.cli import cli; "
        "heavy = [m for m in ('github', 'git', 'jinja2', 'cel', 'jsonschema_rs', 'yaml', 'cronsim') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_help_lists_commands_without_importing_them() -> None:
    code = (
        "import sys; from remediate.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print([m for m in sys.modules if m.startswith('remediate.cli.') or m in ('git','github','cel','jinja2')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_pre_commit_hook_definition() -> None:
    import yaml

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    (hook,) = hooks
    assert hook["id"] == "remediate-validate"
    assert hook["entry"] == "remediate validate"
    assert hook["language"] == "python"


def test_wheel_ships_schemas_policies_and_scaffold(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("remediate-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for schema in SCHEMAS:
        assert f"remediate/_data/schemas/{schema.name}" in names
    assert "remediate/_data/policies/production-safety.yaml" in names
    assert "remediate/_data/policies/tests/baseline.yaml" in names
    assert "remediate/scaffold/.github/workflows/remediate.yml" in names
    assert "remediate/scaffold/remediate.yaml" in names


def test_check_jsonschema_accepts_our_schemas_for_editors(tmp_path: Path) -> None:
    """The same schema files work in check-jsonschema (and so in editors) with a local base URI."""
    schema = ROOT / "schemas" / "remediation-request.schema.json"
    request = ROOT / "examples" / "quickstart" / "remediations" / "2026" / "rem-2026-0042.yaml"
    bad = tmp_path / "bad.yaml"
    bad.write_text(request.read_text().replace("HIGH", "URGENT"))
    cmd = [str(Path(sys.executable).parent / "check-jsonschema"), "--base-uri", schema.as_uri(),
           "--schemafile", str(schema)]  # fmt: skip
    assert subprocess.run([*cmd, str(request)], capture_output=True).returncode == 0
    assert subprocess.run([*cmd, str(bad)], capture_output=True).returncode == 1
