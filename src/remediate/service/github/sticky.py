"""The one comment per pull request whose body starts with `<!-- remediate:plan -->`.

Found by its marker among the comments of bot accounts (the runner's token acts as
`github-actions[bot]` or an App; a person who writes the marker into a comment of their
own is never mistaken for it), created once, then edited. A POST is never re-sent
blindly: after a lost reply the comments are read again, and only if the marker is still
absent is the comment created, once more at most.
"""

from __future__ import annotations

from remediate.core.forge import Comment, LostReply
from remediate.errors import UserError
from remediate.service.markdown import COMMENT_LIMIT
from remediate.service.ports import Forge
from remediate.service.render import MARKER


def find(forge: Forge, number: int, marker: str = MARKER) -> Comment | None:
    return next((c for c in forge.comments(number) if c.bot and c.body.startswith(marker)), None)


def upsert(forge: Forge, number: int, body: str, marker: str = MARKER) -> str:
    """Create or edit the comment that starts with `marker`; "created", "edited" or
    "unchanged"."""
    if not body.startswith(marker) or len(body) > COMMENT_LIMIT:
        raise AssertionError("a sticky comment starts with its marker and fits a comment")
    for attempt in (1, 2):
        found = find(forge, number, marker)
        if found is not None:
            if found.body == body:
                return "unchanged"
            forge.edit_comment(found.id, body)
            return "edited"
        try:
            forge.create_comment(number, body)
            return "created"
        except LostReply as lost:
            if attempt == 2:
                raise UserError(
                    f"GitHub: the comment on #{number} may not have been created ({lost}); "
                    "the next run finds it by its marker or creates it"
                ) from None
    raise AssertionError("unreachable")  # pragma: no cover
