"""What `audit verify` streams instead of holding gives the answers holding gave."""

from __future__ import annotations

from remediate.adapters.git_reading import _parse_history
from remediate.core.commits import AuditCommit
from remediate.core.folding import Lines as _Lines


def _rows(lines: list[str]) -> _Lines:
    found = _Lines()
    for line in lines:
        found.add(line)
    return found


def test_lines_compare_as_the_sorted_lists_did() -> None:
    rows = ['{"at":1}\n', '{"at":2}\n', '{"at":2}\n']
    assert _Lines.of("".join(reversed(rows))) == _rows(rows)  # order does not matter
    assert _Lines.of('{"at":1}\n{"at":2}\n') != _rows(rows)  # a duplicate does
    assert _Lines.of('{"at":1}\n{"at":2}\n{"at":3}\n') != _rows(rows)  # a changed row does
    assert _Lines.of('{"at":1}\n{"at":2}\n{"at":2}') != _rows(rows)  # so does a cut newline
    assert _Lines.of("") == _rows([])
    text = "a\u2028b\n" + "c\r\nd\n"  # cut where str.splitlines cuts
    assert _Lines.of(text) == _rows(text.splitlines(keepends=True))


def test_history_is_parsed_line_by_line_as_it_was_at_once() -> None:
    sha, parent, blob = "a" * 40, "b" * 40, "c" * 40
    out = [
        f"\x00{sha}\t{parent}\tbot@example.com\tops@example.com\tG\tSHA256:key\n",
        "\n",
        f":000000 100644 {'0' * 40} {blob} A\taudit/x.jsonl\n",
        f"\x00{parent}\t{sha} {blob}\tdev@example.com\tdev@example.com\n",
        f":100644 000000 {blob} {'0' * 40} D\taudit/y.jsonl\n",
    ]
    assert list(_parse_history(out)) == [
        AuditCommit(
            sha,
            "bot@example.com",
            "ops@example.com",
            (("A", "audit/x.jsonl", blob),),
            signature="G",
            key="SHA256:key",
        ),
        AuditCommit(
            parent,
            "dev@example.com",
            "dev@example.com",
            (("D", "audit/y.jsonl", "0" * 40),),
            merge=True,
        ),
    ]
    assert list(_parse_history([])) == []
