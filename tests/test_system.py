"""vstm.system: the path each machine class gets (capabilities injected), the cached
measurement, and the fast paths against their fp32 references. No test asserts a time."""

import json
import logging
import warnings

import pytest
import torch
import torch.nn.functional as F

from vstm import build_model, system
from vstm.errors import VstmError
from vstm.nn.convlstm import ConvLSTMCell
from vstm.system import Capabilities, choose_precision, machine_class

AMX = Capabilities(cpu_flags=frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}))
ZEN4 = Capabilities(cpu_flags=frozenset({"avx2", "avx512f", "avx512_bf16"}))
AVX2 = Capabilities(cpu_flags=frozenset({"avx2"}), onednn_bf16=False)
GPU_BF16 = Capabilities(cpu_flags=frozenset({"avx2"}), cuda_device="H100", cuda_bf16=True)
GPU_FP32 = Capabilities(cpu_flags=frozenset({"avx2"}), cuda_device="T4-like", cuda_bf16=False)


def _never():
    raise AssertionError("measured where the capabilities alone decide")


@pytest.mark.parametrize(
    ("caps", "device", "measured", "want", "cls"),
    [
        (AMX, "cpu", None, "bf16", "amx"),
        (ZEN4, "cpu", 3.0, "bf16", "avx512_bf16"),
        (ZEN4, "cpu", 1.3, "fp32", "avx512_bf16"),
        (AVX2, "cpu", None, "fp32", "avx2"),
        (Capabilities(), "cpu", None, "fp32", "other"),
        (GPU_BF16, "cuda", None, "bf16", "cuda"),
        (GPU_FP32, "cuda", None, "fp32", "cuda"),
    ],
)
def test_auto_picks_the_path_of_each_machine_class(caps, device, measured, want, cls):
    measure = _never if measured is None else (lambda: measured)
    choice = choose_precision("auto", device, caps=caps, measure=measure)
    assert (choice.precision, choice.machine_class, choice.requested) == (want, cls, "auto")
    assert choice.bf16_speedup == measured
    assert machine_class(caps, device) == cls


def test_forced_precision_wins_and_emulated_bf16_warns(caplog):
    assert choose_precision("fp32", "cpu", caps=AMX, measure=_never).precision == "fp32"
    assert choose_precision("fp32", "cuda", caps=GPU_BF16).precision == "fp32"
    with caplog.at_level(logging.WARNING, "vstm.system"), warnings.catch_warnings():
        warnings.simplefilter("error")  # a log line, never a Python warning
        assert choose_precision("bf16", "cpu", caps=AVX2).precision == "bf16"
        assert [r.getMessage().count("\n") for r in caplog.records] == [0]
        assert "emulates" in caplog.text
        caplog.clear()
        assert choose_precision("bf16", "cpu", caps=AMX).precision == "bf16"
        assert not caplog.records
    with pytest.raises(VstmError):
        choose_precision("fp16", "cpu", caps=AMX)


def test_the_cpu_name_does_not_decide(monkeypatch):
    monkeypatch.setattr(system, "cpu_model", lambda: "Intel(R) Xeon(R) Platinum 8480+ AMX")
    assert choose_precision("auto", "cpu", caps=AVX2).precision == "fp32"


def test_first_log_line_and_record():
    choice = choose_precision("auto", "cpu", caps=AVX2)
    line = choice.describe()  # "auto": the memory's kernel is known once a step has chosen it
    assert line == "path: fp32 (AVX2 CPU without bf16 matrix units)"
    assert (
        choice.describe(chosen="fft")
        == "path: fp32, FFT memory (AVX2 CPU without bf16 matrix units)"
    )
    amx = choose_precision("auto", "cpu", caps=AMX)
    assert (
        amx.describe(chosen="direct")
        == "path: bf16 autocast, direct memory convolution (CPU with AMX bf16 matrix units)"
    )
    assert "FFT memory" in amx.describe("fft")
    d = amx.to_dict("auto", {"lstm": "direct", "flow": "gemm"})
    assert d["precision"] == "bf16" and d["memory_conv"] == "direct memory convolution"
    assert d["kernels"] == {"lstm": "direct", "flow": "gemm"}
    assert amx.to_dict()["memory_conv"] is None
    assert system.PrecisionChoice.from_dict(d) == amx


def test_measurement_is_cached_per_flags_and_torch_version(tmp_path, monkeypatch):
    monkeypatch.setenv("VSTM_CACHE_DIR", str(tmp_path))
    calls = []

    def measure():
        calls.append(1)
        return 2.5

    assert system.cached_bf16_speedup(ZEN4, measure) == 2.5
    assert system.cached_bf16_speedup(ZEN4, measure) == 2.5
    assert len(calls) == 1
    cache = json.loads((tmp_path / "precision.json").read_text())
    assert len(cache) == 1 and "avx512_bf16" in next(iter(cache))
    other = Capabilities(cpu_flags=ZEN4.cpu_flags, torch_version="0.0-other")
    assert system.cached_bf16_speedup(other, measure) == 2.5
    assert len(calls) == 2
    # auto on an AVX512-BF16 CPU goes through the cache
    monkeypatch.setattr(system, "measure_bf16_speedup", _never)
    monkeypatch.setattr(system, "cached_bf16_speedup", lambda caps: 1.1)
    assert choose_precision("auto", "cpu", caps=ZEN4).precision == "fp32"


