"""Targeting: which requests a flight may serve — the safe expression language and the filters."""

from kairos.adserver.targeting.expression import Expression, ExpressionError, parse
from kairos.adserver.targeting.filters import check

__all__ = ["Expression", "ExpressionError", "check", "parse"]
