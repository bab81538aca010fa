"""Throughput and FLOP utilisation on this machine: :func:`run_bench` with
:class:`BenchSettings` (the command line is ``vstm bench``, :mod:`vstm.cli.bench`).

One process measures, with the same thread setting:

1. **peak**: the convolution that dominates the model, 7x7 80->256 at 32x32, batch 16,
   forward + backward (the ConvLSTM's fused gate convolution at 64x64 frames), by oneDNN's
   direct algorithm. Its GFLOP/s is the machine's practical limit for the model computed
   directly; the shipped model runs that convolution through the FFT in training
   (:mod:`vstm.ops.spectral`), with fewer FLOPs than it is credited with here.
2. **naive reference**: :class:`NaiveAEConvLSTMFlow`, the paper's model written plainly
   (per time step: E, eight separate gate convolutions, Θ by ``F.conv2d``, warp, D). It
   computes the same function as the shipped model (tests check it).
3. **vstm's model** as shipped (``build_model("ae-convlstm-flow")``), trained with the same
   task and optimiser as ``vstm train``; inference over a batch; streaming with ``model.step``
   at batch 1, 64x64 and 176x144; peak resident memory; cost against frame size and sequence
   length.
4. **onnxruntime** (only when ``onnx`` and ``onnxruntime`` are installed): the same streaming
   step exported by :func:`vstm.export.export_onnx`, run by onnxruntime's CPU provider with
   the same thread count, at the same sizes and block length as PyTorch's streaming.

Training FLOPs are 3x the forward FLOPs of :func:`vstm.info.flops_per_frame` (a forward and
a backward that costs two forwards). Every PyTorch time is taken by
:class:`torch.utils.benchmark.Timer` (:func:`measure`): the median of about ``repeats`` runs
after ``warmup`` runs that are not counted.

:func:`run_bench` returns the results as a dict; :func:`write_results` writes them as JSON and
as the Markdown report of :func:`vstm.experiments.markdown.bench_markdown`.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vstm.experiments.bench_measure import (
    _autocast,
    _device_of,
    _fwd_flops,
    bench_infer,
    bench_loss_curves,
    bench_peak,
    bench_stream,
    bench_stream_graphed,
    bench_stream_onnx,
    bench_train,
    curves_match,
    measure,
    onnx_available,
    peak_rss_mb,
)
from vstm.experiments.markdown import bench_markdown
from vstm.models import AEConvLSTMFlow, AEConvLSTMFlowConfig
from vstm.models.reference import NaiveAEConvLSTMFlow
from vstm.ops.select import AUTO_MAX_SPECTRUM_BYTES, AUTO_MIN_BATCH
from vstm.system import (
    PrecisionChoice,
    bf16_is_native,
    choose_precision,
    machine_class,
    machine_info,
    probe,
)

__all__ = [
    "BenchSettings",
    "NaiveAEConvLSTMFlow",
    "curves_match",
    "measure",
    "onnx_available",
    "run_bench",
    "write_results",
]

log = logging.getLogger("vstm.bench")

TARGETS = {
    "train_frac_peak": 0.85,
    "train_speedup_vs_naive": 1.5,
    "bf16_speedup_vs_naive": 2.5,
    "stream_fps_64": 200.0,
    "stream_fps_176x144": 30.0,
    "peak_rss_mb": 1536.0,
}
"""The speed vstm aims for on any machine (paper model, 64x64, batch 16, 10 frames); the report
marks each target met or missed."""

MACHINE_TARGETS: dict[str, dict[str, float]] = {
    "amx": {
        "train_speedup_vs_naive": 6.0,
        "stream_fps_64": 400.0,
        "stream_fps_176x144": 75.0,
        "peak_rss_mb": 1536.0,
    },
    "avx512_bf16": {
        "train_speedup_vs_naive": 3.0,
        "stream_frac_bound_64": 0.8,
        "stream_frac_bound_176x144": 0.8,
        "peak_rss_mb": 1536.0,
    },
    "avx2": {
        "train_speedup_vs_naive": 3.0,
        "stream_frac_bound_64": 0.8,
        "stream_frac_bound_176x144": 0.8,
        "peak_rss_mb": 1536.0,
    },
    "other": {"train_speedup_vs_naive": 3.0, "peak_rss_mb": 1536.0},
    "cuda": {"train_speedup_vs_naive": 3.0, "peak_rss_mb": 1536.0},
}
"""The targets per machine class (:func:`vstm.system.machine_class`), for training and
streaming on the path ``precision="auto"`` chooses. ``stream_frac_bound_*``: streaming frames/s
over the bound that the measured conv peak allows (every FLOP at the peak rate). AVX512-BF16
CPUs without AMX have no targets of their own; they get the AVX2 ones."""


# ------------------------------------------------------------------ timing
@dataclass
class BenchSettings:
    """What :func:`run_bench` measures (``vstm bench``'s flags). ``quick()`` is the
    under-a-minute version for tests.

    Attributes:
        batch, frames, size: the main setting (clips of ``frames`` + 1 square frames).
        repeats, warmup, naive_repeats: timed runs (medians reported) and uncounted runs
            (with more than one timed run, three uncounted at least: :func:`measure`).
        train_warmup: uncounted training steps: the first steps of a process run slower
            while the memory allocator settles (~3 steps at batch 16).
        threads: torch intra-op threads; None keeps torch's default.
        stream_steps, stream_sizes: frames per timed streaming block (a third of it above
            64x64) and the (height, width) sizes streamed at batch 1.
        bf16, bf16_slow_*: measure bf16 autocast training; without native bf16, at this
            reduced batch / frames / size, once (an emulated full step takes minutes).
        curve_steps: steps of the fp32-vs-bf16 loss-curve check on a small model (0: skip).
        scaling, scaling_*: the cost tables against (height, width) and frames per clip.
        flow_impl, lstm_impl: Θ's and the memory's implementations in the shipped model (see
            ``AEConvLSTMFlowConfig``).
        precision: the path of the main training and streaming measurements: ``"auto"``
            (:func:`vstm.system.choose_precision`), ``"fp32"`` or ``"bf16"``.
        device: where everything runs (``"cpu"``, ``"cuda"``); channels_last: the models'
            weights in channels_last; cudnn_benchmark: ``torch.backends.cudnn.benchmark``.
    """

    batch: int = 16
    frames: int = 10
    size: int = 64
    repeats: int = 5
    warmup: int = 3
    train_warmup: int = 3
    naive_repeats: int = 3
    threads: int | None = None
    stream_steps: int = 30
    stream_sizes: list[tuple[int, int]] = field(default_factory=lambda: [(64, 64), (144, 176)])
    bf16: bool = True
    bf16_slow_batch: int = 1
    bf16_slow_frames: int = 2
    bf16_slow_size: int = 64
    curve_steps: int = 30
    scaling: bool = True
    scaling_batch: int = 4
    scaling_sizes: list[tuple[int, int]] = field(
        default_factory=lambda: [(64, 64), (128, 128), (144, 176), (256, 256)]
    )
    scaling_lengths: list[int] = field(default_factory=lambda: [2, 5, 10, 20])
    scaling_length_batch: int = 4
    flow_impl: str = "auto"
    lstm_impl: str = "auto"
    precision: str = "auto"
    device: str = "cpu"
    channels_last: bool = False
    cudnn_benchmark: bool = False

    def model_config(self) -> AEConvLSTMFlowConfig:
        """The paper model's configuration with this run's implementation switches."""
        return AEConvLSTMFlowConfig(flow_impl=self.flow_impl, lstm_impl=self.lstm_impl)

    @classmethod
    def quick(cls, **kw) -> BenchSettings:
        base = dict(
            batch=2,
            frames=3,
            repeats=1,
            warmup=1,
            train_warmup=1,
            naive_repeats=1,
            stream_steps=4,
            bf16_slow_batch=1,
            bf16_slow_frames=1,
            bf16_slow_size=32,
            curve_steps=0,
            scaling=False,
        )
        base.update(kw)
        return cls(**base)


def _memory_path(
    model: AEConvLSTMFlow, batch: int, height: int, width: int, precision: str = "fp32"
) -> str:
    """ "fft" or "direct": how ``model``'s memory convolves in a training step of this shape
    at ``precision`` (asked under the same autocast as the step)."""
    with _autocast(precision, _device_of(model)):
        return "fft" if model.memory.uses_fft(batch, height // 2, width // 2) else "direct"


@dataclass
class _BenchRun:
    """What the steps of :func:`run_bench` share: the settings, the device, the precision
    path, the progress line and the load average logged as each part starts."""

    cfg: BenchSettings
    dev: torch.device
    prec: str
    report: Callable[[str], None]
    load_log: list[list] = field(default_factory=list)

    def say(self, what: str) -> None:
        """Progress, and the 1-minute load average when each part starts."""
        self.load_log.append([what, round(os.getloadavg()[0], 2)])
        self.report(what)

    def place(self, m: nn.Module) -> nn.Module:
        """A model on the benchmark's device (channels_last weights when asked)."""
        m = m.to(self.dev)
        return m.to(memory_format=torch.channels_last) if self.cfg.channels_last else m

    def stream_steps(self, h: int, w: int) -> int:
        """Frames per timed streaming block at (h, w): a third of them above 64x64."""
        steps = self.cfg.stream_steps
        return steps if h * w <= 64 * 64 else max(3, steps // 3)

    def peak(self) -> dict[str, Any]:
        """The 7x7 80->256 convolution's GFLOP/s (batch 16, or the run's batch below 16)."""
        cfg = self.cfg
        peak_batch = 16 if cfg.batch >= 16 else cfg.batch
        return bench_peak(batch=peak_batch, repeats=cfg.repeats, warmup=cfg.warmup, device=self.dev)


def run_bench(cfg: BenchSettings, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every measurement of the module docstring under ``cfg``.

    ``progress`` receives a line as each part starts (default: the ``vstm.bench`` logger).

    Returns:
        the results: ``machine``, ``config`` (``cfg`` as a dict), ``path`` (the chosen
        precision path), ``peak``, ``train``, ``fp32_train``, ``naive_train``, ``infer``,
        ``stream`` (per size), optional ``stream_onnx``, ``bf16_train``, ``bf16_curves``,
        ``scaling_size`` and ``scaling_length``, memory and load figures, and ``summary`` (the
        flat keys of the JSON and the target verdicts); :func:`write_results` writes them.
    """
    report = progress or (lambda s: log.info(s))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(0)
    res: dict[str, Any] = {"machine": machine_info(), "config": asdict(cfg)}
    b, t, s = cfg.batch, cfg.frames, cfg.size
    dev = torch.device(cfg.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = cfg.cudnn_benchmark
        res["machine"]["gpu"] = torch.cuda.get_device_name(dev)
        res["machine"]["machine_class"] = machine_class(probe(), dev)

    native_bf16 = bf16_is_native(dev)
    with warnings.catch_warnings():  # the bf16 measurement below says it when emulated
        warnings.simplefilter("ignore", RuntimeWarning)
        choice: PrecisionChoice = choose_precision(cfg.precision, dev)
    run = _BenchRun(cfg, dev, choice.precision, report)
    res["path"] = choice.to_dict(cfg.lstm_impl)
    res["kernel_rules"] = {  # what the report says of `auto`, from the rule's own constants
        "fft_min_batch": AUTO_MIN_BATCH,
        "fft_max_spectrum_mib": AUTO_MAX_SPECTRUM_BYTES // 2**20,
    }
    report(choice.describe(cfg.lstm_impl))

    run.say("peak: 7x7 80->256 convolution at 32x32, forward + backward")
    peak = res["peak"] = run.peak()
    model = run.place(AEConvLSTMFlow(cfg.model_config()))
    flops = _fwd_flops(model, s, s)
    res["gflop_per_frame_forward"] = flops / 1e9
    train = _bench_training(run, res, model, choice, flops)
    _peak_again(run, peak)

    run.say("vstm model, inference (no gradients)")
    res["infer"] = bench_infer(model, b, t, s, s, cfg.repeats, cfg.warmup)
    _bench_streaming(run, res, model, peak)
    if cfg.bf16:
        _bench_bf16(run, res, model, train, flops, native_bf16)
    if cfg.scaling:
        res["scaling_size"] = _scaling_size(run)
        res["scaling_length"] = _scaling_length(run, flops)
    _finish(run, res)
    return res


def _bench_training(
    run: _BenchRun,
    res: dict[str, Any],
    model: AEConvLSTMFlow,
    choice: PrecisionChoice,
    flops: float,
) -> dict[str, Any]:
    """Train ``model`` on the chosen path (``train``), in fp32 (``fp32_train``: the same
    measurement when the chosen path is fp32) and the naive reference (``naive_train``).
    Returns the chosen path's measurement."""
    cfg, prec = run.cfg, run.prec
    b, t, s = cfg.batch, cfg.frames, cfg.size
    run.say(f"vstm model, training {prec} (the chosen path), batch {b}, {t} frames, {s}x{s}")
    train = bench_train(model, b, t, s, s, cfg.repeats, cfg.train_warmup, prec, flops)
    train["memory_path"] = _memory_path(model, b, s, s, prec)
    res["train"] = train
    res["path"] = choice.to_dict(cfg.lstm_impl, {"lstm": train["memory_path"]})  # as it ran
    res["train_rss_mb"] = peak_rss_mb()  # before anything larger runs in this process
    if prec == "fp32":
        res["fp32_train"] = train
    else:
        run.say("vstm model, training fp32")
        m32 = run.place(AEConvLSTMFlow(cfg.model_config()))
        res["fp32_train"] = bench_train(m32, b, t, s, s, cfg.repeats, cfg.train_warmup, "fp32")
        res["fp32_train"]["memory_path"] = _memory_path(m32, b, s, s)
        del m32

    run.say("naive reference, training fp32")
    naive_model = NaiveAEConvLSTMFlow.from_model(
        AEConvLSTMFlow(AEConvLSTMFlowConfig(flow_impl="direct")).to(run.dev)
    )
    naive = bench_train(naive_model, b, t, s, s, cfg.naive_repeats, cfg.train_warmup, "fp32", flops)
    res["naive_train"] = naive
    del naive_model
    return train


def _peak_again(run: _BenchRun, peak: dict[str, Any]) -> None:
    """Measure the peak again, after the training runs: its median over both samples is the
    reference, so that a slow drift of the machine moves numerator and denominator alike."""
    run.say("peak again, after the training measurements")
    again = run.peak()
    peak["gflops_before"], peak["gflops_after"] = peak["gflops"], again["gflops"]
    peak["times"] = peak["times"] + again["times"]
    peak["seconds"] = statistics.median(peak["times"])
    peak["gflops"] = peak["flops"] / peak["seconds"] / 1e9


def _bench_streaming(
    run: _BenchRun, res: dict[str, Any], model: AEConvLSTMFlow, peak: dict[str, Any]
) -> None:
    """Stream ``model.step`` at batch 1 at every size (``stream``), replayed from CUDA graphs
    on a GPU (``stream_graphs``) and exported to onnxruntime on a CPU (``stream_onnx``)."""
    cfg, dev, prec = run.cfg, run.dev, run.prec
    res["stream"] = {}
    for h, w in cfg.stream_sizes:
        run.say(f"streaming, batch 1, {w}x{h} (width x height), {prec}")
        r = bench_stream(model, h, w, run.stream_steps(h, w), cfg.repeats, cfg.warmup, prec)
        r["precision"] = prec
        r["gflop_per_frame"] = _fwd_flops(model, h, w) / 1e9
        r["fps_at_peak"] = peak["gflops"] / r["gflop_per_frame"]  # every FLOP at the peak rate
        res["stream"][f"{w}x{h}"] = r

    if dev.type == "cuda":
        res["stream_graphs"] = {}
        for h, w in cfg.stream_sizes:
            run.say(f"streaming with CUDA graphs, batch 1, {w}x{h}, {prec}")
            res["stream_graphs"][f"{w}x{h}"] = bench_stream_graphed(
                model, h, w, run.stream_steps(h, w), cfg.repeats, cfg.warmup, prec
            )

    if onnx_available() and dev.type == "cpu":
        run.say("streaming with onnxruntime (the exported step), batch 1, fp32")
        res["stream_onnx"] = bench_stream_onnx(
            model, cfg.stream_sizes, run.stream_steps, cfg.repeats
        )


def _bench_bf16(
    run: _BenchRun,
    res: dict[str, Any],
    model: AEConvLSTMFlow,
    train: dict[str, Any],
    flops: float,
    native_bf16: bool,
) -> None:
    """bf16 autocast training (``bf16_train``): the chosen path's measurement when that is
    bf16, the main setting with native bf16, else a reduced setting once; and the
    fp32-vs-bf16 loss curves (``bf16_curves``) when ``curve_steps`` asks for them."""
    cfg = run.cfg
    b, t, s = cfg.batch, cfg.frames, cfg.size
    if run.prec == "bf16":
        bf = dict(train, setting="same as fp32 (the chosen path)")
    elif native_bf16:
        run.say("vstm model, training bf16 autocast (native bf16)")
        bf = bench_train(model, b, t, s, s, cfg.repeats, cfg.train_warmup, "bf16", flops)
        bf["setting"] = "same as fp32"
        bf["memory_path"] = _memory_path(model, b, s, s, "bf16")
    else:
        bb, bt, bs = cfg.bf16_slow_batch, cfg.bf16_slow_frames, cfg.bf16_slow_size
        run.say(f"vstm model, training bf16 autocast: no native bf16, reduced to batch {bb}")
        bf = bench_train(model, bb, bt, bs, bs, 1, 1, "bf16")
        bf["setting"] = (
            f"reduced to batch {bb}, {bt} frame(s), {bs}x{bs}, 1 run: no native bf16 on "
            "this CPU (emulated), a full step would take minutes"
        )
    res["bf16_train"] = bf
    if cfg.curve_steps > 0:
        run.say(f"bf16 vs fp32 loss curves, {cfg.curve_steps} steps of a small model")
        res["bf16_curves"] = bench_loss_curves(cfg.curve_steps, 2, 4, 32, 16)


def _scaling_size(run: _BenchRun) -> dict[str, Any]:
    """The cost table against frame size: a fresh model trained (fp32) and streamed at each
    of ``scaling_sizes``."""
    cfg, t = run.cfg, run.cfg.frames
    rows = []
    for h, w in cfg.scaling_sizes:
        run.say(f"scaling: training and streaming at {w}x{h}")
        m = run.place(AEConvLSTMFlow(cfg.model_config()))
        tr = bench_train(m, cfg.scaling_batch, t, h, w, 2, 1, "fp32")
        st = bench_stream(m, h, w, max(3, cfg.stream_steps // 3), 2, 1)
        rows.append(
            {
                "size": f"{w}x{h}",
                "gflop_per_frame": _fwd_flops(m, h, w) / 1e9,
                "train_ms_per_frame": 1e3 / tr["fps"],
                "train_gflops": tr["gflops"],
                "stream_ms_per_frame": st["ms_per_frame"],
                "train_memory_path": _memory_path(m, cfg.scaling_batch, h, w),
            }
        )
    return {"batch": cfg.scaling_batch, "frames": t, "rows": rows}


def _scaling_length(run: _BenchRun, flops: float) -> dict[str, Any]:
    """The cost table against sequence length: a fresh model trained (fp32) on clips of each
    of ``scaling_lengths`` frames."""
    cfg, s = run.cfg, run.cfg.size
    rows = []
    for n in cfg.scaling_lengths:
        run.say(f"scaling: training with {n} frames per clip")
        m = run.place(AEConvLSTMFlow(cfg.model_config()))
        tr = bench_train(m, cfg.scaling_length_batch, n, s, s, 2, 1, "fp32", flops)
        rows.append(
            {
                "frames": n,
                "train_memory_path": _memory_path(m, cfg.scaling_length_batch, s, s),
                "train_ms_per_frame": 1e3 / tr["fps"],
                "train_gflops": tr["gflops"],
            }
        )
    return {"batch": cfg.scaling_length_batch, "size": s, "rows": rows}


def _finish(run: _BenchRun, res: dict[str, Any]) -> None:
    """The memory and load figures at the end (whether the machine was idle: this process
    alone keeps about ``threads`` cores busy; more than that is someone else), and the
    ``summary``."""
    res["peak_rss_mb_process"] = peak_rss_mb()
    if run.dev.type == "cuda":
        res["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated(run.dev) / 2**20
    res["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    res["load_log"] = run.load_log
    busiest = max([res["machine"]["load_average"][0]] + [x[1] for x in run.load_log[1:]])
    res["machine"]["idle"] = (
        res["machine"]["load_average"][0] < 1.0 and busiest < torch.get_num_threads() + 1.0
    )
    res["summary"] = summarize(res)


def summarize(res: dict) -> dict:
    """The flat keys of ``--json`` and the target verdicts."""
    peak, tr, nv = res["peak"]["gflops"], res["train"], res["naive_train"]
    st = res["stream"]
    key64 = next(iter(st))
    key176 = "176x144" if "176x144" in st else list(st)[-1]
    out: dict[str, Any] = {
        "peak_gflops": peak,
        "train_fps": tr["fps"],
        "train_gflops": tr["gflops"],
        "train_frac_peak": tr["gflops"] / peak,
        "naive_train_fps": nv["fps"],
        "naive_train_gflops": nv["gflops"],
        "naive_frac_peak": nv["gflops"] / peak,
        "train_speedup_vs_naive": tr["fps"] / nv["fps"],
        "infer_fps": res["infer"]["fps"],
        "stream_fps_64": st[key64]["fps"],
        "stream_fps_176x144": st[key176]["fps"],
        "stream_precision": res.get("path", {}).get("precision", "fp32"),
        "train_precision": tr.get("precision", "fp32"),
        "train_memory_path": tr.get("memory_path"),
        "fp32_train_fps": res.get("fp32_train", tr)["fps"],
        "stream_frac_bound_64": st[key64]["fps"] / st[key64]["fps_at_peak"],
        "stream_frac_bound_176x144": st[key176]["fps"] / st[key176]["fps_at_peak"],
        "machine_class": res["machine"].get("machine_class", "other"),
        "onnx_stream_fps_64": None,
        "onnx_stream_fps_176x144": None,
        "peak_rss_mb": res["train_rss_mb"],
        "threads": res["machine"]["threads"],
        "bf16_native": res["machine"]["bf16_native"],
    }
    if res.get("stream_onnx"):
        so = res["stream_onnx"]
        out["onnx_stream_fps_64"] = so[key64]["fps"]
        out["onnx_stream_fps_176x144"] = so[key176]["fps"]
    if "bf16_train" in res:
        out["bf16_train_fps"] = res["bf16_train"]["fps"]
        out["bf16_speedup_vs_naive"] = res["bf16_train"]["fps"] / nv["fps"]
        out["bf16_setting"] = res["bf16_train"]["setting"]
    else:
        out["bf16_train_fps"] = None
        out["bf16_speedup_vs_naive"] = None
    if "bf16_curves" in res:
        out["bf16_loss_curve_match"] = res["bf16_curves"]["match"]
    out["targets"] = _verdicts(TARGETS, out)
    cls = out["machine_class"]
    out["machine_targets"] = {
        "class": cls,
        "targets": _verdicts(MACHINE_TARGETS.get(cls, MACHINE_TARGETS["other"]), out),
    }
    return out


def _verdicts(targets: dict[str, float], values: dict[str, Any]) -> dict[str, dict]:
    """{key: {target, value, met}}: met is None without a value; peak RSS is an upper bound."""
    verdict = {}
    for key, target in targets.items():
        value = values.get(key)
        met = (
            None
            if value is None
            else (value <= target if key == "peak_rss_mb" else value >= target)
        )
        verdict[key] = {"target": target, "value": value, "met": met}  # fmt: skip
    return verdict


def write_results(
    res: dict[str, Any],
    command: str,
    json_path: str | os.PathLike | None = None,
    md_path: str | os.PathLike | None = None,
) -> None:
    """Write :func:`run_bench`'s results as JSON (flat summary keys at the top level, details
    below) and as the Markdown report (:func:`vstm.experiments.markdown.bench_markdown`)."""

    if json_path:
        payload = {**res["summary"], "command": command, "machine": res["machine"]}
        payload["details"] = {k: v for k, v in res.items() if k not in ("summary", "machine")}
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(payload, indent=2) + "\n")
    if md_path:
        Path(md_path).parent.mkdir(parents=True, exist_ok=True)
        Path(md_path).write_text(bench_markdown(res, command))
