"""`kairos train` on a generic CSV file, and the features shared by training and serving."""

from __future__ import annotations

import csv
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from kairos.cli.main import app as cli
from kairos.domain.examples import LabelledExample, Task
from kairos.learn.features import of_example
from kairos.learn.ftrl import Ftrl
from kairos.learn.hashing import Hasher

START = datetime(2026, 11, 1, tzinfo=UTC)


def write(path: Path, rows: int, seed: int, flip: bool = False) -> None:
    rng = random.Random(seed)
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["ts", "device", "headline", "interest.eco", "tags", "label"])
        for n in range(rows):
            device = rng.choice(["mobile", "desktop"])
            headline = rng.choice(["h1", "h2", "h3"])
            eco = round(rng.random(), 3)
            rate = 0.3 if (headline == "h1") != flip else 0.02
            rate += 0.2 * eco
            clicked = int(rng.random() < rate)
            out.writerow(
                [(START + timedelta(minutes=n)).isoformat(), device, headline, eco, "a|b", clicked]
            )


def test_train_from_a_file_reports_metrics_and_writes_the_model(tmp_path: Path) -> None:
    data = tmp_path / "clicks.csv"
    write(data, 6000, seed=1)
    out, model = tmp_path / "metrics.json", tmp_path / "model.npz"
    args = ["train", "--file", str(data), "--time-column", "ts", "--json", str(out)]
    result = CliRunner().invoke(
        cli, [*args, "--model", str(model), "--alpha", "0.2", "--l1", "0.1"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    valid = report["validation"]
    assert report["train_examples"] == 4800
    assert valid["examples"] == 1200
    assert valid["auc"] > 0.7
    assert valid["log_loss"] < valid["log_loss_constant"]
    assert valid["calibration"]["ece"] < 0.1  # 120 rows a bin: sampling noise is ~0.04
    assert 0.7 < valid["calibration"]["ratio"] < 1.3  # regularised: a little under-confident
    restored = Ftrl.restore(model.read_bytes())
    assert restored.predict_proba_one({"headline": "h1"}) > restored.predict_proba_one(
        {"headline": "h2"}
    )

    flipped = tmp_path / "later.csv"  # a validation file where the good headline changed
    write(flipped, 1000, seed=2, flip=True)
    result = CliRunner().invoke(cli, ["train", "--file", str(data), "--validation", str(flipped)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["validation"]["auc"] < 0.5  # the old model ranks them wrong


def test_bad_files_are_refused_with_a_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("device,label\nmobile,maybe\n")
    result = CliRunner().invoke(cli, ["train", "--file", str(bad)])
    assert result.exit_code == 1
    assert "not 0/1" in result.output
    unlabelled = tmp_path / "none.csv"
    unlabelled.write_text("device,clicked\nmobile,1\n")
    result = CliRunner().invoke(cli, ["train", "--file", str(unlabelled)])
    assert result.exit_code == 1
    assert "no 'label' column" in result.output


def test_examples_become_the_features_decisions_see() -> None:
    example = LabelledExample(
        example_id="d:click:1",
        decision_id="d",
        user_key="u" * 32,
        task=Task.CLICK,
        label=1,
        impression_ts=START,
        label_ts=START,
        delay_s=3.0,
        creative_id="cr1",
        placement_id="p1",
        elements={"headline": "h1", "cta": "c2"},
        features={
            "device": "mobile",
            "local_hour": 9,
            "interest.eco": 0.8,
            "interest.golf": 0.1,
            "user_key": "x",
        },
    )
    x = of_example(example)
    assert x["top_interest"] == ["eco", "golf"]
    assert x["local_hour"] == "9"  # a category
    assert x["elements"] == ["cta=c2", "headline=h1"]
    assert "user_key" not in x  # identities are not features
    hasher = Hasher(bits=16, crosses=(("elements", "elements"),))
    plain, _ = Hasher(bits=16).features(x)
    crossed, _ = hasher.features(x)
    assert len(crossed) == len(plain) + 1  # two elements: one pair
