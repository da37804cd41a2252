"""Ports: what the use cases need from the world, named by what they need.

`remediate.wiring` builds the real adapters (git, the process environment, the wall
clock, subprocesses, the executor registry) and hands them over in a `Session`; tests
hand over the same real adapters wrapped, or fixed ones where that makes a test clearer.
Nothing under `service/` constructs an adapter, imports one, reads the process
environment or starts a process (`tests/test_layers.py` holds that, by reading every
module's imports).

`Forge` (pull requests, reviews, comments, statuses, permissions, team membership) is
the port `remediate github` works through: `adapters.github.GitHubForge` (PyGithub).
Under `forge: {type: local}` there are no pull requests, and teams and roles come from
Settings (`core.identity.Directory.from_settings`), as `service.github.authorize` does.
`Mailer` sends reports (`adapters.smtp`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from remediate.core.automation import Version
from remediate.core.commits import AuditCommit, Person
from remediate.core.forge import Comment, Commit, PullRequest, Review
from remediate.core.processes import ProcessRunner as ProcessRunner
from remediate.core.provenance import InstalledFrom

if TYPE_CHECKING:
    from email.message import EmailMessage

    from remediate.core.document import Document
    from remediate.documents.repository import Skip, ValidationReport
    from remediate.executors.base import ExecutionContext, ExecutionResult


class Clock(Protocol):
    """The runner's clock, and the time a person asked to evaluate at (REMEDIATE_NOW)."""

    def now(self) -> datetime:
        """The runner's real time: what every event records, what leases, claim deadlines,
        backoffs and change windows of state-changing commands are judged by."""
        ...

    def override(self) -> datetime | None:
        """REMEDIATE_NOW, if set: the time `plan` and `explain` evaluate at (and, later,
        which schedule fires are due); never recorded, never what `apply` decides by."""
        ...


class Environment(Protocol):
    """The runner's own variables: never the repository's to set."""

    def variables(self) -> Mapping[str, str]:
        """Every variable (executors pick from them by allow-list)."""

    def push_attempts(self) -> int:
        """How often a rejected push is rebuilt and retried (REMEDIATE_PUSH_ATTEMPTS)."""

    def github_actor(self) -> str | None:
        """Inside GitHub Actions: the user of the event (GITHUB_EVENT_PATH)."""


class Documents(Protocol):
    """The documents of the working tree, through every validation layer."""

    @property
    def root(self) -> Path: ...

    def validate(
        self, paths: Sequence[str] = (), keep_documents: bool = True, skip: Skip | None = None
    ) -> ValidationReport:
        """Every problem of the documents under `paths` (default: all), not fail closed;
        request files in `skip` whose bytes are unchanged are not parsed (their names count)."""

    def load(self) -> list[Document]:
        """Every document, or `DocumentsInvalid` while any is invalid (fail closed)."""

    def load_report(self, skip: Skip | None = None) -> ValidationReport:
        """Every document but the unchanged files of `skip` (final requests), fail closed
        like `load`; the report says which request files were read, with their blob ids."""

    def load_paths(self, paths: Sequence[str], library: bool = False) -> list[Document]:
        """The documents under `paths` with the settings, action types and policies they
        are checked against; fail closed like `load`."""


class Changes(Protocol):
    """What changed in the working tree since a commit (`plan --base`), without GitPython."""

    def since(self, base: str) -> list[str]:
        """Files added or modified between `base` and the work tree (committed or not)."""


class Scaffolding(Protocol):
    """What `init` needs beyond writing files: a new git repository, and where this
    remediate was installed from (for the workflows it pins)."""

    def init_repository(self, directory: Path) -> None: ...

    def installed_from(self) -> InstalledFrom: ...


