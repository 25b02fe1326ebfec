"""Signed tracking URLs: impression pixel, viewable beacon, click redirect, custom events.

Every URL carries the decision id, the ad, the placement, the pseudonymous user, the cost of
the event, an expiry and an HMAC-SHA256 over all of them, so that nobody can forge, alter or
prolong one. Events built from them have deterministic ids (`imp-<decision id>`, …): however
often a URL is fetched, the stream counts it once per decision. A custom-event URL ends in
`n={name}`, outside the signature: the page (or video player) puts the event's name there,
and each name counts once per decision.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any
from urllib.parse import quote

SIGNATURE = "s"
NAME = "n"  # a custom event's name: chosen by the page, so not signed
NAME_PLACEHOLDER = "{name}"
UNSIGNED = frozenset({SIGNATURE, NAME})
_BLOCK = 64  # SHA-256's block size in bytes


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
    """HMAC-SHA256 (RFC 2104) with the key's inner and outer pads hashed once: each
    signature then costs two hash copies instead of a fresh HMAC set-up."""

    key: bytes
    _pads: tuple[Any, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key = hashlib.sha256(self.key).digest() if len(self.key) > _BLOCK else self.key
        key = key.ljust(_BLOCK, b"\0")
        inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
        object.__setattr__(self, "_pads", (inner, outer))

    def signature(self, fields: dict[str, str]) -> str:
        return self.sign_canonical(
            "&".join(f"{k}={fields[k]}" for k in sorted(fields) if k not in UNSIGNED)
        )

    def sign_canonical(self, canonical: str) -> str:
        """The signature of fields already in canonical form (k=v&… sorted by key)."""
        inner, outer = self._pads[0].copy(), self._pads[1].copy()
        inner.update(canonical.encode())
        outer.update(inner.digest())
        return base64.urlsafe_b64encode(outer.digest()[:18]).decode()

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
    m for the event's cost, el for the creative's elements)."""
    return urls(base, signer, fields, {kind: {}})[kind]


Pair = tuple[str, str, str]  # (key, "key=value", "key=value" escaped for a query)


def prepare(common: dict[str, str]) -> tuple[Pair, ...]:
    """A choice's common fields rendered once for all its URLs (in canonical order)."""
    return tuple(sorted([_pair(k, v) for k, v in common.items()]))


def urls(
    base: str,
    signer: Signer,
    common: dict[str, str] | tuple[Pair, ...],
    extras: dict[Kind, dict[str, str]],
) -> dict[Kind, str]:
    """One signed URL per kind in `extras`, each with the `common` fields (as given or
    `prepare`d) and its own. The query is the canonical form (fields sorted by name),
    escaped, then the signature."""
    shared = common if isinstance(common, tuple) else prepare(common)
    signed = {}
    for kind, more in extras.items():
        items = sorted([*shared, *[_pair(k, v) for k, v in more.items()], _KIND_PAIRS[kind]])
        signature = signer.sign_canonical("&".join([plain for _, plain, _ in items]))
        query = "&".join([quoted for _, _, quoted in items])
        signed[kind] = f"{base}/v1/t/{kind.value}?{query}&{SIGNATURE}={signature}"
        if kind is Kind.EVENT:
            signed[kind] += f"&{NAME}={NAME_PLACEHOLDER}"
    return signed


def _pair(key: str, value: str) -> Pair:
    plain = f"{key}={value}"
    return key, plain, plain if _KEPT.match(value) else f"{key}={_escaped(value)}"


_KEPT = re.compile(r"[A-Za-z0-9._~-]*\Z")  # what a query value carries unescaped
_KIND_PAIRS = {kind: _pair("t", kind.value) for kind in Kind}


@lru_cache(maxsize=8192)  # click-through URLs repeat across decisions
def _escaped(value: str) -> str:
    return quote(value, safe="-_.~")


def encode_elements(elements: dict[str, str]) -> str:
    return ",".join(f"{slot}:{variant}" for slot, variant in sorted(elements.items()))


def decode_elements(text: str) -> dict[str, str]:
    pairs = (item.split(":", 1) for item in text.split(",") if ":" in item)
    return {slot: variant for slot, variant in pairs}
