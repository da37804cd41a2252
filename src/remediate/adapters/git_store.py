"""The runner's git store: every port of `service.ports.Store` over one repository.

The parts, one module per port (`git_base`: the repository, its branch and remote;
`git_reading`: `AuditReader`; `git_writing`: `AuditWriter` and `Spool`; `git_refs`:
`Refs`), are the only code that talks to git (GitPython, and the git command line
through it), with `git_cli` for what must not import GitPython.
"""

from __future__ import annotations

from remediate.adapters.git_base import CLAIMS_PREFIX as CLAIMS_PREFIX
from remediate.adapters.git_base import DEEPEN as DEEPEN
from remediate.adapters.git_base import RUNNER_REFS as RUNNER_REFS
from remediate.adapters.git_base import open_repo as open_repo
from remediate.adapters.git_reading import GitReading
from remediate.adapters.git_refs import GitRefs
from remediate.adapters.git_writing import GitWriting
from remediate.core.commits import AuditCommit as AuditCommit
from remediate.core.commits import Person as Person
from remediate.core.commits import PushOutcome as PushOutcome


class GitStore(GitReading, GitWriting, GitRefs):
    """Reads the audit at a commit, writes commits without touching the work tree, pushes,
    and compare-and-swaps refs on the remote."""
