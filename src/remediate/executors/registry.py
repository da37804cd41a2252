"""The executor registry: built-ins and plugins through one lazily loaded path.

The registry is the vocabulary: the names here are the keys an ActionType's
`executor` may use (a meta-test holds `schemas/action-type.schema.json` to
them). Built-ins are registered by module path so that importing the registry
imports no executor; plugins come from the `remediate.executors` entry-point
group and are named in ActionTypes as `executor: {plugin: {name: …}}`.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from remediate.executors.base import ExecutionContext, ExecutionResult

ENTRY_POINT_GROUP = "remediate.executors"

# name → "module:attribute" of the executor class
BUILTINS: dict[str, str] = {
    "command": "remediate.executors.command:CommandExecutor",
    "webhook": "remediate.executors.webhook:WebhookExecutor",
    "github_pr": "remediate.executors.github_pr:GitHubPullRequestExecutor",
    "acme": "remediate.executors.acme:AcmeExecutor",
    "cert_check": "remediate.executors.cert_check:CertCheckExecutor",
    "plugin": "",  # dispatches to a plugin by name
}

# name → "module:function" that finds, in an executor's config, what cannot work as written
# ((key path, message, severity) each; used by `validate`)
CONFIG_CHECKS: dict[str, str] = {
    "webhook": "remediate.executors.egress:config_problems",
    "github_pr": "remediate.executors.github_pr:config_problems",
    "acme": "remediate.executors.tls_config:acme_problems",
    "cert_check": "remediate.executors.tls_config:cert_check_problems",
}


def config_problems(name: str, config: Any) -> list[tuple[str, str, str]]:
    target = CONFIG_CHECKS.get(name)
    if not target:
        return []
    module, attribute = target.split(":")
    return list(getattr(import_module(module), attribute)(config))


def available(name: str) -> bool:
    """Whether the built-in executor `name` ships in this version (found without importing it)."""
    from importlib.util import find_spec

    target = BUILTINS.get(name)
    if target is None:
        return False
    return name == "plugin" or find_spec(target.split(":")[0]) is not None


@cache
def plugin_names() -> dict[str, Any]:
    """Installed plugin executors by name (entry points, not yet loaded)."""
    from importlib.metadata import entry_points  # ~25 ms: only when a plugin is named

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load(name: str, plugin: str | None = None) -> Any:
    """The executor class for a built-in `name`, or for `plugin` when name is `plugin`."""
    if name == "plugin":
        if plugin not in plugin_names():
            raise LookupError(f"no executor plugin named {plugin!r} is installed")
        return plugin_names()[plugin].load()
    target = BUILTINS.get(name)
    if not target:
        raise LookupError(f"unknown executor {name!r} (expected one of: {', '.join(BUILTINS)})")
    module, attribute = target.split(":")
    try:
        return getattr(import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        raise LookupError(f"executor {name!r} is not available in this version: {exc}") from None


class InProcess:
    """The execution backend (`service.ports.ExecutionBackend`): the registered executor
    of the action, run in this process (in the calling worker thread)."""

    def run(self, context: ExecutionContext) -> ExecutionResult:
        action = context.action
        plugin = action.config.get("name") if action.executor == "plugin" else None
        result: ExecutionResult = load(action.executor, plugin)().run(context)
        return result
