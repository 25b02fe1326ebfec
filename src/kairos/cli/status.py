"""`kairos status`: is the platform up, and is the stream keeping up?"""

from __future__ import annotations

import time

import httpx
import typer

from kairos import runtime
from kairos.cli.common import console, local_broker, settings_of
from kairos.domain.events import EventType
from kairos.kafka.admin import wait_for_brokers
from kairos.kafka.exceptions import KafkaUnavailable
from kairos.kafka.lag import group_lag, message_count
from kairos.kafka.spool import Spool
from kairos.settings import Settings


def status(ctx: typer.Context) -> None:
    """Broker, API readiness, what this host spooled, stream consumer lag per partition and
    dead-letter count."""
    settings = settings_of(ctx)
    kafka_ok = wait_for_brokers(settings.bootstrap_servers, timeout_s=5)
    where = "local broker" if settings.local_kafka else "cluster"
    if settings.local_kafka:
        where += f" pid={local_broker(settings).pid()}"
    console.print(f"kafka   {settings.bootstrap_servers} ({where}) ready={kafka_ok}")
    api_ok = _api_ready(f"http://{settings.host}:{settings.port}/readyz")
    console.print(f"api     http://{settings.host}:{settings.port} ready={api_ok}")
    console.print(spool_line(settings))
    if kafka_ok:
        try:
            _stream(settings)
        except KafkaUnavailable as exc:
            console.print(f"stream  unknown: {exc.message}")
    raise typer.Exit(0 if kafka_ok and api_ok else 1)


def spool_line(settings: Settings) -> str:
    """What this host's API servers spooled while Kafka was away and have not yet sent."""
    files = Spool(settings.resolved_spool_dir).pending()
    size = sum(f.stat().st_size for f in files)
    waiting = " (sent again once a broker answers)" if files else ""
    return f"spool   {settings.resolved_spool_dir} files={len(files)} bytes={size}{waiting}"


def _api_ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def _stream(settings: Settings) -> None:
    names = runtime.topics(settings)
    inputs = [*(names.events(t) for t in EventType), names.decisions]
    lags = group_lag(settings.bootstrap_servers, settings.stream_group, inputs)
    total = sum(p.lag for p in lags)
    rate = _rate(settings.host, settings.stream_metrics_port, "kairos_stream_messages_total{")
    shown = f" events_per_s={rate:.1f}" if rate is not None else ""
    console.print(
        f"stream  group={settings.stream_group} lag={total} partitions={len(lags)}{shown}"
    )
    for p in sorted(lags, key=lambda p: -p.lag)[:10]:
        if p.lag:
            console.print(f"        {p.topic}[{p.partition}] lag={p.lag}")
    written = [names.interactions, names.user_features]
    persisted = group_lag(settings.bootstrap_servers, settings.persist_group, written)
    rate = _rate(settings.host, settings.persist_metrics_port, "kairos_persist_rows_total{")
    shown = f" rows_per_s={rate:.1f}" if rate is not None else ""
    console.print(
        f"persist group={settings.persist_group} lag={sum(p.lag for p in persisted)}{shown}"
    )
    dead = message_count(settings.bootstrap_servers, names.dead_letter)
    console.print(f"dead-letter {names.dead_letter} messages={dead}")


def _rate(host: str, port: int, prefix: str, over_s: float = 1.0) -> float | None:
    """Per-second rate of a counter family scraped twice from a process's /metrics."""
    if not port:
        return None
    first = _scrape(host, port, prefix)
    if first is None:
        return None
    time.sleep(over_s)
    second = _scrape(host, port, prefix)
    return None if second is None else (second - first) / over_s


def _scrape(host: str, port: int, prefix: str) -> float | None:
    try:
        text = httpx.get(f"http://{host}:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return None
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))
