"""Meta-tests of the layers: what `service/` may import (read from each module's AST)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

SERVICE = ROOT / "src" / "remediate" / "service"
MODULES = sorted(SERVICE.rglob("*.py"))
# Concrete adapters and the libraries only they may use: a use case reaches them through
# the ports of its session (`service.ports`, built by `remediate.wiring`).
FORBIDDEN = ("remediate.adapters", "remediate.wiring", "git", "github", "subprocess")


def imports(tree: ast.AST, module: str) -> list[tuple[int, str]]:
    """(line, imported module) of every import in `tree`, relative ones resolved."""
    package = module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


ENVIRON = ("environ", "getenv", "putenv", "environb")


def environ_reads(tree: ast.AST) -> list[int]:
    """Lines that name `os.environ`/`os.getenv`/`os.putenv`, or import them from `os`."""
    lines = []
    for node in ast.walk(tree):
        named = (
            isinstance(node, ast.Attribute)
            and node.attr in ENVIRON
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        )
        imported = (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(a.name in ENVIRON for a in node.names)
        )
        if named or imported:
            lines.append(node.lineno)
    return sorted(lines)


def _name(path: Path) -> str:
    rel = path.relative_to(ROOT / "src").with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(SERVICE)) for p in MODULES])
def test_service_imports_no_adapter_and_reads_no_environment(path: Path) -> None:
    name = _name(path)
    tree = ast.parse(path.read_text(), str(path))
    offenders = [
        f"{path.name}:{line}: imports {imported}"
        for line, imported in imports(tree, name if path.name != "__init__.py" else name + ".x")
        if any(imported == f or imported.startswith(f + ".") for f in FORBIDDEN)
    ]
    offenders += [
        f"{path.name}:{line}: reads the process environment" for line in environ_reads(tree)
    ]
    assert offenders == []


def test_the_meta_test_sees_what_it_forbids() -> None:
    """The checks themselves: each forbidden form is found."""
    source = (
        "import subprocess\nfrom remediate.adapters.git_store import GitStore\n"
        "from remediate import adapters\nimport os\nx = os.environ['A']\n"
        "from os import environ\nfrom ..adapters import process\n"
    )
    tree = ast.parse(source)
    found = [m for _, m in imports(tree, "remediate.service.apply.pipeline")]
    assert "subprocess" in found
    assert "remediate.adapters.git_store" in found
    assert "remediate.adapters" in found
    assert "remediate.service.adapters.process" in found  # resolved as Python resolves it
    assert environ_reads(tree) == [5, 6]
