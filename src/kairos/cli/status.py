"""`kairos status`: is the platform up, and is the stream keeping up?"""

from __future__ import annotations

import httpx
import typer

from kairos import runtime
from kairos.cli.common import console, local_broker, settings_of
from kairos.domain.events import EventType
from kairos.kafka.admin import wait_for_brokers
from kairos.kafka.exceptions import KafkaUnavailable
from kairos.kafka.lag import group_lag, message_count
from kairos.settings import Settings


def status(ctx: typer.Context) -> None:
    """Broker, API readiness, stream consumer lag per partition and dead-letter count."""
    settings = settings_of(ctx)
    kafka_ok = wait_for_brokers(settings.bootstrap_servers, timeout_s=5)
    where = "local broker" if settings.local_kafka else "cluster"
    if settings.local_kafka:
        where += f" pid={local_broker(settings).pid()}"
    console.print(f"kafka   {settings.bootstrap_servers} ({where}) ready={kafka_ok}")
    api_ok = _api_ready(f"http://{settings.host}:{settings.port}/readyz")
    console.print(f"api     http://{settings.host}:{settings.port} ready={api_ok}")
    if kafka_ok:
        try:
            _stream(settings)
        except KafkaUnavailable as exc:
            console.print(f"stream  unknown: {exc.message}")
    raise typer.Exit(0 if kafka_ok and api_ok else 1)


def _api_ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def _stream(settings: Settings) -> None:
    names = runtime.topics(settings)
    lags = group_lag(
        settings.bootstrap_servers, settings.stream_group, [names.events(t) for t in EventType]
    )
    total = sum(p.lag for p in lags)
    console.print(f"stream  group={settings.stream_group} lag={total} partitions={len(lags)}")
    for p in sorted(lags, key=lambda p: -p.lag)[:10]:
        if p.lag:
            console.print(f"        {p.topic}[{p.partition}] lag={p.lag}")
    dead = message_count(settings.bootstrap_servers, names.dead_letter)
    console.print(f"dead-letter {names.dead_letter} messages={dead}")
