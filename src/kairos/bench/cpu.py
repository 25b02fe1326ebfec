"""CPU time of a process and of every process under it, from /proc (Linux): what a
benchmark's server spent, whatever else shares the machine (the load, the broker)."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

_PROC = Path("/proc")


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
    if not _PROC.is_dir():
        return found
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = text.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        found[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return found
