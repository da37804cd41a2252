"""The validation pool under the runner's signal handlers. `apply` installs SIGINT and
SIGTERM handlers (stop the actions, record what is known) before it loads the
documents, and the loader forks workers for many request files. A worker that kept
the runner's SIGTERM handler survived the SIGTERM `Pool` ends a straggling worker with,
and the runner waited for it forever (seen: 8 racing runners × 500 requests hung for
hours in `Pool.__exit__`). Workers take the default SIGTERM and ignore SIGINT (the
runner, in the same process group, handles a Ctrl-C)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from remediate.adapters.process import LocalProcesses, stop_on_signals
from remediate.documents.loader import PARALLEL_THRESHOLD, map_files


def _dispositions(base: Path, rel: str) -> tuple[int, object, object]:
    return os.getpid(), signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)


def test_forked_loader_workers_do_not_keep_the_runners_signal_handlers(tmp_path: Path) -> None:
    rels = [f"r{i:04}.yaml" for i in range(PARALLEL_THRESHOLD + 10)]
    with stop_on_signals(LocalProcesses()):
        found = map_files(tmp_path, rels, _dispositions, jobs=2)
        assert callable(signal.getsignal(signal.SIGTERM))  # the runner's own, meanwhile
    workers = {pid for pid, _, _ in found}
    assert os.getpid() not in workers and workers
    assert {(term, interrupt) for _, term, interrupt in found} == {(signal.SIG_DFL, signal.SIG_IGN)}
