"""`kairos evaluate`: a click model's policy judged on logged decisions it did not make.

The generic format is JSON lines, one logged decision per line:

    {"context": {...user features...},
     "candidates": [{...features of action 0...}, {...action 1...}, ...],
     "action": 1, "propensity": 0.25, "reward": 0}

(`positions`: a list of {"action", "propensity", "reward"} instead, for several slots of one
page: each position is a decision over the same candidates). The evaluated policy shows the
candidate its model scores highest (ties: the first); the same model is the reward model of
the doubly robust estimate.

The project's own decision log (the decisions topic) is read the same way: each dynamic ad
chosen by a model logs the combinations it was chosen among and the probability of the chosen
one; rewards are the labelled examples' clicks (a late click's correction included). The
evaluated policy picks among the same combinations, described as the ad server describes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import orjson

from kairos.domain.decisions import Decision as LoggedDecision
from kairos.domain.decisions import elements_of
from kairos.domain.examples import LabelledExample, Task
from kairos.learn import features
from kairos.learn.ope import Estimate, Logged, doubly_robust, ips, snips


class Scorer(Protocol):
    def predict_proba_many(self, xs: Any) -> Any: ...


class LogError(ValueError):
    """A logged decision that cannot be read; says which line and why."""


@dataclass(frozen=True)
class Decision:
    xs: list[dict[str, Any]]  # context + each candidate's features
    action: int
    propensity: float
    reward: float


def read(path: Path) -> Iterator[Decision]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield from _decisions(line, number)


def evaluate(
    model: Scorer, decisions: Iterable[Decision], clip: float | None = None
) -> dict[str, Any]:
    rewards, propensities, target, q_logged, q_target = [], [], [], [], []
    for d in decisions:
        scores = np.asarray(model.predict_proba_many(d.xs), dtype=float)
        best = int(np.argmax(scores))
        rewards.append(d.reward)
        propensities.append(d.propensity)
        target.append(1.0 if best == d.action else 0.0)
        q_logged.append(float(scores[d.action]))
        q_target.append(float(scores[best]))
    if not rewards:
        raise LogError("no logged decisions")
    logged = Logged(
        np.asarray(rewards),
        np.asarray(propensities),
        np.asarray(target),
        np.asarray(q_logged),
        np.asarray(q_target),
    )
    estimates: dict[str, Estimate] = {
        "ips": ips(logged, clip),
        "snips": snips(logged, clip),
        "doubly_robust": doubly_robust(logged, clip),
    }
    return {
        "decisions": len(rewards),
        "logged_ctr": float(np.mean(rewards)),
        "agreement": float(np.mean(target)),  # how often the policy takes the logged action
        **{name: e.as_dict() for name, e in estimates.items()},
    }


def _decisions(line: bytes, number: int) -> Iterator[Decision]:
    try:
        row = orjson.loads(line)
        context = dict(row.get("context") or {})
        candidates = row["candidates"]
        positions = row.get("positions") or [
            {"action": row["action"], "propensity": row["propensity"], "reward": row["reward"]}
        ]
        xs = [context | dict(c) for c in candidates]
        for position in positions:
            action, propensity = int(position["action"]), float(position["propensity"])
            if not 0 <= action < len(xs):
                raise LogError(f"line {number}: action {action} is not a candidate")
            if not 0 < propensity <= 1:
                raise LogError(f"line {number}: propensity {propensity} is not in (0, 1]")
            yield Decision(xs, action, propensity, float(position["reward"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, LogError):
            raise
        raise LogError(f"line {number}: {exc!r}") from exc


def from_decision_log(
    decisions: Iterable[LoggedDecision], examples: Iterable[LabelledExample]
) -> Iterator[Decision]:
    """The logged choices among combinations, each with its reward (1 when clicked)."""
    clicked = {e.decision_id for e in examples if e.task is Task.CLICK and e.label == 1}
    for d in decisions:
        if d.no_fill or not d.options or not d.combination_propensity or not d.elements:
            continue  # not chosen among logged options: nothing to compare with
        chosen = features.combination_key(d.elements)
        if chosen not in d.options:
            continue
        user = features.user_part(d.features)
        xs = [
            user
            | features.ad_part(
                advertiser_id=d.advertiser_id,
                campaign_id=d.campaign_id,
                flight_id=d.flight_id,
                ad_id=d.ad_id,
                creative_id=d.creative_id,
                placement_id=d.placement_id,
                elements=elements_of(option),
            )
            for option in d.options
        ]
        reward = 1.0 if d.decision_id in clicked else 0.0
        yield Decision(xs, d.options.index(chosen), d.combination_propensity, reward)
