"""Processes as /proc shows them, for tests that check what a command started and stopped."""

from __future__ import annotations

from kairos.processes import PARENT, PROC, proc_stat, running


def processes() -> dict[int, tuple[int, bytes]]:
    """Every process: its parent and command line."""
    found = {}
    for proc in PROC.iterdir():
        if proc.name.isdigit():
            fields = proc_stat(proc.name)
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:  # gone meanwhile
                continue
            if fields is not None:
                found[int(proc.name)] = (int(fields[PARENT]), cmdline)
    return found


def children(pid: int) -> list[int]:
    return [child for child, (parent, _) in processes().items() if parent == pid]


def alive(pid: int) -> bool:
    """Running (a zombie, exited but not yet reaped, is not)."""
    return running(pid)
