"""remediate: a GitOps remediation runner.

Requests, guardrail policies, action types and schedules live as YAML in a git
repository; the runner validates and evaluates them, executes what the policies
allow exactly once, and writes an append-only audit log back as commits.
"""

__version__ = "0.1.0"
