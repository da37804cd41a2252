"""Which version of each file of the automation itself the runner may use.

`remediate.yaml`, `actions/` and `policies/` decide what runs and who may approve it, so a
change to them takes effect only when an admin made it: for each such file the runner uses
the newest version along the branch's first-parent line whose author is an admin (or that
an admin vouched for: `Version.vouchers`, the seam where a forge adds "merged through a
pull request an admin approved"), and names the files whose newer versions it holds back.

On GitHub, an admin's approval of a pull request vouches for what it changes: at the push
that merged it the runner records, on the audit's `vouches` stream (a runner commit, so
trusted as the rest of the audit), which admins approved its head commit and the blob of
each automation file it changed there (`Vouch`; None: the head deletes the file);
`with_vouches` adds them as vouchers to the versions whose commit is one the merge put on
the branch and whose blob is exactly the reviewed head's (a deletion only to a deletion).
An admin only through a forge team is recorded with that rule (`Voucher.via`), and counts
while the settings judged by still name it among the admins (`admin_in`). A vouch recorded
after a record was made (`Record.vouched` names those it saw) sends `advance` back to the
whole history unless every version it names came since; `revouch` counts it from the
versions back to the oldest commit it names instead.

Who is an admin is itself in `remediate.yaml`; its versions form a chain of trust from the
founding commit (the one that first added the settings; everything it and its ancestors
hold is trusted as the repository's creation): a later version of the settings counts
when an admin of the version in force before it made it. Pure: the history and a way to
read the admins of a settings version arrive as arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from remediate.core.identity import Directory

SETTINGS_FILES = ("remediate.yaml", "remediate.yml")
AUTOMATION_PATHS = (*SETTINGS_FILES, "actions", "policies")


def is_automation(path: str) -> bool:
    """Is `path` part of the automation itself (settings, action types, policies)?"""
    return path in SETTINGS_FILES or path.startswith(("actions/", "policies/"))


TEAM = "team:"  # the admin rules a voucher may have been an admin through


@dataclass(frozen=True)
class Voucher:
    """Who else stands behind a version (a forge's approving admin, the admin author of a
    merged commit), and the admin rule that made them one when that was recorded, if not
    their identity itself: `team:<slug>`, its membership read from the forge's API then,
    since judging again later there is no API. Counts when the identity is an admin of
    the settings judged by, or the rule is still one of their admin rules."""

    who: str
    via: str | None = None

    def as_json(self) -> str | dict[str, str]:
        return self.who if self.via is None else {"login": self.who, "via": self.via}

    @classmethod
    def from_json(cls, data: object) -> Voucher:
        """ValueError unless an identity, or {"login", "via": "team:<slug>"}."""
        if isinstance(data, str) and data:
            return cls(data)
        if isinstance(data, dict) and set(data) == {"login", "via"}:
            who, via = data["login"], data["via"]
            rule = isinstance(via, str) and via.startswith(TEAM) and via != TEAM
            if isinstance(who, str) and who and rule and via == via.casefold():
                return cls(who, via)
        raise ValueError(
            'a voucher is a login, or {"login": ..., "via": "team:<slug>"} (slug in lower case)'
        )


def admin_in(directory: Directory) -> Callable[[Voucher], bool]:
    """Is a voucher an admin of `directory` (the settings' rbac, no forge API): by its
    identity, or by the team rule recorded with it, when the settings still name that
    rule among the admins."""
    rules = {p.casefold() for p in directory.admins if p.startswith(TEAM)}

    def is_admin(voucher: Voucher) -> bool:
        if directory.is_admin(voucher.who):
            return True
        return voucher.via is not None and voucher.via in rules

    return is_admin


@dataclass(frozen=True)
class Version:
    """One change to one file: the commit, its author, the path, the blob (None: deleted)."""

    commit: str
    author: str
    path: str
    blob: str | None
    vouchers: tuple[Voucher, ...] = ()  # who else stands behind it

    @property
    def behind(self) -> tuple[Voucher, ...]:
        """Who made it or stands behind it: its author, then its vouchers."""
        return (Voucher(self.author), *self.vouchers)


VOUCHES = "vouches"  # the audit stream of admins' approvals of automation changes
VOUCH = "vouch"  # its one verb


@dataclass(frozen=True)
class Vouch:
    """Admins who approved a merged pull request's head commit: the automation files it
    changed as that commit holds them (path → blob; None: the head deletes it, so that
    only a version deleting it, at one of `commits`, is what they reviewed), and the
    commits the merge put on the base branch (the merge or squash commit, or the rebased
    commits)."""

    id: str  # of the event that recorded it
    pull: int
    head: str
    commits: tuple[str, ...]
    files: Mapping[str, str | None]
    admins: tuple[Voucher, ...]

    def vouchers(self, version: Version) -> tuple[Voucher, ...]:
        """Who vouches for `version`: these admins, when it is exactly what they reviewed."""
        if version.commit not in self.commits or version.path not in self.files:
            return ()
        return self.admins if self.files[version.path] == version.blob else ()

    def details(self) -> dict[str, Any]:
        return {
            "pullRequest": self.pull,
            "head": self.head,
            "commits": list(self.commits),
            "files": dict(sorted(self.files.items())),
            "admins": [a.as_json() for a in self.admins],
        }

    @classmethod
    def from_details(cls, event_id: str, details: Mapping[str, Any]) -> Vouch:
        """The vouch an event's details record; ValueError names what is wrong."""
        pull, head = details.get("pullRequest"), details.get("head")
        commits, files = details.get("commits"), details.get("files")
        admins = details.get("admins")
        if isinstance(pull, bool) or not isinstance(pull, int) or not isinstance(head, str):
            raise ValueError("a vouch names its pull request (number) and head commit")
        if not isinstance(commits, list) or not all(isinstance(c, str) for c in commits):
            raise ValueError("a vouch's commits must be a list of commit ids")
        if not isinstance(admins, list):
            raise ValueError("a vouch's admins must be a list of logins")
        vouchers = tuple(Voucher.from_json(a) for a in admins)
        if not isinstance(files, dict) or not all(
            isinstance(p, str) and is_automation(p) and (b is None or isinstance(b, str))
            for p, b in files.items()
        ):
            raise ValueError("a vouch's files must map automation files to blob ids")
        return cls(event_id, pull, head, tuple(commits), dict(files), vouchers)


def with_vouches(history: Sequence[Version], vouches: Iterable[Vouch]) -> list[Version]:
    """`history` with each version's vouchers from `vouches` added."""
    vouches = list(vouches)
    if not vouches:
        return list(history)
    out = []
    for version in history:
        extra = tuple(who for v in vouches for who in v.vouchers(version))
        if extra:
            version = replace(version, vouchers=tuple(dict.fromkeys((*version.vouchers, *extra))))
        out.append(version)
    return out


def vouches_of(states: Iterable[Any]) -> tuple[Vouch, ...]:
    """The vouches of the `vouches` stream's subjects (`StreamState`s), oldest id first."""
    found = [s.value for s in states if isinstance(s.value, Vouch)]
    return tuple(sorted(found, key=lambda v: v.id))


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


# Is one behind a version (its author, a voucher) an admin under the settings version
# `blob`? (`admin_in` of that version's directory)
AdminsOf = Callable[[str | None], Callable[[Voucher], bool]]


def trusted(
    history: Sequence[Version],
    tip: Mapping[str, str],
    admins_of: AdminsOf,
    vouches: Sequence[Vouch] = (),
) -> Trusted:
    """For each automation file, the newest version an admin made (`history` newest first;
    `tip`: path → blob of the automation files at the tip)."""
    return record(history, admins_of, vouches).trusted(tip)


@dataclass(frozen=True)
class Record:
    """What `trusted` needs to know of a history, so that a later commit's answer follows
    from this and the versions made since (`advance`), without the history before: the
    settings version in force, and per file its newest version and the one chosen (the
    newest an admin made; absent: none). Empty: no settings were ever made."""

    in_force: Version | None = None
    newest: Mapping[str, Version] = field(default_factory=dict)
    chosen: Mapping[str, Version] = field(default_factory=dict)
    vouched: tuple[str, ...] = ()  # ids of the vouches this record was made with

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
            "vouched": sorted(self.vouched),
        }

    @classmethod
    def from_json(cls, data: object) -> Record | None:
        """The record, or None for anything this version does not read."""
        try:
            assert isinstance(data, dict)
            in_force = data["inForce"]
            vouched = data.get("vouched", [])  # a record written before vouches: none
            assert isinstance(vouched, list) and all(isinstance(v, str) for v in vouched)
            return cls(
                _version(in_force) if in_force is not None else None,
                {p: _version(v) for p, v in dict(data["newest"]).items()},
                {p: _version(v) for p, v in dict(data["chosen"]).items()},
                tuple(sorted(vouched)),
            )
        except (AssertionError, KeyError, TypeError, ValueError):
            return None


