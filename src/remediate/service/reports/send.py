"""`report --send`: the digest e-mailed to the report recipients through the `Mailer` port.

The message is multipart: the Markdown digest as its text part, the HTML digest as the
alternative, and the period's `export csv` attached. Every part is redacted before it
is encoded (the runner's secret-looking variables, SMTP_PASSWORD among them, in their
raw, URL, JSON, base64 and hex forms), so no encoding of the message carries a secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from remediate.core.reports import Digest
from remediate.executors.base import ambient_secrets
from remediate.executors.redaction import Redactor
from remediate.service.reports.render import html, markdown, title
from remediate.service.session import Session
from remediate.service.stats import export_csv

CSV_NAME = "remediation-audit-export.csv"
CSV_ROWS = 10_000  # rows of the period's CSV at most (the digest counts them all)


def period_csv(session: Session, digest: Digest) -> str:
    """The period's `export csv`: requests last updated in it, newest first."""
    return "".join(export_csv(session, limit=CSV_ROWS, updated=(digest.start, digest.end)))


def compose(
    digest: Digest, csv_text: str, sender: str, now: datetime, redact: Redactor
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = title(digest)
    message["From"] = sender
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(redact(markdown(digest)), subtype="plain", cte="quoted-printable")
    message.add_alternative(redact(html(digest)), subtype="html", cte="quoted-printable")
    message.add_attachment(
        redact(csv_text).encode(),
        maintype="text",
        subtype="csv",
        filename=CSV_NAME,
    )
    return message


def deliver(
    session: Session, digest: Digest, recipients: Sequence[str], now: datetime
) -> dict[str, str]:
    """recipient → why it was not delivered (empty: every one received it)."""
    redact = Redactor(ambient_secrets(session.env.variables()))
    mailer = session.mailer
    message = compose(digest, period_csv(session, digest), mailer.sender, now, redact)
    failures = mailer.send(message, list(recipients))
    return {r: redact(why) for r, why in failures.items()}
