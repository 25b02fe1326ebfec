"""What the routes share, built once per process by the app's lifespan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request
from sqlalchemy import Engine

from kairos.api.ingest import Ingestor
from kairos.kafka.sink import MessageLog, MessageSink
from kairos.kafka.spool import Spool
from kairos.kafka.topics import Topics
from kairos.settings import Settings
from kairos.stream.enrich import GeoLookup

if TYPE_CHECKING:
    from kairos.adserver.render import Links
    from kairos.adserver.server import AdServer
    from kairos.api.tracking import Replays


@dataclass
class Services:
    settings: Settings
    sink: MessageSink
    engine: Engine
    ingestor: Ingestor
    adserver: AdServer
    links: Links
    topics: Topics
    pseudonymize: Callable[[str], str]
    geo: GeoLookup
    replays: Replays
    # decision logs and tracking hits: a producer of their own that batches longer (nothing
    # waits for them); the same as `sink` when a test gives one
    logs: MessageLog
    # what Kafka could not take (tracking events, decision logs), until it can
    spool: Spool


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found