def _version_json(version: Version) -> list[object]:
    vouchers = [v.as_json() for v in version.vouchers]
    return [version.commit, version.author, version.path, version.blob, vouchers]


def _version(data: object) -> Version:
    if not isinstance(data, list) or len(data) != 5:
        raise ValueError("not a version")
    commit, author, path, blob, vouchers = data
    texts = (commit, author, path)
    if not all(isinstance(t, str) for t in texts) or not isinstance(vouchers, list):
        raise ValueError("not a version")
    if blob is not None and not isinstance(blob, str):
        raise ValueError("not a version")
    return Version(commit, author, path, blob, tuple(Voucher.from_json(v) for v in vouchers))


def record(
    history: Sequence[Version], admins_of: AdminsOf, vouches: Sequence[Vouch] = ()
) -> Record:
    """The record of a whole history (newest first), from its founding commit on, with
    the versions `vouches` vouch for."""
    vouched = tuple(sorted({v.id for v in vouches}))
    history = with_vouches(history, vouches)
    if not history:
        return Record(vouched=vouched)
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
        return any(map(is_admin, version.behind))

    newest: dict[str, Version] = {}
    chosen: dict[str, Version] = {}
    if in_force is not None:
        chosen[in_force.path] = in_force
    for version in history:
        newest.setdefault(version.path, version)
        if version.path not in chosen and counts(version):
            chosen[version.path] = version
    return Record(in_force, newest, chosen, vouched)