class CommitDocuments(Protocol):
    """Every document as a commit holds it, through the same layers (and the same
    `file:line` problems) as `Documents.load`, without a checkout; and who made each
    version of the files of the automation itself (`core.automation`)."""

    def load_report(
        self, rev: str, skip: Skip | None = None, use: Mapping[str, str | None] | None = None
    ) -> ValidationReport:
        """Every document at `rev` but the unchanged files of `skip`, with the blobs of
        `use` in place of the commit's (None: left out); `DocumentsInvalid` while any is
        invalid (fail closed)."""

    def documents_of(self, path: str, blob: str) -> list[Document]:
        """The documents of one blob read as `path` (none unless it loads cleanly)."""

    def documents_in(self, path: str, raw: bytes) -> list[Document]:
        """`documents_of` the bytes of a blob already read (kept by nobody)."""

    def blobs(self, rev: str) -> dict[str, str]:
        """path → blob of every file where documents live at `rev`."""

    def begin_local_edits(self, rev: str) -> None:
        """Start finding `local_edits(rev)`, to run while the caller does other work."""

    def local_edits(self, rev: str) -> list[str]:
        """Document files whose working-tree content differs from `rev`."""

    def fingerprint(self, rev: str) -> str:
        """Equal for two commits that hold the same documents (their top-level tree ids)."""

    def tip(self) -> tuple[str, str] | None:
        """(name, commit) of the branch state-changing commands read, as last fetched (the
        upstream of the checked-out branch, else HEAD); None before the first commit."""

    def differs(self, rev: str) -> list[str]:
        """Document files whose working-tree content is not what `rev` holds."""

    def automation_history(self, rev: str, paths: Sequence[str]) -> list[Version]:
        """Every version of the files under `paths` along `rev`'s first-parent line,
        newest first (a shallow clone is deepened first)."""

    def automation_since(self, since: str, rev: str, paths: Sequence[str]) -> list[Version] | None:
        """Those made after commit `since` (a shallow clone deepened only that far); None
        when `since` is not on `rev`'s first-parent line."""

    def automation_from(
        self, commits: Sequence[str], rev: str, paths: Sequence[str]
    ) -> list[Version] | None:
        """Those made by the oldest of `commits` on `rev`'s first-parent line and after it
        (what a vouch naming them needs; the others made no version); None when git
        cannot tell."""


