"""`Folder(compact=True)`, what `audit verify` folds with: a settled request is kept as a
digest, and whatever comes for it after is judged exactly as a full fold judges it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from remediate.core.audit import Event, fold
from remediate.core.folding import Folder, Lines, Settled, execution_rows, state_digest

BOT = "bot@example.com"


def _chain(request: str, *steps: tuple[str, str, str], start: int = 0) -> list[Event]:
    """Linked events of one request, (from, to, verb) each."""
    events: list[Event] = []
    prev = None
    for n, (frm, to, verb) in enumerate(steps, start):
        details: dict[str, object] = {"verb": verb}
        if verb == "decide":
            details |= {"contentHash": "sha256:c", "requester": "dev@example.com"}
        if verb == "claim":
            details |= {"attempt": 1, "deadline": "2026-11-23T11:00:00.000Z"}
        event = Event(
            id=f"{request}-e{n}",
            at=f"2026-11-23T10:{n:02d}:00.000Z",
            request_id=request,
            from_=frm,
            to=to,
            actor=BOT,
            details=details,
            prev=prev,
        )
        events.append(event)
        prev = event.hash
    return events


RUN = (("NEW", "QUEUED", "decide"), ("QUEUED", "EXECUTING", "claim"))
DONE = _chain("rem-1", *RUN, ("EXECUTING", "COMPLETED", "complete"))
WAITING = _chain("rem-2", ("NEW", "PENDING_APPROVAL", "decide"))


def _folded(events: list[Event], compact: bool) -> Folder:
    folder = Folder(compact=compact)
    for event in events:
        folder.add(event)
    folder.flush()
    if folder.irregular:
        folder.settle(events)
    return folder


def test_a_settled_request_is_kept_as_its_digest_and_its_execution_rows() -> None:
    folder = _folded(DONE + WAITING, compact=True)
    full = fold(DONE)["rem-1"]
    assert folder.settled == {"rem-1": Settled("COMPLETED", 3, state_digest(full))}
    assert list(folder.states) == ["rem-2"] and folder.irregular == {}
    assert folder.status("rem-1") == "COMPLETED" and folder.status("rem-2") == "PENDING_APPROVAL"
    assert folder.status("rem-9") is None and sorted(folder.requests()) == ["rem-1", "rem-2"]
    rows: dict[str, Lines] = {}
    execution_rows(full, rows)
    assert len(full.executions) == 1 and folder.rows == rows
    assert _folded(DONE + WAITING, compact=False).states == fold(DONE + WAITING)


def test_a_state_digest_tells_any_field_apart() -> None:
    state = fold(DONE)["rem-1"]
    assert state_digest(replace(state)) == state_digest(state)
    for change in ({"detail": "other"}, {"events": 4}, {"ids": state.ids[:-1]}, {"head": "x"}):
        assert state_digest(replace(state, **change)) != state_digest(state), change


# what may come after a request settled: each a problem, judged from all its events
AFTER = {
    "a retry from COMPLETED": _chain("rem-1", ("COMPLETED", "QUEUED", "retry"), start=3),
    "a second outcome": _chain("rem-1", ("EXECUTING", "FAILED", "fail"), start=3),
    "a second start": _chain("rem-1", ("NEW", "QUEUED", "decide"), start=5),
    "a copy of an event": [DONE[1]],
    "an edited copy": [replace(DONE[2], actor="mallory@example.com")],
    "a fork of the chain": [replace(DONE[2], id="rem-1-fork", at="2026-11-23T10:09:00.000Z")],
}


@pytest.mark.parametrize("case", sorted(AFTER))
def test_what_comes_after_a_settled_request_is_judged_as_the_full_fold_judges_it(
    case: str,
) -> None:
    later = AFTER[case]
    if later[0].prev is None and later[0].id.endswith("e3"):  # link to the chain's head
        later = [replace(later[0], prev=DONE[-1].hash)]
    events = DONE + WAITING + later
    compact, full = _folded(events, compact=True), _folded(events, compact=False)
    assert compact.report() == full.report() and compact.report() != []
    assert compact.events == full.events == len(events)
    if "rem-1" in compact.settled:  # a duplicate id: left out before it reaches a chain
        assert compact.settled["rem-1"].digest == state_digest(full.states["rem-1"])
        assert compact.irregular == {}
    else:  # read again in full: the state the full fold gives
        assert compact.states["rem-1"] == full.states["rem-1"]
