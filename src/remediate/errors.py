"""Domain errors shared by every layer.

The CLI maps `RemediateError` subclasses to exit codes: a `UserError` means the
user's documents or request must change (exit 1), a `UsageError` means the
command was misused (exit 2).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One finding about a document: `file:line: key.path: message`."""

    file: str
    line: int
    path: str
    message: str
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        what = f"{self.path}: {self.message}" if self.path else self.message
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}: {prefix}{what}"

    def as_json(self) -> dict[str, object]:
        """`message` is the sentence as printed (key path first), `path` the key path alone."""
        text = f"{self.path}: {self.message}" if self.path else self.message
        return {
            "file": self.file,
            "line": self.line,
            "path": self.path,
            "message": text,
            "severity": self.severity,
        }


class RemediateError(Exception):
    """Base of the errors the CLI reports without a traceback."""

    exit_code = 1


class UserError(RemediateError):
    """The documents, the repository or the request must change."""


class UsageError(RemediateError):
    """The command was misused (bad flag values, not a repository)."""

    exit_code = 2


class DocumentsInvalid(UserError):
    """Raised by commands that fail closed while any document is invalid."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} document error(s); nothing was run")
