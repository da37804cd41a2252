"""Request values are data in argv too: a value that would be read as an option is refused.

The contract: an argv item rendered from a template whose result starts with `-` is refused
unless the template itself put the `-` there. The reproductions run the real `ssh` and `git`
with the values that created files before (`-oProxyCommand=…`, `--upload-pack=…`).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from remediate.executors.base import ExecutionResult, ExecutorError, render_argv, template_data
from remediate.executors.command import CommandExecutor
from tests.runner_support import (
    action_yaml,
    clone,
    make_remote,
    remediate,
    remote_events,
    request_yaml,
)
from tests.test_runner_executors import context, make_request

REFUSED = (
    ": a request value may not start an argument with '-' (a program would read it as an "
    "option); only the template's own text may, as in '--name={{ … }}'"
)


def run(tmp_path: Path, argv: list[str], **parameters: Any) -> ExecutionResult:
    ctx = context("command", {"argv": argv}, request=make_request(**parameters))
    return CommandExecutor().run(dataclasses.replace(ctx, root=tmp_path))  # cwd: tmp_path


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs the ssh client")
def test_ssh_proxy_command_from_a_parameter_is_refused_and_nothing_starts(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    host = f"-oProxyCommand=touch {marker}"
    result = run(tmp_path, ["ssh", "{{ parameters.host }}", "true"], host=host)
    assert not result.ok and not result.outcome_unknown
    assert result.error == f"argv[1] '{{{{ parameters.host }}}}' renders to {host!r}" + REFUSED
    assert result.details == {}
    assert not marker.exists()


def test_git_upload_pack_from_a_parameter_is_refused_and_nothing_starts(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    subprocess.run(["git", "init", "-q", str(tmp_path / "src")], check=True)
    remote = f"--upload-pack=touch {marker}"
    result = run(tmp_path, ["git", "ls-remote", "{{ parameters.remote }}", "src"], remote=remote)
    assert not result.ok
    assert result.error == f"argv[2] '{{{{ parameters.remote }}}}' renders to {remote!r}" + REFUSED
    assert not marker.exists()


def test_an_option_the_template_writes_itself_still_runs(tmp_path: Path) -> None:
    argv = [
        "echo",
        "--host={{ parameters.host }}",
        "-n{{ parameters.n }}",
        "x-{{ parameters.host }}",
    ]
    result = run(tmp_path, argv, host="-oProxyCommand=x", n="-5")
    assert result.ok, result.error
    assert result.details["stdout"] == "--host=-oProxyCommand=x -n-5 x--oProxyCommand=x\n"


def data() -> dict[str, Any]:
    return template_data(make_request(opt="-x", blank=" ", dash="-", n=-5, word="ok", empty=""))


@pytest.mark.parametrize(
    "template",
    [
        "{{ parameters.opt }}",
        " {{ parameters.opt }}",  # blanks before it do not hide it (some programs strip them)
        "\t\n{{ parameters.opt }}",
        "{{ parameters.blank }}{{ parameters.opt }}",
        "{{ parameters.empty }}{{ parameters.opt }}",
        "{{ parameters.blank }}{{ parameters.dash }}{{ parameters.word }}",
        "{{ parameters.n }}",  # a number is data too
        "{{ parameters.dash }}",
        "{{ '-' ~ parameters.word }}",  # an expression wrote it: the refusal is conservative
        "{% if parameters.word %}{{ parameters.opt }}{% endif %}",
        "{% for x in [parameters.opt] %}{{ x }}{% endfor %}",
        "{% filter lower %}{{ parameters.opt }}{% endfilter %}",
        "{% macro m() %}-v{% endmacro %}{{ m() }}",  # a macro's text comes back as a value
        "{{ parameters.opt|trim }}",
    ],
)
def test_a_leading_dash_from_data_is_refused(template: str) -> None:
    with pytest.raises(ExecutorError, match="may not start an argument with '-'"):
        render_argv(["prog", template], data())


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("-{{ parameters.word }}", "-ok"),  # the template wrote the option's dash
        ("  -{{ parameters.word }}", "  -ok"),
        ("--{{ parameters.opt }}", "---x"),  # the template wrote a long option's dashes
        ("- {{ parameters.opt }}", "- -x"),
        ("-v{{ parameters.opt }}", "-v-x"),
        ("{{ parameters.blank }}-{{ parameters.word }}", " -ok"),  # the '-' is the template's
        ("{% if parameters.word %}-v{% endif %}{{ parameters.opt }}", "-v-x"),
        ("{{ parameters.word }}{{ parameters.opt }}", "ok-x"),
        ("{{ parameters.empty }}", ""),
        ("plain -x", "plain -x"),
        ("-x", "-x"),  # no template at all
        ("{# a comment #}-v{{ parameters.opt }}", "-v-x"),
    ],
)
def test_a_dash_the_template_wrote_or_a_dash_inside_is_fine(template: str, rendered: str) -> None:
    assert render_argv(["prog", template], data()) == ["prog", rendered]


LONG_OPTION = (
    ": a request value may not add a '-' to the template's lone '-' (a program would read "
    "'--…' as a long option); write the option in the template, as in '--name={{ … }}'"
)


def test_a_long_option_built_from_a_template_dash_and_data_is_refused(tmp_path: Path) -> None:
    """`-{{ x }}` with x = `-upload-pack=…` renders `--upload-pack=…`: the template wrote only
    the first dash, the data made it a long option."""
    marker = tmp_path / "PWNED"
    subprocess.run(["git", "init", "-q", str(tmp_path / "src")], check=True)
    remote = f"-upload-pack=touch {marker}"
    result = run(tmp_path, ["git", "ls-remote", "-{{ parameters.remote }}", "src"], remote=remote)
    assert not result.ok
    assert result.error == (
        f"argv[2] '-{{{{ parameters.remote }}}}' renders to {'-' + remote!r}" + LONG_OPTION
    )
    assert not marker.exists()


@pytest.mark.parametrize(
    "template",
    [
        "-{{ parameters.opt }}",
        "  -{{ parameters.opt }}",
        "{{ parameters.blank }}-{{ parameters.opt }}",
        "-{{ parameters.empty }}{{ parameters.opt }}",
        "-{# a comment #}{{ parameters.opt }}",
        "{% if parameters.word %}-{% endif %}{{ parameters.opt }}",
    ],
)
def test_a_data_dash_after_a_lone_template_dash_is_refused(template: str) -> None:
    with pytest.raises(ExecutorError, match="may not add a '-' to the template's lone '-'"):
        render_argv(["prog", template], data())


def test_apply_records_the_refusal_as_a_failure_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    request = request_yaml("rem-inject", action="fetch").replace(
        "parameters: {}", f'parameters: {{remote: "--upload-pack=touch {marker}"}}'
    )
    argv = ["git", "ls-remote", "{{ parameters.remote }}", "."]
    bare = make_remote(
        tmp_path, actions={"fetch": action_yaml("fetch", argv)}, requests={"rem-inject": request}
    )
    repo = clone(tmp_path, bare, "work")
    done = remediate(repo, "apply", "--format", "json")
    assert done.returncode == 1, done.stdout + done.stderr
    assert json.loads(done.stdout)["executed"] == [{"requestId": "rem-inject", "status": "FAILED"}]
    (outcome,) = [e for e in remote_events(tmp_path, bare) if e["to"] == "FAILED"]
    assert outcome["error"] == (
        f"argv[2] '{{{{ parameters.remote }}}}' renders to '--upload-pack=touch {marker}'" + REFUSED
    )
    assert not marker.exists()
