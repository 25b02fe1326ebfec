"""Signed tracking URLs: impression pixel, viewable beacon, click redirect, custom events.

A choice's URLs share one query and one signature: the decision id, the ad, the placement, the
pseudonymous user, the consent, the impression's and the click's costs, the landing page, the
creative's elements and an expiry, with an HMAC-SHA256 over all of them, so that nobody can
forge, alter or prolong one. Only the path says which event a URL is (`/v1/t/i`, `/v1/t/v`,
`/v1/t/c`, `/v1/t/e`): the four go to the same page together, so signing the kind would keep
nothing from whoever holds them. A click that lands on one of a dynamic ad's products adds
the product's page (`l`) and a signature of it for the ad (`ls`): the same in every decision,
so it is made once per ad and page; a URL can only be sent on to a page signed for its ad
(the signed `a`). The previous release chained `ls` to the choice's signature: still accepted.
Events built from them have deterministic ids (`imp-<decision id>`, ...): however often a
URL is fetched, the stream counts it once per decision. A custom-event URL ends in `n={name}`,
outside the signature: the page (or video player) puts the event's name there, and each name
counts once per decision.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from binascii import b2a_base64
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kairos.adserver import native
from kairos.memo import Memo

if TYPE_CHECKING:
    from kairos_native import Writer

SIGNATURE = "s"
NAME = "n"  # a custom event's name: chosen by the page, so not signed
NAME_PLACEHOLDER = "{name}"
LANDING = "l"  # a product's page a click lands on, signed by `LANDING_SIGNATURE`
LANDING_SIGNATURE = "ls"
UNSIGNED = frozenset({SIGNATURE, NAME, LANDING, LANDING_SIGNATURE})
_BLOCK = 64  # SHA-256's block size in bytes
_LANDINGS_SIZE = 65_536
_URLSAFE = bytes.maketrans(b"+/", b"-_")  # base64's URL-safe alphabet


class Kind(StrEnum):
    IMPRESSION = "i"
    VIEWABLE = "v"
    CLICK = "c"
    EVENT = "e"


class Verdict(StrEnum):
    OK = "ok"
    FORGED = "forged"  # bad or missing signature: someone made or changed it
    EXPIRED = "expired"  # ours, but too old to count


# a choice's tracking fields, as `Signer.signed` and the compiled writer take them: ad,
# decision, elements (None: not a combination), consent, user ("" for none), the name of the
# cost charged ("mc", "mi"; "" for none), that cost, placement, landing page ("" for none),
# expiry
TailFields = tuple[str, str, str | None, bool, str, str, str, str, str, int]


@dataclass(frozen=True)
class Signer:
    """HMAC-SHA256 (RFC 2104) with the key's inner and outer pads hashed once: each
    signature then costs two hash copies instead of a fresh HMAC set-up. With `compiled`,
    `native` is the compiled writer of the same signatures (None where it is not built)."""

    key: bytes
    compiled: bool = True
    native: Writer | None = field(init=False, repr=False, compare=False)
    _pads: tuple[Any, Any] = field(init=False, repr=False, compare=False)
    # (ad, product page) -> its landing signature: the decision path signs the same ones
    _landings: Memo[tuple[str, str], str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key = hashlib.sha256(self.key).digest() if len(self.key) > _BLOCK else self.key
        key = key.ljust(_BLOCK, b"\0")
        inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
        object.__setattr__(self, "_pads", (inner, outer))
        landings: Memo[tuple[str, str], str] = Memo(
            lambda pair: self.sign_canonical(_landing_message(*pair)), _LANDINGS_SIZE
        )
        object.__setattr__(self, "_landings", landings)
        object.__setattr__(self, "native", native.writer(self.key) if self.compiled else None)

    def signature(self, fields: dict[str, str]) -> str:
        return self.sign_canonical(
            "&".join(f"{k}={fields[k]}" for k in sorted(fields) if k not in UNSIGNED)
        )

    def sign_canonical(self, canonical: str) -> str:
        """The signature of fields already in canonical form (k=v&… sorted by key)."""
        inner, outer = self._pads[0].copy(), self._pads[1].copy()
        inner.update(canonical.encode())
        outer.update(inner.digest())
        return b2a_base64(outer.digest()[:18], newline=False).translate(_URLSAFE).decode()

    def signed(self, *fields: *TailFields) -> Signed:
        """A choice's fields (`TailFields`) signed: its query, values escaped, and the signature
        of the same fields as they are, both in canonical order (by name)."""
        ad, decision, elements, consent, user, charged, cost, placement, landing, expires = fields
        q, g, x = quoted, "1" if consent else "0", str(expires)
        shown = shown_q = ""  # "&el=…" when a combination was shown
        if elements is not None:
            shown, shown_q = f"&el={elements}", f"&el={q(elements)}"
        paid = paid_q = ""  # "&mc=…" or "&mi=…" when the flight pays for an event
        if charged:
            paid, paid_q = f"&{charged}={cost}", f"&{charged}={q(cost)}"
        return Signed(
            f"a={q(ad)}&d={q(decision)}{shown_q}&g={g}&k={q(user)}{paid_q}"
            f"&p={q(placement)}&u={q(landing)}&x={x}",
            self.sign_canonical(
                f"a={ad}&d={decision}{shown}&g={g}&k={user}{paid}&p={placement}&u={landing}&x={x}"
            ),
        )

    def landing_signature(self, ad: str, landing: str) -> str:
        """The signature that lets a click URL of `ad` land on `landing` (remembered)."""
        return self._landings[(ad, landing)]

    def sign(self, fields: dict[str, str]) -> dict[str, str]:
        return fields | {SIGNATURE: self.signature(fields)}

    def verify(self, fields: dict[str, str], now: float) -> Verdict:
        given = fields.get(SIGNATURE, "")
        if not hmac.compare_digest(given, self.signature(fields)):
            return Verdict.FORGED
        try:
            expires = float(fields.get("x", "0"))
        except ValueError:
            return Verdict.FORGED
        return Verdict.OK if now <= expires else Verdict.EXPIRED


def event_id(kind: Kind, decision_id: str, name: str = "") -> str:
    prefix = {Kind.IMPRESSION: "imp", Kind.VIEWABLE: "view", Kind.CLICK: "clk", Kind.EVENT: "evt"}
    return f"{prefix[kind]}-{decision_id}" + (f"-{name}" if name else "")


# the field of the cost of each kind of event that is charged (viewable and custom: none)
COST = {Kind.IMPRESSION: "mi", Kind.CLICK: "mc"}


# URLs of the previous release (one per kind, the kind signed in `t`, its cost in `m`) still
# count within their life
LEGACY_KIND, LEGACY_COST = "t", "m"


def cost(kind: Kind, fields: dict[str, str]) -> float | None:
    """The signed cost of this event, if it is charged."""
    value = fields.get(COST[kind]) if kind in COST else None
    if value is None and fields.get(LEGACY_KIND) == kind.value:
        value = fields.get(LEGACY_COST)
    return (float(value) or None) if value else None


def of_kind(kind: Kind, fields: dict[str, str]) -> bool:
    """False for a previous release's URL of another kind."""
    return fields.get(LEGACY_KIND, kind.value) == kind.value


