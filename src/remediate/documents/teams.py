"""`team:<slug>` principals must name a team that exists.

Under the local forge teams are `Settings.spec.teams`, so a name it does not
define is an error: such a principal would match nobody, and a rule that
needs its approval could never be satisfied (or, in `rbac`, a role nobody
holds). Under the github forge teams come from the GitHub API, which
`validate` does not call (it runs offline, in pre-commit): a team missing
from a `teams` list that Settings does keep is only a warning, and without
such a list there is nothing to compare with. Without any Settings document
(a policy library) nothing is checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from remediate.errors import Problem

if TYPE_CHECKING:
    from remediate.core.document import Document
    from remediate.documents.references import Index

PREFIX = "team:"


def principals(doc: Document) -> Iterator[tuple[str, Any]]:
    """(key path, principal) of every identity list entry that may name a team."""
    spec = doc.spec
    if doc.kind == "Settings":
        for role in ("admins", "operators", "viewers"):
            yield from _each(f"spec.rbac.{role}", spec.get("rbac", {}).get(role, ()))
        yield from _each(
            "spec.defaultApprovals.from", spec.get("defaultApprovals", {}).get("from", ())
        )
    elif doc.kind == "GuardrailPolicy":
        for i, rule in enumerate(spec.get("rules", ())):
            yield from _each(
                f"spec.rules[{i}].approvals.from", rule.get("approvals", {}).get("from", ())
            )
        for i, exception in enumerate(spec.get("exceptions", ())):
            yield f"spec.exceptions[{i}].owner", exception.get("owner")


def _each(path: str, values: Iterable[Any]) -> Iterator[tuple[str, Any]]:
    for i, value in enumerate(values):
        yield f"{path}[{i}]", value


def check_teams(doc: Document, index: Index) -> Iterable[Problem]:
    settings = next(iter(index.by_kind.get("Settings", {}).values()), None)
    if settings is None:
        return
    teams = settings.spec.get("teams")
    github = settings.spec.get("forge", {}).get("type", "local") == "github"
    if github and teams is None:
        return
    known = sorted(teams or {})
    for path, principal in principals(doc):
        if not isinstance(principal, str) or not principal.startswith(PREFIX):
            continue
        slug = principal[len(PREFIX) :]
        if slug in known:
            continue
        line = doc.line(path)
        if github:
            listed = ", ".join(known) or "none"
            yield Problem(
                doc.file,
                line,
                path,
                f"team {principal!r} is not in Settings.spec.teams ({listed}); under the github"
                " forge it must be a team of the GitHub organization",
                "warning",
            )
        else:
            yield Problem(doc.file, line, path, f"unknown team {principal!r} {_hint(slug, known)}")


def _hint(slug: str, known: list[str]) -> str:
    import difflib

    near = difflib.get_close_matches(slug, known, n=1, cutoff=0.6)
    if near:
        return f"(did you mean {PREFIX + near[0]!r}?)"
    return (
        f"(Settings.spec.teams defines: {', '.join(known)})"
        if known
        else ("(Settings.spec.teams defines none)")
    )