class AuditReader(Protocol):
    """Read a commit: its tree, blobs and the history of paths."""

    def head(self) -> str | None: ...

    def fetch(self) -> str | None:
        """The tip to build on: the upstream branch after a fetch, or HEAD without one."""

    def tree_blobs(
        self, rev: str | None, prefix: str, keep: bool = True
    ) -> list[tuple[str, str, int]]:
        """(path, blob, size) of every file under `prefix` at `rev`, sizes before content;
        `keep=False`: not kept for later calls (a large listing read once)."""

    def walk_tree(self, rev: str, prefix: str) -> Iterator[tuple[str, str, int]]:
        """`tree_blobs` streamed, nothing kept."""

    def blob_text(self, blob: str, keep: bool = True) -> str:
        """A blob's content; `keep=False`: not kept for later reads (a reader streaming
        many large blobs once, like `stats` over the checkpoint's buckets)."""

    def prefetch(self, blobs: Sequence[str]) -> None:
        """Read these blobs in one pipelined pass, so that `blob_text` of each is a lookup."""

    def show(self, rev: str, path: str) -> str | None: ...

    def requesters(
        self,
        prefix: str = "remediations",
        rev: str | None = None,
        since: str | None = None,
        known: Mapping[str, tuple[str, ...]] | None = None,
    ) -> dict[str, tuple[str, ...]]:
        """File → who added its content, then (if another) who added its current path;
        from the history of `rev` (HEAD), only after `since` (renames from `known`)."""

    def resolve(self, ref: str) -> str | None:
        """The commit a local ref names."""

    def object_at(self, ref: str) -> str | None:
        """The object a local ref names, whatever it is (a commit, a tag, a blob)."""

    def refresh(self) -> None:
        """Fetch the remote's `refs/remediate/checkpoint` (the runner's checkpoint), if it can."""

    def committer(self, sha: str) -> str | None: ...

    def own_key(self) -> str | None:
        """The SSH public key (`ssh-ed25519 AAAA… comment`) of the key the runner signs
        with, from its environment; None when it holds none, "" when it holds one whose
        public key cannot be read."""

    def is_ancestor(self, ancestor: str, rev: str) -> bool:
        """Is `ancestor` in `rev`'s history (a shallow clone deepened as needed)?"""

    def merge_base(self, a: str, b: str) -> str | None:
        """Where `b`'s history left `a`'s (their best common ancestor), if any."""

    def added(self, base: str, rev: str, prefix: str) -> list[tuple[str, str, str, int]]:
        """(A/M/D, path, blob, size) of the files under `prefix` changed from `base` to `rev`."""

    def audit_history(
        self, rev: str | None, prefix: str = "audit", signers: tuple[str, ...] = ()
    ) -> list[AuditCommit]:
        """Commits of `rev` (or `A..B`) that touched `prefix`, newest first, with each file's
        blob; with `signers` (allowed SSH public keys), each one's signature checked by git
        against just those keys."""

    def stream_history(
        self, rev: str | None, prefix: str = "audit", signers: tuple[str, ...] = ()
    ) -> Iterator[AuditCommit]:
        """`audit_history` streamed, nothing kept."""

    def walk_history(self, rev: str | None, prefix: str = "audit") -> Iterator[AuditCommit]:
        """`audit_history` streamed: newest first, each commit after its descendants."""

    def added_at(self, rev: str, prefix: str) -> dict[str, tuple[str, str]]:
        """Path under `prefix` → (time, author e-mail) of the first-parent commit of
        `rev` that last added it; a shallow clone is deepened until that is known."""

    def added_in_order(self, rev: str, prefix: str = "audit") -> Iterator[tuple[str, str]]:
        """(path, blob) of each file under `prefix` as `rev`'s history added it, oldest
        first (topological), streamed."""

    def containing(self, rev: str, prefix: str, needles: Collection[str]) -> list[str] | None:
        """The files under `prefix` at `rev` whose content holds any of `needles` (fixed
        strings), or None when git cannot say (too many needles)."""

    def texts(self, names: Iterable[str], limit: int) -> Iterator[tuple[str, int, str | None]]:
        """(name, size, text) of each `REV:PATH` or blob named, in order, none kept: size -1
        for a name that names nothing; the first object above `limit` bytes comes without
        text and ends the stream (never read)."""

    def unpublished(self, rev: str | None, prefix: str) -> set[str]:
        """Files under `prefix` whose work-tree content is not what `rev` holds."""

    def user_name(self) -> str | None: ...

    def user_email(self) -> str | None: ...


class AuditWriter(Protocol):
    """Write commits without touching the work tree, and push the branch (never forced)."""

    @property
    def has_upstream(self) -> bool:
        """Is there a remote to push to (else the runner works on the local repository)?"""

    def target_branch(self, branch: str) -> bool:
        """Fetch and push `<remote>/<branch>` from now on, whatever is checked out; True
        when that is another branch than before."""

    def sign_commits(self) -> None:
        """Sign every commit made from now on with the runner's SSH key, from the runner's
        environment; UserError when it has none."""

    def make_commit(
        self,
        parent: str | None,
        files: dict[str, str],
        message: str,
        author: Person,
        committer: Person,
        tree_from: str | None = None,
        remove: Collection[str] = (),
    ) -> str:
        """A commit of `parent`'s tree (or `tree_from`'s) plus `files`, less `remove`
        (retention; a directory left empty goes too)."""

    def push_branch(self, sha: str) -> tuple[str, str]:
        """(`core.commits.PushOutcome`, git's message)."""

    def fast_forward(self, sha: str) -> bool: ...


class Refs(Protocol):
    """Compare-and-swap refs on the remote: claims and locks."""

    def claim_refs(self, prefix: str) -> dict[str, str] | None:
        """Refs under `prefix` on the remote (ref → sha); None when it cannot be read."""

    def refs_named(self, names: list[str]) -> dict[str, str]: ...

    def push_leases(
        self, updates: dict[str, tuple[str | None, str]], atomic: bool = False
    ) -> dict[str, str]:
        """ref → (new sha or None to delete, expected sha or "" for absent) → won/lost/unknown.
        An update or deletion may expect `commits.ANY_VALUE`: it goes whatever the ref
        holds. `atomic`: in one push, every update or none."""

    def fetch_refs(self, refs: list[str]) -> None: ...


