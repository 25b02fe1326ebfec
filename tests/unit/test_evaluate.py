"""`kairos evaluate` on a generic log: the model's policy is judged on decisions it did not
make, and the estimate holds the value that policy really has in a world whose truth we know."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import orjson
from typer.testing import CliRunner

from kairos.cli.main import app as cli
from kairos.learn.bayes import BayesianLogistic, BayesParams

SEGMENTS, HEADLINES = 4, 3
CROSSES = (("segment", "headline"),)


def truth() -> np.ndarray:  # type: ignore[type-arg]
    rng = np.random.default_rng(0)
    return rng.uniform(0.02, 0.3, (SEGMENTS, HEADLINES))


def x(segment: int, headline: int) -> dict[str, str]:
    return {"segment": f"s{segment}", "headline": f"h{headline}"}


def test_evaluate_recovers_the_true_value_of_the_models_policy(tmp_path: Path) -> None:
    ctr = truth()
    rng = np.random.default_rng(1)
    model = BayesianLogistic(BayesParams(bits=12, crosses=CROSSES), seed=1)
    history = [(int(rng.integers(SEGMENTS)), int(rng.integers(HEADLINES))) for _ in range(4000)]
    labels = [float(rng.uniform() < ctr[s, h]) for s, h in history]
    model.learn_many([x(s, h) for s, h in history], np.asarray(labels))
    snapshot = tmp_path / "model.npz"
    snapshot.write_bytes(model.snapshot())

    log, lines = tmp_path / "log.jsonl", []
    for _ in range(20_000):  # logged by a uniform policy
        s, a = int(rng.integers(SEGMENTS)), int(rng.integers(HEADLINES))
        row = {
            "context": {"segment": f"s{s}"},
            "candidates": [{"headline": f"h{h}"} for h in range(HEADLINES)],
            "action": a,
            "propensity": 1 / HEADLINES,
            "reward": int(rng.uniform() < ctr[s, a]),
        }
        lines.append(orjson.dumps(row))
    log.write_bytes(b"\n".join(lines))
    chosen = [
        int(np.argmax(model.predict_proba_many([x(s, h) for h in range(HEADLINES)])))
        for s in range(SEGMENTS)
    ]
    value = float(np.mean([ctr[s, chosen[s]] for s in range(SEGMENTS)]))  # segments are uniform

    out = tmp_path / "ope.json"
    result = CliRunner().invoke(
        cli, ["evaluate", "--log", str(log), "--model", str(snapshot), "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["decisions"] == 20_000
    for name in ("ips", "snips", "doubly_robust"):
        assert report[name]["low"] <= value <= report[name]["high"], (name, report[name], value)
    assert report["ips"]["value"] > report["logged_ctr"]  # the model's policy beats uniform

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"candidates": [{}], "action": 3, "propensity": 0.5, "reward": 1}\n')
    result = CliRunner().invoke(cli, ["evaluate", "--log", str(bad), "--model", str(snapshot)])
    assert result.exit_code == 1
    assert "line 1: action 3 is not a candidate" in result.output


def test_a_page_of_several_positions_is_several_decisions(tmp_path: Path) -> None:
    model = BayesianLogistic(BayesParams(bits=10), seed=1)
    snapshot = tmp_path / "model.npz"
    snapshot.write_bytes(model.snapshot())
    row = {
        "context": {"segment": "s1"},
        "candidates": [{"headline": "h0"}, {"headline": "h1"}],
        "positions": [
            {"action": 0, "propensity": 0.5, "reward": 1},
            {"action": 1, "propensity": 0.5, "reward": 0},
        ],
    }
    log = tmp_path / "page.jsonl"
    log.write_bytes(orjson.dumps(row))
    result = CliRunner().invoke(cli, ["evaluate", "--log", str(log), "--model", str(snapshot)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["decisions"] == 2
    assert report["agreement"] == 0.5  # an untrained model takes the first: one of the two
