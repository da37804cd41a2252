"""`report`: the digest of a real audit, as Markdown and HTML, and e-mailed for real."""

from __future__ import annotations

import base64
import csv
import io
import os
import re
import shutil
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from remediate.executors.redaction import Redactor
from tests.runner_support import (
    OPERATOR,
    action_yaml,
    cli_env,
    clone,
    make_remote,
    remediate,
    request_yaml,
)
from tests.smtp_support import (
    PASSWORD,
    Certificates,
    Inbox,
    make_certificates,
    smtp_env,
    smtp_server,
)

HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
TOKEN = "tok-9f8e7d6c5b4a3210-SECRET"
NOW = "2026-11-23T10:00:00Z"

POLICIES = {
    "prod": """\
apiVersion: remediate/v1
kind: GuardrailPolicy
metadata: {name: prod}
spec:
  match: {environments: [production]}
  rules:
    - name: two-sre
      effect: require_approval
      approvals: {min: 2, from: ["team:sre"]}
  exceptions:
    - name: legacy-window
      owner: ops@example.com
      reason: "migration of the legacy cluster"
      expires: "@SOON@"
      requests: [never-mind]
    - name: far-away
      owner: ops@example.com
      reason: "not soon"
      expires: "@LATER@"
      requests: [never-mind]
""",
    "frozen": """\
apiVersion: remediate/v1
kind: GuardrailPolicy
metadata: {name: frozen}
spec:
  match: {environments: [frozen]}
  blockedEnvironments: [frozen]
""",
}


def _at(**delta: float) -> datetime:
    """Now plus `delta`, to the second: events carry the runner's real time, so the tests
    report on periods around it."""
    return (datetime.now(UTC) + timedelta(**delta)).replace(microsecond=0)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _repo(tmp_path: Path) -> Path:
    policies = {
        name: text.replace("@SOON@", _iso(_at(days=7))).replace("@LATER@", _iso(_at(days=200)))
        for name, text in POLICIES.items()
    }
    actions = {"noop": action_yaml("noop", ["true"]), "boom": action_yaml("boom", ["false"])}
    requests = {
        "ok-1": request_yaml("ok-1"),
        "bad-1": request_yaml("bad-1", action="boom"),
        "prod-1": request_yaml("prod-1", env="production"),
        "frozen-1": request_yaml("frozen-1", env="frozen"),
    }
    bare = make_remote(tmp_path, actions=actions, requests=requests, policies=policies)
    work = clone(tmp_path, bare, "work", email=OPERATOR)
    assert remediate(work, "apply").returncode == 1  # bad-1 failed
    done = remediate(work, "approve", "frozen-1", "--reason", HOSTILE + " " + TOKEN)
    assert done.returncode == 0, done.stderr
    return work


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _repo(tmp_path_factory.mktemp("report"))


def _days(text: str) -> tuple[int, int]:
    """Completed and failed, summed over the outcomes-per-day table of a Markdown digest."""
    rows = re.findall(r"^\| (\d{4}-\d\d-\d\d) \| (\d+) \| (\d+) \|", text, re.M)
    return sum(int(c) for _, c, _ in rows), sum(int(f) for *_, f in rows)


def test_markdown_digest(work: Path) -> None:
    end = _at(minutes=1)
    env = {**cli_env(_iso(end)), "DEPLOY_API_TOKEN": TOKEN}
    done = remediate(work, "report", "--period", "7d", env=env)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    start = end - timedelta(days=7)
    assert text.startswith(
        f"# Remediation report {start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC\n"
    )
    assert "| COMPLETED | 1 |" in text and "| FAILED | 1 |" in text
    assert "| PENDING\\_APPROVAL | 1 |" in text and "| QUEUED | 1 |" in text
    assert "| bad-1 | staging | api | exited with status 1 |" in text
    # who may approve the pending request, from a fresh decision
    assert "| prod-1 | production | api | 2 more from team:sre |" in text
    assert "## Overrides (1)" in text
    assert "&lt;script&gt;" in text and "<script>" not in text  # inert in Markdown too
    assert f"| {_iso(_at(days=7))[:10]}" in text and "| prod | legacy-window | ops@" in text
    assert "far-away" not in text  # expires later than 14 days from now
    assert _days(text) == (1, 1)  # outcomes per day
    assert TOKEN not in text and "[REDACTED]" in text  # the runner's secrets, as in e-mail


