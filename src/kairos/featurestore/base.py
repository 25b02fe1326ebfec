"""The feature store interface and its in-memory implementation."""

from __future__ import annotations

from typing import Protocol

import msgspec

from kairos.stream.features import UserFeatures

_DECODER = msgspec.json.Decoder(UserFeatures)


class FeatureStore(Protocol):
    def get(self, user_key: str) -> UserFeatures | None: ...

    def close(self) -> None: ...


class MemoryFeatureStore:
    """Encoded features per user key; decoded on read (most users are never read)."""

    def __init__(self) -> None:
        self._records: dict[str, bytes] = {}

    def put(self, user_key: str, encoded: bytes | None) -> None:
        if encoded is None:  # a tombstone: the user was erased
            self._records.pop(user_key, None)
        else:
            self._records[user_key] = encoded

    def get(self, user_key: str) -> UserFeatures | None:
        encoded = self._records.get(user_key)
        return _DECODER.decode(encoded) if encoded is not None else None

    def __len__(self) -> int:
        return len(self._records)

    def close(self) -> None:
        self._records.clear()
