"""The adversarial corpus: every malformed input gets an exact `file:line` error and exit 1."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result

CORPUS = Path(__file__).parent / "corpus"
F = "remediations/bad.yaml"
NAME = "A name: lowercase letters, digits, '.', '_' and '-', 1-63 characters, starting and ending with a letter or digit."
REQUEST_KEYS = "action, assetId, environment, findingId, incidentId, labels, notes, owner, serviceName, severity, targetDate"
TAGS = "(only !!str, !!int, !!float, !!bool, !!null, !!seq, !!map)"

EXPECTED = {
    "alias.yaml": [
        f"{F}:8: spec.owner: aliases are not allowed (it refers to the anchor at line 7)"
    ],
    "bad-date.yaml": [f'{F}:10: spec.targetDate: "2026-13-45" is not a "date"'],
    "bad-parameters.yaml": [
        f"{F}:6: spec.action.parameters.replicas: unknown key 'replicas' (expected one of: service)"
        " (parameters of action type 'restart-service')",
        f'{F}:6: spec.action.parameters.service: "API_GATEWAY" does not match'
        " \"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$\" (parameters of action type 'restart-service')",
    ],
    "bad-utf8.yaml": [f"{F}:7: file is not valid UTF-8 (byte 0xe9 at offset 174)"],
    "bidi.yaml": [f"{F}:10: forbidden character: bidirectional control U+202E"],
    "billion-laughs.yaml": [
        f"{F}:6: spec.b[0]: aliases are not allowed (it refers to the anchor at line 5)"
    ],
    "custom-tag.yaml": [f"{F}:8: spec.environment: tag !Env is not allowed {TAGS}"],
    "deep-nesting.yaml": [
        f"{F}:6: spec.action.parameters.x" + "[0]" * 61 + ": nesting is deeper than 64 levels"
    ],
    "duplicate-key.yaml": [
        f"{F}:10: spec.severity: duplicate key 'severity' (first defined at line 9)"
    ],
    "missing-api-version.yaml": [f"{F}:1: apiVersion: missing apiVersion (expected remediate/v1)"],
    "missing-field.yaml": [f"{F}:5: spec: missing required key 'serviceName'"],
    "multi-doc.yaml": [
        f'{F}:19: spec.severity: "URGENT" is not one of: LOW, MEDIUM, HIGH, CRITICAL'
    ],
    "name-newline.yaml": [
        f'{F}:4: metadata.name: "rem-bad\\n" is not valid: character 8 is U+000A LINE FEED. {NAME}'
    ],
    "not-a-mapping.yaml": [f"{F}:1: a document must be a mapping, not list"],
    "nul-byte.yaml": [f"{F}:7: forbidden character: NUL"],
    "python-tag.yaml": [
        f"{F}:9: spec.severity: tag !!python/object/apply:os.system is not allowed {TAGS}"
    ],
    "syntax-error.yaml": [f"{F}:10: YAML syntax error: did not find expected key"],
    "unknown-action.yaml": [
        f"{F}:6: spec.action.type: unknown action type 'reboot-universe' (known: flush-cache, restart-service)"
    ],
    "unknown-key.yaml": [
        f"{F}:10: spec.priority: unknown key 'priority' (expected one of: {REQUEST_KEYS})"
    ],
    "unknown-kind.yaml": [
        f"{F}:2: kind: unknown kind 'RemediationRequests' (expected one of: Settings, ActionType,"
        " GuardrailPolicy, PolicyTest, RemediationRequest, Schedule)"
    ],
    "unknown-top-key.yaml": [
        f"{F}:10: status: unknown key 'status' (expected one of: apiVersion, kind, metadata, spec)"
    ],
    "utf16-bom.yaml": [f"{F}:1: file starts with a UTF-16 byte-order mark; save it as UTF-8"],
    "wrong-api-version.yaml": [
        f"{F}:1: apiVersion: apiVersion 'remediate/v2' is not supported (expected remediate/v1)"
    ],
    "yaml11-severity.yaml": [
        f'{F}:9: spec.severity: "on" is not one of: LOW, MEDIUM, HIGH, CRITICAL'
    ],
}


def test_every_corpus_file_has_an_expectation() -> None:
    files = {p.name for p in CORPUS.glob("*.yaml")} - {"utf8-bom.yaml"}
    assert files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_is_refused_with_file_and_line(
    name: str, quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    shutil.copyfile(CORPUS / name, quickstart / F)
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.code == 1
    assert "Traceback" not in result.err
    assert result.err.splitlines()[:-1] == EXPECTED[name]
    assert result.err.splitlines()[-1] == f"{len(EXPECTED[name])} error(s) in 13 files"


def test_a_utf8_byte_order_mark_is_fine(quickstart: Path, run_cli: Callable[..., Result]) -> None:
    shutil.copyfile(CORPUS / "utf8-bom.yaml", quickstart / F)
    result = run_cli("validate", "--repo", str(quickstart))
    assert (result.code, result.out) == (0, "13 documents in 13 files: valid\n")


def test_python_tag_never_runs(
    quickstart: Path, run_cli: Callable[..., Result], tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    text = (CORPUS / "python-tag.yaml").read_text().replace("/tmp/pwned", str(marker))
    (quickstart / F).write_text(text)
    assert run_cli("validate", "--repo", str(quickstart)).code == 1
    assert not marker.exists()


def test_oversized_file(quickstart: Path, run_cli: Callable[..., Result]) -> None:
    (quickstart / F).write_bytes(b"# " + b"x" * (1024 * 1024) + b"\n")
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.code == 1
    assert result.err.splitlines()[0] == f"{F}: file is 1048579 bytes; the limit is 1048576 bytes"


def test_symlinked_file_leaving_the_repository(
    quickstart: Path, run_cli: Callable[..., Result], tmp_path: Path
) -> None:
    outside = tmp_path / "outside.yaml"
    shutil.copyfile(CORPUS / "utf8-bom.yaml", outside)
    os.symlink(outside, quickstart / "remediations" / "link.yaml")
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.code == 1
    assert result.err.splitlines()[0] == (
        "remediations/link.yaml: symbolic link leaves the repository; not followed"
    )


def _link_outside(repo: Path, tmp_path: Path) -> None:
    """remediations/more → a directory outside the repository holding a valid request."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copyfile(CORPUS / "utf8-bom.yaml", outside / "x.yaml")
    os.symlink(outside, repo / "remediations" / "more")