def test_html_escapes_request_values_and_holds_no_script(work: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    done = remediate(work, "report", "--output", str(out), now=_iso(_at(minutes=1)))
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    assert "<script" not in page.lower()  # neither the reason's nor pygal's
    assert (
        "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;"
        in page
    )
    assert "<svg" in page and 'id="outcomes"' in page
    assert not re.search(
        r"""(src|href)\s*=\s*["']?(https?:)?//""", page
    )  # nothing from the network
    assert remediate(work, "report", "--output", str(tmp_path / "r.txt")).returncode == 2


def test_period_and_format_errors(work: Path) -> None:
    bad = remediate(work, "report", "--period", "soon")
    assert bad.returncode == 2
    assert bad.stderr.startswith("remediate: --period soon: 'soon' is not a duration")
    json_out = remediate(work, "report", "--format", "json", now=_iso(_at(minutes=1)))
    assert json_out.returncode == 0 and '"pendingApprovals": 1' in json_out.stdout


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


def test_the_email_has_text_html_and_csv_and_no_secret_in_any_encoding(
    work: Path, certificates: Certificates
) -> None:
    from remediate import wiring
    from remediate.service.reports.report import build
    from remediate.service.reports.send import deliver

    inbox = Inbox(refuse={"gone@example.com"})
    with smtp_server(inbox, certificates) as port:
        env = {**cli_env(NOW), **smtp_env(port, certificates), "DEPLOY_API_TOKEN": TOKEN}
        session = wiring.session(work, env)
        now = _at(minutes=1)
        digest = build(session, now)
        failures = deliver(session, digest, ["sre@example.com", "gone@example.com"], now)
    assert failures == {"gone@example.com": "550 5.1.1 mailbox unavailable"}
    ((to, raw),) = inbox.received
    assert to == ["sre@example.com"]
    message = BytesParser(policy=policy.default).parsebytes(raw)
    start = now - timedelta(days=7)
    assert message["Subject"] == (
        f"Remediation report {start:%Y-%m-%d %H:%M} – {now:%Y-%m-%d %H:%M} UTC"
    )
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "remediation-audit-export.csv"
    rows = list(csv.DictReader(io.StringIO(attachment.get_content())))
    assert {r["id"] for r in rows} == {"ok-1", "bad-1", "prod-1", "frozen-1"}
    assert "&lt;script&gt;" in html and "<script" not in html.lower()
    assert "## Overrides (1)" in text
    # the secrets: neither decoded nor in the raw bytes, raw or in any encoding
    for part in (text, html, attachment.get_content(), raw.decode()):
        assert TOKEN not in part and PASSWORD not in part
    redact = Redactor([TOKEN, PASSWORD])
    assert redact(raw.decode()) == raw.decode()  # no raw, URL, JSON, base64 or hex form
    assert base64.b64encode(TOKEN.encode()).decode()[:16] not in raw.decode()
    assert "[REDACTED]" in text and "[REDACTED]" in html


def test_the_period_excludes_what_changed_before_it(work: Path) -> None:
    done = remediate(work, "report", "--period", "24h", "--now", _iso(_at(days=3)))
    assert done.returncode == 0, done.stderr
    assert "0 requests changed in the period" in done.stdout
    assert "## Pending approvals (1)" in done.stdout  # still pending, whenever asked


def test_the_html_report_renders_in_headless_chromium_with_no_request_leaving(
    work: Path, tmp_path: Path
) -> None:
    from tests.browser_support import chromium, ink, screenshot

    chromium()
    page = tmp_path / "report.html"
    done = remediate(
        work, "report", "--period", "7d", "--output", str(page), now=_iso(_at(minutes=1))
    )
    assert done.returncode == 0, done.stderr
    shot = tmp_path / "report.png"
    left = screenshot(page, shot)
    assert left == []  # no script, font, image or style from anywhere
    share, colours = ink(shot)
    assert share > 0.02  # text, tables and the chart: not a blank page
    assert (46, 125, 50) in colours or any(
        abs(r - 46) + abs(g - 125) + abs(b - 50) < 30 for r, g, b in colours
    )
    artifacts = os.environ.get("REMEDIATE_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artifacts) / "report.png")


RECIPIENTS = """\
  reporting:
    scheduledReportEnabled: false
    reportCadence: weekly
    reportRecipients: [sre@example.com, gone@example.com]
"""


@pytest.fixture
def sending(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository whose settings name two report recipients, after one apply."""
    import tests.runner_support as support

    monkeypatch.setattr(support, "SETTINGS", support.SETTINGS + RECIPIENTS)
    actions = {"noop": action_yaml("noop", ["true"]), "boom": action_yaml("boom", ["false"])}
    requests = {"ok-1": request_yaml("ok-1"), "bad-1": request_yaml("bad-1", action="boom")}
    bare = make_remote(tmp_path, actions=actions, requests=requests)
    work = clone(tmp_path, bare, "work", email=OPERATOR)
    assert remediate(work, "apply").returncode == 1
    return work


def test_send_records_runs_lists_them_and_retry_is_a_new_run(
    sending: Path, certificates: Certificates, tmp_path: Path
) -> None:
    import json

    from remediate.core.report_runs import FIELDS

    inbox = Inbox(refuse={"gone@example.com"})
    with smtp_server(inbox, certificates) as port:
        env = {**cli_env(_iso(_at(minutes=1))), **smtp_env(port, certificates)}
        done = remediate(sending, "report", "--send", "--format", "json", env=env)
        assert done.returncode == 1, done.stderr  # one recipient refused: the run failed
        first = json.loads(done.stdout)
        assert (first["status"], first["deliveredCount"], first["failedDeliveryCount"]) == (
            "failed",
            1,
            1,
        )
        assert first["deliveryFailures"] == [
            {"recipient": "gone@example.com", "error": "550 5.1.1 mailbox unavailable"}
        ]
        assert (first["totalActions"], first["failedActions"]) == (2, 1)
        assert first["organizationId"] == "test-org" and first["cadence"] == "weekly"
        assert [to for to, _ in inbox.received] == [["sre@example.com"]]

        inbox.refuse.clear()
        again = remediate(sending, "report", "retry", first["id"], "--format", "json", env=env)
        assert again.returncode == 0, again.stderr
        retried = json.loads(again.stdout)
    assert retried["id"] != first["id"] and retried["retryOf"] == first["id"]
    assert (retried["from"], retried["to"]) == (first["from"], first["to"])  # the same period
    assert (retried["status"], retried["deliveredCount"]) == ("success", 2)
    assert len(inbox.received) == 3

    listed = json.loads(remediate(sending, "report", "runs", "--format", "json").stdout)
    assert [r["id"] for r in listed["runs"]] == [retried["id"], first["id"]]  # newest first
    assert listed["runs"][1] == first
    ok = json.loads(
        remediate(sending, "report", "runs", "--status", "success", "--format", "json").stdout
    )
    assert [r["id"] for r in ok["runs"]] == [retried["id"]]
    none = remediate(sending, "report", "runs", "--from", _iso(_at(days=1)), "--format", "json")
    assert json.loads(none.stdout) == {"runs": []}
    table = remediate(sending, "report", "runs", "--format", "csv").stdout
    header, *rows = list(csv.reader(io.StringIO(table)))
    assert header == list(FIELDS) and len(rows) == 2
    assert dict(zip(header, rows[1], strict=True))["deliveryFailures"] == (
        "gone@example.com: 550 5.1.1 mailbox unavailable"
    )

    # the runs are audit events on the reports stream: chained, verified, no secret
    verified = remediate(sending, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    from tests.runner_support import git

    git(sending, "pull", "-q", "--ff-only")
    lines = [
        json.loads(line)
        for path in sorted((sending / "audit").rglob("*.jsonl"))
        for line in path.read_text().splitlines()
        if '"stream":"reports"' in line
    ]
    assert [(e["verb"], e["details"]["run"]["status"]) for e in lines].count(
        ("start", "running")
    ) == 2
    assert sorted(e["details"]["run"]["status"] for e in lines if e["verb"] == "finish") == [
        "failed",
        "success",
    ]
    text = "".join(p.read_text() for p in (sending / "audit").rglob("*.jsonl"))
    assert PASSWORD not in text


def test_an_unknown_run_and_no_recipients_are_user_errors(work: Path) -> None:
    missing = remediate(work, "report", "retry", "94000000-0000-4000-8000-000000000009")
    assert missing.returncode == 1
    assert missing.stderr.startswith(
        "remediate: no report run '94000000-0000-4000-8000-000000000009'"
    )
    nobody = remediate(work, "report", "--send")
    assert nobody.returncode == 1
    assert "reportRecipients is empty; nobody to send to" in nobody.stderr


def test_bad_smtp_settings_fail_before_a_run_is_recorded(sending: Path) -> None:
    env = {**cli_env(), "SMTP_HOST": "127.0.0.1", "SMTP_FROM": "r@example.com"}
    env.update(SMTP_SECURITY="none", SMTP_USERNAME="u", SMTP_PASSWORD="p-secret-1")
    done = remediate(sending, "report", "--send", env=env)
    assert done.returncode == 2
    assert "credentials are never sent over a connection without TLS" in done.stderr
    assert remediate(sending, "report", "runs").stdout == ""
