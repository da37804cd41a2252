"""Redaction covers a secret's encoded forms: base64 (standard and URL-safe, padded or not, at
each of the three alignments inside a longer stream, wrapped), URL-encoded (quote, quote_plus,
either case of hex), JSON-escaped (Python's and Go's escapes), hex, and each string leaf of a
secret that is a JSON document. The forms are printed by a real process that is handed the
secret through `passEnv`, as an action would print them."""

from __future__ import annotations

import base64
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from remediate.executors.base import MAX_OUTPUT, ExecutionResult, Redactor, redact_result
from remediate.executors.command import CommandExecutor
from tests.runner_support import action_yaml, cli_env, clone, make_remote, remediate, request_yaml
from tests.test_runner_executors import context, grams

SECRET = 's3cr3t/Pa+ss wörd"<&=?'  # URL-, JSON- and HTML-special characters, non-ASCII
LONG = "".join(f"{i:02d}x" for i in range(40))  # 120 characters: base64(1) wraps it

FORMS = r"""
import base64, binascii, json, os, sys
from urllib.parse import quote, quote_plus
s = os.environ["THE_TOKEN"]
b = s.encode()
forms = {
    "raw": s,
    "b64": base64.b64encode(b).decode(),
    "b64-nopad": base64.b64encode(b).decode().rstrip("="),
    "b64url": base64.urlsafe_b64encode(b).decode(),
    "b64url-nopad": base64.urlsafe_b64encode(b).decode().rstrip("="),
    "quote": quote(s, safe=""),
    "quote-slash": quote(s),
    "quote_plus": quote_plus(s),
    "quote-lower": "".join(f"%{x:02x}" for x in b),
    "json": json.dumps(s)[1:-1],
    "json-utf8": json.dumps(s, ensure_ascii=False)[1:-1],
    "json-go": json.dumps(s)[1:-1].replace("<", "\\u003c").replace("&", "\\u0026"),
    "json-slash": json.dumps(s)[1:-1].replace("/", "\\/"),
    "json-all": "".join(f"\\u{ord(c):04X}" for c in s),
    "hex": b.hex(),
    "HEX": b.hex().upper(),
}
for label, form in forms.items():
    print(f"{label}: {form}")
for label, prefix, suffix in (("shift0", b"", b"!"), ("shift1", b"x", b"!"), ("shift2", b"xy", b"!")):
    for name, encode in (("std", base64.b64encode), ("url", base64.urlsafe_b64encode)):
        print(f"{label}-{name}: {encode(prefix + b + suffix).decode()}")
sys.stdout.write("wrapped: " + base64.encodebytes(os.environ["LONG_TOKEN"].encode()).decode())
"""


def run_forms(secret: str, **extra_env: str) -> dict[str, Any]:
    env = {
        "PATH": os.environ["PATH"],
        "THE_TOKEN": secret,
        "LONG_TOKEN": LONG,
        "REMEDIATE_PASS_ENV": "THE_TOKEN LONG_TOKEN",
        **extra_env,
    }
    config = {"argv": ["python3", "-c", FORMS], "passEnv": ["THE_TOKEN", "LONG_TOKEN"]}
    result = CommandExecutor().run(context("command", config, env))
    assert result.ok, result.error
    return dict(result.details)


def test_every_encoded_form_of_a_secret_is_redacted() -> None:
    out = run_forms(SECRET)["stdout"]
    lines = out.splitlines()
    exact = [line for line in lines if not line.startswith(("shift", "wrapped"))]
    assert len(exact) == 16
    for line in exact:
        assert line == line.split(":")[0] + ": [REDACTED]", line
    shifted = [line for line in lines if line.startswith("shift")]
    assert len(shifted) == 6
    for line in shifted:  # only the characters that mix in the neighbours' bits are left
        assert re.fullmatch(r"shift\d-\w+: [\w+/-]{0,3}\[REDACTED\][\w+/=-]{0,4}", line), line
    assert lines[-1] == "wrapped: [REDACTED]"
    assert out.count("[REDACTED]") == len(lines)


