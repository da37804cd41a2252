"""Webhook outcomes: the reply body only with recordResponse (capped, redacted); a 502, 503,
504 or a lost reply to a POST is an unknown outcome, never a definite failure; end to end,
nothing internal reaches the audit. The server is a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remediate.adapters import http
from tests.runner_support import cli_env, clone, make_remote, remediate, remote_events, request_yaml
from tests.webhook_support import PRIVATE, REFUSED_LOOPBACK, REPLY, Endpoint, call, serving


@pytest.fixture
def port() -> Iterator[int]:
    with serving() as number:
        yield number


# --- reply bodies only with recordResponse; gateway errors and lost replies are unknown ---


def test_the_reply_body_is_kept_only_with_record_response_capped_and_redacted(port: int) -> None:
    Endpoint.mode = "big"
    env = {**PRIVATE, "HOOK_TOKEN": "hunter2-in-the-reply", "REMEDIATE_PASS_ENV": "HOOK_TOKEN"}
    config = {"url": f"http://127.0.0.1:{port}/", "allowedHosts": ["127.0.0.1"]}
    config["secretHeaders"] = {"X-Token": "HOOK_TOKEN"}
    result = call(config, env)
    assert result.ok and "response" not in result.details
    assert "INTERNAL-ONLY" not in json.dumps(dict(result.details))
    result = call({**config, "recordResponse": True}, env)
    response = result.details["response"]
    assert "INTERNAL-ONLY: db_password=[REDACTED]" in response
    assert "hunter2" not in response
    assert len(response) <= 4096 + 100


@pytest.mark.parametrize("status", [502, 503, 504])
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_gateway_error_on_a_non_idempotent_call_is_an_unknown_outcome(
    port: int, status: int, method: str
) -> None:
    Endpoint.status = status
    config = {"url": f"http://127.0.0.1:{port}/", "allowedHosts": ["127.0.0.1"], "method": method}
    result = call(config, PRIVATE)
    assert (result.ok, result.outcome_unknown) == (False, True)
    assert result.error == f"HTTP {status}; the outcome is unknown and the call was not repeated"
    assert len(Endpoint.seen) == 1


def test_a_gateway_error_on_an_idempotent_call_is_repeated_then_unknown(port: int) -> None:
    Endpoint.status = 503
    config = {"url": f"http://127.0.0.1:{port}/", "allowedHosts": ["127.0.0.1"], "method": "PUT"}
    result = call(config, PRIVATE)
    assert (result.ok, result.outcome_unknown) == (False, True)
    assert result.error == "HTTP 503; the outcome is unknown (tried 3 times)"
    assert len(Endpoint.seen) == 3


def test_every_attempt_together_stays_within_the_timeout(port: int) -> None:
    Endpoint.mode = "slow"  # replies after 3 s
    config = {"url": f"http://127.0.0.1:{port}/", "allowedHosts": ["127.0.0.1"]}
    started = time.monotonic()
    result = call({**config, "method": "GET", "timeout": "1s"}, PRIVATE)
    assert time.monotonic() - started < 2.5
    assert (result.ok, result.outcome_unknown) == (False, True)
    assert result.error == "TimeoutError: timed out; the outcome is unknown (tried once)"


def test_other_errors_are_definite_failures(port: int) -> None:
    Endpoint.status = 500
    config = {"url": f"http://127.0.0.1:{port}/", "allowedHosts": ["127.0.0.1"]}
    result = call(config, PRIVATE)
    assert (result.ok, result.outcome_unknown, result.error) == (False, False, "HTTP 500")


@pytest.mark.parametrize("mode", ["hangup", "slow"])
def test_a_lost_reply_to_a_post_is_an_unknown_outcome_and_not_repeated(
    port: int, mode: str
) -> None:
    Endpoint.mode = mode
    config = {"url": f"http://127.0.0.1:{port}/", "allowedHosts": ["127.0.0.1"], "timeout": "1s"}
    result = call(config, PRIVATE)
    assert (result.ok, result.outcome_unknown) == (False, True)
    assert result.error is not None
    assert result.error.endswith("; the outcome is unknown and the call was not repeated")
    assert len(Endpoint.seen) == 1


def test_a_reply_whose_body_is_cut_short_still_counts_by_its_status(port: int) -> None:
    Endpoint.mode = "short"
    config = {"url": f"http://127.0.0.1:{port}/", "allowedHosts": ["127.0.0.1"]}
    result = call({**config, "recordResponse": True}, PRIVATE)
    assert result.ok, result.error
    assert result.details["response"] == REPLY.decode()  # no secret: no edge to drop
    target = http.Target("http", "127.0.0.1", port, "/", ("127.0.0.1",))
    reply = http.send("GET", target, {}, None, 5)
    assert (reply.status, reply.body, reply.cut) == (200, REPLY, True)  # its end may be cut


def test_a_call_that_cannot_connect_is_a_definite_failure() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        free = unused.getsockname()[1]
    config = {"url": f"http://127.0.0.1:{free}/", "allowedHosts": ["127.0.0.1"]}
    result = call(config, PRIVATE)
    assert (result.ok, result.outcome_unknown) == (False, False)
    assert result.error is not None and result.error.startswith("127.0.0.1: ConnectionRefused")
    assert result.details["attempts"] == 3


# --- end to end: nothing internal reaches the audit ---

HOOK = """\
apiVersion: remediate/v1
kind: ActionType
metadata: {{name: hook}}
spec:
  parameters: {{type: object}}
  executor:
    webhook:
      url: http://127.0.0.1:{port}/hook
{extra}  timeout: 10s
"""


def apply_hook(tmp_path: Path, port: int, extra: str, **env: str) -> tuple[Any, list[Any]]:
    bare = make_remote(
        tmp_path,
        actions={"hook": HOOK.format(port=port, extra=extra)},
        requests={"rem-hook": request_yaml("rem-hook", action="hook")},
    )
    repo = clone(tmp_path, bare, "work")
    done = remediate(repo, "apply", "--format", "json", env=cli_env(**env))
    blob = "".join(p.read_text() for p in (repo / "audit").rglob("*.jsonl"))
    assert "INTERNAL-ONLY" not in blob + done.stdout + done.stderr
    return done, [e for e in remote_events(tmp_path, bare) if e["from"] == "EXECUTING"]


def test_apply_refuses_an_internal_webhook_and_keeps_its_reply_out_of_the_audit(
    tmp_path: Path, port: int
) -> None:
    done, (outcome,) = apply_hook(tmp_path, port, "      allowedHosts: [127.0.0.1]\n")
    assert done.returncode == 1
    assert (outcome["to"], outcome["error"]) == ("FAILED", REFUSED_LOOPBACK)
    assert Endpoint.seen == []


def test_apply_records_a_gateway_error_on_a_post_as_an_unknown_outcome(
    tmp_path: Path, port: int
) -> None:
    Endpoint.status = 502
    done, (outcome,) = apply_hook(tmp_path, port, "      allowedHosts: [127.0.0.1]\n", **PRIVATE)
    assert done.returncode == 1
    assert outcome["to"] == "FAILED" and outcome["details"]["outcomeUnknown"] is True
    assert outcome["error"] == "HTTP 502; the outcome is unknown and the call was not repeated"
    assert "response" not in outcome["details"]
