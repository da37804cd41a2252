"""The git command line, as the store uses it: one process per command, two kept open.

This is the part of GitPython's `Repo`/`Git` the store used (`execute`, `ls_tree`-style
calls, `get_object_data`/`get_object_header` over persistent `cat-file` processes, the
repository's git directories), with the same conventions: git's messages in English
(`LANGUAGE=C`, `LC_ALL=C`), stdin from /dev/null, one trailing newline stripped from
stdout and stderr, output decoded as UTF-8 with `surrogateescape`. Importing GitPython
and its two `git version` probes cost every command ~60 ms before it read anything
(`status ID` is that start-up); this module imports nothing but the standard library.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any


class GitCommandError(Exception):
    """A git command exited non-zero (`execute` with exceptions)."""

    def __init__(self, argv: list[str], status: int, stderr: str) -> None:
        super().__init__(f"{' '.join(argv)} exited {status}: {stderr}")
        self.argv, self.status, self.stderr = argv, status, stderr


class NotARepository(Exception):
    """`root` is not the top of a git work tree."""


def _strip(data: bytes) -> str:
    text = data.decode("utf-8", "surrogateescape")
    return text[:-1] if text.endswith("\n") else text


@dataclass
class Git:
    """Runs git in `root` with `environment` on top of this process's environment."""

    root: Path
    environment: dict[str, str] = field(default_factory=dict)
    _batch: subprocess.Popen[bytes] | None = None
    _check: subprocess.Popen[bytes] | None = None

    def update_environment(self, **values: str) -> None:
        self.environment.update(values)
        self.close()  # persistent processes started before run with the old environment

    def _env(self, extra: dict[str, str] | None) -> dict[str, str]:
        env = dict(os.environ)
        env["LANGUAGE"] = "C"
        env["LC_ALL"] = "C"
        env.update(self.environment)
        if extra is not None:
            env.update(extra)
        return env

    def execute(
        self,
        argv: list[str],
        with_extended_output: bool = False,
        with_exceptions: bool = True,
        env: dict[str, str] | None = None,
    ) -> Any:
        """Run `argv` (starting with "git"): its stdout, or (status, stdout, stderr) with
        `with_extended_output`; GitCommandError on a non-zero exit with `with_exceptions`."""
        done = subprocess.run(
            argv,
            cwd=self.root,
            env=self._env(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
        out, err = _strip(done.stdout), _strip(done.stderr)
        if with_exceptions and done.returncode != 0:
            raise GitCommandError(argv, done.returncode, err)
        return (done.returncode, out, err) if with_extended_output else out

    def __getattr__(self, name: str) -> Any:
        """`git.ls_tree(*args)` runs `git ls-tree *args` (what GitPython's calls did)."""
        if name.startswith("_"):
            raise AttributeError(name)

        def call(*args: str) -> str:
            return str(self.execute(["git", name.replace("_", "-"), *args]))

        return call

    # -- objects, through persistent `cat-file` processes --------------------------------
    def _persistent(self, flag: str) -> subprocess.Popen[bytes]:
        attr = "_batch" if flag == "--batch" else "_check"
        proc: subprocess.Popen[bytes] | None = getattr(self, attr)
        if proc is None or proc.poll() is not None:
            proc = subprocess.Popen(
                ["git", "cat-file", flag],
                cwd=self.root,
                env=self._env(None),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            setattr(self, attr, proc)
        return proc

    @staticmethod
    def _ask(proc: subprocess.Popen[bytes], ref: str | bytes) -> tuple[bytes, bytes, int]:
        name = ref.decode("ascii") if isinstance(ref, bytes) else str(ref)
        if "\n" in name:
            raise ValueError(f"an object name holds a line break: {name!r}")
        stdin, stdout = proc.stdin, proc.stdout
        assert stdin is not None and stdout is not None
        stdin.write(name.encode() + b"\n")
        stdin.flush()
        header = stdout.readline().split()
        if len(header) != 3:
            raise ValueError(f"SHA {name} could not be resolved, git returned: {header!r}")
        return header[0], header[1], int(header[2])

    def get_object_header(self, ref: str | bytes) -> tuple[bytes, bytes, int]:
        """(hexsha, type, size) of an object."""
        return self._ask(self._persistent("--batch-check"), ref)

    def get_object_data(self, ref: str | bytes) -> tuple[bytes, bytes, int, bytes]:
        """(hexsha, type, size, content) of an object."""
        proc = self._persistent("--batch")
        sha, kind, size = self._ask(proc, ref)
        out: IO[bytes] | None = proc.stdout
        assert out is not None
        data = out.read(size)
        out.read(1)  # the newline after the content
        return sha, kind, size, data

    def close(self) -> None:
        """End the persistent processes: killed, not waited for to see their input end (a
        process forked since, such as a loader worker, holds a copy of the pipe, so the end
        may never come; this runs in the garbage collector, in whatever thread)."""
        for attr in ("_batch", "_check"):
            proc: subprocess.Popen[bytes] | None = getattr(self, attr)
            if proc is not None:
                setattr(self, attr, None)
                if proc.poll() is None:
                    proc.kill()  # cat-file only reads: nothing is lost
                if proc.stdin is not None:
                    try:  # noqa: SIM105 - see __del__
                        proc.stdin.close()
                    except OSError:  # a request still buffered for the killed process
                        pass
                proc.wait()
                if proc.stdout is not None:
                    proc.stdout.close()

    def __del__(self) -> None:
        # not contextlib.suppress: at interpreter exit module globals may be gone
        try:  # noqa: SIM105
            self.close()
        except Exception:
            pass


@dataclass(frozen=True)
class Repo:
    """A work tree's top, its git directory, the directory objects and refs are shared in,
    and the command runner."""

    working_dir: Path
    git_dir: str
    common_dir: str
    git: Git


def open_repo(root: Path) -> Repo:
    """The repository whose work tree's top is `root` (not a directory inside one: the
    runner reads `root`'s documents); NotARepository otherwise."""
    git = Git(root)
    try:
        code, out, _ = git.execute(
            ["git", "rev-parse", "--show-toplevel", "--absolute-git-dir", "--git-common-dir"],
            with_extended_output=True,
            with_exceptions=False,
        )
    except OSError:  # no such directory
        raise NotARepository(str(root)) from None
    lines = out.splitlines()
    if code != 0 or len(lines) != 3:
        raise NotARepository(str(root))
    top, git_dir, common = lines
    if os.path.realpath(top) != os.path.realpath(root):
        raise NotARepository(str(root))
    common_dir = common if os.path.isabs(common) else os.path.join(root, common)
    return Repo(root, git_dir, os.path.normpath(common_dir), git)
