"""Follow-up requests: a `GuardrailPolicy` rule on the result of a request it matches.

`spec.followUps: [{name, on, when, request}]`: when a request the policy matches ends
with a status of `on` (FAILED by default; COMPLETED may be named too: a rejected or
cancelled request never ran, so it never triggers) and the CEL condition `when` over
`request` (the request that ended) and `result` (its outcome) holds, `apply` makes one
request named `<rule>-<request id>` from `request` (templates reading `request.*` and
`result.*`, rendered in the bounded sandbox: values stay data). It is made in the
commit that records the outcome, so it is made exactly once however runners race
(the branch push is a compare-and-swap; the batch is rebuilt on the tip).

Recorded in the audit, no file, like a schedule's fire: the `followups` stream, one
subject per request that ended, whose `requested` event carries the new request (name,
spec, requester, rule, policy); `core.schedules.with_fired` adds it to the repository
until it ends, and it follows the normal policy path. Its requester is the requester of
the request that ended (who added its file, or the schedule, or imported the finding):
that person cannot approve the follow-up of their own request. Bounded: a follow-up
never triggers a follow-up (`FOLLOWUP_LABEL`), so a rule matching its own requests makes
one generation, not a chain. Pure: rendering and checking a request are the caller's.

A follow-up whose name another request holds already (a request file, or one the audit
recorded: a fire, an auto-remediation, a request that has ended) is not made: it would
share that request's lifecycle. `validate` rejects the rule names that could make the
same name (`renew` and `renew-edge`: `renew` of `edge-x` and `renew-edge` of `x`); what
is left, a name some other request holds, is recorded on the same subject as a
`not_made` event (name, rule, policy, why) in the commit that records the outcome, and
`apply` says so in a note: the rule does not try again for that request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from remediate.core import streams
from remediate.core.conditions import Condition, ConditionError, compile_condition

STREAM = "followups"
VERB = "requested"
NOT_MADE = "not_made"  # the rule held, but the request could not be made (`details.why`)
ROOTS = ("request", "result", "now")
TRIGGERS = ("FAILED", "COMPLETED")
FOLLOWUP_LABEL = "remediate.dev/follow-up"  # the rule that made a request
TRIGGER_LABEL = "remediate.dev/follow-up-of"  # … and the request whose outcome did
# The outcome's details that are the runner's bookkeeping, not the executor's result.
_BOOKKEEPING = ("verb", "attempt", "requester", "contentHash", "actionHash")


@dataclass(frozen=True)
class Rule:
    name: str
    policy: str
    on: tuple[str, ...]
    condition: Condition | None
    request: Mapping[str, Any]


def compile_rule(spec: Mapping[str, Any], policy: str) -> Rule:
    """A rule of `spec.followUps` (ConditionError: its `when` does not compile)."""
    when = spec.get("when")
    return Rule(
        name=str(spec["name"]),
        policy=policy,
        on=tuple(spec.get("on") or ("FAILED",)),
        condition=compile_condition(when, ROOTS) if isinstance(when, str) else None,
        request=dict(spec["request"]),
    )


def condition_problem(source: str) -> ConditionError | None:
    try:
        compile_condition(source, ROOTS)
    except ConditionError as exc:
        return exc
    return None


def request_name(rule: str, request_id: str) -> str:
    return f"{rule}-{request_id}"


def request_data(name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """What `request.*` reads of the request that ended: its name and spec."""
    return {"name": name, **{k: v for k, v in spec.items()}}


def result_data(status: str, details: Mapping[str, Any], error: str | None) -> dict[str, Any]:
    """What `result.*` reads: the status, the error, and what the executor recorded."""
    data = {k: v for k, v in details.items() if k not in _BOOKKEEPING}
    return {**data, "status": status, "error": error or ""}


def holds(
    rule: Rule, request: Mapping[str, Any], result: Mapping[str, Any], now: datetime
) -> bool | str:
    """Whether the rule triggers on this outcome (a string: why its condition failed,
    which fails closed: no follow-up)."""
    if str(result.get("status")) not in rule.on:
        return False
    if rule.condition is None:
        return True
    try:
        value = rule.condition.program.execute({"request": request, "result": result, "now": now})
    except Exception as exc:  # the CEL library raises plain builtins; fail closed
        return f"{type(exc).__name__}: {exc}"
    if not isinstance(value, bool):
        return f"the condition gave {type(value).__name__} {value!r}, not true or false"
    return value


def is_follow_up(labels: Mapping[str, str]) -> bool:
    return FOLLOWUP_LABEL in labels


# ---------------------------------------------------------------- the stream's fold


def _step(value: Any, event: streams.StreamEvent) -> Any:
    made = dict((value or {}).get("requests") or {})
    withheld = dict((value or {}).get("notMade") or {})
    request = event.details.get("request")
    if event.verb == VERB and isinstance(request, dict):
        made[str(request.get("name"))] = dict(request)
    elif event.verb == NOT_MADE:
        withheld[str(event.details.get("name"))] = dict(event.details)
    return {"requests": made, "notMade": withheld} if withheld else {"requests": made}


def _refuse(value: Any, event: streams.StreamEvent) -> str | None:
    if event.verb == VERB:
        request = event.details.get("request")
        if (
            not isinstance(request, dict)
            or not isinstance(request.get("name"), str)
            or not isinstance(request.get("spec"), dict)
            or not isinstance(request.get("rule"), str)
        ):
            return "a requested event carries its request (details.request: name, rule, spec)"
        name = request["name"]
    elif event.verb == NOT_MADE:
        if not all(isinstance(event.details.get(k), str) for k in ("name", "rule", "why")):
            return "a not_made event names the request, its rule and why (details: name, rule, why)"
        name = event.details["name"]
    else:
        return f"{event.verb!r} is not a follow-up event ({VERB}, {NOT_MADE})"
    if name in made(value) or name in not_made(value):
        return "that follow-up was made for this request already, or recorded as not made"
    return None


def _requests(value: Any) -> list[Any]:
    from remediate.core.model import Request
    from remediate.core.schedules import REQUESTER_LABEL

    out = []
    for name, request in ((value or {}).get("requests") or {}).items():
        labels = {
            FOLLOWUP_LABEL: str(request.get("rule")),
            TRIGGER_LABEL: str(request.get("trigger")),
        }
        if request.get("requester"):
            labels[REQUESTER_LABEL] = str(request["requester"])
        out.append(Request.from_spec(str(name), dict(request["spec"]), None, labels))
    return out


FOLD = streams.register(
    streams.Fold(STREAM, start=lambda subject: None, step=_step, refuse=_refuse, requests=_requests)
)


def made(value: Any) -> Iterable[str]:
    return ((value or {}).get("requests") or {}).keys()


def not_made(value: Any) -> Iterable[str]:
    """The follow-ups of this subject recorded as not made (`NOT_MADE`)."""
    return ((value or {}).get("notMade") or {}).keys()
