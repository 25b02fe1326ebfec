"""`create_app(settings)`: the FastAPI application and the lifespan that wires its edges."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine

from kairos import __version__, runtime
from kairos.adserver.render import Links
from kairos.adserver.server import AdServer
from kairos.adserver.shared import SharedServes
from kairos.adserver.tracking import Signer
from kairos.api import (
    creatives,
    decision_body,
    decisions,
    errors,
    events,
    gcpauses,
    health,
    keys,
    management,
    openapi,
    reports,
    tracking,
)
from kairos.api.fastpath import KairosAPI
from kairos.api.ingest import Ingestor
from kairos.api.state import Services
from kairos.api.tracking import Replays
from kairos.errors import KairosError
from kairos.featurestore.base import FeatureStore
from kairos.featurestore.factory import open_feature_store
from kairos.kafka.admin import ensure_topics
from kairos.kafka.exceptions import KafkaUnavailable
from kairos.kafka.sink import Sinks
from kairos.kafka.spool import Spool, keep_replaying
from kairos.logs import kv
from kairos.settings import Settings
from kairos.stream.geo import open_geo

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    sink: Sinks | None = None,
    engine: Engine | None = None,
    features: FeatureStore | None = None,
    shared_serves: SharedServes | None = None,
) -> FastAPI:
    """Build the API. `sink`/`engine`/`features` replace the real Kafka producer, database
    and feature store (tests); with a test sink and no store, decisions use no features.
    `shared_serves`: this worker's view of the serves its host's workers share (caps across
    them, `adserver.shared`)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_sink = sink is None
        if own_sink:
            _ensure_topics(settings)
        active_sink = sink or runtime.kafka_sink(settings)
        logs = sink or runtime.log_producer(settings)
        active_engine = engine or runtime.database(settings)
        ingestor = Ingestor(
            active_sink,
            runtime.topics(settings),
            runtime.pseudonymizer(settings),
            max_batch=settings.max_batch_events,
        )
        store = features if features is not None or not own_sink else _feature_store(settings)
        adserver = AdServer(
            active_engine,
            store,
            scorer=settings.scorer,
            personalize_top=settings.personalize_top,
            shared=shared_serves,
        )
        pseudonymizer = runtime.pseudonymizer(settings)
        geo = open_geo(settings)
        spool = Spool(settings.resolved_spool_dir)
        app.state.services = Services(
            settings,
            active_sink,
            active_engine,
            ingestor,
            adserver=adserver,
            links=Links(
                settings.resolved_public_url,
                Signer(runtime.tracking_key(settings), settings.native),
            ),
            topics=runtime.topics(settings),
            pseudonymize=pseudonymizer,
            geo=geo,
            replays=Replays(),
            logs=logs,
            spool=spool,
        )
        await adserver.start()
        if own_sink:  # a real cluster: follow the models `kairos learn` publishes
            adserver.follow_models(settings.bootstrap_servers, runtime.topics(settings).models)
        gcpauses.install(settings.gc_thresholds)
        collecting = asyncio.create_task(gcpauses.full_collections(settings.gc_full_every_s))
        replaying = asyncio.create_task(
            keep_replaying(spool, active_sink, settings.spool_replay_every_s)
        )
        log.info("api started", extra=kv(kafka=settings.bootstrap_servers))
        try:
            yield
        finally:
            collecting.cancel()
            replaying.cancel()
            await adserver.stop()
            if own_sink:
                active_sink.close()
                logs.close()  # (what it fails to deliver meanwhile is spooled)
            spool.close()
            if engine is None:
                active_engine.dispose()

    app = KairosAPI(  # the decision route's fast path ahead of the framework
        title="Kairos",
        version=__version__,
        lifespan=lifespan,
        description="Real-time Dynamic Creative Optimization on Apache Kafka.",
        # metrics are Prometheus (`/metrics`); FastAPI's OpenTelemetry hooks cost every
        # request a provider check for nothing
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    errors.install(app)
    # routes are matched in order: the hot paths first, management (many routes) last
    app.include_router(health.router)
    app.include_router(decisions.router)
    app.include_router(tracking.router)
    app.include_router(events.router)
    app.include_router(management.router)
    app.include_router(creatives.router)
    app.include_router(keys.router)
    app.include_router(reports.router)
    openapi.install(app, events.BODY_SCHEMAS | decision_body.BODY_SCHEMAS)
    return app


def _feature_store(settings: Settings) -> FeatureStore | None:
    """The configured store; the API still serves (contextual ads only) without one."""
    try:
        return open_feature_store(settings)
    except KairosError as exc:
        log.warning("no feature store: decisions without user features", extra=kv(reason=exc))
        return None


def _ensure_topics(settings: Settings) -> None:
    try:
        ensure_topics(settings.bootstrap_servers, runtime.topics(settings).specs(), timeout_s=10)
    except KafkaUnavailable as exc:  # serve anyway: /readyz says not ready, events get 503
        log.warning("could not ensure topics at start-up", extra=kv(reason=exc.message))
