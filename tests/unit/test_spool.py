"""The spool keeps what Kafka could not take and sends it again, once, when it can."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kairos.kafka import spool as spool_module
from kairos.kafka.exceptions import KafkaUnavailable
from kairos.kafka.sink import MemorySink, Message
from kairos.kafka.spool import Spool, encode, records

messages_st = st.builds(
    Message,
    st.text(min_size=1, max_size=20),
    st.none() | st.binary(max_size=40),
    st.binary(max_size=200),
    st.none()
    | st.lists(
        st.tuples(st.text(max_size=10), st.none() | st.text(max_size=10) | st.binary(max_size=10)),
        min_size=1,
        max_size=3,
    ),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(messages_st, max_size=20), st.data())
def test_records_read_back_whole_and_stop_at_a_cut(
    messages: list[Message], data: st.DataObject
) -> None:
    written = b"".join(encode(m) for m in messages)
    assert [m for _, m in records(written)] == messages
    cut = data.draw(st.integers(min_value=0, max_value=len(written)))
    read = [m for _, m in records(written[:cut])]
    assert read == messages[: len(read)]  # a crash mid-record loses that record alone
    ends = [len(b"".join(map(encode, messages[: n + 1]))) for n in range(len(messages))]
    assert len(read) == sum(1 for end in ends if end <= cut)


def test_a_damaged_record_ends_what_is_read(tmp_path: Path) -> None:
    data = bytearray(encode(Message("t", b"k", b"one")) + encode(Message("t", b"k", b"two")))
    data[-1] ^= 0xFF  # the second record's last byte
    assert [m.value for _, m in records(bytes(data))] == [b"one"]


def test_spooled_messages_are_replayed_once_and_their_files_removed(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    sink = MemorySink(available=False)
    spooled = [Message("kairos.events.impression", f"u{i}".encode(), b"v%d" % i) for i in range(7)]
    for m in spooled[:4]:
        spool.failed(m, "Kafka is unreachable")
    assert asyncio.run(spool.replay(sink)) == 0  # still away: kept
    spool.append(spooled[4:])  # new failures go on in a new file
    assert len(spool.pending()) == 2
    sink.available = True
    assert asyncio.run(spool.replay(sink)) == 7
    assert sink.messages == spooled  # oldest first
    assert spool.pending() == []
    assert asyncio.run(spool.replay(sink)) == 0
    assert len(sink.messages) == 7
    spool.close()


class _Flaky(MemorySink):
    """Takes `ok` sends, then is away."""

    def __init__(self, ok: int) -> None:
        super().__init__()
        self.ok = ok

    async def send(self, messages: list[Message]) -> None:  # type: ignore[override]
        if self.ok == 0:
            raise KafkaUnavailable("Kafka is unreachable", detail={"delivered": 0})
        self.ok -= 1
        await super().send(messages)


def test_a_replay_cut_short_resends_nothing_already_acknowledged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool_module, "BATCH", 3)
    spool = Spool(tmp_path)
    spooled = [Message("t", None, b"%d" % i) for i in range(8)]
    spool.append(spooled)
    flaky = _Flaky(ok=1)
    assert asyncio.run(spool.replay(flaky)) == 0  # the first batch of 3 landed, then away
    assert flaky.messages == spooled[:3]
    flaky.ok = 10
    assert asyncio.run(spool.replay(flaky)) == 5
    assert flaky.messages == spooled  # each once
    assert spool.pending() == []
    spool.close()


def test_a_gone_process_spool_is_adopted_and_a_live_one_left_alone(tmp_path: Path) -> None:
    child = subprocess.run(  # a process that spools and exits (as one killed would)
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from kairos.kafka.spool import Spool;"
            "from kairos.kafka.sink import Message;"
            "Spool(Path(sys.argv[1])).append([Message('t', b'k', b'from a gone process')])",
            str(tmp_path),
        ],
        check=True,
    )
    assert child.returncode == 0
    live = tmp_path / f"{os.getppid()}-1{spool_module._SUFFIX}"  # our parent: alive
    live.write_bytes(encode(Message("t", b"k", b"not ours")))
    sink = MemorySink()
    assert asyncio.run(Spool(tmp_path).replay(sink)) == 1
    assert [m.value for m in sink.messages] == [b"from a gone process"]
    assert [p.name for p in Spool(tmp_path).pending()] == [live.name]


def test_failures_are_logged_once_per_interval_with_their_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path)
    with caplog.at_level("WARNING", logger="kairos.kafka.spool"):
        for i in range(100):
            spool.failed(Message("t", None, b"%d" % i), "Kafka is unreachable")
    spool.close()
    assert len(caplog.records) == 1  # not a line per message while a cluster is away
    assert sum(1 for _ in records(spool.pending()[0].read_bytes())) == 100


def test_a_disk_that_refuses_loses_the_messages_without_raising(tmp_path: Path) -> None:
    """A full or read-only disk must not break a visitor's click or a decision: the messages
    are lost, counted and logged."""
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    spool = Spool(blocked / "spool")
    lost = spool_module.LOST._value.get()
    assert spool.append([Message("t", b"k", b"v")]) is False
    spool.failed(Message("t", b"k", b"w"), "Kafka is unreachable")
    assert spool_module.LOST._value.get() == lost + 2
    assert spool.pending() == []
    spool.close()


def test_status_shows_what_waits_in_the_spool(tmp_path: Path) -> None:
    from kairos.cli.status import spool_line
    from kairos.settings import Settings

    settings = Settings(data_dir=tmp_path)
    assert "files=0 bytes=0" in spool_line(settings)
    spool = Spool(settings.resolved_spool_dir)
    spool.append([Message("t", b"k", b"v")])
    spool.close()
    line = spool_line(settings)
    assert f"files=1 bytes={len(encode(Message('t', b'k', b'v')))}" in line
    assert "sent again" in line


def test_a_long_outage_spools_into_files_of_a_bounded_size_replayed_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool_module, "MAX_FILE_BYTES", 100)
    spool = Spool(tmp_path)
    spooled = [Message("t", b"k", bytes(30) + b"%d" % i) for i in range(10)]
    for m in spooled:
        spool.append([m])
    files = spool.pending()
    assert len(files) >= 3
    assert all(f.stat().st_size < 100 + len(encode(spooled[0])) for f in files)
    sink = MemorySink()
    assert asyncio.run(spool.replay(sink)) == 10
    assert sink.messages == spooled
    spool.close()
