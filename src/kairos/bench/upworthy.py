"""`kairos bench upworthy`: creative selection replayed on the Upworthy Research Archive's real
headline x image tests.

Every test is a campaign whose packages (headline, image, lede) are a dynamic creative's
combinations. Tests run week by week, the tests of a week side by side; each test's impressions
arrive in batches: the policy — `ThompsonPolicy`, the ad server's selection code, with the click
model `kairos learn` trains — chooses a package for every impression of a batch, the clicks are
drawn (seeded) from the chosen packages' observed CTRs, and the batch's outcome is learnt before
the next batch, as the stream would deliver it. One model serves every test, so what earlier
tests taught about headlines and images that come back is the prior of later ones.

Baselines in the same run: the uniform split (the A/B test itself), the per-test best package
(the oracle), plain per-test Bernoulli Thompson sampling and, as a yardstick for what priors
of CTR levels and spreads learnt across tests could add, a reference told each test's CTR
values (`known_ctrs`). The archive's authors advise against confirmatory use of tests from
2013-06-25 to 2014-01-10: the figures are also given without them.

A text model trained on earlier weeks (`headlines`) ranks the packages of later tests before
any traffic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kairos.bench.headlines import text_ranking
from kairos.bench.known_ctrs import KnownCtrs
from kairos.errors import KairosError
from kairos.learn import features
from kairos.learn.app import click_params
from kairos.learn.bayes import BayesianLogistic
from kairos.learn.policy import ThompsonPolicy

Array = np.ndarray[Any, Any]
ADVISED_OUT = (201326, 201402)  # test weeks the archive's authors keep out of claims
COLUMNS = (  # what the replay reads of the archive
    "clickability_test_id",
    "headline",
    "lede",
    "eyecatcher_id",
    "impressions",
    "clicks",
    "test_week",
)


@dataclass(frozen=True)
class Package:
    headline: str
    image: str
    lede: str
    impressions: int
    clicks: int

    @property
    def ctr(self) -> float:
        return self.clicks / self.impressions if self.impressions else 0.0


@dataclass(frozen=True)
class Test:
    id: str
    week: int  # YYYYWW
    packages: tuple[Package, ...]

    @property
    def impressions(self) -> int:
        return sum(p.impressions for p in self.packages)

    @property
    def advised_out(self) -> bool:
        return ADVISED_OUT[0] <= self.week <= ADVISED_OUT[1]


@dataclass(frozen=True)
class ReplayPlan:
    batch: int = 1000  # impressions of a test between two model updates
    seed: int = 0
    limit: int | None = None  # the first N tests (in time order) only
    text_cutoff: int = 201426  # text model: trained before this week, judged from it on


def load(path: Path) -> list[Test]:
    """The archive's tests in time order (tests with fewer than two packages are skipped)."""
    import pyarrow.parquet as pq  # only this benchmark needs it

    if not path.is_file():
        raise KairosError(f"no Upworthy data at {path} (see --data)")
    table = pq.read_table(path, columns=list(COLUMNS)).to_pydict()
    grouped: dict[str, list[int]] = defaultdict(list)
    for row, test_id in enumerate(table["clickability_test_id"]):
        grouped[test_id].append(row)
    tests = []
    for test_id, rows in grouped.items():
        packages = tuple(
            Package(
                headline=table["headline"][r] or "",
                image=table["eyecatcher_id"][r] or "",
                lede=table["lede"][r] or "",
                impressions=int(table["impressions"][r]),
                clicks=int(table["clicks"][r]),
            )
            for r in rows
            if table["impressions"][r] > 0
        )
        if len(packages) >= 2:
            tests.append(Test(test_id, int(table["test_week"][rows[0]]), packages))
    return sorted(tests, key=lambda t: (t.week, t.id))


# -- the replay -------------------------------------------------------------------------------


