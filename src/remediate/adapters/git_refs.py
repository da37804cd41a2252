"""Compare-and-swap refs on the remote: claims and locks (the `Refs` port)."""

from __future__ import annotations

from remediate.adapters.git_base import CLAIMS_PREFIX, GitBase
from remediate.errors import UserError


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

    def push_leases(self, updates: dict[str, tuple[str | None, str]]) -> dict[str, str]:
        """Set (or, with None, delete) each ref only if it still holds the expected value.

        `updates`: ref → (new sha or None, expected sha or "" for "must not exist").
        Each ref is decided on its own by the remote under its ref lock.
        """
        if not updates:
            return {}
        if self.remote is None:
            return self._lease_locally(updates)
        args: list[str] = []
        for ref, (new, expected) in updates.items():
            args += [f"--force-with-lease={ref}:{expected}", f"{new}:{ref}" if new else f":{ref}"]
        _, out, _ = self._run("push", "--porcelain", self.remote, *args)
        results: dict[str, str] = {}
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) >= 2 and ":" in parts[1]:
                ref = parts[1].split(":", 1)[1]
                if ref in updates:
                    flag = parts[0][:1] or " "
                    results[ref] = "won" if flag in "*+- " else "lost"
        for ref in updates:
            results.setdefault(ref, "unknown")
        return results

    def _lease_locally(self, updates: dict[str, tuple[str | None, str]]) -> dict[str, str]:
        results: dict[str, str] = {}
        for ref, (new, expected) in updates.items():
            if new is None:
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
