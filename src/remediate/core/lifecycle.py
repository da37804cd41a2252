"""The request lifecycle as a table: which verb moves which status where.

Statuses are those of PRODUCT.md. `TRANSITIONS[(from, verb)]` names the
statuses a verb may lead to from `from`; anything not in the table is not a
transition. The fold in `core.audit` applies events through `allowed`, so an
event that the table does not allow never changes a request's state.
"""

from __future__ import annotations

NEW = "NEW"
PENDING_APPROVAL = "PENDING_APPROVAL"
QUEUED = "QUEUED"
EXECUTING = "EXECUTING"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
REJECTED = "REJECTED"
POLICY_VIOLATION = "POLICY_VIOLATION"
CANCELLED = "CANCELLED"

DECIDED = (QUEUED, PENDING_APPROVAL, POLICY_VIOLATION)
# Not started: a request in these may still be edited (re-evaluated), approved, cancelled.
NOT_STARTED = (NEW, PENDING_APPROVAL, QUEUED, POLICY_VIOLATION)
FINAL = (COMPLETED, FAILED, REJECTED, CANCELLED)
# Final and left by no verb (a FAILED request may yet be retried or learn its outcome).
SETTLED = (COMPLETED, REJECTED, CANCELLED)

# (from, verb) → the statuses that verb may lead to.
TRANSITIONS: dict[tuple[str, str], tuple[str, ...]] = {
    # a policy decision: first evaluation, or re-evaluation after an edit or at apply time
    (NEW, "decide"): DECIDED,
    (PENDING_APPROVAL, "decide"): DECIDED,
    (QUEUED, "decide"): DECIDED,
    (POLICY_VIOLATION, "decide"): DECIDED,
    # approvals and operator overrides: the decision is re-taken with the new approval
    (PENDING_APPROVAL, "approve"): DECIDED,
    (POLICY_VIOLATION, "approve"): DECIDED,
    (PENDING_APPROVAL, "reject"): (REJECTED,),
    (NEW, "cancel"): (CANCELLED,),
    (PENDING_APPROVAL, "cancel"): (CANCELLED,),
    (QUEUED, "cancel"): (CANCELLED,),
    (POLICY_VIOLATION, "cancel"): (CANCELLED,),
    # execution: a claim, then an outcome
    (QUEUED, "claim"): (EXECUTING,),
    (EXECUTING, "complete"): (COMPLETED,),
    (EXECUTING, "fail"): (FAILED,),
    # crash recovery: the outcome of an abandoned execution is unknown
    (EXECUTING, "abandon"): (FAILED,),
    # a claimed action proven never started (its claim ref's release mark, or its own
    # runner stopping before it) is queued again, as a new attempt
    (EXECUTING, "release"): (QUEUED,),
    # the real outcome of an abandoned execution, learned after all (`core.audit.permitted`)
    (FAILED, "learn"): (COMPLETED, FAILED),
    # a retry of a failed idempotent action within its budget
    (FAILED, "retry"): (QUEUED,),
}

VERBS = tuple(sorted({verb for _, verb in TRANSITIONS}))


def allowed(current: str, verb: str, target: str) -> bool:
    """Does the table allow `verb` to move a request from `current` to `target`?"""
    return target in TRANSITIONS.get((current, verb), ())


def verbs_from(current: str) -> tuple[str, ...]:
    """The verbs that apply to a request in `current`."""
    return tuple(verb for (status, verb) in TRANSITIONS if status == current)


def reject_error(current: str) -> str | None:
    """The seed's message for rejecting a request that is not pending, else None."""
    if current == PENDING_APPROVAL:
        return None
    return (
        f'Cannot reject action in "{current}" status — '
        "only PENDING_APPROVAL actions can be rejected."
    )
