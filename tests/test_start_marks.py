"""`starts.Marker` against a real bare remote: when a winning mark reads its batch's claim
refs (a mark that may have landed on a pruned starts ref) and when it need not (it
replaced the marks it pushed last, so the ref was never deleted in between)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from remediate.adapters.git_store import GitStore
from remediate.core.commits import Person
from remediate.service.apply.starts import Marker, never_started, read_marks
from remediate.service.claims import claim_ref
from tests.runner_support import clone, make_remote
from tests.sessions import Wrapped

RUNNER = Person("remediate-bot", "remediate-bot@example.com")


class Counting(Wrapped):
    """The real store; every `refs_named` (an ls-remote) of claim refs is noted."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.reads: list[list[str]] = []

    def refs_named(self, names: list[str], chunk: int = 500) -> dict[str, str]:
        if any(n.startswith("refs/claims/") for n in names):
            self.reads.append(sorted(names))
        return dict(self.inner.refs_named(names, chunk))


def test_a_mark_reads_the_claim_refs_unless_it_replaced_its_own_last_marks(
    tmp_path: Path,
) -> None:
    bare = make_remote(tmp_path, requests={})
    store = GitStore(clone(tmp_path, bare, "runner"))
    claim_sha = store.make_commit(None, {"claims.jsonl": "x\n"}, "claim\n", RUNNER, RUNNER)
    refs = [claim_ref(f"rem-{i}", 1) for i in range(7)]
    assert set(store.push_leases({r: (claim_sha, "") for r in refs}).values()) == {"won"}
    counting = Counting(store)
    marker = Marker(counting, RUNNER, claim_sha, refs, lambda: None)

    assert marker.start("rem-0", 1) is None  # the first mark creates the starts ref: read
    assert counting.reads == [[refs[0]]]
    assert marker.start("rem-1", 1) is None  # replaces its own marks: nothing to read
    assert counting.reads == [[refs[0]]]
    marks = read_marks(store, claim_sha)
    assert marks is not None and refs[5] not in marks.started  # at most four marked ahead

    # another run changes the marks (it releases rem-6): the next mark loses, reads the
    # marks, wins against theirs and reads its batch's claim refs again
    assert never_started(store, RUNNER, "rem-6", 1)
    assert marker.start("rem-5", 1) is None
    assert len(counting.reads) == 2 and refs[5] in counting.reads[1]
    assert marker.start("rem-6", 1) == "released"
    marks = read_marks(store, claim_sha)
    assert marks is not None and refs[5] in marks.started and refs[6] in marks.released