class Spool(Protocol):
    """Events that ran but could not be pushed, kept locally for the next run."""

    def spool(self, name: str, text: str) -> Path: ...

    def spooled(self) -> dict[str, str]: ...

    def unspool(self, name: str) -> None: ...


class Store(AuditReader, AuditWriter, Refs, Spool, Protocol):
    """Everything the runner does with its git repository and remote."""


class ExecutionBackend(Protocol):
    """What runs an executor for one claimed action (in this process today; a worker
    pool later). Crashes and unknown executors are the caller's to turn into outcomes."""

    def run(self, context: ExecutionContext) -> ExecutionResult: ...


class Forge(Protocol):
    """Where pull requests live. Reads return every page; `create_comment` is never
    re-sent blindly (a lost reply raises `core.forge.LostReply`, and the caller looks the
    comment up by its marker); edits and statuses are retried, bounded, since sending
    them twice changes nothing. Anything that cannot be done raises UserError."""

    def pull_request(self, number: int) -> PullRequest: ...

    def reviews(self, number: int) -> list[Review]:
        """Every review of the pull request, oldest first (all pages)."""

    def comments(self, number: int) -> list[Comment]:
        """Every comment on the pull request's conversation, oldest first (all pages)."""

    def create_comment(self, number: int, body: str) -> Comment: ...

    def edit_comment(self, comment_id: int, body: str) -> None: ...

    def set_status(self, sha: str, state: str, context: str, description: str) -> None:
        """The commit status `context` of `sha` (`core.forge.STATUS_STATES`)."""

    def permission(self, login: str) -> str:
        """`login`'s permission on the repository: none, read, write or admin."""

    def team_member(self, slug: str, login: str) -> bool:
        """Is `login` an active member of the organization's team `slug`?"""

    def pulls_of_commit(self, sha: str) -> list[PullRequest]:
        """The pull requests a commit belongs to (a merge commit: the one it merged)."""

    def open_pull(self, branch: str) -> PullRequest | None:
        """The open pull request whose head is `branch` of this repository, if any."""

    def create_pull(
        self, title: str, body: str, branch: str, base: str, draft: bool = False
    ) -> PullRequest:
        """Open a pull request; never re-sent blindly (LostReply, also for a 422 "already
        exists": look it up)."""

    def add_labels(self, number: int, labels: Sequence[str]) -> None:
        """Add `labels` to a pull request (adding one it already has changes nothing)."""

    @property
    def proposes(self) -> bool:
        """Whether this forge opens pull requests (GitHub), or only holds the branches
        pushed to the git remote (the local forge)."""

    def close(self) -> None:
        """Release the connection pool."""


class PullHeads(Protocol):
    """A pull request's documents, read as data from git (never checked out, no hooks,
    no submodules, no LFS): what `remediate github` plans and approves from."""

    def fetch(self, ref: str, sha: str) -> None:
        """Make commit `sha` present, fetching `ref` (`refs/pull/<n>/head`, a branch) when
        it is not; UserError when the remote's `ref` no longer leads to it."""

    def between(self, since: str, upto: str) -> list[Commit] | None:
        """The commits `upto` holds and `since` does not (`git rev-list since..upto`),
        newest first (at most a bounded number); None when git cannot tell (`since` the
        zero id or unknown, a shallow clone still cut after a bounded deepening)."""

    def changed(self, base: str, head: str) -> list[str]:
        """Files the pull request adds or modifies: from the merge base of `base` and `head`."""

    def deleted(self, base: str, head: str) -> list[str]:
        """Files the pull request deletes, likewise (a rename: the old path here, the new
        one in `changed`)."""

    def documents(self, automation: str, requests: str) -> Documents:
        """The documents of a tree holding `remediate.yaml`, `actions/` and `policies/` as
        commit `automation` has them, and everything else (requests, schedules) as commit
        `requests` has them."""


class Mailer(Protocol):
    """Sends e-mail (reports): each recipient is tried, whatever happened to the others."""

    @property
    def sender(self) -> str:
        """The address messages are sent from."""

    def send(self, message: EmailMessage, recipients: Sequence[str]) -> dict[str, str]:
        """recipient → why it was not delivered; empty when every recipient was."""
