"""Pseudonymous identities: a keyed hash of the first-party id, and IP truncation."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from functools import lru_cache

PSEUDONYM_HEX_CHARS = 32  # 128 bits: collisions are negligible at any realistic audience size


class Pseudonymizer:
    """Maps a first-party user id to a stable pseudonym with HMAC-SHA256 under a secret key.

    Without the key the mapping cannot be reversed or recomputed, so the raw id never needs to
    leave the ingress process. A bounded memo keeps repeat visitors cheap on the hot path.
    """

    def __init__(self, key: bytes, *, memo_size: int = 100_000) -> None:
        if len(key) < 16:
            raise ValueError("the pseudonym key must be at least 16 bytes")
        self._key = key
        self._memo: dict[str, str] = {}
        self._memo_size = memo_size

    def __call__(self, user_id: str) -> str:
        found = self._memo.get(user_id)
        if found is not None:
            return found
        digest = hmac.digest(self._key, user_id.encode("utf-8"), hashlib.sha256)
        pseudonym = digest.hex()[:PSEUDONYM_HEX_CHARS]
        if len(self._memo) >= self._memo_size:
            self._memo.clear()
        self._memo[user_id] = pseudonym
        return pseudonym


@lru_cache(maxsize=65_536)  # parsing is slow (~15 us) and visitors send many events each
def truncate_ip(raw: str | None) -> str | None:
    """Keep the network part only (/24 for IPv4, /48 for IPv6): enough for geo, not a person."""
    if not raw:
        return None
    try:
        address = ipaddress.ip_address(raw.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # "::ffff:81.2.69.7" is an IPv4 visitor: keep its /24
    prefix = 24 if address.version == 4 else 48
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    return str(network.network_address)
