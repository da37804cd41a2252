"""The automation record (`core.automation.Record`): a record of a history's first part,
advanced by the versions made since, answers exactly what the whole history answers, or
says it cannot (None). Pure: generated histories, every split point."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from remediate.core.automation import Record, Version, advance, record, trusted

ADMIN, DEV, OTHER = "admin@example.com", "dev@example.com", "other@example.com"
FILES = ("remediate.yaml", "policies/a.yaml", "policies/b.yaml", "actions/x.yaml")


def admins_of(blob: str | None) -> Callable[[str], bool]:
    """Settings blob `s-<who>+<who>…` makes those admins; anything else: ADMIN only."""
    if blob is not None and blob.startswith("s-"):
        names = set(blob[2:].split("+"))
        return lambda who: who in names
    return lambda who: who == ADMIN


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
        vouchers = (ADMIN,) if rng.random() < 0.1 else ()
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
