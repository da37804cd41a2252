"""The automation record (`core.automation.Record`): a record of a history's first part,
advanced by the versions made since, answers exactly what the whole history answers, or
says it cannot (None). Pure: generated histories, every split point."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace

import pytest

from remediate.core.automation import (
    Record,
    Version,
    Vouch,
    Voucher,
    admin_in,
    advance,
    record,
    revouch,
    trusted,
    unseen,
)
from remediate.core.identity import Directory

ADMIN, DEV, OTHER = "admin@example.com", "dev@example.com", "other@example.com"
FILES = ("remediate.yaml", "policies/a.yaml", "policies/b.yaml", "actions/x.yaml")


def admins_of(blob: str | None) -> Callable[[Voucher], bool]:
    """Settings blob `s-<who>+<who>…` makes those admins (a `team:<slug>` among them a
    team rule); anything else: ADMIN only."""
    names = blob[2:].split("+") if blob is not None and blob.startswith("s-") else [ADMIN]
    return admin_in(Directory(admins=tuple(names)))


def history(seed: int, commits: int = 30) -> list[Version]:
    """Newest first, like `automation_history`: a founding commit, then random changes."""
    rng = random.Random(seed)
    versions = [Version("c000", ADMIN, "remediate.yaml", "s-admin@example.com")]
    for n in range(1, commits):
        path = rng.choice(FILES)
        author = rng.choice((ADMIN, DEV, OTHER))
        if path == "remediate.yaml":
            blob: str | None = "s-" + "+".join(sorted({ADMIN, rng.choice((ADMIN, DEV))}))
            if rng.random() < 0.5:
                blob = "s-admin@example.com"  # the same settings again
        else:
            blob = None if rng.random() < 0.1 else f"b{n}"
        vouchers = (Voucher(ADMIN),) if rng.random() < 0.1 else ()
        versions.append(Version(f"c{n:03}", author, path, blob, vouchers))
    return versions[::-1]


@pytest.mark.parametrize("seed", range(40))
def test_advancing_a_record_answers_what_the_whole_history_answers(seed: int) -> None:
    whole = history(seed)
    tip = {"policies/a.yaml": "tip-a", "remediate.yaml": "s-admin@example.com"}
    expected = trusted(whole, tip, admins_of)
    for cut in range(len(whole) + 1):
        since, before = whole[:cut], whole[cut:]
        advanced = advance(record(before, admins_of), since, admins_of)
        if advanced is None:
            continue  # said it cannot: the caller walks the whole history
        assert advanced.trusted(tip) == expected, cut
        assert advanced == record(whole, admins_of)


def test_a_new_settings_version_in_force_needs_the_whole_history() -> None:
    founding = Version("c0", ADMIN, "remediate.yaml", "s-admin@example.com")
    by_dev = Version("c1", DEV, "policies/a.yaml", "b1")
    before = record([by_dev, founding], admins_of)
    assert before.chosen.get("policies/a.yaml") is None  # dev is not an admin
    promote = Version("c2", ADMIN, "remediate.yaml", "s-admin@example.com+dev@example.com")
    assert advance(before, [promote], admins_of) is None  # dev's old version now counts
    assert record([promote, by_dev, founding], admins_of).chosen["policies/a.yaml"] == by_dev


def test_a_non_admins_settings_change_keeps_the_record_advancing() -> None:
    founding = Version("c0", ADMIN, "remediate.yaml", "s-admin@example.com")
    before = record([founding], admins_of)
    attempt = Version("c1", DEV, "remediate.yaml", "s-dev@example.com")
    after = advance(before, [attempt], admins_of)
    assert after is not None and after.in_force == founding
    assert after.newest["remediate.yaml"] == attempt


def test_no_settings_yet_needs_the_whole_history() -> None:
    assert advance(Record(), [Version("c1", DEV, "policies/a.yaml", "b1")], admins_of) is None


def test_the_record_reads_back_what_it_wrote_and_refuses_anything_else() -> None:
    kept = record(history(3), admins_of)
    assert Record.from_json(kept.as_json()) == kept
    assert Record.from_json({"inForce": ["c", "a", "p"], "newest": {}, "chosen": {}}) is None
    assert Record.from_json(["not", "a", "record"]) is None
    assert Record.from_json({"inForce": None, "newest": {"p": [1, 2, 3, 4, []]}}) is None


def test_the_settings_moving_to_the_other_file_name_needs_the_whole_history() -> None:
    """The same content in force under another file name (remediate.yml after
    remediate.yaml): the old file's chosen version must be judged again (found by review:
    `advance` compared only the blob)."""
    c0 = Version("c0", ADMIN, "remediate.yaml", "s-admin@example.com")
    c1 = Version("c1", ADMIN, "remediate.yml", "s-other@example.com")
    c2 = Version("c2", OTHER, "remediate.yaml", "s-other@example.com")
    whole = [c2, c1, c0]
    tip = {"remediate.yaml": "s-other@example.com", "remediate.yml": "s-other@example.com"}
    assert advance(record([c1, c0], admins_of), [c2], admins_of) is None
    assert trusted(whole, tip, admins_of).use == {"remediate.yml": None}


@pytest.mark.parametrize("seed", range(40))
def test_with_both_settings_file_names_advancing_answers_the_whole_history(seed: int) -> None:
    rng = random.Random(seed)
    whole = history(seed)
    whole = [  # some of the settings versions under the other name
        Version(v.commit, v.author, "remediate.yml", v.blob, v.vouchers)
        if v.path == "remediate.yaml" and v.commit != "c000" and rng.random() < 0.5
        else v
        for v in whole
    ]
    tip = {"remediate.yaml": "s-admin@example.com", "remediate.yml": "s-admin@example.com"}
    for cut in range(len(whole) + 1):
        advanced = advance(record(whole[cut:], admins_of), whole[:cut], admins_of)
        if advanced is not None:
            assert advanced.trusted(tip) == trusted(whole, tip, admins_of), cut


def vouches_for(whole: list[Version], seed: int) -> list[Vouch]:
    """Random admins' approvals of merges: each names one or two commits of the history
    and, for a file each changed, the blob it made (or, now and then, another blob)."""
    rng = random.Random(seed * 7 + 1)
    found = []
    for n in range(rng.randint(0, 6)):
        picked = rng.sample(whole, min(len(whole), rng.randint(1, 2)))
        files: dict[str, str | None] = {}
        for v in picked:
            files[v.path] = v.blob if rng.random() < 0.8 else "other-blob"
        who = rng.choice((ADMIN, ADMIN, DEV))
        found.append(
            Vouch(f"v{n}", n, "head", tuple(v.commit for v in picked), files, (Voucher(who),))
        )
    return found


@pytest.mark.parametrize("seed", range(60))
def test_advancing_with_vouches_answers_what_the_whole_history_answers(seed: int) -> None:
    """A vouch may be recorded long after the commit it names: a record made before it
    landed must not keep the version back (advance says None, or what the whole says)."""
    whole = history(seed)
    every = vouches_for(whole, seed)
    tip = {"policies/a.yaml": "tip-a", "remediate.yaml": "s-admin@example.com"}
    expected = trusted(whole, tip, admins_of, every)
    rng = random.Random(seed)
    for cut in range(len(whole) + 1):
        since, before = whole[:cut], whole[cut:]
        older = {v.commit for v in before}
        # what the record made at the cut could have seen: vouches of its own past
        seen = [v for v in every if set(v.commits) <= older and rng.random() < 0.5]
        advanced = advance(record(before, admins_of, seen), since, admins_of, every)
        if advanced is None:
            continue
        assert advanced.trusted(tip) == expected, cut
        assert advanced == record(whole, admins_of, every), cut


def test_a_vouch_landing_after_the_record_for_an_older_version_needs_the_whole_history() -> None:
    founding = Version("c0", ADMIN, "remediate.yaml", "s-admin@example.com")
    by_dev = Version("c1", DEV, "policies/a.yaml", "b1")
    tip = {"policies/a.yaml": "b1", "remediate.yaml": "s-admin@example.com"}
    made = record([by_dev, founding], admins_of)
    assert made.trusted(tip).use == {"policies/a.yaml": None}
    late = Vouch("v1", 8, "head", ("c1",), {"policies/a.yaml": "b1"}, (Voucher(ADMIN),))
    assert advance(made, [], admins_of, [late]) is None
    whole = record([by_dev, founding], admins_of, [late])
    assert whole.trusted(tip).use == {}
    assert whole.vouched == ("v1",)
    assert advance(whole, [], admins_of, [late]) == whole  # seen: no second walk
    assert advance(made, [], admins_of, None) == made  # vouches not read: the record holds


def test_a_vouch_counts_only_for_the_blob_and_the_commits_it_names() -> None:
    founding = Version("c0", ADMIN, "remediate.yaml", "s-admin@example.com")
    reviewed = Version("c1", DEV, "policies/a.yaml", "b1")
    edited = Version("c2", DEV, "policies/a.yaml", "b2")
    again = Version("c3", DEV, "policies/a.yaml", "b1")  # the reviewed blob, another commit
    vouch = Vouch("v1", 8, "head", ("c1",), {"policies/a.yaml": "b1"}, (Voucher(ADMIN),))
    made = record([edited, reviewed, founding], admins_of, [vouch])
    assert made.chosen["policies/a.yaml"] == Version(
        "c1", DEV, "policies/a.yaml", "b1", (Voucher(ADMIN),)
    )
    other = Vouch("v2", 9, "head", ("c2",), {"policies/a.yaml": "b1"}, (Voucher(ADMIN),))
    assert record([edited, founding], admins_of, [other]).chosen.get("policies/a.yaml") is None
    assert record([again, founding], admins_of, [vouch]).chosen.get("policies/a.yaml") is None
    by_dev = Vouch("v3", 9, "head", ("c1",), {"policies/a.yaml": "b1"}, (Voucher(DEV),))
    assert record([reviewed, founding], admins_of, [by_dev]).chosen.get("policies/a.yaml") is None


def test_a_record_with_vouches_reads_back_and_an_older_record_reads_as_none_seen() -> None:
    founding = Version("c0", ADMIN, "remediate.yaml", "s-admin@example.com")
    vouch = Vouch(
        "v1", 8, "head", ("c0",), {"remediate.yaml": "s-admin@example.com"}, (Voucher(ADMIN),)
    )
    made = record([founding], admins_of, [vouch])
    assert Record.from_json(made.as_json()) == made
    old = made.as_json()
    del old["vouched"]
    assert Record.from_json(old) == Record(made.in_force, made.newest, made.chosen)
    assert Record.from_json({**made.as_json(), "vouched": [3]}) is None


LEADS = "s-admin@example.com+team:leads"  # settings whose admins are ADMIN and team:leads


def test_a_voucher_through_a_team_counts_while_the_settings_name_that_team_as_admins() -> None:
    by_dev = Version("c1", DEV, "policies/a.yaml", "b1")
    carol = Vouch(
        "v1", 8, "head", ("c1",), {"policies/a.yaml": "b1"}, (Voucher("carol", "team:leads"),)
    )
    leads = Version("c0", ADMIN, "remediate.yaml", LEADS)
    assert record([by_dev, leads], admins_of, [carol]).chosen["policies/a.yaml"].commit == "c1"
    plain = Version("c0", ADMIN, "remediate.yaml", "s-admin@example.com")
    assert "policies/a.yaml" not in record([by_dev, plain], admins_of, [carol]).chosen
    # a rule the settings do not name as an admin's: team:sre operates, it does not administer
    sre = replace(carol, admins=(Voucher("carol", "team:sre"),))
    assert "policies/a.yaml" not in record([by_dev, leads], admins_of, [sre]).chosen
    # the login alone, without the rule, is not an admin of these settings
    bare = replace(carol, admins=(Voucher("carol"),))
    assert "policies/a.yaml" not in record([by_dev, leads], admins_of, [bare]).chosen
    # an admin takes team:leads out of the admins: what it vouched for no longer counts
    dropped = Version("c2", ADMIN, "remediate.yaml", "s-admin@example.com")
    assert "policies/a.yaml" not in record([dropped, by_dev, leads], admins_of, [carol]).chosen


def test_a_team_voucher_brings_a_settings_version_into_force() -> None:
    leads = Version("c0", ADMIN, "remediate.yaml", LEADS)
    allow = Version("c1", DEV, "remediate.yaml", "s-admin@example.com+team:leads+dev@example.com")
    carol = Vouch(
        "v1", 8, "h", ("c1",), {"remediate.yaml": allow.blob}, (Voucher("carol", "team:leads"),)
    )
    made = record([allow, leads], admins_of, [carol])
    assert made.in_force is not None and made.in_force.commit == "c1"
    assert advance(record([leads], admins_of), [allow], admins_of, [carol]) is None  # settings
    assert Record.from_json(made.as_json()) == made


def test_vouchers_read_back_only_as_a_login_or_a_login_and_a_team_rule() -> None:
    assert Voucher.from_json("carol") == Voucher("carol")
    team = Voucher.from_json({"login": "carol", "via": "team:leads"})
    assert team == Voucher("carol", "team:leads") and team.as_json() == {
        "login": "carol",
        "via": "team:leads",
    }
    for bad in (
        "",
        3,
        None,
        {"login": "carol"},
        {"login": "carol", "via": "leads"},
        {"login": "carol", "via": "team:"},
        {"login": "carol", "via": "team:Leads"},
        {"login": "", "via": "team:leads"},
        {"login": "carol", "via": "team:leads", "x": 1},
    ):
        with pytest.raises(ValueError, match="a voucher is a login"):
            Voucher.from_json(bad)
    details = Vouch(
        "v1", 8, "h", ("c1",), {"policies/a.yaml": None}, (team, Voucher("alice"))
    ).details()
    assert details["admins"] == [{"login": "carol", "via": "team:leads"}, "alice"]
    assert Vouch.from_details("v1", details).admins == (team, Voucher("alice"))
    with pytest.raises(ValueError, match="a voucher is a login"):
        Vouch.from_details("v1", {**details, "admins": [{"login": "carol", "via": "sre"}]})


def test_a_vouched_deletion_counts_only_for_a_deletion_at_the_commits_it_names() -> None:
    founding = Version("c0", ADMIN, "remediate.yaml", "s-admin@example.com")
    added = Version("c1", ADMIN, "policies/a.yaml", "b1")
    gone = Version("c2", DEV, "policies/a.yaml", None)
    other = Version("c3", DEV, "policies/b.yaml", None)  # b never vouched for
    vouch = Vouch("v1", 8, "h", ("c2", "c3"), {"policies/a.yaml": None}, (Voucher(ADMIN),))
    made = record([other, gone, added, founding], admins_of, [vouch])
    assert made.chosen["policies/a.yaml"] == replace(gone, vouchers=(Voucher(ADMIN),))
    assert "policies/b.yaml" not in made.chosen
    # a vouch for the file's content at the head does not vouch for deleting it
    kept = replace(vouch, files={"policies/a.yaml": "b1"})
    assert record([gone, added, founding], admins_of, [kept]).chosen["policies/a.yaml"] == added
    # nor a vouch for deleting it for a commit that changed it
    changed = Version("c2", DEV, "policies/a.yaml", "b2")
    assert record([changed, added, founding], admins_of, [vouch]).chosen["policies/a.yaml"] == added


@pytest.mark.parametrize("settings", [True, False])
@pytest.mark.parametrize("seed", range(60))
def test_revouching_a_record_answers_what_the_whole_history_answers(
    seed: int, settings: bool
) -> None:
    """A record as of the tip made with some vouches, given the rest and the versions back
    to the oldest commit they name (`runtime._vouched`): the whole history's answer, or
    None; and None only for a settings version among those versions. Also for histories
    whose settings never change after the founding commit (where it mostly answers:
    445 of 480 cases, 107 of them choosing another version than the record did)."""
    whole = history(seed)
    if not settings:
        whole = [v for v in whole if v.path != "remediate.yaml" or v.commit == "c000"]
    every = vouches_for(whole, seed)
    expected = record(whole, admins_of, every)
    rng = random.Random(seed * 3 + 2)
    position = {v.commit: n for n, v in enumerate(whole)}
    for _ in range(8):
        seen = [v for v in every if rng.random() < 0.5]
        at = record(whole, admins_of, seen)
        new = unseen(at, every)
        oldest = max((position[c] for v in new for c in v.commits), default=-1)
        since = whole[: oldest + 1]
        got = revouch(at, since, admins_of, every)
        if got is None:
            assert any(v.path == "remediate.yaml" for v in since)
            continue
        assert got == expected
