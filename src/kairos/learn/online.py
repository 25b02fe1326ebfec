"""Continuous learning, the pure part: labelled examples in, a model updated, at most once each.

Click examples are learnt as they come (impression features and elements, label); an example
seen again (a redelivery after a restart) is recognised by its deterministic id and skipped; a
correction (a click that came after its negative was emitted) is learnt as the positive it is,
and is itself learnt only once. Conversion examples are left to the conversion model.
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

    def learn_many(self, xs: Sequence[Any], ys: Any) -> None: ...

    def snapshot(self) -> bytes: ...


class OnlineTrainer:
    def __init__(self, model: Learner, remembered: int = 1_000_000) -> None:
        self.model = model
        self.remembered = remembered
        self._ids: OrderedDict[str, None] = OrderedDict()
        self.learnt = 0
        self.skipped = 0

    def observe(self, examples: Sequence[LabelledExample]) -> int:
        """Learn the new click examples of a batch; how many were learnt."""
        xs, ys = [], []
        for example in examples:
            if example.task is not Task.CLICK:
                continue
            if example.example_id in self._ids:
                self.skipped += 1
                continue
            self._remember(example.example_id)
            xs.append(features.of_example(example))
            ys.append(float(example.label))
        if xs:
            self.model.learn_many(xs, np.asarray(ys))
            self.learnt += len(xs)
        return len(xs)

    def _remember(self, example_id: str) -> None:
        self._ids[example_id] = None
        if len(self._ids) > self.remembered:
            self._ids.popitem(last=False)
