"""A decision's data: the request for several placements of a page, and per placement what
was chosen (or why nothing was), with the ids that name each choice."""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kairos.adserver.auction import Won
from kairos.adserver.catalog import Candidate, PlacementInfo
from kairos.adserver.context import RequestContext, Scalar
from kairos.adserver.explain import Dropped
from kairos.creative.assembly import Combination
from kairos.creative.model import Template

_FIRST = 1 << 60  # the counter's first value: 16 hex digits from the start


class DecisionIds:
    """Unique decision ids without a system call each: 16 random hex digits per process, then
    a counter (32 hex digits in all). Guessing one gains nothing: tracking URLs are signed."""

    def __init__(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._next = itertools.count(_FIRST).__next__

    def __call__(self) -> str:
        return self._prefix + hex(self._next())[2:]  # (no format to parse, as f"{n:016x}")


# made several times per decision: slotted, with an `__init__` of their own (see
# `context.RequestContext`)


@dataclass(slots=True, init=False)
class PlacementRequest:
    key: str  # placement id or the page's div name
    ad_types: tuple[str, ...] = ()  # narrower than the placement's, if given
    count: int = 1
    properties: Mapping[str, Scalar] = field(default_factory=dict)
    floor_cpm: float | None = None  # overrides the placement's floor when higher
    zone_id: str | None = None

    def __init__(
        self,
        key: str,
        ad_types: tuple[str, ...] = (),
        count: int = 1,
        properties: Mapping[str, Scalar] | None = None,
        floor_cpm: float | None = None,
        zone_id: str | None = None,
    ) -> None:
        self.key = key
        self.ad_types = ad_types
        self.count = count
        self.properties = {} if properties is None else properties
        self.floor_cpm = floor_cpm
        self.zone_id = zone_id


@dataclass(slots=True, init=False)
class DecisionRequest:
    placements: Sequence[PlacementRequest]
    ctx: RequestContext
    explain: bool = False

    def __init__(
        self, placements: Sequence[PlacementRequest], ctx: RequestContext, explain: bool = False
    ) -> None:
        self.placements = placements
        self.ctx = ctx
        self.explain = explain


@dataclass(slots=True, init=False)
class Choice:
    decision_id: str
    candidate: Candidate
    won: Won
    combination: Combination | None = None  # a dynamic creative's elements and values
    template: Template | None = None  # and its template
    combination_share: float = 1.0  # the probability the combination had of being chosen
    options: tuple[Combination, ...] = ()  # the combinations a model chose it among

    def __init__(
        self,
        decision_id: str,
        candidate: Candidate,
        won: Won,
        combination: Combination | None = None,
        template: Template | None = None,
        combination_share: float = 1.0,
        options: tuple[Combination, ...] = (),
    ) -> None:
        self.decision_id = decision_id
        self.candidate = candidate
        self.won = won
        self.combination = combination
        self.template = template
        self.combination_share = combination_share
        self.options = options

    @property
    def propensity(self) -> float:
        """The probability this policy had of showing this ad with these elements."""
        return self.won.propensity * self.combination_share


@dataclass(slots=True, init=False)
class PlacementResult:
    request: PlacementRequest
    info: PlacementInfo | None
    choices: list[Choice]
    considered: int
    no_fill: str | None = None  # why nothing was chosen
    dropped: list[Dropped] = field(default_factory=list)
    eligible: tuple[str, ...] = ()  # ad ids that reached the auction (for off-policy logs)

    def __init__(
        self,
        request: PlacementRequest,
        info: PlacementInfo | None,
        choices: list[Choice],
        considered: int,
        no_fill: str | None = None,
        dropped: list[Dropped] | None = None,
        eligible: tuple[str, ...] = (),
    ) -> None:
        self.request = request
        self.info = info
        self.choices = choices
        self.considered = considered
        self.no_fill = no_fill
        self.dropped = [] if dropped is None else dropped
        self.eligible = eligible
