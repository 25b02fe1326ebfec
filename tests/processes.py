"""Processes as /proc shows them, for tests that check what a command started and stopped."""

from __future__ import annotations

from pathlib import Path


def processes() -> dict[int, tuple[int, bytes]]:
    """Every process: its parent and command line."""
    found = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat, cmdline = (proc / "stat").read_text(), (proc / "cmdline").read_bytes()
            except OSError:  # gone meanwhile
                continue
            found[int(proc.name)] = (int(stat.rsplit(")", 1)[1].split()[1]), cmdline)
    return found


def children(pid: int) -> list[int]:
    return [child for child, (parent, _) in processes().items() if parent == pid]


def alive(pid: int) -> bool:
    """Running (a zombie, exited but not yet reaped, is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
