"""Where the data files shipped with the package live.

`schemas/` and `policies/` sit at the top of the source tree (the single source
of truth); the wheel carries them under `remediate/_data/`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


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
