"""The `acme` executor's configuration: rendered from the request's data and checked
before anything is done (`prepare`); ExecutorError names what is wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from remediate.core.duration import parse_duration
from remediate.executors.base import (
    ExecutionContext,
    ExecutorError,
    check_environment,
    refuse_characters,
    render,
    render_argv,
    template_data,
)
from remediate.executors.tls_config import DOMAIN, acme_problems

STATE_SUFFIX = ".order.json"
PENDING_SUFFIX = ".pending"


@dataclass(frozen=True)
class Config:
    directory: str
    email: str | None
    domains: tuple[str, ...]
    challenge: str
    webroot: Path | None
    hook: list[str] | None
    certificate: Path
    key: Path
    account_key: Path | None
    account_key_env: str | None
    verify: str | bool
    renew_before: timedelta | None
    key_type: str
    pass_env: list[str] = field(default_factory=list)

    @property
    def state(self) -> Path:
        return self.certificate.with_name(self.certificate.name + STATE_SUFFIX)

    @property
    def pending_key(self) -> Path:
        return self.key.with_name(self.key.name + PENDING_SUFFIX)


def prepare(context: ExecutionContext) -> Config:
    """The configuration, rendered and checked (ExecutorError: nothing was done)."""
    raw: dict[str, Any] = dict(context.action.config)
    problems = [m for p, m, s in acme_problems(raw) if s == "error"]
    if problems:
        raise ExecutorError(problems[0])
    data = template_data(context.request)
    hook = dict(raw.get("hook") or {})
    pass_env = [str(n) for n in hook.get("passEnv", [])]
    wanted = [("hook.passEnv", n) for n in pass_env]
    if raw.get("accountKeyEnv"):
        wanted.append(("accountKeyEnv", str(raw["accountKeyEnv"])))
    check_environment(context, wanted)
    domains = tuple(_domain(str(render(d, data))) for d in raw["domains"])
    if len(set(domains)) != len(domains):
        raise ExecutorError(f"domains name one domain twice: {', '.join(domains)}")
    if raw["challenge"] == "http-01" and any(d.startswith("*.") for d in domains):
        raise ExecutorError("a wildcard domain can only be validated by dns-01")
    renew = raw.get("renewBefore")
    return Config(
        directory=str(raw["directory"]),
        email=str(raw["email"]) if raw.get("email") else None,
        domains=domains,
        challenge=str(raw["challenge"]),
        webroot=_path(context, "webroot", raw.get("webroot"), data),
        hook=_hook_argv(hook, data),
        certificate=_required_path(context, "certificate", raw["certificate"], data),
        key=_required_path(context, "key", raw["key"], data),
        account_key=_path(context, "accountKey", raw.get("accountKey"), data),
        account_key_env=str(raw["accountKeyEnv"]) if raw.get("accountKeyEnv") else None,
        verify=str(_path(context, "caBundle", raw["caBundle"], data))
        if raw.get("caBundle")
        else True,
        renew_before=parse_duration(str(renew)) if renew else None,
        key_type=str(raw.get("keyType", "EC-P256")),
        pass_env=pass_env,
    )


def _hook_argv(hook: dict[str, Any], data: Any) -> list[str] | None:
    if not hook:
        return None
    argv = render_argv(hook["argv"], data)
    return [refuse_characters(f"hook.argv[{i}]", a) for i, a in enumerate(argv)]


def _domain(value: str) -> str:
    name = value.strip().lower().rstrip(".")
    if not DOMAIN.fullmatch(name) or len(name) > 253:
        raise ExecutorError(
            f"domain {value[:100]!r} is not a DNS name (letters, digits and '-' in dot-separated "
            "labels, optionally '*.' first)"
        )
    return name


def _required_path(context: ExecutionContext, key: str, value: Any, data: Any) -> Path:
    found = _path(context, key, value, data)
    assert found is not None
    return found


def _path(context: ExecutionContext, key: str, value: Any, data: Any) -> Path | None:
    """A rendered path: absolute, or relative to the repository; never with a `..`."""
    if not value:
        return None
    text = refuse_characters(key, str(render(value, data)))
    if not text or ".." in PurePosixPath(text).parts:
        raise ExecutorError(f"{key} {text!r} may not be empty or contain a '..' component")
    path = Path(text)
    return path if path.is_absolute() else context.root / path
