"""The feature store interface, the sink a topic follower writes to, and the in-memory store."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import msgspec

from kairos.stream.features import UserFeatures

_DECODER = msgspec.json.Decoder(UserFeatures)

Record = tuple[str, bytes | None]  # (user key, encoded features); None = a tombstone (erased)


def decode_features(encoded: bytes | str) -> UserFeatures:
    """Every store keeps the topic's encoded bytes and decodes them only when read."""
    return _DECODER.decode(encoded)


class FeatureStore(Protocol):
    def get(self, user_key: str) -> UserFeatures | None: ...

    def get_many(self, user_keys: Sequence[str]) -> list[UserFeatures | None]: ...

    def close(self) -> None: ...


class FeatureSink(Protocol):
    """Where the features topic is materialised: records in topic order, the last one wins."""

    def put_many(self, records: Iterable[Record]) -> None: ...


class MemoryFeatureStore:
    """Encoded features per user key; decoded on read (most users are never read)."""

    def __init__(self) -> None:
        self._records: dict[str, bytes] = {}

    def put(self, user_key: str, encoded: bytes | None) -> None:
        if encoded is None:  # a tombstone: the user was erased
            self._records.pop(user_key, None)
        else:
            self._records[user_key] = encoded

    def put_many(self, records: Iterable[Record]) -> None:
        for user_key, encoded in records:
            self.put(user_key, encoded)

    def get(self, user_key: str) -> UserFeatures | None:
        encoded = self._records.get(user_key)
        return decode_features(encoded) if encoded is not None else None

    def get_many(self, user_keys: Sequence[str]) -> list[UserFeatures | None]:
        return [self.get(user_key) for user_key in user_keys]

    def __len__(self) -> int:
        return len(self._records)

    def close(self) -> None:
        self._records.clear()
