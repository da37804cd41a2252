"""The guardrail policy engine: compile policies once, then decide requests.

    policies = compile_policies(repository.policies)
    decision = evaluate(request, policies, Context(now=now, ...))

Compilation (`core.compiled`) checks and compiles every CEL condition and
indexes the policies by their match keys; evaluation (`core.evaluate`) is
pure: no I/O, no clock. See docs/policy.md for the language and precedence.
"""

from __future__ import annotations

from remediate.core.compiled import (
    Policy,
    PolicyError,
    PolicySet,
    Rule,
    compile_policies,
    compile_policy,
    policy_problems,
)
from remediate.core.evaluate import evaluate

__all__ = [
    "Policy",
    "PolicyError",
    "PolicySet",
    "Rule",
    "compile_policies",
    "compile_policy",
    "evaluate",
    "policy_problems",
]
