"""Continuous learning on the real broker: labelled examples in, a model snapshot on the models
topic out, picked up by a follower as an ad server does; a restart resumes from it."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from confluent_kafka import Producer

from kairos import runtime
from kairos.adserver.models import ModelFollower
from kairos.domain.examples import LabelledExample, Task, example_id
from kairos.kafka.admin import ensure_topics
from kairos.kafka.topics import Topics
from kairos.learn import features
from kairos.learn.app import CTR, LearnConfig, LearnerApp, latest_snapshot
from kairos.learn.bayes import BayesianLogistic
from tests.conftest import KafkaUnderTest

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


def examples(n: int, seed: int) -> list[LabelledExample]:
    rng = random.Random(seed)
    found = []
    for k in range(n):
        headline = rng.choice(["h0", "h1"])
        label = int(rng.random() < (0.25 if headline == "h1" else 0.02))
        decision = f"{seed}-{k}"
        found.append(
            LabelledExample(
                example_id=example_id(decision, Task.CLICK, label, False),
                decision_id=decision,
                user_key=f"{k % 50:032x}",
                task=Task.CLICK,
                label=label,
                impression_ts=NOW,
                label_ts=NOW,
                delay_s=None,
                creative_id="cr",
                elements={"headline": headline},
                features={"device": "mobile"},
            )
        )
    return found


def wait_for(check: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def x_of(headline: str) -> dict[str, object]:
    return features.user_part({"device": "mobile"}) | features.ad_part(
        advertiser_id=None,
        campaign_id=None,
        flight_id=None,
        ad_id=None,
        creative_id="cr",
        placement_id=None,
        elements={"headline": headline},
    )


def _topics_and_producer(kafka: KafkaUnderTest, tmp_path: Path) -> tuple[Topics, Producer]:
    """The project's topics on the test broker, created, and a producer to feed them."""
    topics = runtime.topics(kafka.settings(tmp_path))
    ensure_topics(kafka.bootstrap, topics.specs())
    return topics, Producer({"bootstrap.servers": kafka.bootstrap})


def test_examples_become_a_published_model_that_servers_pick_up(
    kafka: KafkaUnderTest, tmp_path: Path
) -> None:
    topics, producer = _topics_and_producer(kafka, tmp_path)
    encoder = msgspec.json.Encoder()
    for example in examples(800, seed=1):
        producer.produce(
            topics.labelled_examples, encoder.encode(example), example.user_key.encode()
        )
    producer.produce(topics.labelled_examples, b"not an example")  # skipped, not fatal
    assert producer.flush(10) == 0
    config = LearnConfig(
        kafka.bootstrap, topics.labelled_examples, topics.models, group="g1", publish_every_s=0.5
    )
    applied: list[tuple[bytes, str]] = []
    follower = ModelFollower(
        kafka.bootstrap, topics.models, {CTR: lambda s, v: applied.append((s, v))}
    )
    follower.start()
    app = LearnerApp(config)
    stop = threading.Event()
    thread = threading.Thread(target=app.run, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: app.published[CTR] >= 800)
        wait_for(
            lambda: (
                bool(applied)
                and applied[-1][0] == latest_snapshot(kafka.bootstrap, topics.models, CTR)
            )
        )
    finally:
        stop.set()
        thread.join(timeout=30)
        follower.stop()
    snapshot, version = applied[-1]
    assert version.startswith("ctr-800-")
    model = BayesianLogistic.restore(snapshot)
    assert model.seen == 800
    assert model.predict_proba_one(x_of("h1")) > 3 * model.predict_proba_one(x_of("h0"))

    again = LearnerApp(config)  # a restart: the published model, and nothing learnt twice
    assert again.trainer.model.seen == 800
    for _ in range(6):
        again.step()
    assert again.trainer.learnt == 0
    for example in examples(100, seed=2):
        producer.produce(
            topics.labelled_examples, encoder.encode(example), example.user_key.encode()
        )
    assert producer.flush(10) == 0
    wait_for(lambda: again.step() > 0 or again.trainer.learnt > 0, timeout_s=30)
    wait_for(lambda: again.step() >= 0 and again.trainer.learnt == 100, timeout_s=30)
    assert again.publish() is not None
    again.close()
    assert (
        BayesianLogistic.restore(latest_snapshot(kafka.bootstrap, topics.models, CTR) or b"").seen
        == 900
    )


def test_the_recommender_learns_from_interactions_and_is_published(
    kafka: KafkaUnderTest, tmp_path: Path
) -> None:
    from datetime import timedelta

    from kairos.creative.model import Product
    from kairos.learn.app import RECS
    from kairos.learn.recommend import HybridRecommender
    from kairos.stream.records import Interaction

    topics, producer = _topics_and_producer(kafka, tmp_path)
    encoder = msgspec.json.Encoder()
    for n in range(40):  # the tent, then the mat
        user = f"{n:032x}"
        for k, pid in enumerate(("tent", "mat")):
            record = Interaction(
                event_id=f"{n}-{k}",
                event_type="page_view",
                user_key=user,
                ts=NOW + timedelta(minutes=n, seconds=k),
                product_ids=[pid],
            )
            producer.produce(topics.interactions, encoder.encode(record), user.encode())
    producer.produce(topics.interactions, b"{broken")  # skipped, not fatal
    assert producer.flush(10) == 0
    titles = {"tent": "Trail tent", "mat": "Sleeping mat", "lamp": "Camping lamp"}
    products = [
        Product(id=pid, feed_id="f", title=t, price=1.0, landing_url="https://s.example/")
        for pid, t in titles.items()
    ]
    config = LearnConfig(
        kafka.bootstrap,
        topics.labelled_examples,
        topics.models,
        group="g-recs",
        interactions_topic=topics.interactions,
    )
    app = LearnerApp(config, lambda: products)
    try:
        wait_for(
            lambda: (
                app.step() >= 0 and app.recommender is not None and app.recommender.learnt >= 81
            ),
            timeout_s=60,
        )
        assert app.publish() is None  # no click model learnt: only the recommender's
    finally:
        app.close()
    stored = latest_snapshot(kafka.bootstrap, topics.models, RECS)
    assert stored is not None
    model = HybridRecommender.restore(stored)
    assert model.recommend(["tent"], k=1)[0][0] == "mat"
