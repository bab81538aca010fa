"""What ``vstm bench`` measures, one function per measurement: the convolution peak,
training and inference of the paper model (and of its naive reference), streaming (eager,
from a CUDA graph, through ONNX Runtime), peak memory and the bf16-vs-fp32 loss curves.
:mod:`vstm.experiments.bench` chooses, runs and reports them."""

from __future__ import annotations

import logging
import resource
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.benchmark import Measurement, Timer

from vstm.export import export_onnx, onnx_stream_times
from vstm.inference.graphed import GraphedStep
from vstm.info import flops_per_frame
from vstm.models import AEConvLSTMFlow, AEConvLSTMFlowConfig, VideoPredictor
from vstm.system import autocast
from vstm.train.task import NextFrameTask

__all__ = [
    "bench_infer",
    "bench_loss_curves",
    "bench_peak",
    "bench_stream",
    "bench_stream_graphed",
    "bench_stream_onnx",
    "bench_train",
    "curves_match",
    "measure",
    "onnx_available",
    "peak_rss_mb",
]

log = logging.getLogger("vstm.bench")


def measure(fn: Callable[[], Any], repeats: int, warmup: int, label: str = "") -> Measurement:
    """Time ``fn()`` with :class:`torch.utils.benchmark.Timer` at torch's current thread count.

    ``warmup`` calls run first, uncounted. With ``repeats`` 1, the last of them is
    ``Timer.blocked_autorange``'s block-size call and one timed call follows. Otherwise the
    last three warm-up calls (three at least) are Timer calls: a first measurement (its
    block-size call and one block) sizes the second, which times calls after its own
    block-size call until they add up to ``repeats - 0.5`` of the first's: ``repeats`` timed
    calls when the time is steady, more or fewer when it drifts (``len(m.times)`` says how
    many). A call faster than about 10 ms is timed in blocks of several (each entry of
    ``m.times`` is then a block's mean per call). The Timer waits for queued accelerator work
    before it reads the clock.

    Returns:
        the :class:`torch.utils.benchmark.Measurement`: ``median`` (s per call) and ``times``.

    >>> m = measure(lambda: sum(range(100_000)), repeats=3, warmup=1)
    >>> m.median > 0 and len(m.times) >= 1
    True
    """
    timer = Timer(stmt="fn()", globals={"fn": fn}, label=label, num_threads=torch.get_num_threads())
    if repeats <= 1:
        for _ in range(warmup - 1):
            fn()
        return timer.blocked_autorange(min_run_time=0.0)  # block-size call, then one block
    for _ in range(warmup - 3):
        fn()
    sizing = timer.blocked_autorange(min_run_time=0.0)  # two of the last three warm-up calls
    block = sizing.median * sizing.number_per_run  # seconds per block
    return timer.blocked_autorange(min_run_time=(repeats - 0.5) * block)


def _autocast(precision: str, device: torch.device | str = "cpu"):

    return autocast(device, precision)


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _fwd_flops(model: VideoPredictor, height: int, width: int) -> int:

    return sum(flops_per_frame(model, height, width).values())


