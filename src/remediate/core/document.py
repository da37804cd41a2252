"""A validated YAML document and where each of its keys came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KINDS = (
    "Settings",
    "ActionType",
    "GuardrailPolicy",
    "PolicyTest",
    "RemediationRequest",
    "Schedule",
)
API_VERSION = "remediate/v1"


@dataclass(frozen=True)
class LineMap:
    """Key path (`spec.rules[0].when`) → 1-based line in the source file."""

    lines: dict[str, int] = field(default_factory=dict)

    def line(self, path: str) -> int:
        """The line of `path`, or of its nearest recorded ancestor."""
        while True:
            found = self.lines.get(path)
            if found is not None:
                return found
            if not path:
                return 0
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""

    def subtree(self, prefix: str) -> LineMap:
        """Lines under `prefix`, re-rooted so `prefix.a` becomes `a`."""
        out = {"": self.line(prefix)}
        dot, bracket = prefix + ".", prefix + "["
        for path, line in self.lines.items():
            if path.startswith(dot):
                out[path[len(dot) :]] = line
            elif path.startswith(bracket):
                out[path[len(prefix) :]] = line
        return LineMap(out)


@dataclass(frozen=True)
class Document:
    """One YAML document of a known kind that passed its schema."""

    kind: str
    name: str
    spec: dict[str, Any]
    file: str
    lines: LineMap
    metadata: dict[str, Any] = field(default_factory=dict)

    def line(self, path: str = "") -> int:
        return self.lines.line(path)
