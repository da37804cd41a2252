"""Templates are bounded when they are *compiled* too: `validate` never builds a huge constant.

jinja2 folds constant expressions while compiling (its optimizer, and `visit_Output`), outside
the sandbox's runtime checks: `{{ 'a' * 10**9 }}` peaked at ~2.9 GB in `validate`. Each case
runs the real `remediate validate` in a fresh process capped at 1 GiB of address space and 60 s
of CPU, and measures its peak RSS from a wrapper process whose only child it is.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from remediate.executors.base import ExecutorError, render
from tests.conftest import QUICKSTART

LIMIT_AS = 1 << 30
MAX_RSS_KB = 200 * 1024

WRAPPER = """\
import json, resource, subprocess, sys
def cap():
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    resource.setrlimit(resource.RLIMIT_CPU, (60, 60))
done = subprocess.run(sys.argv[1:], preexec_fn=cap, capture_output=True, text=True, timeout=120)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({{"code": done.returncode, "out": done.stdout, "err": done.stderr, "rss": peak}}))
"""

ACTION = """\
apiVersion: remediate/v1
kind: ActionType
metadata: {{name: bomb}}
spec:
  parameters: {{type: object}}
  executor:
    command:
      argv: [echo, {template}]
"""


def validate_with(tmp_path: Path, template: str) -> dict[str, object]:
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(QUICKSTART, repo)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)  # a remediation repository
    (repo / "actions" / "bomb.yaml").write_text(ACTION.format(template=json.dumps(template)))
    cli = [sys.executable, "-m", "remediate", "validate", "--repo", str(repo)]
    wrapper = WRAPPER.format(limit=LIMIT_AS)
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *cli], capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


CANNOT = (
    "actions/bomb.yaml:8: spec.executor.command.argv[1]: template cannot render: SecurityError: "
)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ 'a' * 10**9 }}", "repeat (*) would make 1000000000 items (max 65536)"),
        ("{{ 'a' ~ 'b' * 10**9 }}", "repeat (*) would make 1000000000 items (max 65536)"),
        ("{{ [1] * 10**9 }}", "repeat (*) would make 1000000000 items (max 65536)"),
        ("{{ (('a' * 1000) * 1000) * 1000 }}", "repeat (*) would make 1000000 items (max 65536)"),
        ("{{ 10 ** (10 ** 10) }}", "power (**) of about 40000000000 bits is too large"),
        ("{{ 'x'|center(10**9) }}", "an argument would make 1000000000 items (max 65536)"),
        ("{{ 'x'|center(1000000000) }}", "an argument would make 1000000000 items (max 65536)"),
        ("{{ '%0999999999d' % 1 }}", "a % format width would make 999999999 items (max 65536)"),
        ("{{ '%0999999999d'|format(1) }}", "a % format width would make 999999999 items (max 65536)"),
        ("{{ '{:>999999999}'.format(1) }}", "a format width would make 999999999 items (max 65536)"),
        ("{% set x = 'a' * 10**9 %}{{ x|length }}", "repeat (*) would make 1000000000 items (max 65536)"),
        ("{% if 'a' * 10**9 %}y{% endif %}", "repeat (*) would make 1000000000 items (max 65536)"),
    ],
)  # fmt: skip
def test_validate_never_builds_a_huge_constant(tmp_path: Path, template: str, message: str) -> None:
    result = validate_with(tmp_path, template)
    assert result["code"] == 1, result
    assert str(result["err"]).splitlines()[0] == CANNOT + message
    assert int(str(result["rss"])) < MAX_RSS_KB, result["rss"]


@pytest.mark.parametrize(
    "template",
    [
        "{{ 10 ** 10 ** 10 }}",  # jinja2's ** is left-associative: (10**10)**10 = 10**100
        "{{ 'ab' * 3 }}-{{ [1, 2] * 2 }}-{{ 2 ** 10 }}",
        "{{ parameters.service ~ 'x' * 10**9 }}",  # not constant: refused when it renders
    ],
)
def test_validate_accepts_templates_within_the_bounds_quickly(
    tmp_path: Path, template: str
) -> None:
    result = validate_with(tmp_path, template)
    assert (result["code"], result["err"]) == (0, ""), result
    assert int(str(result["rss"])) < MAX_RSS_KB, result["rss"]


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'a' * 10**9 }}",
        "{{ 'x'|center(1000000000) }}",
        "{{ ('%0999999999d'|format(1))|length }}",
        "{{ [1] * 10**9 }}",
        "{{ 10 ** (10 ** 10) }}",
    ],
)
def test_compiling_for_render_builds_nothing(template: str) -> None:
    """The renderer's sandbox compiles without evaluating: the refusal comes at render time."""
    from remediate.executors import templates

    started = time.monotonic()
    tracemalloc.start()
    try:
        templates._compile(template + " ")  # a source the cache has not seen
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, peak
    assert time.monotonic() - started < 5
    with pytest.raises(ExecutorError, match="SecurityError"):
        render(template, {})


@pytest.mark.parametrize(
    "source", ["{{ " + "(" * 1900 + "1" + ")" * 1900 + " }}", "{{ " + "-" * 4000 + "1 }}"]
)
def test_a_template_too_deep_to_compile_is_a_problem_not_a_crash(source: str) -> None:
    from remediate.executors.templates import template_problems

    ((_, message),) = template_problems(source)
    assert message.startswith("template cannot compile: RecursionError: maximum recursion depth")
