"""Compare-and-swap refs on the remote: claims and locks (the `Refs` port)."""

from __future__ import annotations

from functools import cached_property

from remediate.adapters.git_base import CLAIMS_PREFIX, RUNNER_REFS, GitBase
from remediate.core.commits import ANY_VALUE
from remediate.errors import UserError

PUSH_CHUNK = 500  # ref updates per `git push` (each is one or two arguments)
BIG_BLOB = 128 * 1024  # bytes: larger blobs are pushed without delta search (`push_leases`)


class GitRefs(GitBase):
    """Refs on the remote, each created, moved or deleted only if it holds what is expected."""

    def claim_refs(self, prefix: str = CLAIMS_PREFIX) -> dict[str, str] | None:
        """Claim refs on the remote (ref → sha); None when the remote cannot be read."""
        if self.remote is None:
            return {}
        code, out, _ = self._run("ls-remote", "--refs", self.remote, f"{prefix}*")
        if code != 0:
            return None
        refs: dict[str, str] = {}
        for line in out.splitlines():
            sha, _, ref = line.partition("\t")
            refs[ref] = sha
        return refs

    def refs_named(self, names: list[str], chunk: int = 500) -> dict[str, str]:
        """Which of these refs exist on the remote (ref → sha), asked by name."""
        if not names:
            return {}
        if self.remote is None:
            found: dict[str, str] = {}
            for name in names:
                code, out, _ = self._run("rev-parse", "--verify", "--quiet", name)
                if code == 0:
                    found[name] = out
            return found
        wanted = set(names)
        found = {}
        for start in range(0, len(names), chunk):
            code, out, err = self._run(
                "ls-remote", "--refs", self.remote, *names[start : start + chunk]
            )
            if code != 0:
                raise UserError(self.unreachable(err))
            for line in out.splitlines():
                sha, _, ref = line.partition("\t")
                if ref in wanted:
                    found[ref] = sha
        return found

    def push_leases(
        self, updates: dict[str, tuple[str | None, str]], atomic: bool = False
    ) -> dict[str, str]:
        """Set (or, with None, delete) each ref only if it still holds the expected value.

        `updates`: ref → (new sha or None, expected sha or "" for "must not exist", or
        `ANY_VALUE` for an update or deletion of whatever it holds). Each ref is decided on its own
        by the remote under its ref lock.

        The remote checks every update against the value it advertised (the old id of
        each command, compared under the ref lock); a lease adds the check that this value
        is the expected one. Two kinds of update need no lease, and go without one (the
        client's lease matching costs O(leases × refs): ~0.25 ms per ref at 1,000):
        creating a ref for a commit without parents (a claim, a lock), which a push
        without force makes only where the ref is absent (a ref holding any other commit
        is not an ancestor of a root commit, so the update is refused as it would be with
        a lease); and a deletion that expects `ANY_VALUE`.
        """
        if not updates:
            return {}
        if self.remote is None:
            if atomic:
                raise ValueError("an atomic push needs a remote")
            return self._lease_locally(updates)
        if len(updates) > PUSH_CHUNK and not atomic:  # bounded argument lists
            items = list(updates.items())
            results: dict[str, str] = {}
            for i in range(0, len(items), PUSH_CHUNK):
                results.update(self.push_leases(dict(items[i : i + PUSH_CHUNK])))
            return results
        args: list[str] = []
        for ref, (new, expected) in updates.items():
            if new is None and expected == ANY_VALUE:
                args.append(f":{ref}")
            elif expected == ANY_VALUE:  # set whatever it holds (the checkpoint's carrier)
                args.append(f"+{new}:{ref}")
            elif new is not None and expected == "" and self._is_root(new):
                args.append(f"{new}:{ref}")
            else:
                lease = f"--force-with-lease={ref}:{expected}"
                args += [lease, f"{new}:{ref}" if new else f":{ref}"]
        # Blobs from BIG_BLOB on go whole (deflated), not as deltas: a checkpoint's bucket of
        # one fire time (1,000 fires: 0.6 MB) had git's delta search compare it with every
        # earlier one, 0.9 s of a 22-object push; smaller blobs are still deltified.
        big = f"core.bigFileThreshold={BIG_BLOB}"
        every = ["--atomic"] if atomic else []
        _, out, _ = self._run("-c", big, "push", *every, "--porcelain", self.remote, *args)
        results = {}
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) >= 2 and ":" in parts[1]:
                ref = parts[1].split(":", 1)[1]
                if ref in updates:
                    flag = parts[0][:1] or " "
                    results[ref] = "won" if flag in "*+- " else "lost"
        for ref in updates:
            results.setdefault(ref, "unknown")
        for ref, (new, _) in updates.items():  # this clone remembers what the runner set:
            if ref.startswith(RUNNER_REFS) and new and results[ref] == "won":  # its checkpoint
                self._run("update-ref", ref, new)  # survives a remote forced back
        return results

    def _is_root(self, sha: str) -> bool:
        """Is `sha` a commit without parents (read once per commit, in-process)?"""
        if sha not in self._roots:
            _, kind, _, data = self.git.get_object_data(sha)
            kind = kind.decode() if isinstance(kind, bytes) else kind
            header = bytes(data).split(b"\n\n", 1)[0]
            self._roots[sha] = kind == "commit" and b"\nparent " not in header
        return self._roots[sha]

    @cached_property
    def _roots(self) -> dict[str, bool]:
        return {}

    def _lease_locally(self, updates: dict[str, tuple[str | None, str]]) -> dict[str, str]:
        results: dict[str, str] = {}
        for ref, (new, expected) in updates.items():
            if new is None and expected == ANY_VALUE:
                code, _, _ = self._run("update-ref", "-d", ref)
            elif expected == ANY_VALUE:
                code, _, _ = self._run("update-ref", ref, str(new))
            elif new is None:
                code, _, _ = self._run("update-ref", "-d", ref, expected)
            else:
                code, _, _ = self._run("update-ref", ref, new, expected)
            results[ref] = "won" if code == 0 else "lost"
        return results

    def fetch_refs(self, refs: list[str]) -> None:
        """Fetch the objects of some remote refs (claim commits of other runners)."""
        if self.remote is None or not refs:
            return
        self._run("fetch", "--quiet", "--no-tags", self.remote, *refs)