def examples(test: Test) -> list[dict[str, Any]]:
    """The packages as the ad server describes a dynamic ad's combinations: each test is a
    campaign with its own creative of one slot, whose variants are the test's packages. (A
    package is the archive's unit: 1,071 tests hold packages identical in headline, image and
    lede that were still separate arms with their own CTRs. Headline, image and lede as
    separate elements as well did worse in replays: 0.905-0.919 against 0.922.)"""
    return [
        features.user_part({})
        | features.ad_part(
            advertiser_id="upworthy",
            campaign_id=test.id,
            flight_id=test.id,
            ad_id=test.id,
            creative_id=None,
            placement_id=None,
            elements={"package": f"{test.id}#{k}"},
        )
        for k in range(len(test.packages))
    ]


@dataclass
class Tally:
    clicks: float = 0.0
    uniform: float = 0.0  # expected clicks of the even split
    oracle: float = 0.0  # expected clicks of the test's best package throughout
    impressions: int = 0
    tests: int = 0

    def add(self, test: Test, clicks: float) -> None:
        ctrs = [p.ctr for p in test.packages]
        n = test.impressions
        self.clicks += clicks
        self.uniform += n * float(np.mean(ctrs))
        self.oracle += n * max(ctrs)
        self.impressions += n
        self.tests += 1

    def figures(self) -> dict[str, float | int]:
        n = max(self.impressions, 1)
        oracle = max(self.oracle, 1e-12)
        return {
            "ctr_policy": round(self.clicks / n, 6),
            "ctr_uniform": round(self.uniform / n, 6),
            "ctr_oracle": round(self.oracle / n, 6),
            "fraction_of_oracle": round(self.clicks / oracle, 4),
            "uniform_fraction_of_oracle": round(self.uniform / oracle, 4),
            "tests": self.tests,
            "impressions": self.impressions,
        }


Chooser = Callable[[Test, int, int], Array]  # (test, its index, impressions) -> counts
Learner = Callable[[Test, int, Array, Array], None]  # (test, index, counts, clicks)


GROUPS: dict[str, Callable[[Test], bool]] = {
    "all": lambda test: True,
    "outside_advised_window": lambda test: not test.advised_out,
    "known_ctrs_covered": lambda test: KnownCtrs.covers(len(test.packages)),
}


def replay(
    tests: Sequence[Test],
    choose: Chooser,
    learn: Learner,
    plan: ReplayPlan,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Tally]:
    """Play every test batch by batch, a week's tests interleaved; a tally per group of
    `GROUPS` (all tests, those outside the advised-out window, ...)."""
    rng = np.random.default_rng(plan.seed)
    tallies = {name: Tally() for name in GROUPS}
    for week in _weeks(tests):
        left = {i: tests[i].impressions for i in week}
        clicks = dict.fromkeys(week, 0.0)
        while left:
            for i in list(left):
                test, n = tests[i], min(plan.batch, left[i])
                counts = choose(test, i, n)
                got = rng.binomial(counts, [p.ctr for p in test.packages])
                learn(test, i, counts, got)
                clicks[i] += float(got.sum())
                left[i] -= n
                if left[i] == 0:
                    del left[i]
                    for name, holds in GROUPS.items():
                        if holds(test):
                            tallies[name].add(test, clicks[i])
                    if progress:
                        progress(1)
    return tallies


def _weeks(tests: Sequence[Test]) -> Iterator[list[int]]:
    week: list[int] = []
    for i, test in enumerate(tests):
        if week and tests[week[0]].week != test.week:
            yield week
            week = []
        week.append(i)
    if week:
        yield week


def model_policy(plan: ReplayPlan) -> tuple[Chooser, Learner]:
    """The ad server's policy and click model, one for all tests; each test's share of
    impressions still to serve is its campaign's remaining goal (exploration follows it)."""
    policy = ThompsonPolicy(BayesianLogistic(click_params(), seed=plan.seed))
    described: dict[int, list[dict[str, Any]]] = {}

    def xs_of(test: Test, i: int) -> list[dict[str, Any]]:
        if i not in described:
            described[i] = examples(test)
        return described[i]

    def choose(test: Test, i: int, n: int) -> Array:
        spent = policy.spend.get(test.id)
        left = 1.0 - (spent.served if spent else 0) / test.impressions  # the campaign's goal
        return policy.allocate(xs_of(test, i), n, campaign=test.id, remaining=left)

    def learn(test: Test, i: int, counts: Array, clicks: Array) -> None:
        shown = np.flatnonzero(counts)
        xs = xs_of(test, i)
        policy.model.learn_many([xs[k] for k in shown], clicks[shown], counts[shown])
        if test.impressions == policy.spend[test.id].served:
            del described[i]

    return choose, learn


