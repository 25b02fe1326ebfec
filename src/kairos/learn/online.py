"""Continuous learning, the pure part: labelled examples in, a model updated, at most once each.

One trainer per task (clicks for the click model, conversions for the conversion model); the
others' examples pass by. An example seen again (a redelivery after a restart) is recognised by
its deterministic id and skipped. Delayed feedback: a correction (a click that came after its
impression's negative was emitted and learnt) turns that negative into the positive it was —
learnt as one more success without one more trial, so the impression counts once, as a
positive, not as a negative plus a positive.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from kairos.domain.examples import LabelledExample, Task
from kairos.learn import features


class Learner(Protocol):
    seen: int

    def learn_many(self, xs: Sequence[Any], ys: Any, trials: Any = None) -> None: ...

    def snapshot(self) -> bytes: ...


class OnlineTrainer:
    def __init__(
        self, model: Learner, task: Task = Task.CLICK, remembered: int = 1_000_000
    ) -> None:
        self.model = model
        self.task = task
        self.remembered = remembered
        self._ids: OrderedDict[str, None] = OrderedDict()
        self.learnt = 0
        self.skipped = 0
        self.corrected = 0

    def observe(self, examples: Sequence[LabelledExample]) -> int:
        """Learn the new examples of this trainer's task in a batch; how many were learnt."""
        xs, ys, trials = [], [], []
        for example in examples:
            if example.task is not self.task:
                continue
            if example.example_id in self._ids:
                self.skipped += 1
                continue
            self._remember(example.example_id)
            xs.append(features.of_example(example))
            ys.append(float(example.label))
            trials.append(0.0 if example.correction else 1.0)
            self.corrected += int(example.correction)
        if xs:
            self.model.learn_many(xs, np.asarray(ys), np.asarray(trials))
            self.learnt += len(xs)
        return len(xs)

    def _remember(self, example_id: str) -> None:
        self._ids[example_id] = None
        if len(self._ids) > self.remembered:
            self._ids.popitem(last=False)