def test_symlinked_directory_leaving_the_repository(
    quickstart: Path, run_cli: Callable[..., Result], tmp_path: Path
) -> None:
    _link_outside(quickstart, tmp_path)
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.code == 1
    assert result.err.splitlines()[0] == (
        "remediations/more: symbolic link leaves the repository; not followed"
    )


def test_symlinked_parent_directory_of_a_named_path(
    quickstart: Path, run_cli: Callable[..., Result], tmp_path: Path
) -> None:
    _link_outside(quickstart, tmp_path)
    result = run_cli(
        "validate", "--repo", str(quickstart), str(quickstart / "remediations/more/x.yaml")
    )
    assert result.code == 1
    assert result.err.splitlines()[0] == (
        "remediations/more/x.yaml: symbolic link leaves the repository; not followed"
    )


def test_symlink_inside_the_repository_is_followed(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    os.symlink(
        quickstart / "remediations/2026/rem-2026-0042.yaml", quickstart / "remediations/x.yaml"
    )
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.code == 1  # the same request twice: a duplicate name, not a refusal
    assert result.err.splitlines()[0] == (
        "remediations/x.yaml:4: metadata.name: duplicate RemediationRequest name 'rem-2026-0042'"
        " (first defined at remediations/2026/rem-2026-0042.yaml:4)"
    )
