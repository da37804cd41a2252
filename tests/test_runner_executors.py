"""Executors: argv without a shell, allow-listed environment, group-killing timeout, sandboxed
templates, webhooks with Idempotency-Key, and secrets that never reach the audit."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from remediate.adapters import http, process
from remediate.core.model import ActionType, Request
from remediate.executors.base import ExecutionContext, ExecutorError, render, template_data
from remediate.executors.command import CommandExecutor
from remediate.executors.webhook import WebhookExecutor
from tests.runner_support import (
    action_yaml,
    cli_env,
    clone,
    make_remote,
    remediate,
    request_yaml,
)

SECRET_ENV = "planted-env-secret-4711"
SECRET_PASSED = "passed-secret-0815"
SECRET_HEADER = "header-secret-9999"
LOCAL = {"allowedHosts": ["127.0.0.1"]}  # with PRIVATE: the test server on 127.0.0.1
PRIVATE = {"REMEDIATE_WEBHOOK_ALLOW_PRIVATE": "1"}


def make_request(notes: str = "", **parameters: Any) -> Request:
    return Request.from_spec(
        "rem-1",
        {
            "action": {"type": "t", "parameters": parameters},
            "serviceName": "api",
            "environment": "staging",
            "severity": "LOW",
            "notes": notes,
        },
    )


def context(
    executor: str,
    config: dict[str, Any],
    env: dict[str, str] | None = None,
    timeout: float = 10,
    request: Request | None = None,
) -> ExecutionContext:
    action = ActionType("t", executor, config, {}, timeout=timedelta(seconds=timeout))
    return ExecutionContext(
        request=request or make_request(),
        action=action,
        environment=env if env is not None else {"PATH": os.environ["PATH"]},
        allowed_environment=("PATH", "HOME", "LANG"),
        root=Path.cwd(),
        idempotency_key="rem-1/1",
    )


def test_command_gets_only_allow_listed_environment_and_secrets_are_redacted() -> None:
    env = {
        "PATH": os.environ["PATH"],
        "SECRET_TOKEN": SECRET_ENV,
        "DEPLOY_KEY": SECRET_PASSED,
        "UNLISTED": "nope",
        "REMEDIATE_PASS_ENV": "DEPLOY_KEY",
    }
    script = 'env; echo "$DEPLOY_KEY" >&2; echo "leak: ' + SECRET_ENV + '"'
    result = CommandExecutor().run(
        context("command", {"argv": ["/bin/sh", "-c", script], "passEnv": ["DEPLOY_KEY"]}, env)
    )
    assert result.ok, result.error
    text = json.dumps(dict(result.details))
    assert SECRET_ENV not in text and SECRET_PASSED not in text
    assert "UNLISTED" not in result.details["stdout"]
    assert "SECRET_TOKEN" not in result.details["stdout"]  # not passed to the process at all
    assert "[REDACTED]" in result.details["stderr"]


def test_command_argv_is_never_a_shell() -> None:
    result = CommandExecutor().run(context("command", {"argv": ["echo", "$HOME; rm -rf /"]}))
    assert result.details["stdout"] == "$HOME; rm -rf /\n"


def test_command_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    script = f"sleep 60 & echo $! > {pidfile}; wait"
    started = time.monotonic()
    result = CommandExecutor().run(
        context("command", {"argv": ["/bin/sh", "-c", script]}, timeout=1)
    )
    assert time.monotonic() - started < 10
    assert not result.ok and "timed out" in (result.error or "")
    child = int(pidfile.read_text())
    time.sleep(0.2)
    assert not alive(child)


def alive(pid: int) -> bool:
    """Running (a killed child left unreaped by PID 1 is a zombie, not alive)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_command_output_is_truncated() -> None:
    result = CommandExecutor().run(
        context("command", {"argv": ["/bin/sh", "-c", "head -c 100000 /dev/zero | tr '\\\\0' x"]})
    )
    assert len(result.details["stdout"]) < 5000


def test_request_values_are_data_never_templates() -> None:
    request = make_request(notes="{{ 7 * 7 }}", service="{{ 6 * 7 }}")
    rendered = render(["{{ parameters.service }}", "{{ request.name }}"], template_data(request))
    assert rendered == ["{{ 6 * 7 }}", "rem-1"]


@pytest.mark.parametrize(
    "template",
    [
        "{{ parameters.missing }}",  # StrictUndefined
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",  # sandbox
        "{{ 'x' * 100000 }}",  # size cap
    ],
)
def test_templates_fail_closed(template: str) -> None:
    with pytest.raises(ExecutorError):
        render(template, template_data(make_request()))


