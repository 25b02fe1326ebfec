"""`kairos bench personalize` on a small run: each K against the context-free baseline, and
personal scores that really move ads (a model that learnt the visitors' topics)."""

from __future__ import annotations

from kairos.bench import personalize


def test_a_small_run_measures_each_k_against_the_baseline() -> None:
    said: list[str] = []
    plan = personalize.PersonalizePlan(
        tops=(5, 50), decisions=80, warmup=10, examples=4_000, users=60
    )
    results = personalize.run(plan, said.append)
    assert results["ads"] == 1000
    assert float(str(results["baseline_us_per_decision"])) > 0
    assert 0.0 < float(str(results["baseline_dynamic_share"])) < 1.0  # the inventory's mix
    by_top = results["by_top"]
    assert isinstance(by_top, dict)
    assert set(by_top) == {"5", "50"}
    for figures in by_top.values():
        assert figures["us_per_decision"] > 0
        assert figures["ratio"] > 0
        assert 0.0 <= figures["placements_with_another_ad"] <= 1.0
        assert 0.0 <= figures["dynamic_share"] <= 1.0
    # personal scores change what some visitors see, the more so the more are rescored
    assert (
        0.0
        < by_top["5"]["placements_with_another_ad"]
        <= by_top["50"]["placements_with_another_ad"]
    )
    assert any("personalize_top=50" in line for line in said)
