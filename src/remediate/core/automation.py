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
    record: Record | None = None  # what it was chosen from, to advance to a later commit


# Is `author` (with the vouchers of a version) an admin under the settings version `blob`?
AdminsOf = Callable[[str | None], Callable[[str], bool]]


def trusted(history: Sequence[Version], tip: Mapping[str, str], admins_of: AdminsOf) -> Trusted:
    """For each automation file, the newest version an admin made (`history` newest first;
    `tip`: path → blob of the automation files at the tip)."""
    return record(history, admins_of).trusted(tip)


@dataclass(frozen=True)
class Record:
    """What `trusted` needs to know of a history, so that a later commit's answer follows
    from this and the versions made since (`advance`), without the history before: the
    settings version in force, and per file its newest version and the one chosen (the
    newest an admin made; absent: none). Empty: no settings were ever made."""

    in_force: Version | None = None
    newest: Mapping[str, Version] = field(default_factory=dict)
    chosen: Mapping[str, Version] = field(default_factory=dict)

    def trusted(self, tip: Mapping[str, str]) -> Trusted:
        use: dict[str, str | None] = {}
        held = []
        for path, latest in sorted(self.newest.items()):
            pick = self.chosen.get(path)
            blob = pick.blob if pick is not None else None
            if blob == tip.get(path):
                continue
            use[path] = blob
            held.append(HeldBack(path, latest.author, latest.commit, pick.commit if pick else None))
        return Trusted(use, tuple(held), self)

    def as_json(self) -> dict[str, object]:
        return {
            "inForce": _version_json(self.in_force) if self.in_force else None,
            "newest": {p: _version_json(v) for p, v in sorted(self.newest.items())},
            "chosen": {p: _version_json(v) for p, v in sorted(self.chosen.items())},
        }

    @classmethod
    def from_json(cls, data: object) -> Record | None:
        """The record, or None for anything this version does not read."""
        try:
            assert isinstance(data, dict)
            in_force = data["inForce"]
            return cls(
                _version(in_force) if in_force is not None else None,
                {p: _version(v) for p, v in dict(data["newest"]).items()},
                {p: _version(v) for p, v in dict(data["chosen"]).items()},
            )
        except (AssertionError, KeyError, TypeError, ValueError):
            return None


def _version_json(version: Version) -> list[object]:
    return [version.commit, version.author, version.path, version.blob, list(version.vouchers)]


def _version(data: object) -> Version:
    if not isinstance(data, list) or len(data) != 5:
        raise ValueError("not a version")
    commit, author, path, blob, vouchers = data
    texts = (commit, author, path)
    if not all(isinstance(t, str) for t in texts) or not isinstance(vouchers, list):
        raise ValueError("not a version")
    if blob is not None and not isinstance(blob, str):
        raise ValueError("not a version")
    return Version(commit, author, path, blob, tuple(str(v) for v in vouchers))


def record(history: Sequence[Version], admins_of: AdminsOf) -> Record:
    """The record of a whole history (newest first), from its founding commit on."""
    if not history:
        return Record()
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
    chosen: dict[str, Version] = {}
    if in_force is not None:
        chosen[in_force.path] = in_force
    for version in history:
        newest.setdefault(version.path, version)
        if version.path not in chosen and counts(version):
            chosen[version.path] = version
    return Record(in_force, newest, chosen)


def advance(before: Record, since: Sequence[Version], admins_of: AdminsOf) -> Record | None:
    """The record after the versions made `since` (newest first) the commit of `before`;
    None when only the whole history can say: no settings yet (the founding commit is
    still to come), or a different settings version in force (who is an admin decides
    which earlier versions count, back to the first)."""
    if before.in_force is None:
        return None
    if not since:
        return before
    order: dict[str, int] = {}
    for version in since:
        order.setdefault(version.commit, len(order))
    in_force = before.in_force
    for version in sorted(
        (v for v in since if v.path in SETTINGS_FILES), key=lambda v: -order[v.commit]
    ):  # oldest first, as `_settings_in_force`
        is_admin = admins_of(in_force.blob)
        if any(is_admin(who) for who in (version.author, *version.vouchers)):
            in_force = version
    if in_force.blob != before.in_force.blob or in_force.path != before.in_force.path:
        return None  # another settings version (or file) in force: judge the whole history
    is_admin = admins_of(in_force.blob)
    newest, chosen = dict(before.newest), dict(before.chosen)
    for version in reversed(since):  # oldest first: the newest that counts wins
        newest[version.path] = version
        if any(is_admin(who) for who in (version.author, *version.vouchers)):
            chosen[version.path] = version
    chosen[in_force.path] = in_force
    return Record(in_force, newest, chosen)


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
