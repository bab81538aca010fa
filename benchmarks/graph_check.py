"""The training step replayed from a CUDA graph against the eager step: same numbers, and
how much faster (issue 23). Run inside a lent-GPU session; tried tiny on CPU by the tests.

From the same seed, weights and batches, it trains the paper model ``--steps`` steps eagerly
and ``--steps`` steps through :class:`vstm.train.graphed.GraphedTrainStep`, and reports the
largest loss difference per step and the largest relative weight difference at the end (bf16
autocast rounds differently from run to run only through kernel choice: the two should agree
to bf16 tolerance), then times each (frames/s, TFLOP/s at 3x the forward FLOPs, and the share
of ``--peak-tflops``). With ``--runs 1,2,4`` it also starts that many graphed trainings at once,
each its own process, and sums their frames/s (several small runs fill a GPU better than one).
With ``--layouts cudnn-benchmark,channels-last,both`` it times one graphed training alone
with each of those settings (``torch.backends.cudnn.benchmark``, weights in channels_last),
beside the plain one: whether either pays in training is measured here, not assumed.

The batches are pre-generated Moving MNIST clips kept on the device and cycled, so the step,
not the data pipeline, is what is timed.

    python benchmarks/graph_check.py --device cuda --out $OUT --steps 40 --runs 1,2,4
    python benchmarks/graph_check.py --device cpu --tiny --out /tmp/g    # the CPU check
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from vstm import build_model
from vstm.data import build_dataset
from vstm.system import autocast
from vstm.train.graphed import GraphedTrainStep, make_optimizer
from vstm.train.loop import param_groups
from vstm.train.task import NextFrameTask

GFLOP_PER_FRAME = 2.129
"""Forward FLOPs of the paper model per 64x64 frame (``vstm info``); training ~3x that."""


def _batches(n: int, batch: int, frames: int, size: int, device) -> list[dict]:
    ds = build_dataset("moving-mnist", split="train", seq_len=frames + 1, size=size,
                       binarize=True, num_sequences=n * batch)  # fmt: skip
    items = [ds[i]["frames"] for i in range(n * batch)]
    return [
        {"frames": torch.stack(items[i * batch : (i + 1) * batch]).to(device)} for i in range(n)
    ]


def _setup(args, device):
    torch.manual_seed(0)
    opts = {"hidden_channels": 8, "flow_kernel": 5, "lstm_kernel": 3} if args.tiny else {}
    model = build_model("ae-convlstm-flow", **opts).to(device).train()
    if getattr(args, "channels_last", False):
        model = model.to(memory_format=torch.channels_last)
    task = NextFrameTask("bce")
    graphed = device.type == "cuda"
    opt = make_optimizer("adam", param_groups(model, 0.1), 1e-3, device, capturable=graphed)
    return model, task, opt


def train(args, device, graph: bool, batches: list[dict], steps: int) -> dict:
    """``steps`` steps, eager or graphed; losses, final weights and timing."""
    model, task, opt = _setup(args, device)
    amp = lambda: autocast(device, args.precision, cache=False)  # noqa: E731
    step = GraphedTrainStep(model, task.batch_loss, opt, amp, clip=1.0,
                            capture=graph and device.type == "cuda")  # fmt: skip
    losses = []
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for i in range(steps):
        if i == 2:  # after the capture and one replay: the timed part
            sync()
            t0 = time.perf_counter()
        step.set_lr(1e-3)  # both: every group at its lr_scale (Θ at a tenth)
        if graph:
            total, _ = step(batches[i % len(batches)])
        else:
            total, _ = _eager(model, task, opt, amp, batches[i % len(batches)])
        losses.append(total)
    sync()
    seconds = time.perf_counter() - t0
    b, t = batches[0]["frames"].shape[:2]
    fps = (steps - 2) * b * (t - 1) / seconds
    return {
        "losses": [float(x) for x in losses],
        "weights": [p.detach().float().cpu() for p in model.parameters()],
        "frames_per_s": fps,
        "tflops": fps * 3 * GFLOP_PER_FRAME / 1000,
    }


def _eager(model, task, opt, amp, batch):
    opt.zero_grad(set_to_none=True)
    with amp():
        parts = task.batch_loss(model, batch)
    parts.total.backward()
    torch.nn.utils.clip_grad_value_(model.parameters(), 1.0)
    opt.step()
    return parts.total.detach(), {}


def _streams(args, device, batches: list[dict], n: int) -> dict:
    """``n`` independent trainings (own weights, optimiser and graph) in this process, each
    step of each replayed on its own stream, for ``args.seconds``: their total frames/s."""
    steps = []
    for i in range(n):
        model, task, opt = _setup(args, device)
        torch.manual_seed(i)  # independent runs: other weights
        for prm in model.parameters():
            prm.data.add_(torch.randn_like(prm) * 1e-3)
        amp = lambda: autocast(device, args.precision, cache=False)  # noqa: E731
        steps.append(GraphedTrainStep(model, task.batch_loss, opt, amp, 1.0,
                                      capture=device.type == "cuda"))  # fmt: skip
    cuda = device.type == "cuda"
    streams = [torch.cuda.Stream() for _ in range(n)] if cuda else [None] * n
    for st in steps:  # capture each (first call), outside the timing
        st(batches[0])
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    sync()
    k, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        for st, stream in zip(steps, streams, strict=True):
            if cuda:
                stream.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(stream):
                    st(batches[k % len(batches)])
            else:
                st(batches[k % len(batches)])
        k += 1
        if cuda and k % 8 == 0:
            for stream in streams:
                torch.cuda.current_stream().wait_stream(stream)
    sync()
    seconds = time.perf_counter() - t0
    b, t = batches[0]["frames"].shape[:2]
    total = k * n * b * (t - 1) / seconds
    return {"runs": n, "steps_each": k, "total_frames_per_s": total,
            "tflops": total * 3 * GFLOP_PER_FRAME / 1000}  # fmt: skip


_LAYOUTS = {
    "cudnn-benchmark": ["--cudnn-benchmark"],
    "channels-last": ["--channels-last"],
    "both": ["--cudnn-benchmark", "--channels-last"],
}
"""``--layouts`` names -> the worker's flags."""


