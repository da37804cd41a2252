"""Approvals: distinct people, the requester, stale content, principals, several rules."""

from __future__ import annotations

from remediate.core.decision import Approval
from tests.policy_helpers import context, decide, policies, policy, request


def two_sre(extra: list[dict[str, object]] | None = None):  # type: ignore[no-untyped-def]
    rules = [
        {
            "name": "two-sre",
            "effect": "require_approval",
            "approvals": {"min": 2, "from": ["team:sre"]},
        },
        *(extra or []),
    ]
    return policies(policy("prod", rules=rules))


def test_two_distinct_sre_approvals_queue_it() -> None:
    approvals = (Approval("bob@example.com"), Approval("carol@example.com"))
    d = decide(request(), two_sre(), context(approvals=approvals))
    assert d.status == "QUEUED"
    assert d.needs[0].counted == ("bob@example.com", "carol@example.com")
    assert d.detail == "Approved: prod rule two-sre by bob@example.com, carol@example.com."


def test_one_person_with_two_identities_counts_once() -> None:
    approvals = (Approval("bob@example.com"), Approval("robert@example.com"), Approval("BOB"))
    d = decide(request(), two_sre(), context(approvals=approvals))
    assert d.status == "PENDING_APPROVAL"
    assert d.needs[0].counted == ("bob@example.com",)
    assert ("robert@example.com", "is the same person as bob@example.com") in d.needs[0].ignored


def test_the_requester_never_counts_even_as_an_operator() -> None:
    approvals = (Approval("robert@example.com"), Approval("carol@example.com"))
    d = decide(request(), two_sre(), context(requester="bob@example.com", approvals=approvals))
    assert d.status == "PENDING_APPROVAL"
    assert d.needs[0].counted == ("carol@example.com",)
    assert ("robert@example.com", "is the requester, who never counts") in d.needs[0].ignored


def test_stale_approvals_do_not_count_and_say_why() -> None:
    req = request()
    edited = request(notes="changed after the approval")
    current = Approval("carol@example.com", content_hash=req.content_hash)
    stale = Approval("bob@example.com", content_hash=edited.content_hash)
    d = decide(req, two_sre(), context(approvals=(current, stale)))
    assert d.status == "PENDING_APPROVAL"
    assert d.needs[0].counted == ("carol@example.com",)
    ((who, why),) = d.needs[0].ignored
    assert who == "bob@example.com"
    assert why.startswith("stale: given for content sha256:")
    assert "the request has changed since" in why


def test_only_principals_of_the_rule_and_operators_count() -> None:
    # alice is an admin (an operator) but not in team:sre; mallory is nobody
    approvals = (Approval("alice@example.com"), Approval("mallory@example.com"))
    d = decide(request(), two_sre(), context(approvals=approvals))
    assert d.needs[0].counted == ()
    assert dict(d.needs[0].ignored) == {
        "alice@example.com": "is not one of team:sre",
        "mallory@example.com": "is not an operator",
    }


def test_several_require_approval_rules_must_each_be_satisfied() -> None:
    ps = two_sre(
        [
            {
                "name": "an-admin",
                "effect": "require_approval",
                "approvals": {"min": 1, "from": ["alice@example.com"]},
            }
        ]
    )
    sre = (Approval("bob@example.com"), Approval("carol@example.com"))
    d = decide(request(), ps, context(approvals=sre))
    assert d.status == "PENDING_APPROVAL"
    assert [(n.rule, n.missing) for n in d.needs] == [("two-sre", 0), ("an-admin", 1)]
    assert d.approvers == ("alice@example.com",)
    d = decide(request(), ps, context(approvals=(*sre, Approval("alice@example.com"))))
    assert d.status == "QUEUED"


def test_empty_from_in_default_approvals_means_any_operator() -> None:
    ps = policies()
    ctx = context(
        default="require_approval",
        default_approvals={"min": 1, "from": []},
        approvals=(Approval("alice@example.com"),),
    )
    assert decide(request(), ps, ctx).status == "QUEUED"
