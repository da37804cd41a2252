"""Who is an authorized person on GitHub: a login that RBAC names (directly, through
`people`, or as an active member of `team:<slug>`, read from the API) and that has write
permission on the repository — asked of the API each time an approval is used, never
remembered from an earlier run.

`directory(...)` builds the `core.identity.Directory` the decisions use: team members
from the API (only those with write permission), and the RBAC principals that name a
login without write permission (directly or through `people`) left out. Identities that
are not GitHub logins (git e-mails) are left as Settings says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from remediate.core.forge import may_write
from remediate.core.identity import Directory, normalize
from remediate.core.model import Settings
from remediate.documents.teams import PREFIX, principals
from remediate.service.ports import Environment, Forge

if TYPE_CHECKING:
    from remediate.core.document import Document


def on_github(settings: Settings) -> bool:
    return settings.forge.get("type") == "github"


def team_slugs(documents: Iterable[Document]) -> tuple[str, ...]:
    """Every `team:<slug>` that Settings and the policies name (rbac, approvals)."""
    found = {
        principal[len(PREFIX) :].casefold()
        for doc in documents
        for _, principal in principals(doc)
        if isinstance(principal, str) and principal.startswith(PREFIX)
    }
    return tuple(sorted(found))


def logins(identities: Iterable[str | None]) -> list[str]:
    """The GitHub logins among identities (git e-mails are not)."""
    return sorted({i for i in identities if i and "@" not in i and not i.startswith(PREFIX)})


def permissions(forge: Forge, who: Iterable[str]) -> dict[str, str]:
    return {login: forge.permission(login) for login in sorted(set(who))}


def directory(
    settings: Settings,
    forge: Forge,
    who: Iterable[str],
    slugs: Iterable[str],
    known: Mapping[str, str] | None = None,
) -> Directory:
    """RBAC for the logins `who`, as GitHub has them now (`known`: permissions already read)."""
    if not on_github(settings):
        return Directory.from_settings(settings)
    perms = dict(known or {})
    perms.update(permissions(forge, [w for w in who if w not in perms]))
    writers = [login for login, p in perms.items() if may_write(p)]
    teams = {slug: [w for w in writers if forge.team_member(slug, w)] for slug in slugs}
    found = Directory.from_settings(settings, teams)
    barred = {found.person(login) for login, p in perms.items() if not may_write(p)}

    def keep(principals: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(
            p
            for p in principals
            if p == "*" or p.startswith(PREFIX) or found.person(normalize(p)) not in barred
        )

    return replace(found, admins=keep(found.admins), operators=keep(found.operators))


def people(
    forge: Forge, who: Iterable[str], slugs: Iterable[str], known: Mapping[str, str] | None = None
) -> Callable[[Settings], Directory]:
    """`Session.people` for one command: the directory of `who`, read from the API once
    per Settings (one command loads the same settings several times)."""
    who, slugs = sorted(set(who)), tuple(slugs)
    perms = dict(known or {})
    cache: dict[str, Directory] = {}

    def build(settings: Settings) -> Directory:
        key = repr(settings)
        if key not in cache:
            cache[key] = directory(settings, forge, who, slugs, perms)
        return cache[key]

    return build


@dataclass
class ActingAs:
    """The runner's environment, acting as `login` (a reviewer the API authorized)."""

    env: Environment
    login: str

    def variables(self) -> Mapping[str, str]:
        return self.env.variables()

    def push_attempts(self) -> int:
        return self.env.push_attempts()

    def github_actor(self) -> str | None:
        return self.login
