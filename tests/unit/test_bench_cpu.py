"""A benchmark reads a server's CPU, its children's included, from /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kairos.bench.cpu import tree_cpu_s

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

BURN = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
PARENT = (  # starts a child that burns 0.3 s of CPU, then both wait
    "import subprocess, sys, time\n"
    f"subprocess.Popen([sys.executable, '-c', {BURN + 'time.sleep(30)'!r}])\n"
    "time.sleep(30)\n"
)


def test_a_process_tree_counts_the_cpu_of_its_children() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        used = 0.0
        while used < 0.3 and time.monotonic() < deadline:
            time.sleep(0.1)
            used = tree_cpu_s(parent.pid) or 0.0
        assert used >= 0.3  # the child's burn, counted under its parent
    finally:
        os.killpg(parent.pid, signal.SIGTERM)  # the group this test started, by its id
        parent.wait(timeout=10)
    assert tree_cpu_s(parent.pid) is None  # gone
