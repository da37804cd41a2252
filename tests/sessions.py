"""Sessions for in-process use cases, built by the real composition root (`remediate.wiring`).

Faults are injected at a port: `Wrapped` delegates every call to the real adapter and
lets a test replace the ones it needs (a push that another writer races, a lock push
that waits for a second runner) — never a private function of the code under test.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from remediate import wiring
from remediate.adapters.clock import FixedClock
from remediate.core.times import parse_time
from remediate.service.session import Session
from tests.runner_support import NOW


class Wrapped:
    """A store that is the real one, except for the methods a test overrides."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def session(
    root: Path, now: str = NOW, store: Callable[[Any], Any] | None = None, **env: str
) -> Session:
    """The real session of `root`, its clock fixed at `now` (injected through the Clock
    port: REMEDIATE_NOW never sets the runner's clock), its store wrapped by `store`."""
    built = wiring.session(root, {**os.environ, **env})
    built.clock = FixedClock(parse_time(now))
    if store is not None:
        opener = built.open_store
        built.open_store = lambda: store(opener())
    return built
