"""``vstm bench`` on a lent GPU, in one go: bf16 autocast where the device computes it,
channels_last weights, ``cudnn.benchmark``; writes docs/results/bench_gpu.{md,json}.

GPU time is short: this script was tested on CPU (``--device cpu --quick``, see
``tests/test_gpu_bench.py``), so a session with a GPU only runs it::

    python benchmarks/gpu_bench.py                      # full run on cuda (a few minutes)
    python benchmarks/gpu_bench.py --quick              # about a minute
    python benchmarks/gpu_bench.py --device cpu --quick --out /tmp/x   # the CPU check

Every number is labelled with the GPU's name (``machine.gpu``) and the path each measurement
took. On a GPU the streaming step is also measured replayed from a CUDA graph
(:class:`vstm.inference.graphed.GraphedStep`, ``vstm predict --cuda-graphs``), with its largest
difference from the eager step.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import torch

from vstm.errors import VstmError
from vstm.experiments.bench import BenchSettings, run_bench, write_results
from vstm.experiments.markdown import bench_markdown


def config(args: argparse.Namespace) -> BenchSettings:
    """The benchmark settings for ``args`` (--quick on CPU shrinks further: it is a check)."""
    over: dict = {
        "device": args.device,
        "precision": args.precision,
        "channels_last": not args.no_channels_last,
        "cudnn_benchmark": torch.device(args.device).type == "cuda",
        "scaling": not args.no_scaling,
    }
    if args.repeats:
        over["repeats"] = args.repeats
    if not args.quick:
        return BenchSettings(**over)
    over["scaling"] = False
    if torch.device(args.device).type == "cpu":  # the check that the script runs, kept short
        over.update(size=32, stream_sizes=[(32, 32), (32, 48)], bf16=False, threads=1)
    return BenchSettings.quick(**over)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    p.add_argument("--quick", action="store_true", help="batch 2, 3 frames, 1 run, no scaling")
    p.add_argument("--repeats", type=int, help="timed runs per measurement (default 5)")
    p.add_argument("--no-channels-last", action="store_true", help="keep NCHW weights")
    p.add_argument("--no-scaling", action="store_true", help="skip the scaling tables")
    p.add_argument("--out", default="docs/results", help="folder for bench_gpu.{md,json}")
    args = p.parse_args(argv)
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise VstmError("--device cuda: no CUDA device here; pass --device cpu to check the script")
    cfg = config(args)
    argv = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "benchmarks/gpu_bench.py", *argv])
    res = run_bench(cfg, progress=lambda s: print(f"[gpu-bench] {s}", file=sys.stderr, flush=True))
    out = Path(args.out)
    write_results(res, command, out / "bench_gpu.json", out / "bench_gpu.md")
    print(bench_markdown(res, command))
    summary = {k: res["summary"][k] for k in ("train_fps", "stream_fps_64", "stream_fps_176x144")}
    print(json.dumps({"device": res["machine"].get("gpu", "cpu"), **summary}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except VstmError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
