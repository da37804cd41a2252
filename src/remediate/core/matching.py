"""Which policies a request matches, found through an index instead of a loop.

Each `match` key (environments, actionTypes, services, severities, labels) is
a dimension. For every distinct value seen, a dimension remembers the bit mask
of the policies it satisfies (a policy that omits the key has its bit set for
every value); a request's policies are the AND of its values' masks. Names
are compared after `normalize_name` (NFC, case-folded), so `Production` or a
decomposed `é` cannot dodge a rule written for `production`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import translate

_GLOB_CHARS = frozenset("*?[")


def normalize_name(name: str) -> str:
    """How environments and services compare: Unicode NFC, then case-folded."""
    return unicodedata.normalize("NFC", name).casefold()


@dataclass(frozen=True)
class Pattern:
    """A name or shell-style glob, already normalized when its dimension is."""

    text: str
    regex: re.Pattern[str] | None

    @classmethod
    def of(cls, text: str, fold: bool) -> Pattern:
        text = normalize_name(text) if fold else text
        return cls(text, re.compile(translate(text)) if _GLOB_CHARS & set(text) else None)

    def matches(self, value: str) -> bool:
        return self.regex.match(value) is not None if self.regex else value == self.text


def matches_any(patterns: Sequence[Pattern], value: str) -> bool:
    return any(p.matches(value) for p in patterns)


@dataclass
class Dimension:
    """One match key over all policies: value → mask of the policies it satisfies."""

    unconstrained: int = 0
    literal: dict[str, int] = field(default_factory=dict)
    globbed: list[tuple[Pattern, int]] = field(default_factory=list)
    cache: dict[str, int] = field(default_factory=dict)

    def add(self, bit: int, patterns: Sequence[Pattern] | None) -> None:
        if patterns is None:
            self.unconstrained |= bit
            return
        for p in patterns:
            if p.regex is None:
                self.literal[p.text] = self.literal.get(p.text, 0) | bit
            else:
                self.globbed.append((p, bit))

    def mask(self, value: str) -> int:
        found = self.cache.get(value)
        if found is None:
            found = self.unconstrained | self.literal.get(value, 0)
            for pattern, bit in self.globbed:
                if pattern.matches(value):
                    found |= bit
            self.cache[value] = found
        return found


@dataclass
class LabelDimension:
    """Label constraints: every named label present, its value matching a glob."""

    unconstrained: int = 0
    constrained: list[tuple[int, dict[str, Pattern]]] = field(default_factory=list)
    cache: dict[tuple[tuple[str, str], ...], int] = field(default_factory=dict)

    def add(self, bit: int, labels: Mapping[str, Pattern] | None) -> None:
        if not labels:
            self.unconstrained |= bit
        else:
            self.constrained.append((bit, dict(labels)))

    def mask(self, labels: Mapping[str, str]) -> int:
        if not self.constrained:
            return self.unconstrained
        key = tuple(sorted(labels.items()))
        found = self.cache.get(key)
        if found is None:
            found = self.unconstrained
            for bit, wanted in self.constrained:
                if all(k in labels and p.matches(labels[k]) for k, p in wanted.items()):
                    found |= bit
            self.cache[key] = found
        return found


@dataclass(frozen=True)
class Match:
    """A policy's `match`, compiled; None in a field means the key was omitted."""

    environments: tuple[Pattern, ...] | None = None
    action_types: tuple[Pattern, ...] | None = None
    services: tuple[Pattern, ...] | None = None
    severities: tuple[Pattern, ...] | None = None
    labels: Mapping[str, Pattern] | None = None

    @classmethod
    def from_spec(cls, spec: Mapping[str, object]) -> Match:
        def patterns(key: str, fold: bool) -> tuple[Pattern, ...] | None:
            values = spec.get(key)
            if values is None:
                return None
            assert isinstance(values, list)
            return tuple(Pattern.of(str(v), fold) for v in values)

        labels = spec.get("labels")
        return cls(
            environments=patterns("environments", True),
            action_types=patterns("actionTypes", False),
            services=patterns("services", True),
            severities=patterns("severities", False),
            labels=(
                {str(k): Pattern.of(str(v), False) for k, v in labels.items()}
                if isinstance(labels, dict)
                else None
            ),
        )

    def matches_fields(
        self,
        environment: str | None,
        action_type: str | None,
        service: str | None,
        severity: str | None,
    ) -> bool:
        """Matching on the fields an audit record carries; an unknown field matches (counts)."""
        pairs = (
            (self.environments, environment),
            (self.action_types, action_type),
            (self.services, service),
            (self.severities, severity),
        )
        return all(p is None or v is None or matches_any(p, v) for p, v in pairs)


class MatchIndex:
    """The policies' match keys as dimensions; `candidates` gives a request's policy mask."""

    def __init__(self, matches: Sequence[Match]) -> None:
        self.environments = Dimension()
        self.action_types = Dimension()
        self.services = Dimension()
        self.severities = Dimension()
        self.labels = LabelDimension()
        for i, m in enumerate(matches):
            bit = 1 << i
            self.environments.add(bit, m.environments)
            self.action_types.add(bit, m.action_types)
            self.services.add(bit, m.services)
            self.severities.add(bit, m.severities)
            self.labels.add(bit, m.labels)
        self.everything = (1 << len(matches)) - 1

    def mask(
        self,
        environment: str,
        action_type: str,
        service: str,
        severity: str,
        labels: Mapping[str, str],
    ) -> int:
        found = self.environments.mask(environment)
        if found:
            found &= self.action_types.mask(action_type)
        if found:
            found &= self.services.mask(service)
        if found:
            found &= self.severities.mask(severity)
        if found:
            found &= self.labels.mask(labels)
        return found


def bits(mask: int) -> list[int]:
    """Indexes of the set bits of `mask`, lowest first."""
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out
