"""Which version of each file of the automation itself the runner may use.

`remediate.yaml`, `actions/` and `policies/` decide what runs and who may approve it, so a
change to them takes effect only when an admin made it: for each such file the runner uses
the newest version along the branch's first-parent line whose author is an admin (or that
an admin vouched for: `Version.vouchers`, the seam where a forge adds "merged through a
pull request an admin approved"), and names the files whose newer versions it holds back.

Who is an admin is itself in `remediate.yaml`; its versions form a chain of trust from the
founding commit (the one that first added the settings; everything it and its ancestors
hold is trusted as the repository's creation): a later version of the settings counts
when an admin of the version in force before it made it. Pure: the history and a way to
read the admins of a settings version arrive as arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

SETTINGS_FILES = ("remediate.yaml", "remediate.yml")
AUTOMATION_PATHS = (*SETTINGS_FILES, "actions", "policies")


def is_automation(path: str) -> bool:
    """Is `path` part of the automation itself (settings, action types, policies)?"""
    return path in SETTINGS_FILES or path.startswith(("actions/", "policies/"))


@dataclass(frozen=True)
class Version:
    """One change to one file: the commit, its author, the path, the blob (None: deleted)."""

    commit: str
    author: str
    path: str
    blob: str | None
    vouchers: tuple[str, ...] = ()  # who else stands behind it (a forge's approving reviewers)


@dataclass(frozen=True)
class HeldBack:
    """A file whose version at the tip is not an admin's: what the runner uses instead."""

    path: str
    author: str  # of the version at the tip
    commit: str
    using: str | None  # the commit whose version is used instead; None: the file is left out

    @property
    def sentence(self) -> str:
        instead = (
            f"using its version of {self.using[:12]}"
            if self.using
            else "leaving it out (no admin ever made it)"
        )
        return (
            f"{self.path}: the version of {self.commit[:12]} by {self.author} is not an "
            f"admin's and does not take effect; {instead}"
        )


@dataclass(frozen=True)
class Trusted:
    """What to read instead of the tip: path → blob (None: leave the file out)."""

    use: Mapping[str, str | None] = field(default_factory=dict)
    held: tuple[HeldBack, ...] = ()


# Is `author` (with the vouchers of a version) an admin under the settings version `blob`?
AdminsOf = Callable[[str | None], Callable[[str], bool]]


def trusted(history: Sequence[Version], tip: Mapping[str, str], admins_of: AdminsOf) -> Trusted:
    """For each automation file, the newest version an admin made (`history` newest first;
    `tip`: path → blob of the automation files at the tip)."""
    if not history:
        return Trusted()
    order: dict[str, int] = {}
    for version in history:
        order.setdefault(version.commit, len(order))
    settings = [v for v in history if v.path in SETTINGS_FILES]
    founding = max((order[v.commit] for v in settings), default=len(order) - 1)
    in_force = _settings_in_force(settings, order, founding, admins_of)
    is_admin = admins_of(in_force.blob if in_force is not None else None)

    def counts(version: Version) -> bool:
        if order[version.commit] >= founding:
            return True
        return any(is_admin(who) for who in (version.author, *version.vouchers))

    newest: dict[str, Version] = {}
    chosen: dict[str, Version | None] = {}
    if in_force is not None:
        chosen[in_force.path] = in_force
    for version in history:
        newest.setdefault(version.path, version)
        if version.path not in chosen and counts(version):
            chosen[version.path] = version
    use: dict[str, str | None] = {}
    held = []
    for path, latest in sorted(newest.items()):
        pick = chosen.get(path)
        blob = pick.blob if pick is not None else None
        if blob == tip.get(path):
            continue
        use[path] = blob
        held.append(HeldBack(path, latest.author, latest.commit, pick.commit if pick else None))
    return Trusted(use, tuple(held))


def _settings_in_force(
    settings: Sequence[Version], order: Mapping[str, int], founding: int, admins_of: AdminsOf
) -> Version | None:
    """The settings version in force: the founding one, then each later version made (or
    vouched for) by an admin of the version in force before it."""
    current: Version | None = None
    for version in sorted(settings, key=lambda v: -order[v.commit]):  # oldest first
        if order[version.commit] >= founding:
            current = version
            continue
        is_admin = admins_of(current.blob if current is not None else None)
        if any(is_admin(who) for who in (version.author, *version.vouchers)):
            current = version
    return current
