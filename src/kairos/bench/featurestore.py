"""`kairos bench featurestore`: read latency and reads/s of the feature stores (in memory, Redis
GET, Redis pipelined MGET) on realistic features, against a plain dict lookup of the same bytes
measured in the same run."""

from __future__ import annotations

import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from kairos.bench.harness import Progress, free_port, percentiles_us
from kairos.bench.ingest import wire_messages
from kairos.bench.workload import Workload
from kairos.domain import codec
from kairos.featurestore.base import MemoryFeatureStore
from kairos.featurestore.local import local_redis
from kairos.featurestore.redis import RedisFeatureStore
from kairos.kafka.topics import Topics
from kairos.settings import Settings
from kairos.stream.enrich import Session, device_of, local_time, next_session, page_context
from kairos.stream.features import Enriched, FeatureConfig, UserFeatures, observe

T = TypeVar("T")
Read = Callable[[Any], object]  # one read: a key, or a batch of keys for MGET


@dataclass(frozen=True)
class FeatureStorePlan:
    users: int = 100_000
    reads: int = 100_000  # per measurement, keys drawn at random
    mget_batch: int = 50  # keys per pipelined MGET
    profiles: int = 200  # users whose events the feature code folds; the rest are copies
    seed: int = 11


def run(settings: Settings, plan: FeatureStorePlan, progress: Progress) -> dict[str, object]:
    progress(f"building realistic features for {plan.users} users")
    records = realistic_records(plan.users, plan.profiles, plan.seed)
    keys = random.Random(plan.seed).choices(list(records), k=plan.reads)
    progress("baseline: a plain dict lookup of the encoded bytes")
    baseline = _measure(records.get, keys)
    progress("memory store")
    memory = MemoryFeatureStore()
    memory.put_many(records.items())
    stores = {"memory_get": _measure(memory.get, keys)}
    with _redis(settings, progress) as (url, origin):
        stores |= _measure_redis(url, records, keys, plan.mget_batch, progress)
    for figures in stores.values():
        figures["ratio"] = float(f"{figures['reads_per_s'] / baseline['reads_per_s']:.3g}")
    sizes = [len(v) for v in records.values()]
    return {
        "users": plan.users,
        "reads": plan.reads,
        "mget_batch": plan.mget_batch,
        "value_bytes_mean": round(sum(sizes) / len(sizes)),
        "redis": origin,
        "baseline_dict": baseline,
        **stores,
    }


def _measure_redis(
    url: str, records: dict[str, bytes], keys: list[str], mget_batch: int, progress: Progress
) -> dict[str, dict[str, float]]:
    store = RedisFeatureStore(url, f"bench-{uuid.uuid4().hex[:8]}")  # never a real namespace
    try:
        progress(f"loading {len(records)} users into Redis")
        for chunk in _chunks(records.items(), 1000):
            store.put_many(chunk)
        progress("Redis: single GET, then pipelined MGET")
        batches = list(_chunks(keys, mget_batch))
        return {
            "redis_get": _measure(store.get, keys),
            "redis_mget": _measure(store.get_many, batches, keys_read=len(keys)),
        }
    finally:
        for users in _chunks(records, 1000):  # a shared Redis keeps nothing of the run
            store.put_many([(user_key, None) for user_key in users])
        store.close()


def realistic_records(users: int, profiles: int, seed: int) -> dict[str, bytes]:
    """Encoded features as the stream publishes them: `profiles` users' events folded by the
    real feature code, then copied under fresh user keys up to `users`."""
    templates = _profiles(profiles, seed)
    rng = random.Random(seed)
    encoder = msgspec.json.Encoder()
    records = {}
    for i in range(users):
        user_key = f"{rng.getrandbits(256):064x}"
        features = msgspec.structs.replace(templates[i % len(templates)], user_key=user_key)
        records[user_key] = encoder.encode(features)
    return records


def _profiles(count: int, seed: int, events_per_user: int = 30) -> list[UserFeatures]:
    """About `events_per_user` realistic events per user (as the API accepts them), enriched
    and folded into each user's features as the stream processor does."""
    workload = Workload(users=count, seed=seed, start=datetime.now(UTC) - timedelta(hours=2))
    batches = [workload.batch(1000) for _ in range(max(1, count * events_per_user // 1000))]
    config = FeatureConfig()
    users: dict[str, tuple[UserFeatures, Session | None]] = {}
    for message in wire_messages(batches, Topics("bench")):
        event = codec.decode(message.value)
        if event.user_key is None or event.ts is None:
            continue
        features, session = users.get(event.user_key) or (
            UserFeatures(user_key=event.user_key),
            None,
        )
        session = next_session(session, event.ts, event.user_key)
        page = page_context(
            event.page_url,
            getattr(event, "title", None),
            tuple(getattr(event, "categories", ())),
            tuple(getattr(event, "keywords", ())),
        )
        device, local = device_of(event.user_agent), local_time(event.ts, event.timezone)
        observe(features, Enriched(event, device, page, local, session), config)
        users[event.user_key] = (features, session)
    return [features for features, _ in users.values()]


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _measure(read: Read, items: Sequence[Any], *, keys_read: int | None = None) -> dict[str, float]:
    """Latency of each read, then reads/s of an untimed pass (no clock calls in the loop)."""
    for item in items[:1000]:  # warm-up: connections, caches, branch predictors
        read(item)
    clock = time.perf_counter
    latencies = []
    for item in items:
        started = clock()
        read(item)
        latencies.append(clock() - started)
    started = clock()
    for item in items:
        read(item)
    elapsed = clock() - started
    p = percentiles_us(latencies)
    rate = round((keys_read or len(items)) / elapsed)
    return {
        "p50_us": p["p50_us"],
        "p99_us": p["p99_us"],
        "mean_us": p["mean_us"],
        "reads_per_s": rate,
    }


@contextmanager
def _redis(settings: Settings, progress: Progress) -> Iterator[tuple[str, str]]:
    """The configured Redis when KAIROS_REDIS_URL is set, else a redis-server of our own."""
    if "redis_url" in settings.model_fields_set:
        yield settings.redis_url, "configured"
        return
    workdir = Path(tempfile.mkdtemp(prefix="kairos-bench-redis-"))
    try:
        progress("starting redis-server on a free loopback port")
        with local_redis(workdir, free_port()) as url:
            yield url, "local"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
