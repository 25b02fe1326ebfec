"""`kairos learn`: keep the click model learning from labelled examples, publishing snapshots."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import typer

from kairos import runtime
from kairos.cli.common import clean_errors, console, settings_of
from kairos.learn.app import LearnConfig, LearnerApp


def learn(
    ctx: typer.Context,
    publish_every: float = typer.Option(2.0, help="Seconds between model snapshots"),
    group: str = typer.Option("kairos-learn", help="Consumer group (one learner per group)"),
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
    )
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with clean_errors():
        app = LearnerApp(config)
        console.print(f"learning from {config.examples_topic} — Ctrl-C stops")
        app.run(stop)