def test_each_string_leaf_of_a_json_secret_is_redacted_but_short_ones_are_not() -> None:
    key = (
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
    )
    document = {
        "type": "service_account",
        "private_key": key,
        "client": {"email": "bot@proj.iam.example.com", "ids": ["id-0001-abcd"]},
        "enabled": "true",
        "n": "1",
        "empty": "",
        "region": "eu",
        "flag": True,
    }
    script = (
        "import json, os, base64\n"
        "d = json.loads(os.environ['SA_KEY'])\n"
        "print('key:', d['private_key'])\n"
        "print('escaped:', json.dumps(d['private_key']))\n"
        "print('b64:', base64.b64encode(d['client']['email'].encode()).decode())\n"
        "print('id:', d['client']['ids'][0], 'type:', d['type'])\n"
        "print('short:', d['enabled'], d['n'], repr(d['empty']), d['region'], d['flag'])\n"
        "print('pretty:', json.dumps(d, indent=1))\n"
    )
    env = {
        "PATH": os.environ["PATH"],
        "SA_KEY": json.dumps(document),
        "REMEDIATE_PASS_ENV": "SA_KEY",
    }
    config = {"argv": ["python3", "-c", script], "passEnv": ["SA_KEY"]}
    result = CommandExecutor().run(context("command", config, env))
    assert result.ok, result.error
    out = result.details["stdout"]
    for leaf in (key, "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "bot@proj.iam.example.com"):
        assert leaf not in out
    for leaf in ("service_account", "id-0001-abcd", "Ym90QHByb2ouaWFtLmV4YW1wbGUuY29t"):
        assert leaf not in out
    assert out.splitlines()[:4] == [
        "key: [REDACTED]",
        'escaped: "[REDACTED]"',
        "b64: [REDACTED]",
        "id: [REDACTED] type: [REDACTED]",
    ]
    assert "short: true 1 '' eu True" in out  # shorter than 6 characters: not redacted
    assert '"enabled": "true"' in out and '"region": "eu"' in out


def test_short_and_trivial_secrets_do_not_wipe_out_the_output() -> None:
    redact = Redactor(["", "1", "eu", '{"a": "true", "b": "", "c": "long-enough-1"}'])
    assert redact("true 1 eu '' a b c long-enough-1") == "true 1 eu '' a b c [REDACTED]"
    assert Redactor(["abcd"])("abcd YWJjZA== 61626364") == "[REDACTED] YWJjZA== 61626364"


def test_overlapping_copies_of_a_secret_leave_nothing_behind() -> None:
    assert Redactor(["abcabc"])("xabcabcabcy") == "x[REDACTED]y"
    assert Redactor(["abcdef", "defghi"])("abcdefghi") == "[REDACTED]"


@pytest.mark.parametrize(
    ("label", "encode"),
    [
        ("base64", lambda s: base64.b64encode(s.encode()).decode()),
        ("json-all", lambda s: "".join(f"\\u{ord(c):04x}" for c in s)),  # the longest form
    ],
)
def test_an_encoded_secret_cut_by_the_output_tail_leaves_no_part_behind(
    label: str, encode: Any
) -> None:
    token = "".join(f"{i:03d}" for i in range(40))  # 120 characters, no 8 alike
    form = encode(token)
    times = 64 * 1024 // len(form) + 7  # the tail's first copy is cut
    script = f"import sys\nfor _ in range({times}): sys.stderr.write({form!r})\n"
    env = {"PATH": os.environ["PATH"], "BIG_TOKEN": token, "REMEDIATE_PASS_ENV": "BIG_TOKEN"}
    config = {"argv": ["python3", "-c", script], "passEnv": ["BIG_TOKEN"]}
    result = CommandExecutor().run(context("command", config, env))
    assert result.ok, result.error
    err = result.details["stderr"]
    assert "[REDACTED]" in err
    assert not any(g in err for g in grams(form)), (label, err[:300])


@pytest.mark.parametrize(
    ("indent", "newline"), [("    ", "\n"), ("\t", "\n"), ("  ", "\r\n"), (" " * 16, "\n")]
)
def test_indented_wrapped_base64_is_redacted_and_its_neighbours_are_kept(
    indent: str, newline: str
) -> None:
    """YAML block scalars, `kubectl describe`, quoted e-mail: wrapped lines with an indent."""
    encoded = base64.b64encode(LONG.encode()).decode()
    lines = [indent + encoded[i : i + 64] for i in range(0, len(encoded), 64)]
    text = f"data: |{newline}" + newline.join(lines) + f"{newline}{indent}next: value{newline}"
    assert Redactor([LONG])(text) == (
        f"data: |{newline}{indent}[REDACTED]{newline}{indent}next: value{newline}"
    )


def test_an_indent_is_allowed_only_after_a_line_break_and_only_so_deep() -> None:
    encoded = base64.b64encode(LONG.encode()).decode()
    redact = Redactor([LONG])
    spaced = encoded[:64] + "  " + encoded[64:]  # spaces without a break: another text
    assert redact(spaced) == spaced
    deep = encoded[:64] + "\n" + " " * 17 + encoded[64:]
    assert redact(deep) == deep  # deeper than 16: not a wrapped encoding we look for


def test_redaction_of_a_full_capture_stays_fast() -> None:
    secrets = [f"secret-number-{i:02d}-" + "k" * 40 for i in range(20)]
    redact = Redactor([*secrets, json.dumps({f"k{i}": s for i, s in enumerate(secrets)})])
    data = (b"0123456789abcdef" * 65536)[: 1 << 20]
    started = time.monotonic()
    text = redact.output(data, cut_end=True)
    assert time.monotonic() - started < 5
    assert len(text) <= MAX_OUTPUT + 100
    # indented lines that start like an encoded secret, all the way down
    start = base64.b64encode(secrets[0].encode()).decode()[:8].encode()
    data = (b"\n" + b" " * 12 + start) * ((1 << 20) // 21)
    started = time.monotonic()
    redact.output(data, cut_end=True)
    assert time.monotonic() - started < 5


def test_encoded_secrets_never_reach_the_audit_or_the_output(tmp_path: Path) -> None:
    sa_key = json.dumps({"type": "service_account", "private_key": "pk-" + "Q" * 30})
    script = (
        "import base64, json, os, sys\n"
        "from urllib.parse import quote_plus\n"
        "t = os.environ['DEPLOY_TOKEN']\n"
        "print(base64.b64encode(t.encode()).decode(), quote_plus(t), json.dumps(t))\n"
        "k = json.loads(os.environ['SA_KEY'])['private_key']\n"
        "print(base64.urlsafe_b64encode(b'x' + k.encode()).decode(), file=sys.stderr)\n"
        "sys.exit(3)\n"
    )
    extra = "      passEnv: [DEPLOY_TOKEN, SA_KEY]\n"
    bare = make_remote(
        tmp_path,
        actions={"leak": action_yaml("leak", ["python3", "-c", script], extra=extra)},
        requests={"rem-leak": request_yaml("rem-leak", action="leak")},
    )
    repo = clone(tmp_path, bare, "work")
    env = cli_env(DEPLOY_TOKEN=SECRET, SA_KEY=sa_key, REMEDIATE_PASS_ENV="DEPLOY_TOKEN SA_KEY")
    done = remediate(repo, "apply", "--format", "json", env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    blob = "".join(p.read_text() for p in (repo / "audit").rglob("*.jsonl"))
    assert blob.count("[REDACTED]") >= 4
    shown = blob + done.stdout + done.stderr
    b64 = base64.b64encode(SECRET.encode()).decode()
    leaf = base64.urlsafe_b64encode(b"x" + b"pk-" + b"Q" * 30).decode()
    for form in (b64[:12], "s3cr3t%2FPa", "s3cr3t/Pa", "pk-QQQQ", leaf[4:16]):
        assert form not in shown, form


def test_every_result_is_redacted_once_more_before_it_is_recorded() -> None:
    """The last guard (service.execute.run_one) for any executor, a plugin's too."""
    secret = "plugin-leaked-token-42"
    leaked = ExecutionResult(
        False,
        {"log": [f"got {base64.b64encode(secret.encode()).decode()}"], "n": 1},
        f"failed with {json.dumps(secret)}",
    )
    result = redact_result(leaked, {"PLUGIN_TOKEN": secret, "PATH": "/bin"})
    assert result.details == {"log": ["got [REDACTED]"], "n": 1}
    assert result.error == 'failed with "[REDACTED]"'


def test_apply_redacts_every_result_with_the_runners_secrets_found_once_per_run(
    tmp_path: Path,
) -> None:
    """`apply` finds the runner's secret-looking variables once per run and redacts each
    action's result with them: the first result and the later ones alike."""
    from remediate.service.apply import apply
    from tests.runner_support import remote_events
    from tests.sessions import session

    secret = "runner-held-token-9f3"
    bare = make_remote(
        tmp_path,
        actions={"noop": action_yaml("noop", ["true"])},
        requests={n: request_yaml(n, service=f"svc-{n}") for n in ("rem-a", "rem-b", "rem-c")},
    )
    built = session(clone(tmp_path, bare, "runner"), RUNNER_API_TOKEN=secret)

    class Leaky:
        """A plugin backend that prints what it was handed."""

        def run(self, context: Any) -> ExecutionResult:
            token = context.environment["RUNNER_API_TOKEN"]
            return ExecutionResult(False, {"log": [f"using {token}"]}, f"refused {token}")

    built.backend = Leaky()  # type: ignore[assignment]
    report = apply(built, "ops@example.com", concurrency=1)
    assert sorted(name for name, _ in report.executed) == ["rem-a", "rem-b", "rem-c"]
    outcomes = [e for e in remote_events(tmp_path, bare) if e["from"] == "EXECUTING"]
    assert len(outcomes) == 3
    for event in outcomes:
        assert event["details"]["log"] == ["using [REDACTED]"]
        assert event["error"] == "refused [REDACTED]"
    assert secret not in json.dumps(outcomes)
