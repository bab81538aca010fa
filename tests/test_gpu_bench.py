"""benchmarks/gpu_bench.py runs (checked on CPU, so that a session with a GPU only runs it)."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from vstm.errors import VstmError

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_bench.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_bench", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gpu_bench_cpu_quick_writes_both_files(tmp_path):
    threads = torch.get_num_threads()
    try:
        assert _load().main(["--device", "cpu", "--quick", "--out", str(tmp_path)]) == 0
    finally:
        torch.set_num_threads(threads)
    data = json.loads((tmp_path / "bench_gpu.json").read_text())
    assert data["details"]["config"]["channels_last"] is True
    assert data["details"]["config"]["device"] == "cpu"
    assert data["train_fps"] > 0 and data["stream_fps_64"] > 0
    assert data["command"].startswith("python benchmarks/gpu_bench.py --device cpu")
    assert "Chosen path" in (tmp_path / "bench_gpu.md").read_text()


def test_gpu_bench_settings_for_cuda():
    mod = _load()
    p = mod.argparse.Namespace(
        device="cuda", precision="auto", quick=False, repeats=None, no_channels_last=False,
        no_scaling=False,
    )  # fmt: skip
    cfg = mod.config(p)
    assert cfg.device == "cuda" and cfg.cudnn_benchmark and cfg.channels_last
    assert cfg.batch == 16 and cfg.frames == 10 and cfg.size == 64
    if not torch.cuda.is_available():
        with pytest.raises(VstmError, match="no CUDA device"):
            mod.main(["--quick", "--out", "/nonexistent"])
