"""Signed tracking URLs: impression pixel, viewable beacon, click redirect, custom events.

Every URL carries the decision id, the ad, the placement, the pseudonymous user, the cost of
the event, an expiry and an HMAC-SHA256 over all of them, so that nobody can forge, alter or
prolong one. Events built from them have deterministic ids (`imp-<decision id>`, …): however
often a URL is fetched, the stream counts it once per decision.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote

SIGNATURE = "s"


class Kind(StrEnum):
    IMPRESSION = "i"
    VIEWABLE = "v"
    CLICK = "c"
    EVENT = "e"


class Verdict(StrEnum):
    OK = "ok"
    FORGED = "forged"  # bad or missing signature: someone made or changed it
    EXPIRED = "expired"  # ours, but too old to count


@dataclass(frozen=True)
class Signer:
    key: bytes

    def signature(self, fields: dict[str, str]) -> str:
        canonical = "&".join(f"{k}={fields[k]}" for k in sorted(fields) if k != SIGNATURE)
        digest = hmac.new(self.key, canonical.encode(), hashlib.sha256).digest()[:18]
        return base64.urlsafe_b64encode(digest).decode()

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


def url(base: str, kind: Kind, signer: Signer, fields: dict[str, str]) -> str:
    """`base` is the server's public URL; `fields` must hold d, a, p, k, x (and u for clicks,
    n for custom events, m for the event's cost, el for the creative's elements)."""
    signed = signer.sign(fields | {"t": kind.value})
    query = "&".join(f"{k}={_quoted(v)}" for k, v in signed.items())
    return f"{base}/v1/t/{kind.value}?{query}"


def _quoted(value: str) -> str:
    # ids, numbers and signatures need no escaping; URLs and free text do
    return value if value.isalnum() else quote(value, safe="-_.~")


def encode_elements(elements: dict[str, str]) -> str:
    return ",".join(f"{slot}:{variant}" for slot, variant in sorted(elements.items()))


def decode_elements(text: str) -> dict[str, str]:
    pairs = (item.split(":", 1) for item in text.split(",") if ":" in item)
    return {slot: variant for slot, variant in pairs}
