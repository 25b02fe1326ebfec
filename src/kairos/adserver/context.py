"""What the decision engine knows about one request: where, who, when. Plain data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

Scalar = str | int | float | bool | None
_MISSING = object()


# Plain slotted dataclasses, not frozen, for what is made per request (this, the placement
# requests and results, choices, bids, masks, signed queries, links): a frozen dataclass's
# `__init__` sets each field through `object.__setattr__`, six times the cost, several times
# per decision. Nothing changes them once made. Those made several times per decision have an
# `__init__` of their own (`init=False`): compiled by mypyc (`kairos.compiled`), the one a
# dataclass writes still runs as Python, four to ten times the cost of a compiled one.
@dataclass(slots=True, init=False)
class RequestContext:
    now: datetime  # timezone-aware
    user_key: str | None = None  # pseudonymous; None without an id
    personalization: bool = False  # consent: without it only contextual ads
    country: str | None = None
    region: str | None = None
    device: str | None = None  # desktop | mobile | tablet | bot | unknown
    os: str | None = None
    browser: str | None = None
    site_id: str | None = None
    zone_id: str | None = None
    page_url: str | None = None
    keywords: frozenset[str] = frozenset()  # of the page and the request, lower case
    properties: dict[str, Scalar] = field(default_factory=dict)  # request key-values
    features: dict[str, object] = field(default_factory=dict)  # the user's snapshot (consent)
    placement_id: str | None = None
    _variables: Mapping[str, object] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _ts: float | None = field(default=None, init=False, repr=False, compare=False)

    def __init__(
        self,
        now: datetime,
        user_key: str | None = None,
        personalization: bool = False,
        country: str | None = None,
        region: str | None = None,
        device: str | None = None,
        os: str | None = None,
        browser: str | None = None,
        site_id: str | None = None,
        zone_id: str | None = None,
        page_url: str | None = None,
        keywords: frozenset[str] = frozenset(),
        properties: dict[str, Scalar] | None = None,
        features: dict[str, object] | None = None,
        placement_id: str | None = None,
    ) -> None:
        self.now = now
        self.user_key = user_key
        self.personalization = personalization
        self.country = country
        self.region = region
        self.device = device
        self.os = os
        self.browser = browser
        self.site_id = site_id
        self.zone_id = zone_id
        self.page_url = page_url
        self.keywords = keywords
        self.properties = {} if properties is None else properties
        self.features = {} if features is None else features
        self.placement_id = placement_id
        self._variables = None
        self._ts = None

    def at_placement(
        self, site_id: str, zone_id: str, properties: dict[str, Scalar], placement_id: str
    ) -> RequestContext:
        """This context on one placement of the page (`dataclasses.replace`, without its
        per-call field inspection: once per placement on the hot path)."""
        ctx = RequestContext(
            self.now,
            self.user_key,
            self.personalization,
            self.country,
            self.region,
            self.device,
            self.os,
            self.browser,
            site_id,
            zone_id,
            self.page_url,
            self.keywords,
            properties,
            self.features,
            placement_id,
        )
        ctx._ts = self._ts
        return ctx

    def timestamp(self) -> float:
        """`now` in seconds since the epoch (an aware datetime's `timestamp()` converts
        through its time zone each call: made once per context)."""
        ts = self._ts
        if ts is None:
            ts = self._ts = self.now.timestamp()
        return ts

    def variables(self) -> Mapping[str, object]:
        """The names a targeting expression can use: features, key-values, context (made
        once per context: targeting and creative rules both read them)."""
        if self._variables is None:
            self._variables = self._made_variables()
        return self._variables

    def value(self, name: str) -> object:
        """What `variables()` holds for `name` (None: nothing), without making them all where
        the name is a feature's or a key-value's."""
        made = self._variables
        if made is not None:
            return made.get(name)
        if name in _CONTEXT_NAMES:
            return self.variables().get(name)
        found = self.properties.get(name, _MISSING)
        return self.features.get(name) if found is _MISSING else found

    def _made_variables(self) -> dict[str, object]:
        context: dict[str, object] = {
            "country": self.country,
            "region": self.region,
            "device": self.device,
            "os": self.os,
            "browser": self.browser,
            "site_id": self.site_id,
            "zone_id": self.zone_id,
            "keywords": sorted(self.keywords),
        }
        return {**self.features, **self.properties, **context}


# the context's own names in `variables()` (over key-values, over features): those a context
# with neither has
_CONTEXT_NAMES = frozenset(RequestContext(datetime(1970, 1, 1, tzinfo=UTC))._made_variables())
