"""`apply`, the runner's pipeline: decide, select, lock, claim, execute, record.

Its phases are modules here (`decide`, `recovery`, `select`, `locks`, `execute`,
`outcomes`), `pipeline` runs them in order and `report` is what they tell the user.
"""

from remediate.service.apply.pipeline import apply as apply

__all__ = ["apply"]
