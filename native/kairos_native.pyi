"""Kairos's compiled hot path: a decision's ad answers signed and filled in (see src/lib.rs)."""

class Writer:
    def __init__(self, key: bytes) -> None: ...
    def tail(
        self,
        ad: str,
        decision: str,
        elements: str | None,
        consent: bool,
        user: str,
        charged: str,
        cost: str,
        placement: str,
        landing: str,
        expires: int,
    ) -> str: ...
    def page(
        self,
        pieces: tuple[str, ...],
        slots: bytes,
        ad: str,
        decision: str,
        elements: str | None,
        consent: bool,
        user: str,
        charged: str,
        cost: str,
        placement: str,
        landing: str,
        expires: int,
        ecpm: float,
        propensity: float,
    ) -> bytes: ...