def bernoulli_policy(plan: ReplayPlan) -> tuple[Chooser, Learner]:
    """Baseline: plain Thompson sampling per test, a Beta(1, 1) per package."""
    rng = np.random.default_rng(plan.seed + 1)
    posteriors: dict[int, tuple[Array, Array]] = {}

    def choose(test: Test, i: int, n: int) -> Array:
        k = len(test.packages)
        a, b = posteriors.setdefault(i, (np.ones(k), np.ones(k)))
        wins = np.argmax(rng.beta(a, b, size=(n, k)), axis=1)
        return np.bincount(wins, minlength=k)

    def learn(test: Test, i: int, counts: Array, clicks: Array) -> None:
        a, b = posteriors[i]
        a += clicks
        b += counts - clicks

    return choose, learn


def known_ctrs_policy(plan: ReplayPlan) -> tuple[Chooser, Learner]:
    """Reference, not a policy one could deploy: told each test's CTR values (not which
    package has which); tests of more than `known_ctrs.MAX_PACKAGES` packages are not covered."""
    known = KnownCtrs(seed=plan.seed + 2)
    served: dict[str, int] = defaultdict(int)

    def choose(test: Test, i: int, n: int) -> Array:
        return known.allocate(test.id, np.array([p.ctr for p in test.packages]), n)

    def learn(test: Test, i: int, counts: Array, clicks: Array) -> None:
        known.learn(test.id, counts, clicks)
        served[test.id] += int(counts.sum())
        if served[test.id] == test.impressions:
            known.forget(test.id)

    return choose, learn


# -- the benchmark ----------------------------------------------------------------------------


def run(
    data: Path, plan: ReplayPlan, progress: Callable[[str], None], bar: Callable[[int], Any]
) -> dict[str, object]:
    """The report's results. `bar(total)` gives a callable that advances a progress bar."""
    tests = load(data)[: plan.limit]
    if not tests:
        raise KairosError(f"no tests with two packages or more in {data}")
    progress(f"replaying {len(tests)} tests with the ad server's policy")
    model = replay(tests, *model_policy(plan), plan, bar(len(tests)))
    progress("replaying with per-test Bernoulli Thompson sampling (baseline)")
    plain = replay(tests, *bernoulli_policy(plan), plan, bar(len(tests)))
    covered = [t for t in tests if GROUPS["known_ctrs_covered"](t)]
    progress(f"replaying {len(covered)} tests told their CTR values (reference)")
    known = replay(covered, *known_ctrs_policy(plan), plan, bar(len(covered)))["all"]
    progress("training the text model on earlier weeks")
    ranking = text_ranking(tests, plan.text_cutoff, plan.seed)
    results: dict[str, object] = dict(model["all"].figures())
    results["bernoulli_ts_fraction_of_oracle"] = plain["all"].figures()["fraction_of_oracle"]
    results["outside_advised_window"] = model["outside_advised_window"].figures() | {
        "bernoulli_ts_fraction_of_oracle": plain["outside_advised_window"].figures()[
            "fraction_of_oracle"
        ]
    }
    results["known_ctrs_reference"] = {
        "tests": known.tests,
        "fraction_of_oracle": known.figures()["fraction_of_oracle"],
        "policy_fraction_of_oracle": model["known_ctrs_covered"].figures()["fraction_of_oracle"],
        "bernoulli_ts_fraction_of_oracle": plain["known_ctrs_covered"].figures()[
            "fraction_of_oracle"
        ],
    }
    results["text_ranking"] = ranking
    results["batch"] = plan.batch
    results["seed"] = plan.seed
    return results
