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
      expires: "2026-11-30T00:00:00Z"
      requests: [never-mind]
    - name: far-away
      owner: ops@example.com
      reason: "not soon"
      expires: "2027-06-01T00:00:00Z"
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


def _repo(tmp_path: Path) -> Path:
    actions = {"noop": action_yaml("noop", ["true"]), "boom": action_yaml("boom", ["false"])}
    requests = {
        "ok-1": request_yaml("ok-1"),
        "bad-1": request_yaml("bad-1", action="boom"),
        "prod-1": request_yaml("prod-1", env="production"),
        "frozen-1": request_yaml("frozen-1", env="frozen"),
    }
    bare = make_remote(tmp_path, actions=actions, requests=requests, policies=POLICIES)
    work = clone(tmp_path, bare, "work", email=OPERATOR)
    assert remediate(work, "apply").returncode == 1  # bad-1 failed
    done = remediate(work, "approve", "frozen-1", "--reason", HOSTILE + " " + TOKEN)
    assert done.returncode == 0, done.stderr
    return work


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _repo(tmp_path_factory.mktemp("report"))


def test_markdown_digest(work: Path) -> None:
    done = remediate(
        work, "report", "--period", "7d", env={**cli_env(NOW), "DEPLOY_API_TOKEN": TOKEN}
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert text.startswith("# Remediation report 2026-11-16 10:00 – 2026-11-23 10:00 UTC\n")
    assert "| COMPLETED | 1 |" in text and "| FAILED | 1 |" in text
    assert "| PENDING\\_APPROVAL | 1 |" in text and "| QUEUED | 1 |" in text
    assert "| bad-1 | staging | api | exited with status 1 |" in text
    # who may approve the pending request, from a fresh decision
    assert "| prod-1 | production | api | 2 more from team:sre |" in text
    assert "## Overrides (1)" in text
    assert "&lt;script&gt;" in text and "<script>" not in text  # inert in Markdown too
    assert "| 2026-11-30T00:00:00.000Z | prod | legacy-window | ops@" in text
    assert "far-away" not in text  # expires later than 14 days from now
    assert "| 2026-11-23 | 1 | 1 |" in text  # outcomes per day
    assert TOKEN not in text and "[REDACTED]" in text  # the runner's secrets, as in e-mail


def test_html_escapes_request_values_and_holds_no_script(work: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    done = remediate(work, "report", "--output", str(out))
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
    json_out = remediate(work, "report", "--format", "json")
    assert json_out.returncode == 0 and '"pendingApprovals": 1' in json_out.stdout


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


def test_the_email_has_text_html_and_csv_and_no_secret_in_any_encoding(
    work: Path, certificates: Certificates
) -> None:
    from remediate import wiring
    from remediate.core.times import parse_time
    from remediate.service.reports.report import build
    from remediate.service.reports.send import deliver

    inbox = Inbox(refuse={"gone@example.com"})
    with smtp_server(inbox, certificates) as port:
        env = {**cli_env(NOW), **smtp_env(port, certificates), "DEPLOY_API_TOKEN": TOKEN}
        session = wiring.session(work, env)
        now = parse_time(NOW)
        digest = build(session, now)
        failures = deliver(session, digest, ["sre@example.com", "gone@example.com"], now)
    assert failures == {"gone@example.com": "550 5.1.1 mailbox unavailable"}
    ((to, raw),) = inbox.received
    assert to == ["sre@example.com"]
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert message["Subject"] == "Remediation report 2026-11-16 10:00 – 2026-11-23 10:00 UTC"
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
    later = (datetime(2026, 11, 23, 10, tzinfo=UTC) + timedelta(days=3)).isoformat()
    done = remediate(work, "report", "--period", "24h", "--now", later.replace("+00:00", "Z"))
    assert done.returncode == 0, done.stderr
    assert "0 requests changed in the period" in done.stdout
    assert "## Pending approvals (1)" in done.stdout  # still pending, whenever asked


def test_the_html_report_renders_in_headless_chromium_with_no_request_leaving(
    work: Path, tmp_path: Path
) -> None:
    from tests.browser_support import chromium, ink, screenshot

    chromium()
    page = tmp_path / "report.html"
    assert remediate(work, "report", "--period", "7d", "--output", str(page)).returncode == 0
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
