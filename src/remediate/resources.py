"""Where the data files shipped with the package live.

`schemas/` and `policies/` sit at the top of the source tree (the single source
of truth); the wheel carries them under `remediate/_data/`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent

# The git repository this project is published from (https://github.com/<owner>/<name>),
# and the one place that names it: the workflows `remediate init` writes use its composite
# action at a pinned commit, which installs remediate from it, never from a package index
# (where the name `remediate` belongs to another project). Not known yet: while it is None,
# `init` takes the URL a git install came from, or else writes a placeholder GitHub cannot
# resolve, and says so (service/workflows.py).
SOURCE_REPOSITORY: str | None = None


@cache
def data_dir(name: str) -> Path:
    """The shipped directory `name` (`schemas` or `policies`)."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"remediate is installed without its {name}/ directory")


def package_file(*parts: str) -> Path:
    """A file inside the package itself (templates, scaffolding)."""
    return _PACKAGE.joinpath(*parts)
