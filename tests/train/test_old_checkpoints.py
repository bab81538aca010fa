"""Checkpoints written by an earlier vstm (format ``vstm-checkpoint-1``, kept as fixtures by
``tests/fixtures/checkpoints/make_fixtures.py``) load with today's code, give the same outputs,
and a training run saved in that format resumes."""

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checkpoints"


def _maker():
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


MAKER = _maker()


@pytest.mark.parametrize("name", MAKER.MODELS)
def test_old_checkpoint_loads_and_gives_the_same_outputs(name):
    path = FIXTURES / f"{name}.safetensors"
    model, header = MAKER.load(path)
    assert header["format"] == "vstm-checkpoint-1" and header["model"] == name
    got = MAKER.outputs(model, MAKER.fixed_input(model.in_channels))
    want = load_file(str(FIXTURES / f"{name}.expected.safetensors"))
    assert got.keys() == want.keys()
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=1e-5, atol=1e-6, msg=f"{name} {k}")


def test_a_run_saved_in_the_old_format_resumes(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(FIXTURES / "ae-convlstm-flow.safetensors", run / "last.safetensors")
    r = subprocess.run(
        [sys.executable, "-m", "vstm", "train", "--resume", str(run), "--steps", "2"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((run / "last.json").read_text())["trainer"]["step"] == 2
