"""The dependency bounds are real: the weekly CI's lowest job installs exactly them."""

from __future__ import annotations

import tomllib

from tests.conftest import ROOT


def test_constraints_lowest_holds_each_runtime_dependency_at_its_lower_bound() -> None:
    """constraints-lowest.txt (the weekly CI's lowest job) pins exactly pyproject's bounds."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    bounds = {}
    for requirement in project["dependencies"]:
        name, _, version = requirement.partition(">=")
        bounds[name.strip().lower()] = version.strip()
    pinned = {}
    for line in (ROOT / "constraints-lowest.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pinned[name.strip().lower()] = version.strip()
    assert set(pinned) == set(bounds)
    for name, version in bounds.items():
        # a bound may omit trailing zeros (>=8.1 is 8.1.0), and nothing else
        bound, pin = version.split("."), pinned[name].split(".")
        assert len(pin) >= len(bound) and pin == bound + ["0"] * (len(pin) - len(bound)), name
