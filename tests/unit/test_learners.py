"""One check suite for every learner: it learns a separable problem, its predictions are
probabilities, its state survives a snapshot, and the same seed gives the same model."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kairos.learn.bayes import BayesianLogistic, BayesParams
from kairos.learn.ftrl import Ftrl, FtrlParams
from kairos.learn.hashing import Hasher, Joined
from kairos.learn.metrics import auc, calibration, log_loss

Learner = Any
CROSS = (("color", "size"),)
LEARNERS: dict[str, Callable[[int], Learner]] = {
    "ftrl": lambda seed: Ftrl(FtrlParams(bits=16, alpha=0.5, l1=0.05, crosses=CROSS)),
    "bayes": lambda seed: BayesianLogistic(BayesParams(bits=16, crosses=CROSS), seed=seed),
}


def problem(n: int, seed: int) -> tuple[list[dict[str, Any]], np.ndarray[Any, Any]]:
    """Clicks when the colour is red and the size is not small (a cross), whatever the noise
    features say."""
    rng = random.Random(seed)
    xs, ys = [], []
    for _ in range(n):
        x = {
            "color": rng.choice(["red", "blue", "green"]),
            "size": rng.choice(["S", "M", "L"]),
            "noise": rng.choice(["a", "b", "c", "d"]),
            "score": rng.random(),
        }
        xs.append(x)
        ys.append(1.0 if x["color"] == "red" and x["size"] != "S" else 0.0)
    return xs, np.asarray(ys)


def train(
    learner: Learner, xs: list[dict[str, Any]], ys: np.ndarray[Any, Any], batch: int = 50
) -> None:
    for start in range(0, len(xs), batch):
        learner.learn_many(xs[start : start + batch], ys[start : start + batch])


@pytest.mark.parametrize("name", list(LEARNERS))
def test_it_learns_a_separable_problem(name: str) -> None:
    learner = LEARNERS[name](1)
    xs, ys = problem(4000, seed=1)
    for _ in range(3):
        train(learner, xs, ys)
    test_x, test_y = problem(1000, seed=2)
    scores = learner.predict_proba_many(test_x)
    assert auc(test_y, scores) > 0.99
    assert log_loss(test_y, scores) < 0.5 * log_loss(test_y, np.full(len(test_y), test_y.mean()))


@pytest.mark.parametrize("name", list(LEARNERS))
def test_predictions_are_probabilities_even_on_strange_input(name: str) -> None:
    learner = LEARNERS[name](1)
    xs, ys = problem(500, seed=3)
    train(learner, xs, ys)
    strange = [{}, {"color": None}, {"score": 1e300}, {"score": -1e300}, {"tags": ["x", "y"]}]
    for p in [*learner.predict_proba_many(strange), learner.predict_proba_one({"color": "red"})]:
        assert 0.0 <= p <= 1.0
    assert learner.predict_proba_many([]).shape == (0,)


@pytest.mark.parametrize("name", list(LEARNERS))
def test_state_round_trips_through_a_snapshot(name: str) -> None:
    learner = LEARNERS[name](1)
    xs, ys = problem(800, seed=4)
    train(learner, xs, ys)
    restored = type(learner).restore(learner.snapshot())
    probe, _ = problem(200, seed=5)
    assert np.array_equal(learner.predict_proba_many(probe), restored.predict_proba_many(probe))
    train(learner, xs[:100], ys[:100])  # and both go on learning the same way
    train(restored, xs[:100], ys[:100])
    assert np.array_equal(learner.predict_proba_many(probe), restored.predict_proba_many(probe))


@pytest.mark.parametrize("name", list(LEARNERS))
def test_the_same_seed_gives_the_same_model(name: str) -> None:
    xs, ys = problem(600, seed=6)
    first, second = LEARNERS[name](7), LEARNERS[name](7)
    train(first, xs, ys)
    train(second, xs, ys)
    probe, _ = problem(100, seed=8)
    assert np.array_equal(first.predict_proba_many(probe), second.predict_proba_many(probe))


def test_ftrl_batches_of_one_are_the_per_example_algorithm() -> None:
    xs, ys = problem(300, seed=9)
    one, many = Ftrl(FtrlParams(bits=12)), Ftrl(FtrlParams(bits=12))
    for x, y in zip(xs, ys, strict=True):
        one.learn_one(x, y)
    train(many, xs, ys, batch=1)
    probe, _ = problem(50, seed=10)
    assert np.allclose(one.predict_proba_many(probe), many.predict_proba_many(probe))
    assert np.allclose([one.predict_proba_one(x) for x in probe], one.predict_proba_many(probe))
    assert 0 < one.nonzero < one._hasher.size  # L1 keeps most weights at zero


def test_hashing_is_stable_and_crosses_pairs() -> None:
    hasher = Hasher(bits=18, crosses=(("a", "b"),))
    indices, values = hasher.features({"a": "x", "b": ["y", "z"], "n": 3, "off": False})
    assert indices[0] == 0  # the bias
    assert len(indices) == 1 + 1 + 2 + 1 + 1 + 2  # bias, a, b (2), n, off, a^b (2)
    assert values[indices.index(hasher.features({"n": 3})[0][1])] == pytest.approx(np.log1p(3))
    assert hasher.features({"a": "x"}) == Hasher(bits=18).features({"a": "x"})  # same everywhere


def test_metrics_on_known_answers() -> None:
    assert auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert auc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert auc([1, 1], [0.2, 0.3]) == 0.5  # one class: undefined, reported as a coin
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.2, 20_000)
    y = (rng.uniform(0, 1, 20_000) < p).astype(float)
    calibrated = calibration(y, p)
    assert calibrated["ece"] < 0.01
    assert abs(calibrated["ratio"] - 1) < 0.05
    assert calibration(y, p * 2)["ratio"] > 1.8  # twice too high says so
    assert log_loss([1, 0], [0.5, 0.5]) == pytest.approx(np.log(2))


def test_thompson_sampling_finds_the_best_combination_and_says_how_likely_its_choice_was() -> None:
    rates = [0.02, 0.03, 0.05, 0.09, 0.04]
    arms = [{"headline": f"h{k}"} for k in range(len(rates))]
    model = BayesianLogistic(BayesParams(bits=12), seed=3)
    _, fresh = model.choose(arms, draws=2000)
    assert abs(fresh - 1 / len(arms)) < 0.05  # the prior: every arm as likely
    rng = random.Random(4)
    pulls: list[int] = []
    pending_x: list[dict[str, Any]] = []
    pending_y: list[float] = []
    for _ in range(6000):
        chosen, propensity = model.choose(arms, draws=20)
        assert 0 < propensity <= 1
        pulls.append(chosen)
        pending_x.append(arms[chosen])
        pending_y.append(1.0 if rng.random() < rates[chosen] else 0.0)
        if len(pending_x) == 50:  # feedback in batches, as the stream delivers it
            model.learn_many(pending_x, np.asarray(pending_y))
            pending_x, pending_y = [], []
    late = pulls[-2000:]
    assert late.count(3) / len(late) > 0.6  # mostly the best
    assert all(pulls.count(k) >= 20 for k in range(len(rates)))  # every one was tried
    _, settled = model.choose(arms, draws=2000)
    assert model.predict_proba_one(arms[3]) > model.predict_proba_one(arms[0])
    assert settled > 0.3


def test_aggregated_examples_are_the_same_update_as_the_examples_themselves() -> None:
    xs = [{"headline": "h1", "image": "i1"}, {"headline": "h2", "image": "i1"}]
    one_by_one = BayesianLogistic(BayesParams(bits=12))
    rows = [xs[0]] * 40 + [xs[1]] * 60
    labels = [1.0] * 3 + [0.0] * 37 + [1.0] * 9 + [0.0] * 51
    one_by_one.learn_many(rows, np.asarray(labels))
    counted = BayesianLogistic(BayesParams(bits=12))
    counted.learn_many(xs, [3, 9], [40, 60])
    assert counted.seen == one_by_one.seen == 100
    assert np.allclose(counted._m, one_by_one._m)
    assert np.allclose(counted._q, one_by_one._q)


def test_candidates_margins_are_drawn_as_drawn_weights_would_give_them() -> None:
    model = BayesianLogistic(BayesParams(bits=12), seed=5)
    model.learn_many([{"h": "a", "i": "x"}, {"h": "b", "i": "x"}], [30, 10], [1000, 1000])
    xs = [{"h": "a", "i": "x"}, {"h": "b", "i": "x"}, {"h": "a", "i": "y"}]
    margins = model.sample_margins(xs, 200_000)
    dense, coords = model._dense(xs)
    assert np.allclose(margins.mean(axis=0), dense @ model._m[coords], atol=0.02)
    expected = (dense / model._q[coords]) @ dense.T  # shared weights: correlated margins
    assert np.allclose(np.cov(margins.T), expected, atol=0.03)
    counts = model.allocate(xs, 10_000)
    assert counts.sum() == 10_000
    wins = np.argmax(model.sample_many(xs, 10_000), axis=1)
    assert np.allclose(counts / 10_000, np.bincount(wins, minlength=3) / 10_000, atol=0.03)


def test_margins_of_candidates_sharing_a_user_and_an_ad_are_drawn_as_whole_weights_would_be() -> (
    None
):
    crosses = (("topic", "elements"),)
    model = BayesianLogistic(BayesParams(bits=12, crosses=crosses), seed=2)
    shared = {"device": "mobile", "topic": ["eco", "news"], "ad": "a1"}
    own = tuple({"elements": [f"h={h}", f"i={i}"]} for h in "ab" for i in "xyz")
    xs = [shared | o for o in own]
    model.learn_many(xs[:3], [20, 5, 9], [500, 500, 500])
    margins = model.sample_margins(Joined(shared, own), 200_000, exploration=1.0)
    dense, coords = model._dense(xs)
    assert np.allclose(margins.mean(axis=0), dense @ model._m[coords], atol=0.02)
    # every candidate's margin moves with the shared user's and ad's weights, and with the
    # elements and crosses it shares with others
    expected = (dense / model._q[coords]) @ dense.T
    assert np.allclose(np.cov(margins.T), expected, atol=0.05, rtol=0.02)
    assert expected.min() > 0.1  # (the shared part: correlated throughout)
    chosen, propensity = model.choose(Joined(shared, own), draws=4000)
    wins = np.argmax(model.sample_many(xs, 4000), axis=1)
    assert propensity == pytest.approx(np.mean(wins == chosen), abs=0.04)


def test_a_late_click_turns_the_learnt_negative_positive_instead_of_adding_one() -> None:
    from kairos.domain.examples import LabelledExample, Task, example_id
    from kairos.learn.online import OnlineTrainer

    def labelled(label: int, correction: bool, task: Task = Task.CLICK) -> LabelledExample:
        return LabelledExample(
            example_id=example_id("d1", task, label, correction),
            decision_id="d1",
            user_key="u" * 32,
            task=task,
            label=label,
            correction=correction,
            impression_ts=datetime(2026, 11, 29, tzinfo=UTC),
            label_ts=datetime(2026, 11, 29, tzinfo=UTC),
            delay_s=None,
            creative_id="cr",
        )

    corrected = OnlineTrainer(BayesianLogistic(BayesParams(bits=12)))
    corrected.observe([labelled(0, False)])
    corrected.observe([labelled(1, True), labelled(1, True)])  # redelivered: once
    clicked = OnlineTrainer(BayesianLogistic(BayesParams(bits=12)))
    clicked.observe([labelled(1, False)])
    assert corrected.corrected == 1
    assert corrected.skipped == 1
    assert corrected.model.seen == clicked.model.seen == 1  # one impression, not two
    one = corrected.model.predict_proba_one({"creative": "cr"})
    assert one > 0.5  # the prior's 0.5 pushed up, as by the click alone
    assert one == pytest.approx(clicked.model.predict_proba_one({"creative": "cr"}), abs=0.1)
    conversions = OnlineTrainer(BayesianLogistic(BayesParams(bits=12)), Task.CONVERSION)
    assert conversions.observe([labelled(0, False), labelled(1, False, Task.CONVERSION)]) == 1


def test_an_integer_prior_precision_still_gives_the_bias_its_flat_prior() -> None:
    model = BayesianLogistic(BayesParams(bits=10, prior_precision=17))
    assert model._q.dtype == np.float64
    assert model._q[0] == pytest.approx(0.01)
    assert model._q[1] == 17.0
    assert np.isfinite(model.sample_margins([{"a": "b"}], 10)).all()


_FIELDS: dict[str, list[Any]] = {
    "device": ["mobile", "desktop"],
    "interest.eco": [0.0, 0.4, -2.0],
    "topic": [["a", "b"], []],
}
_AD_FIELDS: dict[str, list[Any]] = {
    "creative": ["cr1", "cr2"],
    "elements": [["h=1", "i=2"], ["h=1"], []],
    "ad": [None, "x"],
}
_CROSSES = (
    ("topic", "creative"),
    ("elements", "elements"),
    ("creative", "device"),
    ("topic", "topic"),
)


@given(st.data())
def test_parts_hashed_apart_join_into_the_features_of_the_whole(data: st.DataObject) -> None:
    hasher = Hasher(bits=12, crosses=_CROSSES, scales=(("interest.eco", 0.5),))
    user = {k: data.draw(st.sampled_from(v)) for k, v in _FIELDS.items()}
    ad = {k: data.draw(st.sampled_from(v)) for k, v in _AD_FIELDS.items()}
    indices, values = hasher.joined(hasher.part(user), hasher.part(ad))
    whole_indices, whole_values = hasher.features(user | ad)
    assert sorted(zip(indices, values, strict=True)) == sorted(
        zip(whole_indices, whole_values, strict=True)
    )
    fresh = Hasher(bits=12, crosses=_CROSSES, scales=(("interest.eco", 0.5),))
    assert hasher.features(user | ad) == fresh.features(user | ad)  # remembered fields alike
    other = {k: data.draw(st.sampled_from(v)) for k, v in _AD_FIELDS.items()}
    plain = hasher.batch([user | ad, user, user | other])
    plain_dense, plain_coords = hasher.dense([user | ad, user, user | other])
    for own in ([ad, {}, other], (ad, {}, other)):  # a tuple's parts are remembered as arrays
        for _ in range(2):
            rows, idx, val = hasher.batch(Joined(user, own))
            for row in (0, 1, 2):
                assert sorted(zip(idx[rows == row], val[rows == row], strict=True)) == sorted(
                    zip(plain[1][plain[0] == row], plain[2][plain[0] == row], strict=True)
                )
            dense, coords = hasher.dense(Joined(user, own))
            assert np.array_equal(coords, plain_coords)
            assert np.allclose(dense, plain_dense, rtol=1e-15, atol=0)
    model = BayesianLogistic(BayesParams(bits=12, crosses=_CROSSES), seed=3)
    model.learn_many([user | ad], np.asarray([1.0]))
    (apart,) = model.predict_proba_parts(model.part(user), [model.part(ad)])
    assert apart == pytest.approx(model.predict_proba_one(user | ad), rel=1e-12)


_OWN_FIELDS = st.fixed_dictionaries(
    {
        "creative": st.sampled_from(["cr1", "cr2"]),
        "elements": st.lists(st.sampled_from(["h=1", "h=2", "i=1", "i=2", "c=3"]), max_size=3),
    }
)


@given(st.data())
def test_margins_of_a_shared_part_joined_with_recurring_rows_are_the_whole_examples(
    data: st.DataObject,
) -> None:
    # rows drawn as the shared part plus their own (and the crosses of the two), without the
    # dense matrix; few bits, so that shared, own and crossed features share coordinates
    # (with the columns that vary across rows and with those that do not)
    within = (("elements", "elements"), ("creative", "elements"), ("topic", "topic"))
    across = (("topic", "elements"), ("device", "creative"), ("elements", "topic"))
    crosses = data.draw(st.sampled_from([within, within + across, across]))
    bits, seed = data.draw(st.sampled_from([3, 4, 8])), data.draw(st.integers(0, 9))
    model = BayesianLogistic(BayesParams(bits=bits, crosses=crosses), seed=seed)
    user = {k: data.draw(st.sampled_from(v)) for k, v in _FIELDS.items()}
    own = tuple(data.draw(st.lists(_OWN_FIELDS, min_size=1, max_size=6)))
    whole = [user | o for o in own]
    exploration = data.draw(st.sampled_from([None, 0.0, 0.3, 2.0]))
    for _ in range(3):
        state = model._rng.bit_generator.state
        joined = model.sample_margins(Joined(user, own), 9, exploration)
        model._rng.bit_generator.state = state
        plain = model.sample_margins(whole, 9, exploration)
        assert joined.shape == plain.shape == (9, len(own))
        assert np.allclose(joined, plain, rtol=1e-9, atol=1e-9)
        # the weights move: what the joined draws kept of them is made again
        clicks = data.draw(st.lists(st.integers(0, 50), min_size=len(own), max_size=len(own)))
        model.learn_many(whole, clicks, [100] * len(own))
    restored = BayesianLogistic.restore(model.snapshot())
    state = restored._rng.bit_generator.state
    joined = restored.sample_margins(Joined(user, own), 9, exploration)
    restored._rng.bit_generator.state = state
    assert np.allclose(joined, restored.sample_margins(whole, 9, exploration), atol=1e-9)