@dataclass(slots=True)  # made per request: see `context.RequestContext`
class Signed:
    """A choice's tracking query (its fields escaped, in canonical order) and signature."""

    query: str
    signature: str

    def url(self, base: str, kind: Kind) -> str:
        """`base` is the server's public URL."""
        return self.tracking_urls(base)[_NAMES[kind]]

    def urls(self, base: str) -> dict[Kind, str]:
        """The URL of every kind, made at once."""
        named = self.tracking_urls(base)
        return {kind: named[name] for kind, name in _NAMES.items()}

    @property
    def tail(self) -> str:
        """What every URL of the choice ends with: the query and its signature."""
        return f"{self.query}&{SIGNATURE}={self.signature}"

    def tracking_urls(self, base: str) -> dict[str, str]:
        """The URL of every kind by the name a decision's response gives it."""
        return urls_of(base, self.tail)

    def landing_url(self, base: str, signer: Signer, ad: str, landing: str) -> str:
        """The click URL of `ad` (this choice's) that lands on `landing` (a product's page)
        instead of `u`."""
        return landing_click(self.url(base, Kind.CLICK), signer, ad, landing)


def urls_of(base: str, tail: str) -> dict[str, str]:
    """The URL of every kind, by the name a decision's response gives it, of a choice whose
    URLs end with `tail` (`Signed.tail`)."""
    return {
        "impression": f"{base}{_IMPRESSION}{tail}",
        "viewable": f"{base}{_VIEWABLE}{tail}",
        "click": f"{base}{_CLICK}{tail}",
        "event": f"{base}{_EVENT}{tail}{_EVENT_NAME}",
    }


