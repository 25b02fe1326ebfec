"""Decides the benchmark's requests at a fixed time, with seeded draws and counted decision ids,
and prints what each answered and logged: one JSON line per request. Run once on the compiled
modules and once on their source (`KAIROS_COMPILED=false`), the two print the same
(`tests/unit/test_compiled.py`).

    python -m tests.decisions_twin DATA_DIR ISO_TIME COUNT
"""

from __future__ import annotations

import itertools
import random
import sys
from datetime import datetime
from pathlib import Path

import orjson
from fastapi.testclient import TestClient

from kairos import compiled
from kairos.adserver import render
from kairos.api import answering
from kairos.api.app import create_app
from kairos.api.decision_body import decode
from kairos.bench import decisions as inventory
from kairos.kafka.sink import MemorySink
from kairos.settings import Settings

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0.0.0 Safari/537.36"
DATABASE = "decisions.db"


def main(data_dir: Path, now: datetime, count: int) -> None:
    settings = Settings(database_url=f"sqlite:///{data_dir / DATABASE}", data_dir=str(data_dir))
    app = create_app(settings, sink=MemorySink())
    bodies = inventory.bodies(inventory.DecisionsPlan())
    with TestClient(app):
        svc = app.state.services
        engine = svc.adserver.engine
        engine.rng = random.Random(7)
        ids = itertools.count(1)
        engine.new_id = lambda: f"{next(ids):032x}"  # letters and digits, as served
        print(orjson.dumps({"compiled": compiled.in_use()}).decode())
        for n in range(count):
            wanted = decode(bodies[n % len(bodies)])
            ctx, features = answering.context(svc, wanted, now, USER_AGENT, "127.0.0.1")
            explain = n % 10 == 0  # every step's reasons too
            request = answering.decision_request(wanted, ctx, explain)
            results = svc.adserver.decide(request, features)
            shared = render.Shared.of(ctx)
            answer = [render.placement_json(r, ctx, svc.links, explain) for r in results]
            logged = [
                [key.decode() if isinstance(key, bytes) else key, orjson.loads(value)]
                for r in results
                for key, value in render.logged(r, ctx, shared, svc.links.signer.native)
            ]
            print(orjson.dumps({"answer": answer, "logged": logged}).decode())


if __name__ == "__main__":
    main(Path(sys.argv[1]), datetime.fromisoformat(sys.argv[2]), int(sys.argv[3]))
