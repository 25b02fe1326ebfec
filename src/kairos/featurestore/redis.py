"""The Redis feature store: one store shared by every API server, written by `features sync`.

Each user's features are the features topic's encoded bytes under `{namespace}:features:{key}`,
decoded on read like the in-memory store's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from kairos.errors import ConfigurationError, KairosError
from kairos.featurestore.base import Record, decode_features
from kairos.featurestore.exceptions import FeatureStoreUnavailable
from kairos.stream.features import UserFeatures


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}"
    netloc += f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=netloc))


class RedisFeatureStore:
    """Reads (GET, pipelined MGET) and writes (pipelined SET/DEL) of encoded features."""

    def __init__(self, url: str, namespace: str, *, timeout_s: float = 2.0) -> None:
        self.url = redacted(url)
        self._prefix = f"{namespace}:features:"
        # An ad decision has a latency budget: one quick retry, never seconds of back-off.
        retry = Retry(ExponentialBackoff(cap=0.05, base=0.01), retries=1)
        try:
            self._client = redis.Redis.from_url(
                url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s, retry=retry
            )
        except ValueError as exc:
            raise ConfigurationError(f"invalid Redis URL {self.url}: {exc}") from exc

    def key(self, user_key: str) -> str:
        return self._prefix + user_key

    def ping(self) -> None:
        """Raise FeatureStoreUnavailable unless Redis answers."""
        with self._errors():
            self._client.ping()

    def get(self, user_key: str) -> UserFeatures | None:
        with self._errors():
            encoded = self._client.get(self.key(user_key))
        return decode_features(encoded) if encoded is not None else None

    def get_many(self, user_keys: Sequence[str]) -> list[UserFeatures | None]:
        """One round trip (MGET) for all the keys; None where a user has no features."""
        if not user_keys:
            return []
        with self._errors():
            values = self._client.mget([self.key(k) for k in user_keys])
        return [decode_features(v) if v is not None else None for v in values]

    def put(self, user_key: str, encoded: bytes | None) -> None:
        self.put_many([(user_key, encoded)])

    def put_many(self, records: Iterable[Record]) -> None:
        """One pipelined round trip; a tombstone (None) deletes the user's features."""
        pipe = self._client.pipeline(transaction=False)
        for user_key, encoded in records:
            if encoded is None:
                pipe.delete(self.key(user_key))
            else:
                pipe.set(self.key(user_key), encoded)
        with self._errors():
            pipe.execute()

    def close(self) -> None:
        self._client.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except redis.AuthenticationError as exc:
            raise ConfigurationError(f"Redis at {self.url} refused the credentials: {exc}") from exc
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise FeatureStoreUnavailable(f"Redis at {self.url} does not answer: {exc}") from exc
        except redis.RedisError as exc:  # e.g. out of memory: refused, not unreachable
            raise KairosError(f"Redis at {self.url} refused the command: {exc}") from exc
