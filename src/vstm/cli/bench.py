"""``vstm bench``: throughput and FLOP utilisation here (:mod:`vstm.experiments.bench`)."""

from __future__ import annotations

import argparse
import shlex
import sys

from vstm.cli.argtypes import positive_int

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``vstm bench``."""
    a = p.add_argument
    a("--quick", action="store_true", help="under a minute: batch 2, 3 frames, 1 run, no scaling")
    a(
        "--threads",
        type=positive_int,
        help="torch intra-op threads (default: torch's, here %(default)s)",
    )
    a("--batch", type=positive_int, help="training batch (default 16)")
    a("--frames", type=positive_int, help="frames per training clip (default 10)")
    a("--repeats", type=positive_int, help="timed runs per measurement, after warm-up (default 5)")
    flow_impls = ["auto", "gemm", "fft", "direct"]  # vstm.ops.select.FLOW_IMPLS, without torch
    a("--flow-impl", choices=flow_impls, help="Θ's convolutions (default auto)")
    a("--lstm-impl", choices=["auto", "fft", "direct"], help="the memory's gate convolution")
    a(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        help="path of the main training and streaming measurements (default auto)",
    )
    a("--no-scaling", action="store_true", help="skip the frame-size / length tables")
    a("--device", help="cpu (default) or cuda[:N]")
    a("--channels-last", action="store_true", help="models' weights in channels_last")
    a("--cudnn-benchmark", action="store_true", help="torch.backends.cudnn.benchmark = True")
    a("--no-bf16", action="store_true", help="skip the bf16 measurements")
    a("--json", metavar="OUT", help="write the results as JSON")
    a("--markdown", metavar="OUT", help="write the results as a Markdown report")


def _command_line(args: argparse.Namespace) -> str:
    """The ``vstm bench ...`` command that reproduces ``args``."""
    parts = ["vstm", "bench"]
    for flag in ("quick", "no_scaling", "no_bf16", "channels_last", "cudnn_benchmark"):
        if getattr(args, flag, False):
            parts.append("--" + flag.replace("_", "-"))
    flags = (
        "threads", "batch", "frames", "repeats", "flow_impl", "lstm_impl", "precision", "device",
        "json", "markdown",
    )  # fmt: skip
    for flag in flags:
        value = getattr(args, flag, None)
        if value is not None:
            parts += ["--" + flag.replace("_", "-"), str(value)]
    return shlex.join(parts)


def run(args: argparse.Namespace) -> int:
    """``vstm bench``: measure, print the report, write --json / --markdown."""
    from vstm.experiments.bench import BenchSettings, run_bench, write_results
    from vstm.experiments.markdown import bench_markdown

    over = {
        k: v
        for k, v in {
            "threads": args.threads,
            "batch": args.batch,
            "frames": args.frames,
            "repeats": args.repeats,
            "flow_impl": args.flow_impl,
            "lstm_impl": args.lstm_impl,
            "precision": getattr(args, "precision", None),
            "device": getattr(args, "device", None),
            "channels_last": getattr(args, "channels_last", False) or None,
            "cudnn_benchmark": getattr(args, "cudnn_benchmark", False) or None,
        }.items()
        if v is not None
    }
    if args.no_scaling:
        over["scaling"] = False
    if args.no_bf16:
        over["bf16"] = False
    cfg = BenchSettings.quick(**over) if args.quick else BenchSettings(**over)
    command = getattr(args, "command_line", None) or _command_line(args)
    res = run_bench(cfg, progress=lambda s: print(f"[bench] {s}", file=sys.stderr, flush=True))
    write_results(res, command, args.json, args.markdown)
    print(bench_markdown(res, command))
    return 0
