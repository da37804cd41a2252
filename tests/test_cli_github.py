"""GitHub mode: what reaches a workflow log never becomes a workflow command, and the job
summary stays within GitHub's limit, escaped, with warnings, in workspace paths."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import QUICKSTART, Result

Run = Callable[..., Result]
J = "\u2060"  # the WORD JOINER that breaks `::` and `##[` in plain lines
MIB = 1024 * 1024
# The one kind of line that may start with `::`: an annotation we emit, fully escaped.
ANNOTATION = re.compile(r"::(error|warning) file=[^,:\r\n]+(,line=\d+)?::[^\r\n]*")

HOSTILE = """\
apiVersion: remediate/v1
kind: RemediationRequest
metadata: {name: rem-hostile}
spec:
  action: {type: restart-service, parameters: {service: api-gateway}}
  serviceName: api-gateway
  environment: staging
  severity: LOW
  "x\\n::warning file=a::pwned": 1
  "y\\r::add-mask::s3cret": 2
  "z\\n   ::error::spaced": 3
  "w ##[error]legacy": 4
"""


@pytest.fixture
def actions_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    return summary


def physical_lines(text: str) -> list[str]:
    """Lines as the Actions runner reads them (it splits on \\r, \\n and \\r\\n)."""
    return re.split(r"\r\n|\r|\n", text)


def commands_in(text: str) -> list[str]:
    """Every line the runner would take for a workflow command (modern or legacy syntax)."""
    found = []
    for line in physical_lines(text):
        if line.lstrip().startswith("::") or "##[" in line:
            found.append(line)
    return found


def test_hostile_keys_never_become_workflow_commands(
    quickstart: Path, run_cli: Run, actions_env: Path
) -> None:
    (quickstart / "remediations" / "hostile.yaml").write_text(HOSTILE)
    r = run_cli("validate", "--repo", str(quickstart))
    assert r.code == 1
    commands = commands_in(r.out) + commands_in(r.err)
    assert commands, "the annotation itself is expected"
    for line in commands:
        assert ANNOTATION.fullmatch(line), line
        assert "##[" not in line
    (annotation,) = commands
    assert annotation.startswith(
        "::error file=remediations/hostile.yaml,line=9::spec.x%0A::warning file=a::pwned: "
        "unknown key 'x\\n::warning file=a::pwned', 'y\\r::add-mask::s3cret'"
    )
    # the same problem on stderr, for people: each physical line is neutralised
    err = physical_lines(r.err)
    assert err[0] == "remediations/hostile.yaml:9: spec.x"
    assert err[1].startswith(f":{J}:warning file=a::pwned: unknown key 'x\\n::warning")
    assert f"w #{J}#[error]legacy" in r.err


@pytest.mark.parametrize(
    ("line", "safe"),
    [
        ("::add-mask::x", f":{J}:add-mask::x"),
        ("   ::error::x", f"   :{J}:error::x"),
        ("\t::warning::x", f"\t:{J}:warning::x"),
        ("\x85::x", f"\x85:{J}:x"),
        ("\u200b::x", f"\u200b:{J}:x"),
        ("a ##[error]b ##[x", f"a #{J}#[error]b #{J}#[x"),
        ("ok: a::b", "ok: a::b"),
        ("a\n::b\r::c", f"a\n:{J}:b\r:{J}:c"),
    ],
)
def test_plain_lines_are_neutralised(line: str, safe: str) -> None:
    from remediate.cli.output import neutral

    assert neutral(line) == safe


def test_workflow_command_escaping() -> None:
    from remediate.cli.output import escape_data, escape_property

    assert escape_data("50% a\r\nb") == "50%25 a%0D%0Ab"
    assert escape_property("a,b:c%\n") == "a%2Cb%3Ac%25%0A"
    assert escape_data("a ##[x") == f"a #{J}#[x"
    assert escape_property("a ##[x") == "a ##[x"  # exact: a property is never a command


def test_an_annotation_names_a_file_holding_a_legacy_prefix_exactly(
    quickstart: Path, run_cli: Run, actions_env: Path
) -> None:
    """The runner reads a valid `::` command as such, never as a legacy `##[` one; a joiner
    in `file=` would point the annotation at a path that does not exist."""
    name = "x ##[error]y.yaml"
    (quickstart / "remediations" / name).write_text(
        HOSTILE.replace("rem-hostile", "rem-legacy").split('  "x\\n')[0] + "  severity2: 1\n"
    )
    r = run_cli("validate", "--repo", str(quickstart))
    assert r.code == 1
    (annotation,) = [line for line in r.out.splitlines() if line.startswith("::")]
    assert annotation.startswith(f"::error file=remediations/{name},line=9::")
    assert "##[" not in annotation.split("::", 2)[2]  # the message still has the joiner
    assert f"remediations/x #{J}#[error]y.yaml:9:" in r.err  # a plain line: neutralised


def test_every_message_of_any_command_is_neutralised_in_actions(
    quickstart: Path, run_cli: Run, actions_env: Path
) -> None:
    """Not only validate: an error of any command reaches the log through the same path."""
    (quickstart / "remediations" / "hostile.yaml").write_text(HOSTILE)
    r = run_cli("plan", "--repo", str(quickstart), "--now", "2026-11-23T10:00:00Z")
    assert r.code == 1
    assert commands_in(r.out) == [] and commands_in(r.err) == []
    assert f":{J}:warning file=a::pwned" in r.err
    r = run_cli("explain", "::add-mask::x", "--repo", str(quickstart))
    assert r.code == 1
    assert commands_in(r.err) == []


def test_json_stays_exact_and_inert_in_actions(
    quickstart: Path, run_cli: Run, actions_env: Path
) -> None:
    (quickstart / "remediations" / "hostile.yaml").write_text(HOSTILE)
    r = run_cli("validate", "--repo", str(quickstart), "--format", "json")
    assert r.code == 1
    assert commands_in(r.out) == []
    (error,) = json.loads(r.out)["errors"]
    assert "'w ##[error]legacy'" in error["message"]  # decoded, the text is exact
    assert error["path"] == "spec.x\n::warning file=a::pwned"


def test_summary_is_capped_at_one_mebibyte_with_a_count_of_the_rest(
    quickstart: Path, run_cli: Run, actions_env: Path
) -> None:
    actions_env.write_text("# an earlier step of this job wrote this\n" + "x" * 300_000 + "\n")
    long_key = "k" * 300
    for f in range(40):
        docs = [
            f"apiVersion: remediate/v1\nkind: RemediationRequest\nmetadata: {{name: r{f}-{d}}}\n"
            "spec:\n  action: {type: restart-service, parameters: {service: api}}\n"
            f"  serviceName: api\n  environment: staging\n  severity: LOW\n  {long_key}: 1\n"
            for d in range(100)
        ]
        (quickstart / "remediations" / f"many-{f:02}.yaml").write_text("---\n".join(docs))
    r = run_cli("validate", "--repo", str(quickstart))
    assert r.code == 1
    assert r.err.splitlines()[-1] == "4000 error(s) in 52 files"
    text = actions_env.read_text()
    assert len(text.encode()) <= MIB
    assert len(text.encode()) > MIB - 4096  # it uses the room it has
    rows = [line for line in text.splitlines() if line.startswith("| error |")]
    assert 0 < len(rows) < 4000
    assert text.rstrip().endswith(
        f"… and {4000 - len(rows)} more error(s): see the log of this step."
    )


def test_summary_cells_are_escaped_and_warnings_included(
    quickstart: Path, run_cli: Run, actions_env: Path
) -> None:
    name = "a|b`c<i>&.yaml"
    (quickstart / "remediations" / name).write_text(
        HOSTILE.replace("rem-hostile", "rem-cells").replace(
            '"x\\n::warning file=a::pwned": 1', '"q|<img src=x>`@alice\\nz": 1'
        )
    )
    (quickstart / "remediations" / "empty.yaml").write_text("# nothing yet\n")
    r = run_cli("validate", "--repo", str(quickstart))
    assert r.code == 1
    text = actions_env.read_text()
    assert "| level | file | line | key | problem |" in text
    (row,) = [line for line in text.splitlines() if "rem-cells" in line or "a\\|b" in line]
    cells = re.split(r"(?<!\\)\|", row)
    assert len(cells) == 7, row  # five columns: no user text adds one
    assert "<img" not in row and "&lt;img src=x&gt;" in row
    assert "`" not in row.replace("\\`", "")
    assert "@alice" not in row
    assert "\n" not in row
    assert "| warning | remediations/empty.yaml | 0 |  | file contains no documents |" in text


def test_summary_of_a_valid_repository_lists_its_warnings(
    quickstart: Path, run_cli: Run, actions_env: Path
) -> None:
    (quickstart / "remediations" / "empty.yaml").write_text("# nothing yet\n")
    r = run_cli("validate", "--repo", str(quickstart))
    assert r.code == 0
    text = actions_env.read_text()
    assert "12 documents in 13 files: valid, 1 warning(s)" in text
    assert "| warning | remediations/empty.yaml | 0 |  | file contains no documents |" in text
    assert r.out.splitlines()[0] == (
        "::warning file=remediations/empty.yaml::file contains no documents"
    )


def test_annotation_paths_are_relative_to_the_workspace(
    tmp_path: Path, run_cli: Run, actions_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = tmp_path / "ws"
    repo = workspace / "ops" / "remediations repo"
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    import shutil

    shutil.copytree(QUICKSTART, repo)
    rel = "remediations/2026/rem-2026-0042.yaml"
    (repo / rel).write_text((repo / rel).read_text().replace("HIGH", "URGENT"))
    monkeypatch.setenv("GITHUB_WORKSPACE", str(workspace))
    monkeypatch.chdir(tmp_path)
    r = run_cli("validate", "--repo", str(repo))
    assert r.code == 1
    assert r.out.splitlines()[0].startswith(
        f"::error file=ops/remediations repo/{rel},line=9::spec.severity: "
    )
    assert f"| error | ops/remediations repo/{rel} | 9 | spec.severity |" in (
        actions_env.read_text()
    )
    assert r.err.splitlines()[0].startswith(f"{rel}:9: spec.severity")  # for people: as ever


def test_format_github_outside_actions_needs_no_summary_file(
    quickstart: Path, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    (quickstart / "remediations" / "hostile.yaml").write_text(HOSTILE)
    r = run_cli("validate", "--repo", str(quickstart), "--format", "github")
    assert r.code == 1
    assert [ANNOTATION.fullmatch(c) is not None for c in commands_in(r.out + r.err)] == [True]


def test_hostile_file_names_stay_inert_everywhere(
    quickstart: Path, run_cli: Run, actions_env: Path
) -> None:
    name = "a\n::add-mask::x %0A,b:c|d.yaml"
    (quickstart / "remediations" / name).write_text(
        HOSTILE.replace("rem-hostile", "rem-named").split('  "x\\n')[0] + "  severity2: 1\n"
    )
    r = run_cli("validate", "--repo", str(quickstart))
    assert r.code == 1
    for line in commands_in(r.out) + commands_in(r.err):
        assert ANNOTATION.fullmatch(line), line
    assert r.out.splitlines()[0].startswith(
        "::error file=remediations/a%0A%3A%3Aadd-mask%3A%3Ax %250A%2Cb%3Ac|d.yaml,line=9::"
    )
    assert f"\n:{J}:add-mask::x %0A,b:c|d.yaml:9: spec.severity2: unknown key" in r.err
    row = next(line for line in actions_env.read_text().splitlines() if "add-mask" in line)
    assert len(re.split(r"(?<!\\)\|", row)) == 7, row
