"""vstm.experiments.runs: the run-folder protocol (its resume and refusal paths run end to end
in tests/test_reproduce.py and tests/experiments/test_figure6.py)."""

import pytest

from vstm.errors import VstmError
from vstm.experiments.runs import checkpoint_of, read_json, trained_on


def test_trained_on_names_each_machine_in_order():
    seg = [
        {"from_step": 0, "machine": "AMD EPYC", "precision": "fp32", "processes": 1},
        {"from_step": 642, "machine": "NVIDIA H200", "precision": "bf16", "processes": 2},
    ]
    got = trained_on({"trainer": {"machines": seg}})
    assert got == "AMD EPYC (fp32) to step 642, then NVIDIA H200 x2 (bf16)"
    old = {"trainer": {}, "train_config": {"precision": "fp32", "device": "auto"}}
    assert trained_on(old) == "fp32, device auto"


def test_read_json_takes_a_missing_or_torn_file_as_absent(tmp_path):
    assert read_json(tmp_path / "none.json") is None
    (tmp_path / "torn.json").write_text('{"budget": {"epo')
    assert read_json(tmp_path / "torn.json") is None
    (tmp_path / "ok.json").write_text('{"finished": true}')
    assert read_json(tmp_path / "ok.json") == {"finished": True}


def test_checkpoint_of_prefers_best(tmp_path):
    with pytest.raises(VstmError, match="holds no checkpoint"):
        checkpoint_of(tmp_path)
    (tmp_path / "last.safetensors").write_bytes(b"")
    assert checkpoint_of(tmp_path).name == "last.safetensors"
    (tmp_path / "best.safetensors").write_bytes(b"")
    assert checkpoint_of(tmp_path).name == "best.safetensors"
