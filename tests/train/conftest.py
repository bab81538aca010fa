"""Shared harness of the training tests: a run killed mid-way by SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


@pytest.fixture
def kill_mid_run():
    """``kill(argv, out, at_step)``: start ``python -m vstm *argv --out out``, SIGKILL it once
    its ``last.json`` records step ``at_step`` or later (within 120 s), and return the step of
    the checkpoint it left."""

    def kill(argv: list[str], out, at_step: int, poll: float = 0.02) -> int:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vstm", *map(str, argv), "--out", str(out)],
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if json.loads((out / "last.json").read_text())["trainer"]["step"] >= at_step:
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(poll)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return json.loads((out / "last.json").read_text())["trainer"]["step"]

    return kill