def advance(
    before: Record,
    since: Sequence[Version],
    admins_of: AdminsOf,
    vouches: Sequence[Vouch] | None = None,
) -> Record | None:
    """The record after the versions made `since` (newest first) the commit of `before`;
    None when only the whole history can say: no settings yet (the founding commit is
    still to come), a different settings version in force (who is an admin decides
    which earlier versions count, back to the first), or a vouch `before` was not made
    with that names a version older than `since` (it may bring that version into force).
    `vouches`: every vouch recorded now (None: not known; those `before` saw still hold)."""
    if before.in_force is None:
        return None
    vouched = before.vouched
    if vouches is not None:
        since = with_vouches(since, vouches)
        seen = set(before.vouched)
        for vouch in vouches:
            if vouch.id in seen:
                continue
            if not _within(vouch, since):
                return None
        vouched = tuple(sorted(seen | {v.id for v in vouches}))
    if not since:
        return replace(before, vouched=vouched)
    order: dict[str, int] = {}
    for version in since:
        order.setdefault(version.commit, len(order))
    in_force = before.in_force
    for version in sorted(
        (v for v in since if v.path in SETTINGS_FILES), key=lambda v: -order[v.commit]
    ):  # oldest first, as `_settings_in_force`
        is_admin = admins_of(in_force.blob)
        if any(map(is_admin, version.behind)):
            in_force = version
    if in_force.blob != before.in_force.blob or in_force.path != before.in_force.path:
        return None  # another settings version (or file) in force: judge the whole history
    is_admin = admins_of(in_force.blob)
    newest, chosen = dict(before.newest), dict(before.chosen)
    for version in reversed(since):  # oldest first: the newest that counts wins
        newest[version.path] = version
        if any(map(is_admin, version.behind)):
            chosen[version.path] = version
    chosen[in_force.path] = in_force
    return Record(in_force, newest, chosen, vouched)


