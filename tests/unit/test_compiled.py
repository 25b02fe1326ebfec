"""The decision path compiled by mypyc (`kairos.compiled`): in use where `make setup` built it,
never in place of a changed source, and deciding as its source does."""

from __future__ import annotations

import importlib
import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kairos import compiled
from kairos.bench import decisions as inventory
from kairos.settings import Settings
from tests.decisions_twin import DATABASE

ROOT = Path(__file__).resolve().parents[2]
SUFFIX = ".cpython-311-x86_64-linux-gnu.so"


OFF = compiled.switched_off()


@pytest.mark.skipif(OFF, reason="KAIROS_COMPILED is off")
def test_the_decision_path_runs_compiled() -> None:
    for name in compiled.MODULES:
        importlib.import_module(name)
    assert compiled.in_use() == list(compiled.MODULES), "make setup compiles them"


def test_a_build_is_used_only_for_the_sources_it_was_built_from(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KAIROS_COMPILED", raising=False)
    finders = list(sys.meta_path)
    built = compiled.manifest(compiled.closure(compiled.MODULES))
    for name in compiled.MODULES:  # a build of every module, as far as names go
        module = tmp_path.joinpath(*name.split(".")).with_name(name.rpartition(".")[2] + SUFFIX)
        module.parent.mkdir(parents=True, exist_ok=True)
        module.touch()
    manifest = tmp_path / compiled.MANIFEST

    sources = built["sources"]
    assert isinstance(sources, dict)
    # a compiled module changed, or one it imports (the build holds its types), or is gone
    for name in ("kairos.adserver.engine", "kairos.adserver.model", "kairos.gone"):
        changed = {**built, "sources": {**sources, name: "0" * 64}}
        manifest.write_text(json.dumps(changed))
        with caplog.at_level(logging.WARNING, logger="kairos.compiled"):
            assert compiled.install(tmp_path) is False
        assert "older than their source" in caplog.text
        caplog.clear()
    manifest.write_text(json.dumps({**built, "modules": ["kairos.memo"]}))  # another list
    assert compiled.install(tmp_path) is False

    manifest.write_text(json.dumps({**built, "python": "cpython-399"}))  # another interpreter
    assert compiled.install(tmp_path) is False
    manifest.write_text("{not json")
    assert compiled.install(tmp_path) is False
    manifest.unlink()
    assert compiled.install(tmp_path) is False
    assert sys.meta_path == finders  # nothing was put in the way of the source

    manifest.write_text(json.dumps(built))
    monkeypatch.setenv("KAIROS_COMPILED", "false")
    assert compiled.install(tmp_path) is False
    assert sys.meta_path == finders


def test_the_switch_is_read_from_the_environment_or_else_dot_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KAIROS_COMPILED", raising=False)
    assert compiled.switched_off() is False  # no .env
    (tmp_path / ".env").write_text("KAIROS_LOG_LEVEL=info\nKAIROS_COMPILED=false\n")
    assert compiled.switched_off() is True
    assert Settings().compiled is False  # where the settings read it too
    monkeypatch.setenv("KAIROS_COMPILED", "true")
    assert compiled.switched_off() is False
    monkeypatch.setenv("KAIROS_COMPILED", "off")
    assert compiled.switched_off() is True


def test_a_build_with_a_module_missing_is_not_used(tmp_path: Path) -> None:
    finders = list(sys.meta_path)
    built = compiled.manifest(compiled.closure(compiled.MODULES))
    (tmp_path / compiled.MANIFEST).write_text(json.dumps(built))
    (tmp_path / "kairos").mkdir()
    (tmp_path / "kairos" / f"memo{SUFFIX}").touch()
    assert compiled.install(tmp_path) is False
    assert sys.meta_path == finders


def test_a_build_depends_on_what_its_modules_import_however_indirectly() -> None:
    depended = compiled.closure(compiled.MODULES)
    assert set(compiled.MODULES) <= depended
    # imported by a compiled module (the catalog's types), and through another (features)
    assert {"kairos.adserver.model", "kairos.adserver.catalog", "kairos.stream.features"} <= (
        depended
    )
    assert "kairos.cli.main" not in depended  # nothing on the decision path imports it
    assert all(compiled.source(name) is not None for name in depended)
    assert compiled.source("msgspec") is None  # not this project's


def test_built_modules_are_found_by_their_names(tmp_path: Path) -> None:
    files = [f"ab12__mypyc{SUFFIX}", f"kairos/memo{SUFFIX}", f"kairos/adserver/engine{SUFFIX}"]
    for file in files:
        (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / file).touch()
    (tmp_path / "kairos" / "notes.txt").touch()
    found = compiled.extensions(tmp_path)
    assert found == {
        "ab12__mypyc": tmp_path / files[0],
        "kairos.memo": tmp_path / files[1],
        "kairos.adserver.engine": tmp_path / files[2],
    }
    finder = compiled.Finder(found)
    spec = finder.find_spec("kairos.adserver.engine", None)
    assert spec is not None
    assert spec.origin == str(tmp_path / files[2])
    assert finder.find_spec("kairos.adserver.render", None) is None


@pytest.mark.skipif(OFF, reason="KAIROS_COMPILED is off")
def test_compiled_and_source_decide_alike(tmp_path: Path) -> None:
    """The benchmark's inventory and requests (targeting, caps, dynamic creatives, explain),
    decided by a process on the compiled modules and one on their source."""
    inventory.seed(tmp_path / DATABASE, inventory.DecisionsPlan())
    now = datetime.now(UTC).replace(microsecond=0).isoformat()

    def run(compiled_on: bool) -> list[dict[str, object]]:
        env = os.environ | {"KAIROS_COMPILED": "true" if compiled_on else "false"}
        out = subprocess.run(
            [sys.executable, "-m", "tests.decisions_twin", str(tmp_path), now, "300"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            check=True,
            timeout=240,
        ).stdout
        return [json.loads(line) for line in out.splitlines()]

    source = run(False)
    assert source[0] == {"compiled": []}
    built = run(True)
    assert built[0] == {"compiled": list(compiled.MODULES)}, "make setup compiles them"
    assert len(built) == len(source) == 301
    for n, (one, other) in enumerate(zip(built[1:], source[1:], strict=True)):
        assert one == other, f"request {n}"
    answers = [p for line in source[1:] for p in line["answer"]]  # type: ignore[attr-defined]
    assert sum(1 for p in answers if p["ads"]) > 600  # of 900: ads, not no-fills alike
    assert sum(1 for p in answers if "explain" in p) == 90
