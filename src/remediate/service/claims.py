"""Claims: a ref per request attempt, created only if absent (compare-and-swap on the remote).

Whoever creates `refs/claims/<request>/<attempt>` owns the attempt's exit
from QUEUED: to execute it, or to cancel or re-decide it. The ref points to
a parentless commit holding the claim event, so a runner that dies before its
event reaches the branch leaves it where the next run can adopt it.
"""

from __future__ import annotations

from remediate.adapters.git_store import CLAIMS_PREFIX, GitStore

CLAIM_FILE = "claims.jsonl"


def claim_ref(request_id: str, attempt: int) -> str:
    # names may hold "..", which a ref may not; "%" never occurs in a name
    return f"{CLAIMS_PREFIX}{request_id.replace('.', '%2E')}/{attempt}"


def push_claims(store: GitStore, refs: dict[str, str]) -> dict[str, bool]:
    """Create each ref (→ its claim commit) if absent; which ones this runner won."""
    results = store.push_claims(refs)
    if "unknown" in results.values():  # the reply was lost: the remote knows who won
        remote = store.refs_named(list(refs))
        results = {
            ref: ("won" if remote.get(ref) == refs[ref] else "lost") if r == "unknown" else r
            for ref, r in results.items()
        }
    return {ref: r == "won" for ref, r in results.items()}
