"""docs/certificates.md stays true: its ActionType, Schedule and GuardrailPolicy examples
validate in a copy of the quickstart (the cert_check one as a second ActionType)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.conftest import ROOT, Result, validate_problems

DOC = ROOT / "docs" / "certificates.md"


def blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)


def test_the_examples_of_docs_certificates_validate(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    acme, check, schedule, policy = blocks()
    (quickstart / "actions" / "renew-edge-cert.yaml").write_text(acme)
    action = yaml.safe_load(acme)
    action["metadata"]["name"] = "check-edge-cert"
    action["spec"]["executor"] = yaml.safe_load(check)["executor"]
    action["spec"].pop("retries")
    (quickstart / "actions" / "check-edge-cert.yaml").write_text(yaml.safe_dump(action))
    (quickstart / "schedules" / "weekly-edge-cert.yaml").write_text(schedule)
    (quickstart / "policies" / "certificate-renewals.yaml").write_text(policy)
    assert validate_problems(quickstart, run_cli) == []
