"""Off-policy evaluation on the platform's own decision log, read from the real broker: the
decisions topic (dynamic ads chosen among logged combinations, with their probabilities) and the
labelled clicks; a model that knows the best combination is estimated at that one's click rate.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import numpy as np
import pytest
from confluent_kafka import Producer
from typer.testing import CliRunner

from kairos import runtime
from kairos.cli.main import app as cli
from kairos.domain.decisions import Decision, combination_key
from kairos.domain.examples import LabelledExample, Task, example_id
from kairos.kafka.admin import ensure_topics
from kairos.learn import evaluate as evaluation
from kairos.learn.bayes import BayesianLogistic, BayesParams
from tests.conftest import KafkaUnderTest
from tests.learning import described

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
RATES = {"h0": 0.05, "h1": 0.30, "h2": 0.10}
OPTIONS = [combination_key({"headline": h}) for h in RATES]


def logged(n: int, seed: int) -> tuple[list[Decision], list[LabelledExample]]:
    """Decisions of a uniform logging policy over three headlines, and their click labels."""
    rng = np.random.default_rng(seed)
    decisions, examples = [], []
    for k in range(n):
        headline = str(rng.choice(list(RATES)))
        decision = Decision(
            decision_id=f"d{seed}-{k}",
            ts=NOW,
            user_key=f"{k:032x}",
            placement_id="p",
            advertiser_id="adv",
            campaign_id="c",
            flight_id="f",
            ad_id="ad",
            creative_id="cr",
            elements={"headline": headline},
            propensity=1 / 3,
            combination_propensity=1 / 3,
            options=OPTIONS,
            features={"device": "mobile"},
        )
        decisions.append(decision)
        label = int(rng.uniform() < RATES[headline])
        examples.append(
            LabelledExample(
                example_id=example_id(decision.decision_id, Task.CLICK, label, False),
                decision_id=decision.decision_id,
                user_key=decision.user_key or "",
                task=Task.CLICK,
                label=label,
                impression_ts=NOW,
                label_ts=NOW,
                delay_s=None,
            )
        )
    static = Decision(decision_id="static", ts=NOW, ad_id="other", propensity=1.0)
    return [*decisions, static], examples


def model_knowing_the_best() -> BayesianLogistic:
    model = BayesianLogistic(BayesParams(bits=14), seed=1)
    xs = [described(h, {"device": "mobile"}) for h in RATES]
    model.learn_many(xs, [2000 * r for r in RATES.values()], [2000] * 3)
    return model


def test_decision_log_entries_become_choices_among_their_options() -> None:
    decisions, examples = logged(300, seed=1)
    found = list(evaluation.from_decision_log(decisions, examples))
    assert len(found) == 300  # the static decision has no options: left out
    first = found[0]
    assert len(first.xs) == 3
    assert first.xs[first.action]["elements"] == [combination_key(decisions[0].elements)]
    assert first.propensity == pytest.approx(1 / 3)
    clicked = {e.decision_id for e in examples if e.label}
    assert sum(d.reward for d in found) == len(clicked)


def test_kairos_evaluate_reads_the_platforms_own_log_from_the_broker(
    kafka: KafkaUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = kafka.settings(tmp_path)
    topics = runtime.topics(settings)
    ensure_topics(kafka.bootstrap, topics.specs())
    decisions, examples = logged(6000, seed=2)
    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    encoder = msgspec.json.Encoder()
    for d in decisions:
        producer.produce(topics.decisions, encoder.encode(d), (d.user_key or "").encode())
    for e in examples:
        producer.produce(topics.labelled_examples, encoder.encode(e), e.user_key.encode())
    producer.produce(topics.decisions, b"not a decision")  # skipped, not fatal
    assert producer.flush(10) == 0
    snapshot = tmp_path / "model.npz"
    snapshot.write_bytes(model_knowing_the_best().snapshot())
    monkeypatch.setenv("KAIROS_KAFKA_BOOTSTRAP", kafka.bootstrap)
    monkeypatch.setenv("KAIROS_TOPIC_PREFIX", settings.topic_prefix)
    monkeypatch.setenv("KAIROS_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(cli, ["evaluate", "--decisions", "--model", str(snapshot)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["decisions"] == 6000
    assert report["logged_ctr"] == pytest.approx(np.mean(list(RATES.values())), abs=0.02)
    for name in ("ips", "snips", "doubly_robust"):
        estimate = report[name]
        assert estimate["low"] <= RATES["h1"] <= estimate["high"], (name, estimate)
