"""`kairos train` on a generic CSV or Parquet file and on the database's history, the model
registry's promotion rule, and the features shared by training and serving."""

from __future__ import annotations

import csv
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from kairos.cli.main import app as cli
from kairos.domain.examples import LabelledExample, Task
from kairos.learn.features import of_example
from kairos.learn.ftrl import Ftrl
from kairos.learn.hashing import Hasher

START = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test its own registry and history, on SQLite and on PostgreSQL."""
    monkeypatch.setenv("KAIROS_DATABASE_URL", database_url)
    return database_url


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
    assert "not 0/1" in _flat(result.output)
    unlabelled = tmp_path / "none.csv"
    unlabelled.write_text("device,clicked\nmobile,1\n")
    result = CliRunner().invoke(cli, ["train", "--file", str(unlabelled)])
    assert result.exit_code == 1
    assert "no 'label' column" in _flat(result.output)


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


def _train(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(cli, ["train", *args])
    assert result.exit_code == 0, result.output
    report: dict[str, object] = json.loads(result.stdout)
    return report


def test_versions_are_promoted_only_when_better_on_the_same_validation(tmp_path: Path) -> None:
    good, flipped, later = tmp_path / "good.csv", tmp_path / "flipped.csv", tmp_path / "v.csv"
    write(good, 3000, seed=1)
    write(flipped, 3000, seed=3, flip=True)  # learns the wrong headline
    write(later, 1000, seed=4)
    first = _train("--file", str(good), "--validation", str(later))
    assert (first["version"], first["promoted"]) == ("ctr-v1", True)
    worse = _train("--file", str(flipped), "--validation", str(later))
    assert (worse["version"], worse["promoted"]) == ("ctr-v2", False)
    current = worse["current_on_same_validation"]
    assert current["version"] == "ctr-v1"  # type: ignore[index]
    assert current["log_loss"] < worse["validation"]["log_loss"]  # type: ignore[index]
    more = tmp_path / "more.csv"
    write(more, 9000, seed=5)  # more data of the same world: better on the same validation
    better = _train("--file", str(more), "--validation", str(later), "--epochs", "2")
    assert (better["version"], better["promoted"]) == ("ctr-v3", True), better["reason"]
    listing = CliRunner().invoke(cli, ["models", "list"])
    assert listing.exit_code == 0, listing.output
    for version, status in (("ctr-v1", "retired"), ("ctr-v2", "rejected"), ("ctr-v3", "promoted")):
        line = next(row for row in listing.output.splitlines() if version in row)
        assert status in line
    shown = CliRunner().invoke(cli, ["models", "show", "ctr-v2"])
    assert json.loads(shown.stdout)["status"] == "rejected"
    assert CliRunner().invoke(cli, ["models", "show", "nope"]).exit_code == 1


def test_evaluate_judges_a_registered_version_by_id_or_by_name(tmp_path: Path) -> None:
    good, flipped = tmp_path / "good.csv", tmp_path / "flipped.csv"
    write(good, 3000, seed=1)
    write(flipped, 3000, seed=3, flip=True)
    assert _train("--file", str(good))["version"] == "ctr-v1"
    assert _train("--file", str(flipped))["promoted"]  # ctr-v2 now answers to "ctr"
    rng, log = random.Random(7), tmp_path / "log.jsonl"
    with log.open("w") as out:  # the good world, logged by a uniform policy
        for _ in range(3000):
            action, eco = rng.randrange(3), round(rng.random(), 3)
            rate = (0.3 if action == 0 else 0.02) + 0.2 * eco
            row = {
                "context": {"device": rng.choice(["mobile", "desktop"]), "interest.eco": eco},
                "candidates": [{"headline": f"h{h}"} for h in (1, 2, 3)],
                "action": action,
                "propensity": 1 / 3,
                "reward": int(rng.random() < rate),
            }
            out.write(json.dumps(row) + "\n")

    def ips(version: str) -> float:
        result = CliRunner().invoke(cli, ["evaluate", "--log", str(log), "--version", version])
        assert result.exit_code == 0, result.output
        return float(json.loads(result.stdout)["ips"]["value"])

    assert ips("ctr-v1") > ips("ctr") + 0.1  # the good model against the promoted flipped one
    missing = CliRunner().invoke(cli, ["evaluate", "--log", str(log), "--version", "nope"])
    assert missing.exit_code == 1
    assert "no registered model 'nope'" in missing.output


def test_train_from_parquet_with_typed_and_list_columns(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 4000
    headline = rng.choice(["h1", "h2"], n)
    eco = rng.random(n)
    label = (rng.random(n) < np.where(headline == "h1", 0.3, 0.03) + 0.1 * eco).astype(int)
    table = pa.table(
        {
            "ts": [(START + timedelta(minutes=i)).isoformat() for i in range(n)],
            "headline": headline.tolist(),
            "interest.eco": eco.tolist(),
            "tags": [["a", "b"]] * n,
            "clicked": label.tolist(),
        }
    )
    path = tmp_path / "clicks.parquet"
    pq.write_table(table, path)
    args = ["--label", "clicked", "--time-column", "ts", "--alpha", "0.2", "--l1", "0.1"]
    report = _train("--file", str(path), *args)
    assert report["train_examples"] == 3200
    assert report["validation"]["auc"] > 0.7  # type: ignore[index]
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    result = CliRunner().invoke(cli, ["train", "--file", str(broken)])
    assert result.exit_code == 1
    assert "not a readable Parquet file" in _flat(result.output)


def test_train_from_the_history_of_impressions_and_clicks(database: str) -> None:
    from kairos.db.engine import make_engine
    from kairos.db.migrate import upgrade
    from kairos.db.models import InteractionRecord

    engine = make_engine(database)
    upgrade(engine)
    rng = random.Random(7)
    rows = []
    for n in range(3000):
        headline = rng.choice(["h1", "h2"])
        decision = f"d{n}"
        ts = START + timedelta(seconds=n)
        common = {"user_key": f"u{n % 50}", "decision_id": decision, "campaign_id": "c"}
        common |= {"ad_id": "a", "creative_id": "cr", "placement_id": "p", "device": "mobile"}
        common["elements"] = {"headline": headline}
        rows.append(InteractionRecord(event_type="impression", event_id=f"i{n}", ts=ts, **common))
        if rng.random() < (0.3 if headline == "h1" else 0.03):
            rows.append(InteractionRecord(event_type="click", event_id=f"c{n}", ts=ts, **common))
    with Session(engine) as session, session.begin():
        session.add_all(rows)
    engine.dispose()
    report = _train("--history", "--kind", "bayes")
    assert report["trained_on"] == "database history"
    assert report["train_examples"] == 2400
    assert report["validation"]["auc"] > 0.7  # type: ignore[index]  # at most 0.745 here
    assert report["promoted"] is True
    neither = CliRunner().invoke(cli, ["train"])
    assert neither.exit_code != 0
    assert "--file PATH or --history" in neither.output


def _flat(output: str) -> str:
    """The CLI's output on one line: the console wraps long errors (long paths) at its width."""
    return " ".join(output.split())