def unseen(at: Record, vouches: Iterable[Vouch]) -> list[Vouch]:
    """The vouches `at` was not made with."""
    seen = set(at.vouched)
    return [v for v in vouches if v.id not in seen]


def revouch(
    at: Record, since: Sequence[Version], admins_of: AdminsOf, vouches: Sequence[Vouch]
) -> Record | None:
    """The record `at` (as of a commit C) with every vouch of `vouches` counted, from the
    versions `since` (newest first: those of C's first-parent line from the oldest commit
    a vouch `at` did not see names, to C) instead of the whole history; None when only
    that can say: no settings yet, a settings version among `since` (the one in force
    may change, and with it who is an admin), or a new vouch naming a file with no
    version in `since` by one of its commits.

    Why `since` is enough: the new vouches touch only versions in `since`, and a vouch
    only adds vouchers, so a version that counted for `at` still counts. Per file changed
    in `since`, the version chosen is then the newest in `since` that counts; if none
    does, nothing in `since` counted for `at` either, and `at`'s choice (older) stands.
    The settings in force are `at`'s, and so are the newest versions (with the vouchers
    the new vouches add)."""
    new = unseen(at, vouches)
    vouched = tuple(sorted({*at.vouched, *(v.id for v in vouches)}))
    if not new:
        return replace(at, vouched=vouched)
    if at.in_force is None or any(v.path in SETTINGS_FILES for v in since):
        return None
    if not all(_within(v, since) for v in new):
        return None
    is_admin = admins_of(at.in_force.blob)
    newest, chosen = dict(at.newest), dict(at.chosen)
    seen_path: set[str] = set()
    done: set[str] = set()
    for version in with_vouches(since, vouches):  # newest first: the first that counts wins
        if version.path not in seen_path:
            newest[version.path] = version  # the same version, with its vouchers now
            seen_path.add(version.path)
        if version.path not in done and any(map(is_admin, version.behind)):
            chosen[version.path] = version
            done.add(version.path)
    return Record(at.in_force, newest, chosen, vouched)


def _within(vouch: Vouch, since: Sequence[Version]) -> bool:
    """Does every version `vouch` may vouch for lie among `since`? Each file it names must
    have a version in `since` made by one of its commits (the commits of one merge land
    in one push, so the newest of them that holds the reviewed blob is then among
    `since`); otherwise it may name an older version, which only the whole history shows."""
    for path in vouch.files:
        if not any(v.path == path and v.commit in vouch.commits for v in since):
            return False
    return True


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
        if any(map(is_admin, version.behind)):
            current = version
    return current


def _vouch_refused(value: Any, event: Any) -> str | None:
    if event.verb != VOUCH:
        return f"the vouches stream has no verb {event.verb!r}"
    if value is not None:
        return "a merge is vouched for once: its subject already holds a vouch"
    try:
        Vouch.from_details(event.id, event.details)
    except ValueError as exc:
        return str(exc)
    return None


def _vouch_step(value: Any, event: Any) -> Vouch:
    return Vouch.from_details(event.id, event.details)


def _vouch_dump(value: Any) -> Any:
    return None if not isinstance(value, Vouch) else {"id": value.id, **value.details()}


def _vouch_load(data: Any) -> Vouch | None:
    if not isinstance(data, dict):
        return None
    return Vouch.from_details(str(data.get("id", "")), data)


def _register() -> None:
    from remediate.core import streams

    streams.register(
        streams.Fold(
            VOUCHES,
            start=lambda subject: None,
            step=_vouch_step,
            refuse=_vouch_refused,
            dump=_vouch_dump,
            load=_vouch_load,
        )
    )


_register()
