"""Property tests: no text, however random or mangled, makes validation crash."""

from __future__ import annotations

import shutil
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remediate.documents.loader import load_file
from remediate.documents.references import check_references
from remediate.errors import Problem
from tests.conftest import QUICKSTART

SEED = (QUICKSTART / "remediations" / "2026" / "rem-2026-0042.yaml").read_bytes()
SEED_POLICY = (QUICKSTART / "policies" / "production-safety.yaml").read_bytes()
YAML_BITS = [b":", b"-", b"[", b"]", b"{", b"}", b"&a", b"*a", b"!!", b"? ", b"---", b"\n", b"  ",
             b"'", b'"', b"#", b"|", b">", b"\t", b"\x00", b"\xff", b"null", b"NO", b"0123", b"9:30"]  # fmt: skip


def check(repo: Path, data: bytes) -> list[Problem]:
    (repo / "remediations" / "fuzz.yaml").write_bytes(data)
    result = load_file(repo, "remediations/fuzz.yaml")
    problems = result.problems + check_references(_context() + result.documents)
    for p in problems:  # every problem names the file and renders
        assert p.file in ("remediations/fuzz.yaml", "remediations/2026/rem-2026-0042.yaml")
        assert str(p).startswith("remediations/fuzz.yaml")
    return problems


def mutate(seed: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    data = bytearray(seed)
    for position, cut, insert in edits:
        at = position % (len(data) + 1)
        data[at : at + cut] = insert
    return bytes(data)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=400))
def test_random_bytes_never_crash(tmp_path_factory, data: bytes) -> None:  # type: ignore[no-untyped-def]
    repo = _repo(tmp_path_factory)
    check(repo, data)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from([SEED, SEED_POLICY]),
    st.lists(
        st.tuples(
            st.integers(0, 2000),
            st.integers(0, 6),
            st.sampled_from(YAML_BITS) | st.binary(max_size=4),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_mutated_documents_never_crash(tmp_path_factory, seed: bytes, edits) -> None:  # type: ignore[no-untyped-def]
    repo = _repo(tmp_path_factory)
    check(repo, mutate(seed, edits))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
))  # fmt: skip
def test_any_structure_under_spec_never_crashes(tmp_path_factory, value) -> None:  # type: ignore[no-untyped-def]
    import json

    repo = _repo(tmp_path_factory)
    doc = {
        "apiVersion": "remediate/v1",
        "kind": "RemediationRequest",
        "metadata": {"name": "x"},
        "spec": value,
    }
    check(repo, json.dumps(doc).encode())


_REPOS: dict[int, Path] = {}


def _context() -> list:  # type: ignore[type-arg]
    """The quickstart's documents, so references (action types, parameters) are exercised."""
    from remediate.documents.repository import load_valid

    if not _CONTEXT:
        _CONTEXT.extend(load_valid(QUICKSTART))
    return list(_CONTEXT)


_CONTEXT: list = []  # type: ignore[type-arg]


def _repo(factory) -> Path:  # type: ignore[no-untyped-def]
    key = id(factory)
    if key not in _REPOS:
        target = factory.mktemp("fuzz") / "repo"
        shutil.copytree(QUICKSTART, target)
        _REPOS[key] = target
    return _REPOS[key]
