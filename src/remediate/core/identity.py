"""Who is who: identities, people, teams and roles.

An identity is a git e-mail address or a GitHub login. `people` in Settings
links one person's identities so that approvals compare people, not
strings; `team:<slug>` names a team (from Settings under the local forge, or
from the GitHub API, passed in as `teams`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from remediate.core.model import Settings


def normalize(identity: str) -> str:
    """Identities compare case-insensitively (e-mail domains and GitHub logins are)."""
    return identity.strip().casefold()


@dataclass(frozen=True)
class Directory:
    """Resolves identities to people, team membership and roles."""

    person_of: Mapping[str, str] = field(default_factory=dict)  # identity → person key
    teams: Mapping[str, frozenset[str]] = field(default_factory=dict)  # slug → person keys
    admins: tuple[str, ...] = ()
    operators: tuple[str, ...] = ()
    viewers: tuple[str, ...] = ()

    @classmethod
    def from_settings(
        cls, settings: Settings, teams: Mapping[str, Iterable[str]] | None = None
    ) -> Directory:
        person_of: dict[str, str] = {}
        for i, person in enumerate(settings.people):
            key = f"person:{i}"
            for ident in [person.get("github"), *person.get("emails", [])]:
                if ident:
                    person_of[normalize(ident)] = key
        source = teams if teams is not None else settings.teams
        resolved = {
            slug: frozenset(person_of.get(normalize(m), normalize(m)) for m in members)
            for slug, members in source.items()
        }
        return cls(person_of, resolved, settings.admins, settings.operators, settings.viewers)

    def person(self, identity: str) -> str:
        """The person behind an identity (the identity itself when `people` does not name it)."""
        ident = normalize(identity)
        return self.person_of.get(ident, ident)

    def same_person(self, a: str | None, b: str | None) -> bool:
        return a is not None and b is not None and self.person(a) == self.person(b)

    def matches(self, identity: str, principal: str) -> bool:
        """Does `identity` satisfy `principal` (an identity, `team:<slug>` or `*`)?"""
        if principal == "*":
            return True
        if principal.startswith("team:"):
            return self.person(identity) in self.teams.get(principal[5:].casefold(), frozenset())
        return self.same_person(identity, principal)

    def matches_any(self, identity: str, principals: Iterable[str]) -> bool:
        return any(self.matches(identity, p) for p in principals)

    def is_admin(self, identity: str) -> bool:
        return self.matches_any(identity, self.admins)

    def is_operator(self, identity: str) -> bool:
        """Operators may approve, reject and override; admins are operators too."""
        return self.is_admin(identity) or self.matches_any(identity, self.operators)
