"""Surviving faults: preemption signals, a run-folder lock, and a previous checkpoint kept.

- :class:`StopSignals`: SIGTERM (what schedulers preempt with) and SIGINT (Ctrl-C) set a flag
  that the training loop reads once per step; it then writes a checkpoint and stops cleanly.
  A second signal of the same kind acts as usual (SIGINT raises ``KeyboardInterrupt``,
  SIGTERM terminates): checkpoint files are written atomically, so that is safe too.
- :class:`RunLock`: one run per run folder. An ``flock`` on ``DIR/.lock`` that the kernel
  releases when its process dies, so a crashed run never leaves the folder locked; the file
  holds the owner's PID for the error message.
- :func:`keep_previous` / :func:`resume_checkpoint`: ``last.safetensors`` is copied to
  ``previous.safetensors`` before each new one is written, and a resume whose
  ``last.safetensors`` is unreadable falls back to the previous one with a warning.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import threading
from pathlib import Path
from types import FrameType

from vstm.errors import VstmError
from vstm.train.checkpoint import read_checkpoint

__all__ = [
    "LAST",
    "PREVIOUS",
    "RunLock",
    "StopSignals",
    "StoppedBySignal",
    "keep_previous",
    "resume_checkpoint",
]

log = logging.getLogger("vstm.train")

LAST = "last.safetensors"
PREVIOUS = "previous.safetensors"


class StoppedBySignal(VstmError):  # noqa: N818 (not an error: a clean stop)
    """Training stopped on a signal after writing a checkpoint; exit status 128 + signal."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


class StopSignals:
    """Context manager: while active, SIGTERM/SIGINT only record that a stop was asked for.

    >>> with StopSignals() as stop:
    ...     stop.requested
    0
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.requested = 0  # the signal number, 0 while none arrived
        self._old: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = self.requested or signum
        # a second signal of this kind acts as usual
        signal.signal(signum, self._old.get(signum, signal.SIG_DFL))

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)
        self._old.clear()


class RunLock:
    """An exclusive lock on a run folder, held while a run writes to it.

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> with RunLock(d):
    ...     RunLock(d).acquire()
    Traceback (most recent call last):
    ...
    vstm.errors.VstmError: ...is in use by process ...
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.path = self.folder / ".lock"
        self._fd: int | None = None
        self._created_folder = False

    def acquire(self) -> RunLock:
        import fcntl

        self._created_folder = not self.folder.exists()
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise VstmError(
                f"run folder {self.folder} is in use by process {owner}; wait for that run to "
                "end, or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        # The lock file stays (unlinking it would let a waiting process lock a dead inode);
        # only a folder this lock created, left empty by a run that failed early, goes.
        if self._fd is None:
            return
        if self._created_folder and [p.name for p in self.folder.iterdir()] == [".lock"]:
            self.path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.folder.rmdir()
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def keep_previous(folder: str | os.PathLike) -> None:
    """Before a new ``last.safetensors`` replaces it, keep the current one (and its ``.json``)
    as ``previous.safetensors``. A hard link when the file system allows (the new ``last`` is
    a new file, so the link keeps the old bytes), else a copy; both land atomically."""
    folder = Path(folder)
    for src_name, dst_name in ((LAST, PREVIOUS), ("last.json", "previous.json")):
        src, dst = folder / src_name, folder / dst_name
        if not src.is_file():
            continue
        tmp = folder / f".{dst_name}.tmp"
        tmp.unlink(missing_ok=True)
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copy2(src, tmp)
        os.replace(tmp, dst)


def resume_checkpoint(run_dir: str | os.PathLike, *, quarantine: bool = False) -> Path:
    """The checkpoint a resume of ``run_dir`` starts from: ``last.safetensors``, or, when that
    is missing or unreadable, ``previous.safetensors``.

    ``quarantine`` (the run itself, holding the folder's lock): warn, naming both files, and
    move an unreadable ``last.safetensors`` aside to ``last.safetensors.corrupt`` so that the
    next checkpoint does not rotate it into ``previous.safetensors``.
    """

    run_dir = Path(run_dir)
    last, prev = run_dir / LAST, run_dir / PREVIOUS
    if not last.is_file() and not prev.is_file():
        raise VstmError(f"--resume {run_dir}: no {LAST} there; start a new run instead")
    try:
        read_checkpoint(last)
        return last
    except VstmError as e:
        if not prev.is_file():
            raise
        try:
            read_checkpoint(prev)
        except VstmError:
            raise e from None
        if quarantine:
            reason = str(e).splitlines()[0]
            log.warning(
                "%s is unusable (%s); resuming from the previous checkpoint %s", last, reason, prev
            )
            if last.exists():  # keep the bad file for inspection, out of the rotation
                os.replace(last, last.with_name(LAST + ".corrupt"))
        return prev
