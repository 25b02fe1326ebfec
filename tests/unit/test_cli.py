from __future__ import annotations

import pytest
from typer.testing import CliRunner

from kairos.cli.main import app
from kairos.db import migrate

runner = CliRunner()


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["kafka"],
        ["kafka", "start"],
        ["kafka", "stop"],
        ["kafka", "status"],
        ["kafka", "fetch"],
        ["kafka", "topics"],
        ["db"],
        ["db", "upgrade"],
        ["db", "current"],
        ["api"],
        ["up"],
        ["compile"],
        ["bench"],
        ["bench", "ingest"],
        ["bench", "freshness"],
        ["bench", "featurestore"],
        ["features"],
        ["features", "sync"],
        ["features", "get"],
        ["stream"],
        ["persist"],
        ["status"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_db_upgrade_and_current(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIROS_DATA_DIR", str(tmp_path))
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["db", "current"])
    assert result.exit_code == 0
    head = migrate.head_revision()
    assert f"current={head} head={head}" in result.output


def test_invalid_configuration_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIROS_PORT", "not-a-port")
    result = runner.invoke(app, ["db", "current"])
    assert result.exit_code == 2
    assert "invalid configuration" in result.output