_PATHS = {kind: f"/v1/t/{kind.value}?" for kind in Kind}
# (an enum member read from its class costs a descriptor call: the hot path reads these)
_IMPRESSION, _VIEWABLE = _PATHS[Kind.IMPRESSION], _PATHS[Kind.VIEWABLE]
_CLICK, _EVENT = _PATHS[Kind.CLICK], _PATHS[Kind.EVENT]
_EVENT_NAME = f"&{NAME}={NAME_PLACEHOLDER}"
_NAMES = {
    Kind.IMPRESSION: "impression",
    Kind.VIEWABLE: "viewable",
    Kind.CLICK: "click",
    Kind.EVENT: "event",
}


def landing_click(click: str, signer: Signer, ad: str, landing: str) -> str:
    """The click URL `click` of `ad` made to land on `landing` (a product's page)."""
    signature = signer.landing_signature(ad, landing)
    return f"{click}&{LANDING}={quoted(landing)}&{LANDING_SIGNATURE}={signature}"


def sign(signer: Signer, fields: dict[str, str]) -> Signed:
    """`fields` must hold d, a, p, k, x and u (the landing page); mi and mc are the impression's
    and the click's costs, el the creative's elements."""
    ordered = sorted(fields.items())  # canonical order
    signature = signer.sign_canonical("&".join([f"{k}={v}" for k, v in ordered]))
    return Signed("&".join([f"{k}={quoted(v)}" for k, v in ordered]), signature)


def landing(signer: Signer, fields: dict[str, str]) -> str | None:
    """Where a verified click goes: its product page when `l` is there and signed for the
    URL's ad (or, from the previous release, chained to its signature), `u` when there is no
    `l`; None when `l` was tampered with."""
    product = fields.get(LANDING)
    if product is None:
        return fields.get("u", "")
    given = fields.get(LANDING_SIGNATURE, "")
    # (not `landing_signature`: what a request brings must not fill the decision path's memory)
    ours = signer.sign_canonical(_landing_message(fields.get("a", ""), product))
    if hmac.compare_digest(given, ours):
        return product
    chained = signer.sign_canonical(f"{fields.get(SIGNATURE, '')}\n{product}")
    return product if hmac.compare_digest(given, chained) else None


def _landing_message(ad: str, landing: str) -> str:
    """What a landing signature signs: unlike a query (`a=…`) or a chained signature, and the
    ad's length first, so no ad and page can pass for another."""
    return f"landing\n{len(ad)}\n{ad}{landing}"


_KEPT = re.compile(r"[A-Za-z0-9._~-]*\Z")  # what a query value carries unescaped


def quoted(value: str) -> str:
    """`value` as a query carries it. Ids, keys and times are letters and digits, written as
    they are; other values (ad ids, pages, elements, costs) repeat across decisions and are
    remembered."""
    if value.isalnum() and value.isascii():
        return value
    return _QUOTED[value]


def _escaped(value: str) -> str:
    return value if _KEPT.match(value) else quote(value, safe="-_.~")


_QUOTED = Memo(_escaped, 16_384)


def encode_elements(elements: dict[str, str]) -> str:
    return ",".join(f"{slot}:{variant}" for slot, variant in sorted(elements.items()))


def decode_elements(text: str) -> dict[str, str]:
    pairs = (item.split(":", 1) for item in text.split(",") if ":" in item)
    return {slot: variant for slot, variant in pairs}
