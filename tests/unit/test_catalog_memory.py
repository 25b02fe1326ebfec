"""A refreshed catalog is let go at once: nothing the decision path remembers (answers' ids and
contents, pages, the ads by digest of the other workers' serves) holds the old one or its
candidates until the next decision that needs them, or until its memories fill up."""

from __future__ import annotations

import gc
import os
import time
import weakref
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from kairos.adserver import shared
from kairos.adserver.model import Advertiser
from kairos.api.app import create_app
from kairos.bench import decisions as inventory
from kairos.db import catalog as catalog_db
from kairos.kafka.sink import MemorySink
from kairos.learn.app import click_params
from kairos.learn.bayes import BayesianLogistic
from kairos.settings import Settings


@pytest.mark.parametrize("setup", ["plain", "model", "workers"])
def test_a_replaced_catalog_and_its_candidates_are_freed(tmp_path: Path, setup: str) -> None:
    plan = inventory.DecisionsPlan(ads=40, flights=10, users=50)
    inventory.seed(tmp_path / "k.db", plan)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'k.db'}", data_dir=str(tmp_path))
    fd = shared.create(2, stripes=16, slots=8)
    mine, other = (shared.SharedServes(fd, 2, n, stripes=16, slots=8) for n in (0, 1))
    app = create_app(
        settings, sink=MemorySink(), shared_serves=mine if setup == "workers" else None
    )
    bodies = inventory.bodies(plan, 50)
    try:
        with TestClient(app) as client:
            svc = app.state.services
            server = svc.adserver
            if setup == "model":  # dynamic ads' combinations chosen by Thompson sampling
                server.use_model(BayesianLogistic(click_params(14), seed=1).snapshot(), "ctr-1")
            old = server.engine.catalog
            if setup == "workers":  # another worker served every visitor an ad
                ad_id = next(iter(old.ads))
                for body in bodies:
                    key = svc.pseudonymize(orjson.loads(body)["user_id"])
                    other.lock(key)
                    other.add(key, time.time(), ad_id)
                    other.unlock()
            for n in range(300):  # each ad decided often enough to have its page written
                assert client.post("/v1/decisions", content=bodies[n % 50]).status_code == 200
            assert any(c.creative.template_id for c in old.ads.values())  # dynamic ones too
            candidates = [weakref.ref(c) for c in old.ads.values()]
            catalog = weakref.ref(old)
            del old
            with Session(svc.engine) as session, session.begin():
                catalog_db.insert(session, Advertiser(id="another", name="Another"))
            assert server.refresh_catalog()
            assert client.post("/v1/decisions", content=bodies[0]).status_code == 200
            gc.collect()
            assert catalog() is None
            assert [ref() for ref in candidates if ref() is not None] == []
    finally:
        for view in (mine, other):
            view.close()
        os.close(fd)
