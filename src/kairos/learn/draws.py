"""What posterior draws of margins need, for a shared part joined with each row of a block
(one user and one ad with each of a dynamic ad's combinations), without a dense matrix of the
rows.

A draw of the rows' margins is their mean margins plus, per coordinate the rows use, the row's
value there times that weight's drawn deviation (`BayesianLogistic.sample_margins`). A
coordinate whose value is alike in every row moves every margin together, so those are drawn
as one (`common`); the others are the columns of `loads`, in increasing coordinate order. What
depends on the block alone is made once per block and weights (`Own`); a request adds the
shared part: alike in every row, or shifting a column that varies alike in every row. The
result is what the dense matrix of the rows gives, to rounding, columns in the same order: the
same draws. (When a cross joins a shared field with an own one, as a user's top interests with
a combination's elements, the crosses vary with both and the model makes the dense matrix.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kairos.learn.hashing import Block

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class Own:
    """What draws over a block's rows need of the block, with a model's weights: its rows'
    mean margins, the columns that vary across rows (their values over the weights'
    deviations) and the columns alike in every row."""

    mean: Array
    loads: Array
    varying: dict[int, tuple[int, float]]  # coordinate -> its column of `loads`, 1/sqrt(q)
    constant: dict[int, tuple[float, float]]  # coordinate -> its value in every row, 1/q
    constant_sum: float  # sum of value^2 / q over them

    @classmethod
    def of(cls, block: Block, m: Array, q: Array) -> Own:
        matrix, coords = block.matrix, block.distinct
        varies = (matrix != matrix[0]).any(axis=0)
        inverse_q = 1.0 / q[coords]
        deviations = np.sqrt(inverse_q[varies])
        constant = {
            int(c): (float(b), float(iq))
            for c, b, iq in zip(
                coords[~varies], matrix[0, ~varies], inverse_q[~varies], strict=True
            )
        }
        return cls(
            mean=matrix @ m[coords],
            loads=matrix[:, varies] * deviations,
            varying={
                int(c): (column, float(d))
                for column, (c, d) in enumerate(zip(coords[varies], deviations, strict=True))
            },
            constant=constant,
            constant_sum=sum(b * b * iq for b, iq in constant.values()),
        )


def spread(
    own: Own, head: dict[int, float], m: Array, q: Array, scale: float
) -> tuple[Array, Array, float]:
    """The rows' mean margins, the loads of the coordinates that vary across them (rows x
    columns, over the deviations scaled by `scale`) and the spread of those alike in every row
    as one, for `head` (the shared part's value by coordinate, the bias included) joined with
    each row of `own`'s block."""
    base = 0.0
    alike = own.constant_sum
    loads = own.loads * scale
    for index, value in head.items():
        base += value * float(m[index])
        varying = own.varying.get(index)
        if varying is not None:  # a column that varies, shifted alike in every row
            column, deviation = varying
            loads[:, column] += value * deviation * scale
            continue
        found = own.constant.get(index)
        if found is None:
            alike += value * value / float(q[index])
        else:
            b, inverse_q = found
            alike += ((b + value) ** 2 - b * b) * inverse_q
    return base + own.mean, loads, scale * float(np.sqrt(max(alike, 0.0)))
