"""The training run's path: resolved from the machine's capabilities (injected here), logged
first, recorded in config.json and kept on resume; --precision forces it."""

import json
import logging

import pytest
import torch

from vstm import system
from vstm.cli import main
from vstm.system import Capabilities

AMX = Capabilities(cpu_flags=frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}))
AVX2 = Capabilities(cpu_flags=frozenset({"avx2"}), onednn_bf16=False)


@pytest.fixture
def machine(monkeypatch):
    def use(caps):
        monkeypatch.setattr(system, "probe", lambda: caps)

    return use


def _train(out, *extra):
    assert main(["train", "--tiny", "--out", str(out), "--steps", "1", *extra]) == 0
    return json.loads((out / "config.json").read_text())


def test_auto_on_avx2_records_fp32_and_logs_it_first(tmp_path, machine, caplog):
    machine(AVX2)
    with caplog.at_level(logging.INFO, logger="vstm"):
        cfg = _train(tmp_path / "run")
    assert cfg["precision"] == "fp32"
    assert cfg["path"]["requested"] == "auto"
    assert cfg["path"]["reason"] == "AVX2 CPU without bf16 matrix units"
    # the record is what vstm.ops.select chose in the first step: the tiny run's batch of 2 is
    # under the FFT's minimum batch, so its memory convolved directly (the record used to
    # repeat the rule for the paper's batch and say "FFT memory")
    assert cfg["path"]["kernels"] == {"lstm": "direct", "flow": "gemm"}
    assert cfg["path"]["memory_conv"] == "direct memory convolution"
    first = next(r.getMessage() for r in caplog.records if r.name.startswith("vstm"))
    assert first == "path: fp32 (AVX2 CPU without bf16 matrix units)"
    assert "kernels: flow gemm, lstm direct" in caplog.text


def test_the_path_is_logged_first_also_when_weights_start_the_run(tmp_path, machine, caplog):
    """--init logs the weights it loads; the path (precision and memory convolution, from
    the model config's lstm_impl default) still comes first."""
    machine(AVX2)
    _train(tmp_path / "a")
    with caplog.at_level(logging.INFO, logger="vstm"):
        cfg = _train(tmp_path / "b", "--init", str(tmp_path / "a" / "last.safetensors"))
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("vstm")]
    assert messages[0] == "path: fp32 (AVX2 CPU without bf16 matrix units)"
    assert any(m.startswith("weights initialised from") for m in messages[1:])
    assert cfg["path"]["memory_conv"] == "direct memory convolution"


def test_precision_fp32_forces_fp32_on_an_amx_machine(tmp_path, machine):
    machine(AMX)
    cfg = _train(tmp_path / "run", "--precision", "fp32")
    assert cfg["precision"] == "fp32"
    assert cfg["path"] == {**cfg["path"], "requested": "fp32", "reason": "--precision fp32"}


def test_lstm_impl_option_is_recorded(tmp_path, machine):
    machine(AVX2)
    cfg = _train(tmp_path / "run", "--model-option", "lstm_impl=fft")
    assert cfg["path"]["memory_conv"] == "FFT memory" and cfg["path"]["kernels"]["lstm"] == "fft"


def test_resume_keeps_the_recorded_path(tmp_path, machine):
    machine(AVX2)
    out = tmp_path / "run"
    first = _train(out)
    machine(AMX)  # the same run folder on another machine class: auto is not asked again
    assert main(["train", "--resume", str(out), "--steps", "2"]) == 0
    again = json.loads((out / "config.json").read_text())
    assert again["precision"] == "fp32" and again["path"] == first["path"]
    assert again["steps"] == 2


def test_a_bf16_run_resumed_where_bf16_is_emulated_continues_in_fp32(tmp_path, machine, caplog):
    machine(AMX)
    out = tmp_path / "run"
    assert _train(out)["precision"] == "bf16"  # auto on AMX (one tiny step)
    machine(AVX2)  # e.g. a GPU run carried to an AVX2 CPU: emulated bf16 is ~50x slower
    with caplog.at_level(logging.WARNING, logger="vstm"):
        assert main(["train", "--resume", str(out), "--steps", "2"]) == 0
    again = json.loads((out / "config.json").read_text())
    assert again["precision"] == "fp32" and again["path"]["machine_class"] == "avx2"
    assert any("without native bf16" in r.getMessage() for r in caplog.records)
    machines = json.loads((out / "last.json").read_text())["trainer"]["machines"]
    assert [m["precision"] for m in machines] == ["bf16", "fp32"]


def test_auto_is_the_default_and_resolves_to_bf16_on_amx(machine):
    # resolution only: a bf16 training step is emulated, and slow, on CPUs without bf16
    from vstm.train.config import make_config
    from vstm.train.path import resolve_path as _resolve_path

    machine(AMX)
    cfg = make_config({})
    assert cfg.precision == "auto"
    assert _resolve_path(cfg, torch.device("cpu"), None).precision == "bf16"
    assert _resolve_path(make_config({"precision": "fp32"}), torch.device("cpu"), None).reason == (
        "--precision fp32"
    )
