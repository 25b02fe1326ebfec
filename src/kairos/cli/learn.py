"""`kairos learn`: keep the click model learning from labelled examples, publishing snapshots."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from kairos import runtime
from kairos.cli.common import clean_errors, console, settings_of
from kairos.creative.model import Product
from kairos.db import feeds
from kairos.db.creatives import FeedRow
from kairos.learn.app import LearnConfig, LearnerApp
from kairos.settings import Settings


def learn(
    ctx: typer.Context,
    publish_every: float = typer.Option(2.0, help="Seconds between model snapshots"),
    group: str = typer.Option("kairos-learn", help="Consumer group (one learner per group)"),
    recommender: bool = typer.Option(
        True, help="Also learn the product recommender from the interactions topic"
    ),
) -> None:
    """Learn from the labelled-examples topic; publish the model to the models topic, where
    every ad server picks it up."""
    settings = settings_of(ctx)
    topics = runtime.topics(settings)
    config = LearnConfig(
        bootstrap=settings.bootstrap_servers,
        examples_topic=topics.labelled_examples,
        models_topic=topics.models,
        group=group,
        publish_every_s=publish_every,
        interactions_topic=topics.interactions if recommender else None,
    )
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with clean_errors():
        app = LearnerApp(config, _products(settings) if recommender else None)
        console.print(f"learning from {config.examples_topic} — Ctrl-C stops")
        app.run(stop)


def _products(settings: Settings) -> Callable[[], list[Product]]:
    """The available products of every feed, from the database."""
    engine = runtime.database(settings)

    def read() -> list[Product]:
        with Session(engine) as session:
            feed_ids = session.scalars(select(FeedRow.id)).all()
            return feeds.available_products(session, feed_ids)

    return read
