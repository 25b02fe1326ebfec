"""CPU time of a process and of every process under it, from /proc (Linux): what a
benchmark's server spent, whatever else shares the machine (the load, the broker)."""

from __future__ import annotations

import os
from collections import defaultdict

from kairos.processes import PARENT, PROC, SYSTEM_TICKS, USER_TICKS, proc_stat


def tree_cpu_s(root: int) -> float | None:
    """Seconds of CPU (user and system, all threads) of `root` and its descendants so far;
    None where /proc cannot tell (another system, or `root` is gone)."""
    stats = _stats()
    if root not in stats:
        return None
    children: defaultdict[int, list[int]] = defaultdict(list)
    for pid, (parent, _) in stats.items():
        children[parent].append(pid)
    ticks, todo = 0, [root]
    while todo:
        pid = todo.pop()
        ticks += stats[pid][1]
        todo.extend(children[pid])
    return ticks / os.sysconf("SC_CLK_TCK")


def _stats() -> dict[int, tuple[int, int]]:
    """Each process: its parent and its CPU clock ticks (user + system)."""
    found: dict[int, tuple[int, int]] = {}
    if not PROC.is_dir():
        return found
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (fields := proc_stat(entry.name)) is not None:
            ticks = int(fields[USER_TICKS]) + int(fields[SYSTEM_TICKS])
            found[int(entry.name)] = (int(fields[PARENT]), ticks)
    return found
