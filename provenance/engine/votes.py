"""The votes of a clip's frame matches: what the candidate searches find, and what the decision aligns."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["WHOLE_METHODS", "Votes", "carries_segment"]

#: Hash matches of a clip frame as a whole picture (the frame, a panel, their mirror images, the inverted frame):
#: with local-feature matches, what a reference's segment must hold one uncontradicted match of (region hashes never
#: carry one: a game's status bar matches every playthrough).
WHOLE_METHODS = ("pdq", "pdq-mirror", "pdq-invert", "pdq-panel", "pdq-panel-mirror")


def carries_segment(method: str) -> bool:
    """Whether a match of ``method`` can be the uncontradicted match a segment must hold: a whole picture's hash
    match or a local-feature match (never a region's hash match)."""
    return method in WHOLE_METHODS or method.startswith("orb")


@dataclass(slots=True)
class Votes:
    """One vote per (clip frame, reference, reference time) match, in parallel lists, with its method and
    distance (inliers, negated, for local features), and what the clip's frames allowed to judge."""

    q_t: list[float] = field(default_factory=list)
    ref: list[int] = field(default_factory=list)
    r_t: list[float] = field(default_factory=list)
    score: list[float] = field(default_factory=list)
    method: list[str] = field(default_factory=list)
    distance: list[int] = field(default_factory=list)
    quad: list[tuple[float, float, float, float] | None] = field(default_factory=list)
    #: whether no hash contradicts the match: a hash lookup's own, or the hash of a local match's warped picture
    #: (placing it among the reference's frames, or too flat to tell)
    confirmed: list[bool] = field(default_factory=list)
    #: for a local match with a ``ugc`` or ``stream`` reference: the most inliers the same clip frame gives with a
    #: reference of another work (0: none found); what decides whether the frame shows what only its holder owns
    rival: list[int] = field(default_factory=list)
    informative: int = 0  # clip frames whose whole picture has PDQ quality >= min_quality
    local_tried: int = 0  # clip frames tried with local features
    _mirror_checked: int = 0  # votes looked at by mirrored_seen
    _mirror_seen: bool = False
    _vouched: set[int] = field(default_factory=set)  # references with a match that can carry a segment

    def vouched(self, ref: int) -> bool:
        """Whether reference ``ref`` has a vote that no hash contradicts, a whole picture's hash match or a local
        match: without one, no segment of it is kept (:mod:`~provenance.engine.decide`), whatever else votes for it."""
        return ref in self._vouched

    def mirrored_seen(self) -> bool:
        """Whether any vote so far matched a mirror image as a whole picture or by local features (a region of a
        mirrored frame alone is weak evidence: symmetric pictures have them)."""
        if not self._mirror_seen:
            self._mirror_seen = any(
                "mirror" in m and not m.endswith("-region") for m in self.method[self._mirror_checked :]
            )
            self._mirror_checked = len(self.method)
        return self._mirror_seen

    def add(
        self,
        q_t: float,
        ref: int,
        r_t: float,
        score: float,
        method: str,
        distance: int,
        quad: tuple[float, float, float, float] | None = None,
        confirmed: bool = True,
        rival: int = 0,
    ) -> None:
        self.q_t.append(q_t)
        self.ref.append(ref)
        self.r_t.append(r_t)
        self.score.append(score)
        self.method.append(method)
        self.distance.append(distance)
        self.quad.append(quad)
        self.confirmed.append(confirmed)
        self.rival.append(rival)
        if confirmed and carries_segment(method):
            self._vouched.add(ref)
