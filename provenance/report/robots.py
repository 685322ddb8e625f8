"""Per-domain snapshots a user provides (no network at scan): ``robots.txt``, ``ai.txt`` and TDMRep's
``/.well-known/tdmrep.json``, each asked whether it reserves AI training for one URL path.

* ``robots.txt`` (RFC 9309): for each crawler of :data:`AI_CRAWLERS`, the group naming it (else the ``*`` group)
  applies; its most specific (longest) ``Allow``/``Disallow`` pattern matching the path decides, ``Allow`` on a
  tie; ``*`` and a final ``$`` are wildcards. A path disallowed to any of them is a reservation (the detail says
  to whom: ``User-agent: *`` disallows it to every crawler, the AI ones included). An IETF AI-preferences
  ``Content-Usage:`` line in a group (``Content-Usage: train-ai=n`` or ``Content-Usage: /path train-ai=n``) counts
  too, read as the header is.
* ``ai.txt`` (Spawning): robots.txt's syntax; any group's ``Disallow`` matching the path (``Disallow: *.mp4``,
  ``Disallow: /``) is a reservation.
* ``tdmrep.json``: a list of ``{"location", "tdm-reservation", "tdm-policy"}`` rules; the first whose location
  pattern (``*`` wildcards) matches the path decides.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["AI_CRAWLERS", "SnapshotVerdict", "ai_txt_verdict", "robots_usage", "robots_verdict", "tdmrep_verdict"]

#: The crawlers whose robots.txt rules are read as AI-training reservations (user-agent tokens, any case):
#: OpenAI, Google's AI training token, Common Crawl, Anthropic, Apple's AI token, ByteDance, Meta, Cohere, Amazon,
#: AI2, Diffbot, Omgili, Timpi, ImageSift, Huawei and img2dataset.
AI_CRAWLERS = (
    "GPTBot",
    "Google-Extended",
    "CCBot",
    "ClaudeBot",
    "anthropic-ai",
    "Claude-Web",
    "Applebot-Extended",
    "Bytespider",
    "meta-externalagent",
    "FacebookBot",
    "cohere-ai",
    "cohere-training-data-crawler",
    "Amazonbot",
    "AI2Bot",
    "Ai2Bot-Dolma",
    "Diffbot",
    "Omgilibot",
    "Timpibot",
    "ImagesiftBot",
    "PanguBot",
    "img2dataset",
)


@dataclass(frozen=True, slots=True)
class SnapshotVerdict:
    """What a snapshot says of a path: ``reserves`` (True, False, or None when it says nothing of it), the rule
    that decided (``detail``) and, for tdmrep.json, the policy URL."""

    reserves: bool | None
    detail: str
    policy: str | None = None


@dataclass(slots=True)
class _Group:
    agents: list[str] = field(default_factory=list)
    rules: list[tuple[bool, str]] = field(default_factory=list)  # (allow, pattern)
    usage: list[tuple[str, str]] = field(default_factory=list)  # (path pattern, Content-Usage value)


def _groups(text: str) -> list[_Group]:
    groups: list[_Group] = []
    current: _Group | None = None
    in_agents = False
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if ":" not in line:
            continue
        key, _, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if key == "user-agent":
            if current is None or not in_agents:
                current = _Group()
                groups.append(current)
            current.agents.append(value.lower())
            in_agents = True
            continue
        in_agents = False
        if current is None:
            continue
        if key in ("allow", "disallow") and value:
            current.rules.append((key == "allow", value))
        elif key == "content-usage" and value:
            first, _, rest = value.partition(" ")
            current.usage.append((first, rest.strip()) if first.startswith("/") else ("/", value))
    return groups


def _pattern(pattern: str) -> re.Pattern[str]:
    end = pattern.endswith("$")
    body = "".join(".*" if ch == "*" else re.escape(ch) for ch in (pattern[:-1] if end else pattern))
    return re.compile(body + ("$" if end else ""))


def _matches(pattern: str, path: str) -> bool:
    return _pattern(pattern).match(path) is not None


def _decide(rules: Iterable[tuple[bool, str]], path: str) -> tuple[bool, str] | None:
    """The rule deciding ``path``: the longest matching pattern, ``Allow`` on a tie."""
    best: tuple[int, bool, str] | None = None
    for allow, pattern in rules:
        if _matches(pattern, path):
            rank = (len(pattern), allow, pattern)
            if best is None or rank[:2] > best[:2]:
                best = rank
    return (best[1], best[2]) if best is not None else None


def _group_for(groups: list[_Group], agent: str) -> _Group | None:
    token = agent.lower()
    named = [g for g in groups if token in g.agents]
    if named:
        return _Group(rules=[r for g in named for r in g.rules], usage=[u for g in named for u in g.usage])
    star = [g for g in groups if "*" in g.agents]
    if star:
        return _Group(agents=["*"], rules=[r for g in star for r in g.rules], usage=[u for g in star for u in g.usage])
    return None


def robots_verdict(text: str, path: str) -> SnapshotVerdict:
    """Whether robots.txt ``text`` reserves ``path`` against the AI crawlers (its Content-Usage lines:
    :func:`robots_usage`)."""
    groups = _groups(text)
    blocked: list[str] = []
    for agent in AI_CRAWLERS:
        group = _group_for(groups, agent)
        if group is None:
            continue
        decided = _decide(group.rules, path)
        if decided is not None and not decided[0]:
            who = "every crawler (User-agent: *)" if group.agents == ["*"] else agent
            rule = f"{who}: Disallow: {decided[1]}"
            if rule not in blocked:
                blocked.append(rule)
    if blocked:
        return SnapshotVerdict(
            True, "; ".join(blocked[:3]) + (f" (and {len(blocked) - 3} more)" if len(blocked) > 3 else "")
        )
    return SnapshotVerdict(None, "no rule for the AI crawlers disallows the path")


def robots_usage(text: str, path: str) -> list[str]:
    """The ``Content-Usage`` values of robots.txt ``text`` whose path pattern matches ``path`` (any group)."""
    return [value for g in _groups(text) for where, value in g.usage if _matches(where, path)]


def ai_txt_verdict(text: str, path: str) -> SnapshotVerdict:
    """Whether ai.txt ``text`` reserves ``path``: any group's deciding rule is a ``Disallow``."""
    groups = _groups(text)
    decided = _decide([r for g in groups for r in g.rules], path)
    if decided is None:
        return SnapshotVerdict(None, "no rule matches the path")
    allow, pattern = decided
    return SnapshotVerdict(not allow, f"{'Allow' if allow else 'Disallow'}: {pattern}")


def tdmrep_verdict(text: str, path: str) -> SnapshotVerdict:
    """Whether tdmrep.json ``text`` reserves ``path``; :class:`ValueError` when it is not such a file."""
    rules = json.loads(text)
    if not isinstance(rules, list):
        raise ValueError("not a JSON list of rules")
    for rule in rules:
        if not isinstance(rule, dict) or not isinstance(rule.get("location"), str):
            raise ValueError("a rule without a location")
        location = rule["location"]
        if _matches(location if location.startswith(("/", "*")) else "/" + location, path):
            reservation = rule.get("tdm-reservation")
            policy = rule.get("tdm-policy")
            if reservation not in (0, 1, "0", "1"):
                raise ValueError(f"location {location!r}: tdm-reservation must be 0 or 1")
            return SnapshotVerdict(
                str(reservation) == "1", f"location {location}", policy if isinstance(policy, str) else None
            )
    return SnapshotVerdict(None, "no location matches the path")
