"""The ad server at run time: the engine with a catalog kept fresh off the request path.

Every `catalog_refresh_s` the catalog version is read (one tiny query) and the catalog rebuilt
when it changed; every `delivery_refresh_s` the roll-ups give each flight's delivery (pacing)
and each ad's history (scoring). Requests only touch memory: the catalog, the feature store,
the pacer and the recent decisions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from prometheus_client import Gauge, Info
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from kairos.adserver import catalog as catalogs
from kairos.adserver import delivery, render
from kairos.adserver.catalog import Candidate
from kairos.adserver.decision import DecisionRequest, PlacementResult
from kairos.adserver.engine import Engine as DecisionEngine
from kairos.adserver.models import ModelFollower
from kairos.adserver.pacing import pacing_error
from kairos.adserver.scoring import HistoricalCtrScorer
from kairos.adserver.shared import Serve, SharedServes, digest
from kairos.db import catalog as catalog_db
from kairos.featurestore.base import FeatureStore
from kairos.learn.bayes import BayesianLogistic
from kairos.learn.policy import ThompsonComposer, ThompsonPolicy, remaining_share
from kairos.learn.recommend import HybridRecommender
from kairos.learn.scoring import ModelScorer
from kairos.logs import kv
from kairos.stream.features import UserFeatures

log = logging.getLogger(__name__)
PACING_ERROR = Gauge(
    "kairos_flight_pacing_error",
    "(delivered - even share of the goal by now) / goal, per flight",
    ["flight"],
)
SERVE_PROBABILITY = Gauge(
    "kairos_flight_serve_probability", "Pacing's serve probability, per flight", ["flight"]
)
MODEL = Info("kairos_model", "The version of each model the ad server uses now", ["model"])


@dataclass(frozen=True)
class RefreshConfig:
    catalog_refresh_s: float = 2.0
    delivery_refresh_s: float = 10.0


class AdServer:
    def __init__(
        self,
        database: Engine,
        features: FeatureStore | None,
        config: RefreshConfig | None = None,
        scorer: str = "model",
        personalize_top: int = 0,
        shared: SharedServes | None = None,
    ) -> None:
        self.database = database
        self.shared = shared  # the serves of this host's other workers (caps across them)
        self._ads_by_digest: tuple[object, dict[int, Candidate]] = (None, {})
        self.scorer_mode = scorer  # "model": the click model prices CPC/CPA ads once published
        self.personalize_top = personalize_top
        self.features = features
        self.config = config or RefreshConfig()
        self.engine = DecisionEngine(catalogs.EMPTY, HistoricalCtrScorer())
        self.model_version: str | None = None
        self._models: ModelFollower | None = None
        self._conversions: ThompsonPolicy | None = None
        self._clicks: BayesianLogistic | None = None
        self._conversion_model: BayesianLogistic | None = None
        self._task: asyncio.Task[None] | None = None

    # -- requests -------------------------------------------------------------------------

    def use_model(self, snapshot: bytes, version: str) -> None:
        """Choose dynamic creatives' combinations with this click model from now on."""
        model = BayesianLogistic.restore(snapshot)
        if isinstance(self.engine.compose, ThompsonComposer):  # campaigns' spend carries on
            self.engine.compose.policy.model = model
        else:
            self.engine.compose = ThompsonComposer(
                ThompsonPolicy(model), self._conversions, self._remaining
            )
        self.model_version = version
        self._clicks = model
        self._score_with_models()
        MODEL.labels("ctr").info({"version": version})
        log.info("model in use", extra=kv(version=version))

    def _remaining(self, candidate: Candidate, now: datetime) -> float | None:
        """The share of the candidate's flight still to serve (time or goal)."""
        delivery = self.engine.deliveries.get(candidate.flight.id)
        return remaining_share(candidate.flight, delivery.units if delivery else None, now)

    def use_conversion_model(self, snapshot: bytes, version: str) -> None:
        """Flights whose goal is conversions choose by this model (once a click model is in
        use: before it, combinations are chosen by rules and weights)."""
        model = BayesianLogistic.restore(snapshot)
        if self._conversions is None:
            self._conversions = ThompsonPolicy(model)
        else:
            self._conversions.model = model
        if isinstance(self.engine.compose, ThompsonComposer):
            self.engine.compose.conversions = self._conversions
        self._conversion_model = model
        self._score_with_models()
        MODEL.labels("cvr").info({"version": version})
        log.info("conversion model in use", extra=kv(version=version))

    def _score_with_models(self) -> None:
        """The auction's pCTR/pCVR from the models (a new scorer: the ranking is redone)."""
        if self.scorer_mode != "model" or self._clicks is None:
            return
        self.engine.scorer = ModelScorer(
            self._clicks,
            self._conversion_model,
            version=self.model_version or "model",
            personalize_top=self.personalize_top,
        )

    def use_recommender(self, snapshot: bytes, version: str) -> None:
        """Order product slots with this recommender from now on."""
        self.engine.recommender = HybridRecommender.restore(snapshot)
        MODEL.labels("recs").info({"version": version})
        log.info("recommender in use", extra=kv(version=version))

    def follow_models(self, bootstrap: str, topic: str) -> None:
        appliers = {
            "ctr": self.use_model,
            "cvr": self.use_conversion_model,
            "recs": self.use_recommender,
        }
        self._models = ModelFollower(bootstrap, topic, appliers)
        self._models.start()

    def user_features(self, user_key: str | None) -> UserFeatures | None:
        if user_key is None or self.features is None:
            return None
        return self.features.get(user_key)

    def decide(
        self, request: DecisionRequest, features: UserFeatures | None
    ) -> list[PlacementResult]:
        """The engine's decision; with other workers on the host, a consented user's caps
        count their serves too, and the user's decisions on all of them are made one at a
        time (`adserver.shared`)."""
        ctx = request.ctx
        shared = self.shared
        if shared is None or ctx.user_key is None or not ctx.personalization:
            return self.engine.decide(request, features)
        now = ctx.timestamp()
        user_key = ctx.user_key
        shared.lock(user_key)
        try:
            taken = shared.take(user_key, now - self.engine.recent.horizon_s)
            if taken:
                self._take(user_key, taken)
            results = self.engine.decide(request, features)
            served_keys = self.engine.index().served_keys
            for result in results:
                for choice in result.choices:
                    if served_keys(choice.candidate):  # a cap counts it
                        shared.add(user_key, now, choice.candidate.ad.id)
        finally:
            shared.unlock()
        return results

    def _take(self, user_key: str, serves: list[Serve]) -> None:
        """Other workers' serves of the user, as if this one had made them."""
        catalog, index = self.engine.catalog, self.engine.index()
        if self._ads_by_digest[0] is not catalog:
            by_digest = {digest(ad_id): c for ad_id, c in catalog.ads.items()}
            self._ads_by_digest = (catalog, by_digest)
        by_digest = self._ads_by_digest[1]
        for serve in serves:
            candidate = by_digest.get(serve.ad)  # None: not in this catalog (yet)
            keys = index.served_keys(candidate) if candidate is not None else ()
            if keys:
                self.engine.recent.record(user_key, serve.at, keys)

    # -- refresh --------------------------------------------------------------------------

    def refresh_catalog(self) -> bool:
        """Rebuild the catalog if it changed; True when it did."""
        with Session(self.database) as session:
            version = catalog_db.catalog_version(session)
            if version == self.engine.catalog.version:
                return False
            rows = catalog_db.load_catalog_rows(session)
        started = time.perf_counter()
        self.engine.catalog = catalogs.build(version=version, **vars(rows))
        # what is remembered by the old catalog's objects goes with it, now
        self._ads_by_digest = (None, {})
        render.forget_catalog()
        log.info(
            "catalog loaded",
            extra=kv(
                version=version,
                ads=self.engine.catalog.ad_count,
                placements=len(self.engine.catalog.placements),
                ms=round((time.perf_counter() - started) * 1000, 1),
            ),
        )
        return True

    def refresh_delivery(self, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        flights = self.engine.catalog.flights
        with Session(self.database) as session:
            stats = delivery.ad_stats(session)
            deliveries = delivery.deliveries(session, flights, now)
        scorer = self.engine.scorer
        if isinstance(scorer, HistoricalCtrScorer):
            self.engine.scorer = replace(scorer, stats=stats)
        for flight_id, flight in flights.items():
            probability = self.engine.pacer.update(flight, deliveries[flight_id], now)
            SERVE_PROBABILITY.labels(flight_id).set(probability)
            error = pacing_error(flight, deliveries[flight_id], now)
            if error is not None:
                PACING_ERROR.labels(flight_id).set(error)
        self.engine.deliveries = deliveries
        self.engine.recent.forget_idle(now.timestamp())

    async def start(self) -> None:
        try:
            await asyncio.to_thread(self.refresh_catalog)
            await asyncio.to_thread(self.refresh_delivery)
        except Exception as exc:  # e.g. not migrated yet: serve no-fills, keep trying
            log.warning("ad server catalog not loaded", extra=kv(error=repr(exc)))
        self._task = asyncio.create_task(self._refresh_loop(), name="adserver-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._models is not None:
            self._models.stop()
        if self.features is not None:
            self.features.close()
        if self.shared is not None:
            self.shared.close()

    async def _refresh_loop(self) -> None:
        last_delivery = time.monotonic()
        while True:
            await asyncio.sleep(self.config.catalog_refresh_s)
            try:
                changed = await asyncio.to_thread(self.refresh_catalog)
                if changed or time.monotonic() - last_delivery >= self.config.delivery_refresh_s:
                    await asyncio.to_thread(self.refresh_delivery)
                    last_delivery = time.monotonic()
            except Exception as exc:  # the database may blink: keep serving what we have
                log.warning("ad server refresh failed", extra=kv(error=repr(exc)))
