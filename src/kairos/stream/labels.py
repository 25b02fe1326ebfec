"""Labels: decisions and impressions joined with the clicks and conversions that follow.

Pure functions over one user's pending decisions (keyed by decision id, part of the user's
stream state). Impressions, clicks and conversions of a user arrive on different topics and
may arrive in any order; each function folds one of them in and says what it adds:

- a click within `click_window` of its impression emits a positive click example at once;
  when the window closes without one, `expire` emits the negative; a click after that emits
  a correction (label 1, `correction=True`), never a second independent example;
- a conversion is attributed to its `decision_id` when the landing page passed it on, else
  to the visitor's last click, else last impression, within `conversion_window` (all of them
  count in the roll-ups). Conversion examples are post-click, what a pCVR model learns: for
  a clicked decision, its first conversion emits a positive, the window's close a negative;
- state stays small: an unclicked decision keeps the features it was shown with only for a
  second click window (for a late click's correction), then just its ids until the
  conversion window ends (for view-through attribution);
- impressions count once per decision (a viewable beacon once more as viewable), clicks once
  per decision; duplicates never count twice.

Times are epoch seconds of event time, so replaying the log gives the same labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from msgspec import Struct

from kairos.domain.decisions import Decision
from kairos.domain.events import Click, Conversion, Impression
from kairos.domain.examples import LabelledExample, Task, example_id
from kairos.stream.records import NO_COUNTS, AdRef, Counts


@dataclass(frozen=True)
class LabelConfig:
    click_window: timedelta = timedelta(minutes=30)
    conversion_window: timedelta = timedelta(days=7)
    max_pending: int = 500  # per user: the oldest decisions beyond it are forgotten
    # a click's positive waits this long (stream time after the impression) for the decision
    # record, which travels on another topic and may be read later, so that the example
    # carries the decision's features, propensity and model version
    decision_wait: timedelta = timedelta(seconds=10)

    @property
    def click_s(self) -> float:
        return self.click_window.total_seconds()

    @property
    def conversion_s(self) -> float:
        return self.conversion_window.total_seconds()

    @property
    def wait_s(self) -> float:
        # never past the click window: a clicked impression must not be labelled negative
        return min(self.decision_wait.total_seconds(), self.click_s)


class Pending(Struct, kw_only=True, omit_defaults=True, gc=False):
    """One decision of the user, from the decision (or first sign of it) to its last label."""

    decision_id: str
    created_at: float
    ad: AdRef | None = None
    ad_from: str | None = None  # decision > impression > click: the best source wins
    propensity: float | None = None
    model_version: str | None = None
    features: dict[str, Any] | None = None  # what the decision used
    impression_at: float | None = None
    viewable: bool = False
    click_at: float | None = None
    click_label: int | None = None  # None: nothing emitted yet; 0 negative; 1 positive
    conversion_label: int | None = None


@dataclass(frozen=True)
class Outcome:
    """What one event adds: examples to publish, roll-up counts, the ad it belongs to."""

    examples: list[LabelledExample]
    counts: Counts = NO_COUNTS
    ad: AdRef | None = None
    attribution: str | None = None


Snapshot = Callable[[], dict[str, Any]]  # the user's features now, computed only if needed


def on_decision(
    pending: dict[str, Pending], decision: Decision, user_key: str, config: LabelConfig
) -> list[LabelledExample]:
    """Remember the decision; a click that was waiting for it is labelled now."""
    if decision.no_fill:
        return []
    entry = _entry(pending, decision.decision_id, decision.ts.timestamp(), config)
    entry.ad = _ad_of(decision)
    entry.ad_from = "decision"
    entry.propensity, entry.model_version = decision.propensity, decision.model_version
    entry.features = dict(decision.features)
    if entry.impression_at is not None and _waiting(entry):
        assert entry.click_at is not None
        return _click_label(entry, user_key, entry.click_at, 1, config)
    return []


def on_impression(
    pending: dict[str, Pending],
    event: Impression,
    user_key: str,
    snapshot: Snapshot,
    config: LabelConfig,
) -> Outcome:
    ts = _ts(event)
    entry = _entry(pending, event.decision_id, ts, config)
    if entry.ad_from in (None, "click"):  # an early click may lack the creative's elements
        entry.ad, entry.ad_from = _ad_of(event), "impression"
    counts = Counts()
    if entry.impression_at is None:
        entry.impression_at = ts
        if entry.features is None:  # no decision record: the features as they are now
            entry.features = snapshot()
        counts.impressions = 1
        counts.spend = event.cost or 0.0
    if event.viewable and not entry.viewable:
        entry.viewable = True
        counts.viewable = 1
    examples = []
    if entry.click_at is not None and entry.click_label is None:  # the click came first
        examples += _positive(entry, user_key, ts, config)
    return Outcome(examples, counts, entry.ad)


def on_click(
    pending: dict[str, Pending], event: Click, user_key: str, config: LabelConfig
) -> Outcome:
    ts = _ts(event)
    entry = _entry(pending, event.decision_id, ts, config)
    if entry.ad is None:
        entry.ad, entry.ad_from = _ad_of(event), "click"
    if entry.click_at is not None:
        return Outcome([], NO_COUNTS, entry.ad)  # clicked before: counted once per decision
    entry.click_at = ts
    counts = Counts(clicks=1, spend=event.cost or 0.0)
    examples: list[LabelledExample] = []
    if entry.impression_at is not None:
        examples = _positive(entry, user_key, ts, config)
    return Outcome(examples, counts, entry.ad)


def on_conversion(
    pending: dict[str, Pending], event: Conversion, user_key: str, config: LabelConfig
) -> Outcome:
    ts = _ts(event)
    counts = Counts(conversions=1, revenue=event.value)
    entry, attribution = _attribute(pending, event, ts, config)
    if entry is None:
        return Outcome([], counts)
    examples: list[LabelledExample] = []
    clicked = entry.click_at is not None and entry.impression_at is not None
    if clicked and entry.conversion_label is None:
        entry.conversion_label = 1
        fields = _fields(entry, user_key, Task.CONVERSION, 1, ts, event.value)
        examples.append(LabelledExample(**fields))
    return Outcome(examples, counts, entry.ad, attribution)


def expire(
    pending: dict[str, Pending], user_key: str, now: float, config: LabelConfig
) -> list[LabelledExample]:
    """Close the windows that ended by `now`: negatives out, finished decisions forgotten."""
    examples: list[LabelledExample] = []
    for decision_id in list(pending):
        entry = pending[decision_id]
        if entry.impression_at is None:
            if now >= entry.created_at + _unshown_life(entry, config):
                del pending[decision_id]  # decided or clicked, never shown: no label
            continue
        if _waiting(entry):
            if now < entry.impression_at + config.wait_s:
                continue  # held for its decision record
            assert entry.click_at is not None  # no decision record came: label without it
            examples += _click_label(entry, user_key, entry.click_at, 1, config)
        if entry.click_label is None and now >= entry.impression_at + config.click_s:
            close = entry.impression_at + config.click_s
            examples += _click_label(entry, user_key, close, 0, config)
        if entry.features is not None and _compactable(entry, now, config):
            entry.features = None  # the negative went out with them; ids are enough now
        if now >= entry.impression_at + config.conversion_s:
            if entry.conversion_label is None and entry.click_at is not None:
                close = entry.impression_at + config.conversion_s
                entry.conversion_label = 0
                examples.append(
                    LabelledExample(**_fields(entry, user_key, Task.CONVERSION, 0, close, 0.0))
                )
            del pending[decision_id]
    return examples


def next_deadline(pending: dict[str, Pending], config: LabelConfig) -> float | None:
    """When `expire` next has something to do for this user."""
    deadlines = []
    for entry in pending.values():
        if entry.impression_at is None:
            deadlines.append(entry.created_at + _unshown_life(entry, config))
        elif _waiting(entry):
            deadlines.append(entry.impression_at + config.wait_s)
        elif entry.click_label is None:
            deadlines.append(entry.impression_at + config.click_s)
        elif entry.features is not None and entry.click_at is None:
            deadlines.append(entry.impression_at + 2 * config.click_s)
        else:
            deadlines.append(entry.impression_at + config.conversion_s)
    return min(deadlines) if deadlines else None


def _compactable(entry: Pending, now: float, config: LabelConfig) -> bool:
    assert entry.impression_at is not None
    late_clicks_over = now >= entry.impression_at + 2 * config.click_s
    return entry.click_at is None and entry.click_label == 0 and late_clicks_over


def _unshown_life(entry: Pending, config: LabelConfig) -> float:
    """How long to wait for the impression of a decision: a click proves one happened (its
    pixel may come late or never), so a clicked decision is kept as long as a shown one."""
    return config.conversion_s if entry.click_at is not None else config.click_s


def _waiting(entry: Pending) -> bool:
    """Clicked and shown, the positive held back for the decision record."""
    return entry.click_at is not None and entry.click_label is None


def _positive(
    entry: Pending, user_key: str, now: float, config: LabelConfig
) -> list[LabelledExample]:
    """Label a click now, or hold it (at most `decision_wait`) until its decision arrives."""
    assert entry.impression_at is not None
    assert entry.click_at is not None
    first = entry.click_label is None  # a correction of an emitted negative never waits
    if first and entry.ad_from != "decision" and now < entry.impression_at + config.wait_s:
        return []  # `expire` or `on_decision` labels it
    return _click_label(entry, user_key, entry.click_at, 1, config)


def _click_label(
    entry: Pending, user_key: str, at: float, label: int, config: LabelConfig
) -> list[LabelledExample]:
    assert entry.impression_at is not None
    if label == 1 and at - entry.impression_at > config.click_s and entry.click_label is None:
        # clicked, but after the window: the negative goes out first, then its correction
        out = _click_label(entry, user_key, entry.impression_at + config.click_s, 0, config)
        return out + _click_label(entry, user_key, at, 1, config)
    correction = label == 1 and entry.click_label == 0
    if entry.click_label == label or (entry.click_label == 1 and label == 0):
        return []
    entry.click_label = label
    fields = _fields(entry, user_key, Task.CLICK, label, at, 0.0, correction)
    return [LabelledExample(**fields)]


def _fields(
    entry: Pending,
    user_key: str,
    task: Task,
    label: int,
    at: float,
    value: float,
    correction: bool = False,
) -> dict[str, Any]:
    assert entry.impression_at is not None
    ad = entry.ad or AdRef()
    return {
        "example_id": example_id(entry.decision_id, task, label, correction),
        "decision_id": entry.decision_id,
        "user_key": user_key,
        "task": task,
        "label": label,
        "correction": correction,
        "impression_ts": _dt(entry.impression_at),
        "label_ts": _dt(at),
        "delay_s": round(at - entry.impression_at, 3) if label else None,
        "advertiser_id": ad.advertiser_id,
        "campaign_id": ad.campaign_id,
        "flight_id": ad.flight_id,
        "ad_id": ad.ad_id,
        "creative_id": ad.creative_id,
        "placement_id": ad.placement_id,
        "elements": dict(ad.elements),
        "propensity": entry.propensity,
        "model_version": entry.model_version,
        "value": value,
        "features": entry.features or {},
    }


def _attribute(
    pending: dict[str, Pending], event: Conversion, ts: float, config: LabelConfig
) -> tuple[Pending | None, str | None]:
    if event.decision_id is not None:
        entry = pending.get(event.decision_id)
        if entry is not None and entry.impression_at is not None:
            return entry, "click" if entry.click_at is not None else "view"
        return None, None
    in_window = [
        e
        for e in pending.values()
        if e.impression_at is not None and 0 <= ts - e.impression_at <= config.conversion_s
    ]
    clicked = [e for e in in_window if e.click_at is not None and e.click_at <= ts]
    if clicked:
        return max(clicked, key=lambda e: e.click_at or 0.0), "click"
    shown = [e for e in in_window if e.impression_at is not None and e.impression_at <= ts]
    if shown:
        return max(shown, key=lambda e: e.impression_at or 0.0), "view"
    return None, None


def _entry(
    pending: dict[str, Pending], decision_id: str, ts: float, config: LabelConfig
) -> Pending:
    entry = pending.get(decision_id)
    if entry is None:
        if len(pending) >= config.max_pending:
            del pending[min(pending, key=lambda k: pending[k].created_at)]
        entry = pending[decision_id] = Pending(decision_id=decision_id, created_at=ts)
    return entry


def _ad_of(source: Decision | Impression | Click) -> AdRef:
    """The ad as a decision record or an ad event names it (they share the field names)."""
    return AdRef(
        decision_id=source.decision_id,
        advertiser_id=source.advertiser_id,
        campaign_id=source.campaign_id,
        flight_id=source.flight_id,
        ad_id=source.ad_id,
        creative_id=source.creative_id,
        placement_id=source.placement_id,
        elements=dict(source.elements),
    )


def _ts(event: Impression | Click | Conversion) -> float:
    ts = event.ts or event.received_at
    assert ts is not None, "cleaning guarantees a timestamp"
    return ts.timestamp()


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