def bench_peak(
    batch: int = 16, size: int = 32, repeats: int = 5, warmup: int = 1, device="cpu"
) -> dict:
    """GFLOP/s of the 7x7 80->256 convolution, forward + backward (input and weight grads),
    in fp32."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 80, size, size, generator=g).to(device).requires_grad_()
    conv = nn.Conv2d(80, 256, 7, padding=3).to(device)
    gy = torch.randn(batch, 256, size, size, generator=g).to(device)

    def run() -> None:
        x.grad = None
        conv.zero_grad(set_to_none=True)
        conv(x).backward(gy)

    m = measure(run, repeats, warmup, "peak conv")
    times, med = m.times, m.median
    flops = 3 * (2 * batch * 256 * size * size * 80 * 49 + batch * 256 * size * size)
    return {
        "gflops": flops / med / 1e9,
        "seconds": med,
        "flops": flops,
        "times": times,
        "batch": batch,
    }


def bench_train(
    model: VideoPredictor,
    batch: int,
    frames: int,
    height: int,
    width: int,
    repeats: int,
    warmup: int,
    precision: str = "fp32",
    flops: int | None = None,
) -> dict:
    """Training steps (NextFrameTask BCE + Adam, as ``vstm train``) on random binary clips.

    A clip has ``frames + 1`` frames; the model sees ``frames`` and predicts the next of each,
    so one step processes ``batch * frames`` frames.
    """

    cfg = model.config
    task = NextFrameTask("bce", getattr(cfg, "w_h", 1e-2), getattr(cfg, "delta", 1e-3))
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(1)
    clip = torch.rand(batch, frames + 1, model.in_channels, height, width, generator=g) > 0.5
    clip = clip.float().to(_device_of(model))
    model.train()
    losses: list[float] = []

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with _autocast(precision, clip.device):
            parts = task(model, clip)
        parts.total.backward()
        opt.step()
        losses.append(parts.total.item())

    m = measure(step, repeats, warmup, "training step")
    times, med = m.times, m.median
    fps = batch * frames / med
    flops = _fwd_flops(model, height, width) if flops is None else flops
    return {
        "fps": fps,
        "gflops": 3 * flops * fps / 1e9,
        "seconds_per_step": med,
        "times": times,
        "batch": batch,
        "frames": frames,
        "size": [height, width],
        "precision": precision,
        "losses": losses,
    }


@torch.inference_mode()
def bench_infer(
    model: VideoPredictor,
    batch: int,
    frames: int,
    height: int,
    width: int,
    repeats: int,
    warmup: int,
) -> dict:
    """``model(frames)`` without gradients over a (batch, frames) clip: frames per second."""
    model.eval()
    clip = torch.rand(batch, frames, model.in_channels, height, width, device=_device_of(model))
    m = measure(lambda: model(clip), repeats, warmup, "inference")
    times, med = m.times, m.median
    model.train()
    return {"fps": batch * frames / med, "seconds": med, "times": times}


@torch.inference_mode()
def bench_stream(
    model: VideoPredictor,
    height: int,
    width: int,
    steps: int,
    repeats: int,
    warmup: int,
    precision: str = "fp32",
    step: Callable | None = None,
) -> dict:
    """Streaming: ``model.step`` at batch 1, the state carried; frames per second over blocks
    of ``steps`` frames (the state restarts each block). ``step``: another way to run the
    step, called like ``model.step`` under no autocast of its own (e.g. a
    :class:`vstm.inference.graphed.GraphedStep`, which applies ``precision`` itself)."""
    model.eval()
    g = torch.Generator().manual_seed(2)
    clip = torch.rand(steps, 1, model.in_channels, height, width, generator=g)
    clip = clip.to(_device_of(model))

    def run() -> None:
        state = None
        if step is not None:
            for t in range(steps):
                _pred, _flow, state = step(clip[t], state)
            return
        with _autocast(precision, clip.device):
            for t in range(steps):
                _pred, _flow, state = model.step(clip[t], state)

    m = measure(run, repeats, warmup, "streaming block")
    times, med = m.times, m.median
    model.train()
    return {"fps": steps / med, "ms_per_frame": 1e3 * med / steps, "times": times}


@torch.no_grad()
def bench_stream_graphed(
    model: VideoPredictor, height: int, width: int, steps: int, repeats: int, warmup: int,
    precision: str,
) -> dict:  # fmt: skip
    """:func:`bench_stream` through a :class:`~vstm.inference.graphed.GraphedStep` (CUDA),
    and the largest difference of its predictions from the eager step's over one block."""

    model.eval()
    graphed = GraphedStep(model, precision)
    g = torch.Generator().manual_seed(5)
    clip = torch.rand(steps, 1, model.in_channels, height, width, generator=g).to(_device_of(model))
    diff, s_eager, s_graph = 0.0, None, None
    for t in range(steps):  # the first block also captures the graph
        with _autocast(precision, clip.device):
            a, _, s_eager = model.step(clip[t], s_eager)
        b, _, s_graph = graphed(clip[t], s_graph)
        diff = max(diff, (a.float() - b.float()).abs().max().item())
    out = bench_stream(model, height, width, steps, repeats, warmup, precision, step=graphed)
    return {**out, "precision": precision, "max_abs_diff_vs_eager": diff}