class Hook(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, Any]]] = []
    mode = "echo"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Hook.seen.append({"headers": dict(self.headers), "body": body.decode()})
        if Hook.mode == "hangup":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        reply = json.dumps({"echo": self.headers.get("Authorization"), "ok": True}).encode()
        if Hook.mode == "big":  # the secret straddles the 1 MiB the runner reads
            reply = b"x" * (http.MAX_BODY - 10) + self.headers["Authorization"].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Hook.seen, Hook.mode = [], "echo"
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_webhook_sends_idempotency_key_and_redacts_secret_headers(server: str) -> None:
    config = {
        "url": server + "/hook/{{ parameters.service }}",
        "method": "POST",
        "secretHeaders": {"Authorization": "HOOK_TOKEN"},
        "body": {"service": "{{ parameters.service }}"},
        "recordResponse": True,
        **LOCAL,
    }
    result = WebhookExecutor().run(
        context(
            "webhook",
            config,
            {"HOOK_TOKEN": SECRET_HEADER, "REMEDIATE_PASS_ENV": "HOOK_TOKEN", **PRIVATE},
            request=make_request(service="api"),
        )
    )
    assert result.ok, result.error
    assert Hook.seen[0]["headers"]["Idempotency-Key"] == "rem-1/1"
    assert Hook.seen[0]["headers"]["Authorization"] == SECRET_HEADER
    assert json.loads(Hook.seen[0]["body"]) == {"service": "api"}
    assert SECRET_HEADER not in json.dumps(dict(result.details))
    assert "[REDACTED]" in result.details["response"]


def test_webhook_post_with_unknown_outcome_is_not_repeated(server: str) -> None:
    Hook.mode = "hangup"
    config = {"url": server, "method": "POST", **LOCAL}
    result = WebhookExecutor().run(context("webhook", config, PRIVATE))
    assert not result.ok and result.outcome_unknown
    assert "not repeated" in (result.error or "")
    assert len(Hook.seen) == 1


def test_webhook_missing_secret_fails_without_calling(server: str) -> None:
    result = WebhookExecutor().run(
        context(
            "webhook",
            {"url": server, "secretHeaders": {"Authorization": "NOT_SET"}},
            {"REMEDIATE_PASS_ENV": "NOT_SET"},
        )
    )
    assert not result.ok and "NOT_SET is not set" in (result.error or "")
    assert Hook.seen == []


