"""A run's training log, ``metrics.jsonl``: one JSON object per line, appended as training goes.

Every row has ``kind`` (``"train"`` or ``"val"``) and ``step``; train rows add the losses and
speed, val rows the validation loss. The trainer appends a line at a time, so a process killed
mid-write leaves at most the last line cut: :func:`read_metrics` drops that line and reads the
rest. Any other line that is not JSON means the file was damaged, and is an error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from vstm.errors import VstmError
from vstm.io import atomic_write_text

__all__ = ["METRICS_FILE", "read_metrics", "trim_metrics"]

METRICS_FILE = "metrics.jsonl"


def read_metrics(run: str | os.PathLike, kind: str | None = None) -> list[dict[str, Any]]:
    """The rows of a run's ``metrics.jsonl``, in file order.

    Args:
        run: a run folder (its ``metrics.jsonl`` is read) or the path of a ``.jsonl`` file.
        kind: keep only the rows of this kind (``"train"`` or ``"val"``); all rows by default.

    Returns:
        The rows as dicts; an empty list when the file does not exist yet (a run writes its
        first row after its first step). Blank lines and a cut last line are skipped.

    Raises:
        VstmError: a line other than the last is not a JSON object (naming the file and line).
    """
    path = Path(run)
    if path.is_dir():
        path = path / METRICS_FILE
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    last = max((i for i, ln in enumerate(lines) if ln.strip()), default=-1)
    rows = []
    for i, ln in enumerate(lines):
        if not ln.strip():
            continue
        try:
            row = json.loads(ln)
        except json.JSONDecodeError:
            if i == last:
                break  # the line a killed process was writing
            raise VstmError(f"{path}:{i + 1}: not a JSON row; the log is damaged") from None
        if not isinstance(row, dict):
            raise VstmError(f"{path}:{i + 1}: not a JSON object; the log is damaged")
        if kind is None or row.get("kind") == kind:
            rows.append(row)
    return rows


def trim_metrics(path: Path, step: int) -> None:
    """After a resume, drop the rows of the log at ``path`` written after ``step`` (the
    checkpoint resumed from). Unlike :func:`read_metrics` this skips any damaged line: a log
    never stops a resume."""
    if not path.exists():
        return
    keep = []
    for ln in path.read_text().splitlines():
        try:
            if ln.strip() and json.loads(ln).get("step", 0) <= step:
                keep.append(ln)
        except json.JSONDecodeError:
            continue  # a line cut by a crash
    atomic_write_text(path, "".join(k + "\n" for k in keep))
