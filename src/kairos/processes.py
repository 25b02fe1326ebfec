"""Child processes Kairos starts itself (never anything else: only by the PID it holds)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from types import FrameType

PROC = Path("/proc")
# fields of `proc_stat` (proc(5), counted from the state)
STATE, PARENT, USER_TICKS, SYSTEM_TICKS = 0, 1, 11, 12


def proc_stat(pid: int | str) -> list[str] | None:
    """The fields of `/proc/PID/stat` after the command name (which may hold spaces and
    parentheses): the state first, then the parent, ...; None when the process is gone (or
    this is not Linux)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def running(pid: int) -> bool:
    """The process exists and is not a zombie (exited, not yet reaped)."""
    fields = proc_stat(pid)
    return fields is not None and fields[STATE] != "Z"


def interrupt_on_sigterm() -> None:
    """Make SIGTERM (a service manager's stop, `timeout`, `kill PID`) unwind like Ctrl-C, so
    that the `finally` blocks stop the children this process started instead of leaving them
    running."""
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    """Stop a child this process started: SIGTERM, then SIGKILL after `timeout_s`."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def stop_processes(processes: list[subprocess.Popen[bytes]], timeout_s: float = 30.0) -> None:
    """`stop_process` for several at once: all are asked to stop before any is waited for."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        stop_process(process, timeout_s)
