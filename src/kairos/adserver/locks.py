"""Mutexes that processes share through memory they map: the C library's process-shared,
robust POSIX mutexes, called through ctypes.

A lock and an unlock without contention stay in user space (an atomic instruction each, no
system call), so holding one around a decision costs about a microsecond. Robust: when a
holder dies, the next locker gets the mutex (EOWNERDEAD), marks it consistent and goes on. A
locker waits at most the time it gives, then goes on without the lock and says so (False):
a stopped process must not stop its peers.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import mmap
import time

SIZE = 64  # bytes per mutex: pthread_mutex_t takes 40 (x86-64) or 48 (arm64); a cache line
_PROCESS_SHARED = 1  # PTHREAD_PROCESS_SHARED
_ROBUST = 1  # PTHREAD_MUTEX_ROBUST


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def _libc(kind: type[ctypes.CDLL]) -> ctypes.CDLL:
    libc = kind(ctypes.util.find_library("c") or "libc.so.6")
    pointer = [ctypes.c_void_p]
    for name in (
        "pthread_mutex_trylock",
        "pthread_mutex_unlock",
        "pthread_mutex_consistent",
        "pthread_mutexattr_init",
        "pthread_mutexattr_destroy",
    ):
        getattr(libc, name).argtypes = pointer
    libc.pthread_mutex_timedlock.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Timespec)]
    libc.pthread_mutex_init.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    libc.pthread_mutexattr_setpshared.argtypes = [ctypes.c_void_p, ctypes.c_int]
    libc.pthread_mutexattr_setrobust.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return libc


# The calls that never wait keep the interpreter's lock (`PyDLL`): handing it over and taking
# it back around each let the process's other threads in, which cost a decision tens of
# microseconds. A wait for a held mutex lets them run (`CDLL`).
_LIBC, _HOLDING = _libc(ctypes.CDLL), _libc(ctypes.PyDLL)


class Mutexes:
    """`count` mutexes at `offset` of a shared map (made once by `init`)."""

    def __init__(self, buffer: mmap.mmap, offset: int, count: int) -> None:
        self.count = count
        self._view: ctypes.c_char | None = ctypes.c_char.from_buffer(buffer, offset)
        self._base = ctypes.addressof(self._view)
        self._trylock, self._unlock = _HOLDING.pthread_mutex_trylock, _HOLDING.pthread_mutex_unlock

    @staticmethod
    def init(buffer: mmap.mmap, offset: int, count: int) -> None:
        """Make `count` fresh mutexes at `offset` (before any process uses them)."""
        attr = ctypes.create_string_buffer(64)  # pthread_mutexattr_t: 4 bytes on glibc
        _check(_LIBC.pthread_mutexattr_init(attr), "pthread_mutexattr_init")
        try:
            _check(_LIBC.pthread_mutexattr_setpshared(attr, _PROCESS_SHARED), "setpshared")
            _check(_LIBC.pthread_mutexattr_setrobust(attr, _ROBUST), "setrobust")
            view = ctypes.c_char.from_buffer(buffer, offset)
            base = ctypes.addressof(view)
            for n in range(count):
                _check(_LIBC.pthread_mutex_init(base + n * SIZE, attr), "pthread_mutex_init")
            del view  # (the map cannot close while a view holds it)
        finally:
            _LIBC.pthread_mutexattr_destroy(attr)

    def lock(self, n: int, wait_s: float) -> bool:
        """Hold mutex `n`, waiting at most `wait_s` for it; False: not held (it timed out)."""
        address = self._base + n * SIZE
        code = self._trylock(address)
        if code == errno.EBUSY:
            deadline = time.time() + wait_s  # (the wait is against the system's clock)
            whole = int(deadline)
            until = _Timespec(whole, int((deadline - whole) * 1e9))
            code = _LIBC.pthread_mutex_timedlock(address, ctypes.byref(until))
            if code == errno.ETIMEDOUT:
                return False
        if code == errno.EOWNERDEAD:  # its holder died holding it: ours now
            _check(_HOLDING.pthread_mutex_consistent(address), "pthread_mutex_consistent")
            code = 0
        _check(code, "pthread_mutex_lock")
        return True

    def unlock(self, n: int) -> None:
        _check(self._unlock(self._base + n * SIZE), "pthread_mutex_unlock")

    def close(self) -> None:
        """Let go of the map (before it is closed)."""
        self._view = None


def _check(code: int, call: str) -> None:
    if code != 0:
        raise OSError(code, f"{call}: {errno.errorcode.get(code, code)}")
