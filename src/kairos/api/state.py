"""What the routes share, built once per process by the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import Engine

from kairos.api.ingest import Ingestor
from kairos.kafka.sink import MessageSink
from kairos.settings import Settings


@dataclass
class Services:
    settings: Settings
    sink: MessageSink
    engine: Engine
    ingestor: Ingestor


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found
