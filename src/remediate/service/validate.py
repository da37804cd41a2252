"""`validate`: every layer of every document under the paths, every reference.

The checks are the loader's (`documents.repository`), reached through the session's
`Documents` port: what `validate` reports is exactly what `apply` refuses to run on.
"""

from __future__ import annotations

from collections.abc import Sequence

from remediate.documents.repository import ValidationReport
from remediate.service.session import Session


def validate(session: Session, paths: Sequence[str] = ()) -> ValidationReport:
    """The problems of the documents under `paths` (default: the whole repository)."""
    return session.documents.validate(paths, keep_documents=False)