def test_secrets_from_env_stderr_and_webhook_replies_never_reach_the_audit(
    tmp_path: Path, server: str
) -> None:
    webhook = f"""\
apiVersion: remediate/v1
kind: ActionType
metadata: {{name: hook}}
spec:
  parameters: {{type: object}}
  executor:
    webhook:
      url: {server}/x
      secretHeaders: {{Authorization: HOOK_TOKEN}}
      allowedHosts: [127.0.0.1]
      recordResponse: true
  timeout: 10s
"""
    script = f'env; echo "$DEPLOY_KEY" >&2; echo {SECRET_ENV} >&2'
    bare = make_remote(
        tmp_path,
        actions={
            "leaky": action_yaml(
                "leaky", ["/bin/sh", "-c", script], extra="      passEnv: [DEPLOY_KEY]\n"
            ).replace("    command:\n      argv", "    command:\n      argv"),
            "hook": webhook,
        },
        requests={
            "rem-cmd": request_yaml("rem-cmd", action="leaky"),
            "rem-hook": request_yaml("rem-hook", action="hook", service="web"),
        },
    )
    repo = clone(tmp_path, bare, "work")
    env = cli_env(
        SECRET_TOKEN=SECRET_ENV,
        DEPLOY_KEY=SECRET_PASSED,
        HOOK_TOKEN=SECRET_HEADER,
        REMEDIATE_PASS_ENV="DEPLOY_KEY HOOK_TOKEN",
        **PRIVATE,
    )
    done = remediate(repo, "apply", "--format", "json", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(json.loads(done.stdout)["executed"]) == 2
    blob = "".join(p.read_text() for p in (repo / "audit").rglob("*.jsonl"))
    assert "[REDACTED]" in blob
    for secret in (SECRET_ENV, SECRET_PASSED, SECRET_HEADER):
        assert secret not in blob
        assert secret not in done.stdout + done.stderr


# --- the runner's ceiling on what actions may receive (REMEDIATE_PASS_ENV) ---

NOT_ALLOWED = "is not allowed by this runner (allow it with REMEDIATE_PASS_ENV)"


def test_pass_env_outside_the_runners_ceiling_fails_before_the_action_starts(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "started"
    env = {"PATH": os.environ["PATH"], "GITHUB_TOKEN": "ghs_planted-token-1234"}
    config = {"argv": ["/bin/sh", "-c", f"touch {marker}; echo $GITHUB_TOKEN"]}
    result = CommandExecutor().run(context("command", {**config, "passEnv": ["GITHUB_TOKEN"]}, env))
    assert not result.ok
    assert result.error == f"passEnv GITHUB_TOKEN {NOT_ALLOWED}"
    assert not marker.exists()
    allowed = {**env, "REMEDIATE_PASS_ENV": "DEPLOY_KEY, GITHUB_TOKEN"}
    result = CommandExecutor().run(
        context("command", {**config, "passEnv": ["GITHUB_TOKEN"]}, allowed)
    )
    assert result.ok, result.error
    assert marker.exists() and result.details["stdout"] == "[REDACTED]\n"


def test_executor_environment_outside_the_runners_ceiling_fails_closed(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    ctx = context(
        "command",
        {"argv": ["/bin/sh", "-c", f"touch {marker}"]},
        {"PATH": os.environ["PATH"], "AWS_SECRET_ACCESS_KEY": "planted"},
    )
    ctx = dataclasses.replace(ctx, allowed_environment=("PATH", "AWS_SECRET_ACCESS_KEY"))
    result = CommandExecutor().run(ctx)
    assert not result.ok
    assert result.error == f"executorEnvironment AWS_SECRET_ACCESS_KEY {NOT_ALLOWED}"
    assert not marker.exists()


def test_secret_header_outside_the_runners_ceiling_fails_without_calling(server: str) -> None:
    config = {"url": server, "secretHeaders": {"Authorization": "GITHUB_TOKEN"}}
    env = {"GITHUB_TOKEN": "ghs_planted-token-1234", "REMEDIATE_PASS_ENV": "OTHER"}
    result = WebhookExecutor().run(context("webhook", config, env))
    assert not result.ok
    assert result.error == f"secretHeaders GITHUB_TOKEN {NOT_ALLOWED}"
    assert Hook.seen == []


def test_a_repository_cannot_pass_the_runners_token_to_an_action(tmp_path: Path) -> None:
    token = "ghs_" + "T0k3n" * 8
    script = 'printf %s "$GITHUB_TOKEN" | base64'
    bare = make_remote(
        tmp_path,
        actions={
            "steal": action_yaml(
                "steal", ["sh", "-c", script], extra="      passEnv: [GITHUB_TOKEN]\n"
            )
        },
        requests={"rem-steal": request_yaml("rem-steal", action="steal")},
    )
    repo = clone(tmp_path, bare, "work")
    done = remediate(repo, "apply", "--format", "json", env=cli_env(GITHUB_TOKEN=token))
    blob = "".join(p.read_text() for p in (repo / "audit").rglob("*.jsonl"))
    encoded = base64.b64encode(token.encode()).decode()
    assert encoded[:40] not in blob and encoded[:40] not in done.stdout + done.stderr
    assert f"passEnv GITHUB_TOKEN {NOT_ALLOWED}" in blob


# --- no part of a secret survives where captured output is cut ---


def grams(secret: str, size: int = 8) -> set[str]:
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


def test_a_secret_cut_by_the_output_tail_leaves_no_part_behind() -> None:
    token = "".join(f"{i:03d}" for i in range(135))  # 405 characters, no 8 alike
    times = 300  # the last 64 KiB start 74 characters into a copy
    assert times * len(token) > process.KEEP_BYTES
    script = f'for i in $(seq {times}); do printf %s "$BIG_TOKEN" >&2; done'
    env = {"PATH": os.environ["PATH"], "BIG_TOKEN": token, "REMEDIATE_PASS_ENV": "BIG_TOKEN"}
    result = CommandExecutor().run(
        context("command", {"argv": ["/bin/sh", "-c", script], "passEnv": ["BIG_TOKEN"]}, env)
    )
    assert result.ok, result.error
    err = result.details["stderr"]
    assert "[REDACTED]" in err
    assert not any(g in err for g in grams(token)), err[:600]


def test_a_secret_cut_by_the_response_limit_leaves_no_part_behind(server: str) -> None:
    Hook.mode = "big"
    config = {"url": server, "secretHeaders": {"Authorization": "HOOK_TOKEN"}, **LOCAL}
    config["recordResponse"] = True
    env = {"HOOK_TOKEN": "Bearer-" + SECRET_HEADER, "REMEDIATE_PASS_ENV": "HOOK_TOKEN", **PRIVATE}
    result = WebhookExecutor().run(context("webhook", config, env))
    assert result.ok, result.error
    response = result.details["response"]
    assert not any(g in response for g in grams("Bearer-" + SECRET_HEADER, 4)), response[-80:]


# --- templates and argv that cannot render fail the action cleanly ---


@pytest.mark.parametrize(
    ("template", "cause"),
    [
        ("{{ range(-60000, 60000) }}", "OverflowError"),  # jinja2's MAX_RANGE
        ("{{ range(10**9) }}", "OverflowError"),
        ("{{ 1 // 0 }}", "ZeroDivisionError"),
        ("{{ ('a' * 10**7)|length }}", "repeat"),  # refused before the string is built
        ("{{ ([0] * 10**8)|length }}", "repeat"),
        ("{{ (10 ** (10 ** 8)) % 7 }}", "power"),
        ("{% set a = 'x' * 60000 %}{% set a = a + a %}{{ a|length }}", "concatenat"),
        ("{{ ('%0999999999d' % 1)|length }}", "format"),
        ("{{ '{:>999999999}'.format(1)|length }}", "format"),
        ("{{ 'x'.ljust(10**9)|length }}", "argument"),
        ("{{ ('x'|center(10**9))|length }}", "argument"),
        ("{{ lipsum(10**7)|length }}", "argument"),
        ("{% for i in range(60000) %}{% for j in range(60000) %}x{% endfor %}{% endfor %}", "max"),
        ("{% for i in range(60000) %}{% for j in range(60000) %}{% endfor %}{% endfor %}", "work"),
        ("{% for i in [0] * 60000 %}{% for j in [0] * 60000 %}{% endfor %}{% endfor %}", "work"),
        (
            "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
            "{{ f(40) }}",
            "work",
        ),
        ("{% set a = 'x' * 60000 %}{{ (a ~ a)|length }}", "concatenating (~)"),
        ("{{ ('a' * 60000)|replace('a', 'bbbbbbbbbb')|length }}", "replace"),
        ("{{ ('y' * 60000).join('x' * 60000)|length }}", "join"),
    ],
)
def test_template_failures_are_executor_errors_and_stay_small(template: str, cause: str) -> None:
    import tracemalloc

    started = time.monotonic()
    with pytest.raises(ExecutorError) as caught:
        render(template, template_data(make_request()))
    assert time.monotonic() - started < 10  # CPU: loop iterations and calls are counted
    assert cause.lower() in str(caught.value).replace(repr(template), "").lower()
    if cause == "work":
        return  # tracing every allocation of 100,000 calls is slow; they allocate little
    tracemalloc.start()
    try:
        with pytest.raises(ExecutorError):
            render(template, template_data(make_request()))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, peak  # memory: sizes are checked before values are built


def test_templates_within_the_bounds_still_render() -> None:
    data = template_data(make_request(service="api", count=3))
    assert (
        render("{{ 'ab' * 3 }}-{{ [1, 2] * 2 }}-{{ 2 ** 10 }}", data) == "ababab-[1, 2, 1, 2]-1024"
    )
    assert render("{{ '%05d' % 42 }} {{ '{:>4}'.format('x') }} {{ 'x'|center(5) }}", data) == (
        "00042    x   x  "
    )
    assert render("{{ parameters.service ~ '-' ~ parameters.count * 2 }}", data) == "api-6"
    loops = "{% for i in range(3) if i %}{{ loop.index }}/{{ loop.length }}{% else %}-{% endfor %}"
    assert render(loops, data) == "1/22/2"
    numbers = "{{ parameters.n|default(10**9) }} {{ '%d'|format(10**9) }} {{ '{}'.format(10**9) }}"
    assert render(numbers, data) == " ".join([str(10**9)] * 3)
    assert render("{{ dict(a=10**9)['a'] + 1 }}", data) == str(10**9 + 1)
    assert render("{% for k, v in {'a': 1}.items() %}{{ k }}{{ v }}{% endfor %}", data) == "a1"


def test_nul_in_a_rendered_argv_or_env_fails_the_action_cleanly(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    request = make_request(service="api\x00; touch " + str(marker))
    for config in (
        {"argv": ["/bin/sh", "-c", f"touch {marker}", "{{ parameters.service }}"]},
        {"argv": ["/bin/sh", "-c", f"touch {marker}"], "env": {"S": "{{ parameters.service }}"}},
    ):
        result = CommandExecutor().run(context("command", config, request=request))
        assert not result.ok
        assert "NUL" in (result.error or "") and "crashed" not in (result.error or "")
        assert not marker.exists()


def test_nul_or_newline_in_a_rendered_webhook_fails_without_calling(server: str) -> None:
    for value in ("a\x00b", "a\r\nX-Injected: 1"):
        request = make_request(service=value)
        for config in (
            {"url": server + "/{{ parameters.service }}"},
            {"url": server, "headers": {"X-Service": "{{ parameters.service }}"}},
        ):
            result = WebhookExecutor().run(context("webhook", config, request=request))
            assert not result.ok and not result.outcome_unknown, result
            assert "control character" in (result.error or ""), result.error
    assert Hook.seen == []