def onnx_available() -> bool:
    """Whether ``onnx`` and ``onnxruntime`` are importable (``pip install 'vstm[onnx]'``)."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))


def bench_stream_onnx(
    model: VideoPredictor, sizes: list[tuple[int, int]], steps_of, repeats: int
) -> dict:
    """Streaming frames/s of the exported step under onnxruntime (batch 1, fp32), per size.

    ``steps_of(h, w)`` gives the block length, as for :func:`bench_stream`.
    """
    import tempfile

    out = {}
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "step.onnx"
        export_onnx(model, path, 64, 64)
        for h, w in sizes:
            steps = steps_of(h, w)
            g = torch.Generator().manual_seed(2)
            clip = torch.rand(steps, 1, model.in_channels, h, w, generator=g)
            times = onnx_stream_times(path, model, clip, repeats, torch.get_num_threads())
            med = statistics.median(times)
            out[f"{w}x{h}"] = {
                "fps": steps / med,
                "ms_per_frame": 1e3 * med / steps,
                "times": times,
            }
    return out


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MiB (``getrusage``)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def curves_match(ref: list[float], other: list[float], tail: int = 10) -> dict:
    """Compare two loss curves from the same start: max relative gap, and whether the mean of
    the last ``tail`` losses differs by less than the reference's own fluctuation there
    (its standard deviation, at least 1% of the mean)."""
    n = min(len(ref), len(other))
    gaps = [abs(a - b) / max(abs(a), 1e-12) for a, b in zip(ref[:n], other[:n], strict=True)]
    tail = max(1, min(tail, n))
    ra, oa = ref[n - tail : n], other[n - tail : n]
    mean_r = statistics.fmean(ra)
    noise = max(statistics.pstdev(ra), 0.01 * abs(mean_r))
    diff = abs(statistics.fmean(oa) - mean_r)
    return {"max_rel_gap": max(gaps) if gaps else 0.0, "tail_diff": diff, "noise": noise,
            "match": diff <= noise}  # fmt: skip


def bench_loss_curves(
    steps: int, batch: int, frames: int, size: int, hidden: int, precision: str = "bf16"
) -> dict:
    """Train the same small model from the same start on the same batches in fp32 and in
    ``precision``; compare the loss curves (:func:`curves_match`)."""

    curves = {}
    for prec in ("fp32", precision):
        torch.manual_seed(0)
        model = AEConvLSTMFlow(AEConvLSTMFlowConfig(hidden_channels=hidden))
        with torch.no_grad():  # a live flow head from step 0
            model.flow.conv3.weight.normal_(0, 0.1)
        task = NextFrameTask("bce")
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        g = torch.Generator().manual_seed(3)
        losses = []
        for _ in range(steps):
            clip = (torch.rand(batch, frames + 1, 1, size, size, generator=g) > 0.7).float()
            opt.zero_grad(set_to_none=True)
            with _autocast(prec):
                parts = task(model, clip)
            parts.total.backward()
            opt.step()
            losses.append(parts.total.item())
        curves[prec] = losses
    return {
        "setting": f"hidden {hidden}, {size}x{size}, batch {batch}, {frames} frames, "
        f"{steps} Adam steps",
        "fp32": curves["fp32"],
        precision: curves[precision],
        **curves_match(curves["fp32"], curves[precision]),
    }


# ------------------------------------------------------------------ the whole benchmark
