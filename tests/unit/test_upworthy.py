"""The Upworthy replay on a small archive whose answers are known: the ad server's policy
finds the better packages, the baselines are what they should be, the text model ranks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kairos.bench import upworthy
from kairos.errors import KairosError


def archive(path: Path, tests: int = 30, seed: int = 0) -> Path:
    """Tests of three packages: two headlines x images; "great" headlines get 3x the clicks."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list[object]] = {k: [] for k in upworthy.COLUMNS}
    for t in range(tests):
        base = rng.uniform(0.005, 0.02)
        for k, (headline, factor) in enumerate(
            [(f"a great story {t}", 3.0), (f"a dull story {t}", 1.0), (f"a dull tale {t}", 1.0)]
        ):
            n = int(rng.integers(4_000, 8_000))
            rows["clickability_test_id"].append(f"t{t:03d}")
            rows["headline"].append(headline)
            rows["lede"].append("<p>lede</p>")
            rows["eyecatcher_id"].append(f"img{t}-{k % 2}")
            rows["impressions"].append(n)
            rows["clicks"].append(int(n * base * factor))
            rows["test_week"].append(201410 + t // 5)
    rows["clickability_test_id"].append("alone")  # one package: no test, skipped
    for key, value in (("headline", "x"), ("lede", ""), ("eyecatcher_id", "i")):
        rows[key].append(value)
    rows["impressions"].append(100)
    rows["clicks"].append(1)
    rows["test_week"].append(201410)
    pq.write_table(pa.table(rows), path / "upworthy.parquet")
    return path / "upworthy.parquet"


def test_load_orders_tests_in_time_and_skips_lone_packages(tmp_path: Path) -> None:
    tests = upworthy.load(archive(tmp_path))
    assert len(tests) == 30
    assert [t.week for t in tests] == sorted(t.week for t in tests)
    assert all(len(t.packages) == 3 for t in tests)
    with pytest.raises(KairosError, match="no Upworthy data"):
        upworthy.load(tmp_path / "missing.parquet")


def test_the_ad_servers_policy_finds_the_better_packages(tmp_path: Path) -> None:
    tests = upworthy.load(archive(tmp_path))
    plan = upworthy.ReplayPlan(batch=500, seed=1)
    tallies = upworthy.replay(tests, *upworthy.model_policy(plan), plan)
    figures = tallies["all"].figures()
    assert figures["uniform_fraction_of_oracle"] == pytest.approx(5 / 9, abs=0.02)
    assert figures["fraction_of_oracle"] > 0.85  # uniform gets 0.56 of it
    assert figures["tests"] == 30
    assert tallies["outside_advised_window"].figures() == figures  # none advised out
    assert tallies["known_ctrs_covered"].figures() == figures  # three packages each
    plain = upworthy.replay(tests, *upworthy.bernoulli_policy(plan), plan)["all"]
    assert plain.figures()["fraction_of_oracle"] > 0.8
    known = upworthy.replay(tests, *upworthy.known_ctrs_policy(plan), plan)["all"]
    assert known.figures()["fraction_of_oracle"] > 0.9


def test_replay_keeps_advised_out_weeks_apart_and_is_seeded(tmp_path: Path) -> None:
    tests = upworthy.load(archive(tmp_path))
    moved = [upworthy.Test(t.id, 201330, t.packages) if i < 10 else t for i, t in enumerate(tests)]
    moved.sort(key=lambda t: (t.week, t.id))
    plan = upworthy.ReplayPlan(batch=1000, seed=2)
    first = upworthy.replay(moved, *upworthy.model_policy(plan), plan)
    assert first["outside_advised_window"].figures()["tests"] == 20
    again = upworthy.replay(moved, *upworthy.model_policy(plan), plan)
    assert again["all"].figures() == first["all"].figures()


def test_text_model_ranks_later_packages_before_any_traffic(tmp_path: Path) -> None:
    tests = upworthy.load(archive(tmp_path, tests=40))
    ranking = upworthy.text_ranking(tests, cutoff=201414)
    assert ranking["train_tests"] == 20
    assert ranking["pairs"] >= 20  # great vs dull pairs (dull vs dull: no significant gap)
    assert ranking["better_ranked_first"] > 0.9


def test_the_benchmark_reports_every_figure(tmp_path: Path) -> None:
    ticks: list[int] = []
    results = upworthy.run(
        archive(tmp_path),
        upworthy.ReplayPlan(batch=2000, limit=10, text_cutoff=201411),
        lambda _message: None,
        lambda _total: ticks.append,
    )
    assert results["tests"] == 10
    assert len(ticks) == 30  # the three replays advanced their bar once per test
    for key in ("ctr_policy", "ctr_uniform", "ctr_oracle", "fraction_of_oracle"):
        assert 0 < float(results[key]) <= 1  # type: ignore[arg-type]
    assert "bernoulli_ts_fraction_of_oracle" in results
    reference = results["known_ctrs_reference"]
    assert reference["tests"] == 10  # type: ignore[index]
    assert 0 < reference["fraction_of_oracle"] <= 1  # type: ignore[index]
    assert results["text_ranking"]["judged_tests"] == 5  # type: ignore[index]
