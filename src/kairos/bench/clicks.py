"""A click model for benchmarks: trained on synthetic impressions of the decisions benchmark's
inventory, where visitors click the ads of their interests more, so that what it scores and
chooses differs from context-free rules and weights (as a model `kairos learn` publishes
does)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from kairos.adserver.catalog import Candidate
from kairos.bench.workload import KEYWORDS
from kairos.learn import features
from kairos.learn.app import click_params
from kairos.learn.bayes import BayesianLogistic
from kairos.learn.scoring import ad_example
from kairos.stream.decay import Decayed
from kairos.stream.features import FeatureConfig, UserFeatures, snapshot

BATCH = 2_000  # impressions learnt at a time
# when the synthetic impressions happen: the visitors' features include the local hour and the
# weekday, so a model trained at the hour of each run would differ from run to run (and with it
# which ads win with a model); at one fixed moment every run trains the same model
TRAINED_AT = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def topic(c: Candidate) -> str:
    """The flight's topic: what its ads are about, in the synthetic clicks."""
    return KEYWORDS[int(c.flight.id.removeprefix("f")) % len(KEYWORDS)]


def interests(user: int) -> list[str]:
    return random.Random(user).sample(KEYWORDS, 2)


def visitor(user: int, now: datetime) -> UserFeatures:
    """Visitor `user`'s features: a few recent events about their interests."""
    at = now.timestamp()
    return UserFeatures(
        user_key=f"visitor-{user}",
        first_seen=now,
        last_seen=now,
        personalization=True,
        interests={k: Decayed(5.0, at) for k in interests(user)},
        events=10,
    )


def trained(candidates: Sequence[Candidate], examples: int, users: int) -> BayesianLogistic:
    """A click model from `examples` impressions of the candidates to `users` visitors, where
    a visitor clicks 10 % of the ads of a topic of theirs and 1 % of the others."""
    rng = random.Random(5)
    model = BayesianLogistic(click_params())
    now = TRAINED_AT
    for start in range(0, examples, BATCH):
        xs, ys = [], []
        for _ in range(min(BATCH, examples - start)):
            user = rng.randrange(users)
            c = rng.choice(candidates)
            view = snapshot(visitor(user, now), now, FeatureConfig())
            xs.append(features.user_part(view) | ad_example(c))
            ys.append(float(rng.random() < (0.1 if topic(c) in interests(user) else 0.01)))
        model.learn_many(xs, np.asarray(ys))
    return model