def _workers(args, flags: list[list[str]]) -> list[float]:
    """One graphed training per entry of ``flags`` (its extra worker flags), all at once, each
    its own process for ``args.seconds``: their frames/s."""
    cmd = [sys.executable, __file__, "--worker", "--device", args.device, "--out", "-"]
    cmd += ["--batch", str(args.batch), "--frames", str(args.frames), "--precision"]
    cmd += [args.precision, "--seconds", str(args.seconds)] + (["--tiny"] if args.tiny else [])
    procs = [subprocess.Popen([*cmd, *f], stdout=subprocess.PIPE, text=True) for f in flags]
    return [
        json.loads(pr.communicate()[0].strip().splitlines()[-1])["frames_per_s"] for pr in procs
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--precision", default="bf16")
    p.add_argument("--runs", default="", help="e.g. 1,2,4: graphed trainings at once")
    p.add_argument(
        "--streams",
        type=int,
        default=0,
        help="also N graphed trainings in this one process, each replayed on its own CUDA "
        "stream (separate processes time-slice one GPU; streams of one process can overlap)",
    )
    p.add_argument("--seconds", type=float, default=20, help="each multi-run measurement")
    p.add_argument("--peak-tflops", type=float, default=790.0, help="the chip's bf16 matrix rate")
    p.add_argument(
        "--layouts",
        default="",
        help="e.g. cudnn-benchmark,channels-last,both: one graphed training alone with each",
    )
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--cudnn-benchmark", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--channels-last", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    layouts = [x.strip() for x in args.layouts.split(",") if x.strip()]
    unknown = sorted(set(layouts) - set(_LAYOUTS))
    if unknown:
        p.error(f"--layouts: unknown {', '.join(unknown)}; choose from {', '.join(_LAYOUTS)}")
    if args.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    device = torch.device(args.device)
    if args.tiny:
        args.batch, args.frames, args.steps = 2, 3, min(args.steps, 5)
    size = 32 if args.tiny else 64
    batches = _batches(4, args.batch, args.frames, size, device)
    if args.worker:  # one of several runs at once: graphed steps for --seconds, print frames/s
        model, task, opt = _setup(args, device)
        amp = lambda: autocast(device, args.precision, cache=False)  # noqa: E731
        step = GraphedTrainStep(
            model, task.batch_loss, opt, amp, 1.0, capture=device.type == "cuda"
        )
        n, t0 = 0, None
        while t0 is None or time.perf_counter() - t0 < args.seconds:
            step(batches[n % len(batches)])
            n += 1
            if n == 3 and t0 is None:  # after the capture and warm-up: start the clock
                torch.cuda.synchronize() if device.type == "cuda" else None
                t0, n = time.perf_counter(), 0
        torch.cuda.synchronize() if device.type == "cuda" else None
        print(
            json.dumps({"frames_per_s": n * args.batch * args.frames / (time.perf_counter() - t0)})
        )
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    eager = train(args, device, False, batches, args.steps)
    graph = train(args, device, True, batches, args.steps)
    loss_diff = max(abs(a - b) for a, b in zip(eager["losses"], graph["losses"], strict=True))
    weight_diff = max(
        float((a - b).abs().max() / (a.abs().max() + 1e-12))
        for a, b in zip(eager["weights"], graph["weights"], strict=True)
    )
    report = {
        "command": "python benchmarks/graph_check.py " + " ".join(argv or sys.argv[1:]),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "max_loss_difference": loss_diff,
        "max_relative_weight_difference": weight_diff,
        "eager": {k: v for k, v in eager.items() if k != "weights"},
        "graph": {k: v for k, v in graph.items() if k != "weights"},
        "runs_at_once": {},
    }
    for r in report["eager"], report["graph"]:
        r["peak_fraction"] = r["tflops"] / args.peak_tflops
    for n in [int(x) for x in args.runs.split(",") if x.strip()]:
        fps = _workers(args, [[]] * n)
        report["runs_at_once"][str(n)] = {"each": fps, "total": sum(fps)}
    if layouts:  # each setting alone, beside the plain graphed training
        names = ["plain", *layouts]
        fps = [_workers(args, [_LAYOUTS.get(name, [])])[0] for name in names]
        report["layouts"] = {
            name: {"frames_per_s": f, "tflops": f * 3 * GFLOP_PER_FRAME / 1000}
            for name, f in zip(names, fps, strict=True)
        }
    if args.streams > 0:
        report["streams_in_one_process"] = _streams(args, device, batches, args.streams)
    (args.out / "graph_check.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k not in ("eager", "graph")}, indent=2))
    e, g = report["eager"]["frames_per_s"], report["graph"]["frames_per_s"]
    print(f"eager {e:.0f} frames/s, graph {g:.0f} frames/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