def test_cache_dir_override(tmp_path, monkeypatch):
    monkeypatch.setenv("VSTM_CACHE_DIR", str(tmp_path / "c"))
    assert system.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("VSTM_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert system.cache_dir() == tmp_path / "x" / "vstm"


def test_probe_reads_this_machine():
    caps = system.probe()
    assert isinstance(caps.cpu_flags, frozenset)
    assert caps.cpu_flags <= set(system.ISA_FLAGS)
    assert machine_class(caps) in ("amx", "avx512_bf16", "avx2", "other")
    assert caps.to_dict()["machine_class"] == machine_class(caps)


def test_measure_bf16_speedup_runs():
    assert system.measure_bf16_speedup(batch=1, size=8, repeats=1) > 0


# ------------------------------------------------------------------ lstm_impl=auto
def test_lstm_auto_is_direct_under_bf16_autocast_and_fft_in_fp32():
    cell = ConvLSTMCell(16, 64, 7)  # the paper's 80->256 memory; training: batch 16, 32x32
    assert cell.uses_fft(16, 32, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not cell.uses_fft(16, 32, 32)
        assert cell.spectrum(torch.zeros(16, 16, 32, 32)) is None
        assert ConvLSTMCell(16, 64, 7, impl="fft").uses_fft(16, 32, 32)  # forcing still wins
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=False):
        assert cell.uses_fft(16, 32, 32)
    assert not ConvLSTMCell(16, 64, 7, impl="direct").uses_fft(16, 32, 32)


# ------------------------------------------------------------------ fast paths vs fp32
# bf16 keeps an 8-bit mantissa: each rounding is off by up to 2^-9 ~ 0.2% relative, and the
# model chains about ten rounded operations (E, the gate conv, Θ's three convs, the warp's
# inputs, D), so errors of ~1% of an output's scale are expected; 3e-2 of the largest value
# leaves room for that and still fails on a wrong path (a dropped term or a swapped gate is
# off by O(1)). Gradients add a backward pass of the same depth: compared by relative norm.
BF16_TOL = 3e-2


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().float(), b.detach().float()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-6))


def _live_model():
    torch.manual_seed(0)
    model = build_model("ae-convlstm-flow", hidden_channels=8, flow_kernel=5)
    with torch.no_grad():  # a non-zero flow so that Θ and the warp matter
        model.flow.conv3.weight.normal_(0, 0.3)
        model.flow.conv3.bias.normal_(0, 0.3)
    return model


def _loss_and_grads(model, frames, precision):
    model.zero_grad(set_to_none=True)
    with system.autocast("cpu", precision):
        out = model(frames)
    loss = F.mse_loss(out.pred.float(), frames.roll(-1, dims=1)) + out.flow.float().square().mean()
    loss.backward()
    return out, {n: p.grad.clone() for n, p in model.named_parameters()}


def test_bf16_training_path_matches_fp32_fft_reference():
    model = _live_model()
    frames = torch.rand(4, 3, 1, 16, 16)  # batch 4: fp32 auto takes the FFT path
    assert model.memory.uses_fft(4, 8, 8)
    ref, g_ref = _loss_and_grads(model, frames, "fp32")
    out, g = _loss_and_grads(model, frames, "bf16")
    assert out.pred.dtype == torch.bfloat16 and out.state[1].dtype == torch.float32
    assert ref.flow.abs().max() > 1e-2
    assert _rel(out.pred, ref.pred) < BF16_TOL
    assert _rel(out.flow, ref.flow) < BF16_TOL
    assert _rel(out.state[1], ref.state[1]) < BF16_TOL
    for name, gr in g_ref.items():
        assert gr.abs().max() > 0, name
        err = float((g[name] - gr).norm() / gr.norm())
        assert err < 2 * BF16_TOL, (name, err)


def test_bf16_streaming_step_matches_fp32():
    model = _live_model().eval()
    frames = torch.rand(6, 1, 1, 16, 16)
    with torch.no_grad():
        s_ref = s = None
        for t in range(frames.shape[0]):
            p_ref, f_ref, s_ref = model.step(frames[t], s_ref)
            with system.autocast("cpu", "bf16"):
                p, f, s = model.step(frames[t], s)
            assert s[1].dtype == torch.float32  # the cell state stays fp32 over a stream
            assert _rel(p, p_ref) < BF16_TOL and _rel(f, f_ref) < BF16_TOL


def test_bf16_warning_only_without_native_support(monkeypatch, caplog):
    monkeypatch.setattr(system, "bf16_is_native", lambda device="cpu", caps=None: False)
    with caplog.at_level(logging.WARNING, "vstm.system"):
        assert system.warn_if_slow_bf16("cpu")
    assert "bf16" in caplog.text
    monkeypatch.setattr(system, "bf16_is_native", lambda device="cpu", caps=None: True)
    assert not system.warn_if_slow_bf16("cpu")


def test_machine_info_describes_this_machine_as_json():
    info = system.machine_info()
    assert info["cpu"] == system.cpu_model()
    assert info["machine_class"] == machine_class(system.probe())
    assert info["threads"] == torch.get_num_threads() and info["torch"] == torch.__version__
    assert len(info["load_average"]) == 3 and info["date"].endswith("UTC")
    assert json.loads(json.dumps(info)) == info
