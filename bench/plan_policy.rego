package remediate

# The synthetic repository's guardrails (bench/generate.py) in Rego, for
# bench/bench_plan.py: the same match keys (globs, case-folded environments and
# services), blockedEnvironments, the three condition forms the generator
# writes, rule effects, and Settings.defaultDecision = require_approval.
# Policies arrive as data (data.policies); conditions as structured data
# translated from their CEL source by the benchmark.

import rego.v1

env := lower(input.environment)

svc := lower(input.serviceName)

any_match(patterns, value) if {
	some p in patterns
	glob.match(p, [], value)
}

key_ok(m, key, _) if not m[key]

key_ok(m, key, value) if any_match(m[key], value)

labels_ok(m) if not m.labels

labels_ok(m) if {
	m.labels
	every k, g in m.labels {
		glob.match(g, [], input.labels[k])
	}
}

# Policies are indexed by literal environment (data.by_env), like the engine's
# match index; the rest (no environment key, or globs) are always candidates.
candidates contains i if some i in data.by_env[env]

candidates contains i if some i in data.env_any

matched contains i if {
	some i in candidates
	p := data.policies[i]
	m := p.match
	key_ok(m, "environments", env)
	key_ok(m, "actionTypes", input.actionType)
	key_ok(m, "services", svc)
	key_ok(m, "severities", input.severity)
	labels_ok(m)
}

cond(c) if c.kind == "always"

cond(c) if {
	c.kind == "severity_in"
	input.severity in c.values
}

cond(c) if {
	c.kind == "replicas_gt"
	input.replicas > c.value
}

fired contains concat("/", [p.name, r.name, r.effect]) if {
	some i in matched
	p := data.policies[i]
	some r in p.rules
	cond(r.cond)
}

blocked contains concat("/", [p.name, "blockedEnvironments"]) if {
	some i in matched
	p := data.policies[i]
	env in p.blocked
}

denies := {x | some x in fired; endswith(x, "/deny")}

approvals := {x | some x in fired; endswith(x, "/require_approval")}

status := "POLICY_VIOLATION" if {
	count(denies) + count(blocked) > 0
} else := "PENDING_APPROVAL" if {
	count(approvals) > 0
} else := "PENDING_APPROVAL" if {
	count(fired) == 0
} else := "QUEUED"

decision := {"status": status, "fired": fired, "blocked": blocked}
