"""Where `plan` and `explain` get the audit's history from.

The runner's audit reader (`remediate.service.state.request_states`) folds
`audit/` at HEAD into request states; requesters are the authors of the
commits that added each request file. Outside a git repository (or before
the first commit), or without an audit/ directory, nothing is recorded:
every request is NEW, with no approvals and no prior executions.
"""

from __future__ import annotations

from pathlib import Path

from remediate.errors import RemediateError
from remediate.service.plan import History, history_from_states


def history_for(root: Path) -> History:
    """The recorded statuses, approvals, executions and requesters of the repository."""
    if not (root / ".git").exists() or not (root / "audit").is_dir():
        # Nothing recorded yet: every request is NEW, with no approvals to screen, so
        # neither the audit nor the requesters need git (and plan --base stays fast).
        return History()
    from remediate.adapters.git_store import GitStore
    from remediate.service.state import request_states

    try:
        states = request_states(root)
        requesters: dict[str, str] = {  # by file: who added the content (following renames)
            path: found[0] for path, found in GitStore(root).requesters().items() if found
        }
        for request_id, state in states.items():  # by request id: as the audit recorded it
            if state.requester:
                requesters[request_id] = state.requester
        return history_from_states(states, requesters)
    except RemediateError:
        return History()
