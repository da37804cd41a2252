"""The `command` executor: argv only, an allow-listed environment, a group-killing timeout."""

from __future__ import annotations

import os
from typing import Any

from remediate.executors.base import (
    ExecutionContext,
    ExecutionResult,
    ExecutorError,
    Redactor,
    ambient_secrets,
    check_environment,
    refuse_characters,
    render,
    render_argv,
    template_data,
)


class CommandExecutor:
    """Runs `argv` directly (never through a shell unless argv names one)."""

    def run(self, context: ExecutionContext) -> ExecutionResult:
        config: dict[str, Any] = dict(context.action.config)
        return self.execute(context, config, None, context.action.timeout.total_seconds())

    def execute(
        self,
        context: ExecutionContext,
        config: dict[str, Any],
        cwd: str | None,
        timeout: float,
    ) -> ExecutionResult:
        """Run `config` (`argv`, `env`, `passEnv`, `workingDir`) as this executor does, in
        `cwd` when given (another executor's directory, e.g. `github_pr`'s fresh checkout;
        `workingDir` is then not read), within `timeout` seconds."""
        pass_env = [str(name) for name in config.get("passEnv", [])]
        env, secrets = self._environment(context, pass_env)
        redact = Redactor(secrets)
        try:
            argv, extra, where = self._prepare(context, config, pass_env)
        except ExecutorError as exc:
            return ExecutionResult(False, {}, redact(str(exc)))
        env.update(extra)
        done = context.processes.run(argv, env, cwd or where, timeout)
        details = {
            "argv": [redact(a) for a in argv],
            "exitCode": done.returncode,
            "stdout": redact.output(done.stdout, cut_start=done.stdout_cut),
            "stderr": redact.output(done.stderr, cut_start=done.stderr_cut),
        }
        if done.error:
            return ExecutionResult(False, details, redact(done.error))
        if done.stopped:
            return ExecutionResult(
                False,
                details,
                f"the runner was stopped ({done.stopped}) while the action ran; its process "
                "group was stopped",
                outcome_unknown=True,
            )
        if done.timed_out:
            return ExecutionResult(
                False, details, f"timed out after {timeout:g}s; its process group was killed"
            )
        if done.returncode != 0:
            return ExecutionResult(False, details, f"exited with status {done.returncode}")
        return ExecutionResult(True, details)

    def _prepare(
        self, context: ExecutionContext, config: dict[str, Any], pass_env: list[str]
    ) -> tuple[list[str], dict[str, str], str]:
        """argv, extra environment and working directory, or ExecutorError: nothing started."""
        check_environment(
            context,
            [
                *(("executorEnvironment", n) for n in context.allowed_environment),
                *(("passEnv", n) for n in pass_env),
            ],
        )
        data = template_data(context.request)
        argv = [
            refuse_characters(f"argv[{i}]", a)
            for i, a in enumerate(render_argv(config["argv"], data))
        ]
        extra = {
            refuse_characters(f"env name {k!r}", str(k), "\x00="): refuse_characters(
                f"env {k}", str(v)
            )
            for k, v in render(dict(config.get("env", {})), data).items()
        }
        return argv, extra, self._cwd(context, config.get("workingDir"))

    @staticmethod
    def _environment(
        context: ExecutionContext, pass_env: list[str]
    ) -> tuple[dict[str, str], list[str]]:
        source = context.environment
        env = {k: source[k] for k in context.allowed_environment if k in source}
        passed = {k: source[k] for k in pass_env if k in source}
        env.update(passed)
        return env, [*passed.values(), *ambient_secrets(source)]

    @staticmethod
    def _cwd(context: ExecutionContext, working_dir: Any) -> str:
        root = context.root.resolve()
        if not working_dir:
            return str(root)
        target = (root / str(working_dir)).resolve()
        if target != root and root not in target.parents:
            raise ExecutorError(f"workingDir {working_dir!r} leaves the repository")
        return os.fspath(target)
