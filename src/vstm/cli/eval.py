"""``vstm eval``: next-frame metrics of a checkpoint, or a K -> N closed-loop protocol."""

from __future__ import annotations

import argparse
import json

from vstm.cli.argtypes import data_name, nonnegative_int, positive_int
from vstm.cli.options import add_inference_precision, inference_precision

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    a = p.add_argument
    a("--checkpoint", required=True, help="a .safetensors checkpoint (or a run folder)")
    a(
        "--data",
        type=data_name,
        help="moving-mnist or a path (default: the data the model was trained on)",
    )
    a("--mnist-dir", help="folder with MNIST IDX files")
    a(
        "--context",
        type=positive_int,
        default=10,
        help="K: context frames before the scored frame",
    )
    a("--num", type=positive_int, default=1000, help="test sequences (Moving MNIST; default 1000)")
    a("--batch-size", type=positive_int, default=32)
    a(
        "--seed",
        type=nonnegative_int,
        default=0,
        help="seed of the Moving MNIST test set (Table 1's test set: --seed 2016 --num 3000)",
    )
    a("--binarize", action="store_true", default=None, help="binarise (default: as trained)")
    a("--device", default="auto")
    add_inference_precision(a)
    a("--json", help="also write the results as JSON to this file")
    a(
        "--protocol",
        choices=["next-frame", "10to10"],
        default="next-frame",
        help="next-frame (default: frame K from frames <K) or 10to10: OpenSTL's Moving MNIST "
        "10 -> 10 closed-loop forecast (MSE/MAE summed per frame, its SSIM and PSNR)",
    )
    a("--curve", help="10to10: write the per-step error curves (MSE, SSIM) to this PNG")
    a(
        "--figure",
        help="10to10: draw the first --figure-sequences test sequences (inputs | truth | "
        "forecast | flow) to this PNG",
    )
    a("--figure-sequences", type=positive_int, default=3, help="sequences in --figure (default 3)")


def run(args: argparse.Namespace) -> int:
    from vstm.eval.next_frame import CLASSICAL_ROWS, evaluate_checkpoint
    from vstm.io import atomic_write_text, check_output_file
    from vstm.models.checkpoint import load_checkpoint, model_outputs
    from vstm.system import resolve_device

    if args.json:
        check_output_file(args.json, "--json")
    device = resolve_device(args.device)
    path = inference_precision(args, device)
    precision = path.precision
    print(path.describe(None), flush=True)  # the first line: which path this run takes
    model, header = load_checkpoint(args.checkpoint, map_location=device)
    _warn_if_unfit(args, header)
    if args.protocol != "next-frame":
        return _run_protocol(args, model, header, device, precision)
    res = evaluate_checkpoint(
        model,
        header,
        args.checkpoint,
        data=args.data,
        context=args.context,
        num=args.num,
        batch_size=args.batch_size,
        seed=args.seed,
        binarize=args.binarize,
        mnist_dir=args.mnist_dir,
        device=device,
        precision=precision,
        short_hint=f"use a smaller --context (a clip is context + 1 = {args.context + 1} frames)",
    )
    rows, data = res["results"], res["data"]
    cols = ["bce", "mse", "psnr", "ssim", "epe", "angular_error"]
    cols = [c for c in cols if any(c in r for r in rows.values())]
    if model_outputs(header) == "values":  # BCE means nothing on natural images (JSON keeps it)
        cols.remove("bce")
    print(f"{'predictor':<20}" + "".join(f"{c:>14}" for c in cols))
    for name, r in rows.items():
        print(f"{name:<20}" + "".join(f"{r.get(c, float('nan')):>14.5f}" for c in cols))
    how = f", every {res['frame_step']} frames" if res.get("frame_step") else ""
    if res.get("span"):
        how += f", the held-out last {1 - res['span'][0]:g} of every video"
    print(
        f"({rows[header['model']]['sequences']} sequences of {data}, context {args.context}{how})"
    )
    labels = [f"{k}: {v}" for k, v in CLASSICAL_ROWS.items() if k in rows]
    if labels:
        print("(" + "; ".join(labels) + ": flow between the last two context frames)")
    if args.json:
        result = {
            "checkpoint": str(args.checkpoint),
            "data": data,
            "context": args.context,
            "binarize": res["binarize"],
            "frame_step": res.get("frame_step", 1),
            "span": res.get("span"),
            "seed": _test_seed(args, data),
            "precision": precision,
            "results": rows,
        }
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    return 0


def _test_seed(args: argparse.Namespace, data: str) -> int | None:
    """The seed that drew the generated test set (Table 1's: 2016), None for a file's clips."""
    from vstm.data.names import is_generated

    return args.seed if is_generated(data) else None


def _warn_if_unfit(args: argparse.Namespace, header: dict) -> None:
    """One logged line when --data differs from what the checkpoint was trained on."""
    import logging

    from vstm.data.names import is_generated
    from vstm.inference.fit import data_kind, input_mismatch, peek_source

    data = args.data or (header.get("train_config") or {}).get("data") or "moving-mnist"
    if not isinstance(data, str):  # a damaged header: evaluate_checkpoint says so
        return
    peek = None if is_generated(data) or str(data).endswith(".npy") else peek_source(data)
    channels = peek[0] if peek else None
    warning = input_mismatch(header, data_kind(data), channels=channels)
    if warning:
        logging.getLogger("vstm.eval").warning("%s", warning)


def _run_protocol(args: argparse.Namespace, model, header: dict, device, precision: str) -> int:
    """``vstm eval --protocol 10to10``: closed-loop K -> N forecasts, OpenSTL's metrics."""
    from vstm.eval.next_frame import (
        draw_forecasts,
        evaluate_checkpoint_rollout,
        plot_rollout_curves,
    )
    from vstm.io import atomic_write_text

    r = evaluate_checkpoint_rollout(
        model,
        header,
        args.checkpoint,
        args.protocol,
        data=args.data,
        num=args.num,
        batch_size=args.batch_size,
        seed=args.seed,
        binarize=bool(args.binarize),
        mnist_dir=args.mnist_dir,
        device=device,
        precision=precision,
    )
    rows, data = r["results"], r["data"]
    cols = ["mse", "mae", "ssim", "psnr"]
    print(f"{'predictor':<20}" + "".join(f"{c:>12}" for c in cols))
    for name, row in rows.items():
        print(f"{name:<20}" + "".join(f"{row[c]:>12.4f}" for c in cols))
    first = rows[header["model"]]
    print(
        f"({first['sequences']} sequences of {data}, {r['context']} -> {r['horizon']} closed "
        "loop; MSE/MAE summed over each frame's pixels, OpenSTL's SSIM and PSNR)"
    )
    print(f"path: {'bf16 autocast' if precision == 'bf16' else 'fp32'}")
    if args.curve:
        plot_rollout_curves(args.curve, rows)
    if args.figure:
        draw_forecasts(args.figure, model, header, args.checkpoint, args.protocol,
                       sequences=args.figure_sequences, data=args.data, seed=args.seed,
                       binarize=bool(args.binarize), mnist_dir=args.mnist_dir,
                       device=device)  # fmt: skip
    if args.json:
        result = {
            "checkpoint": str(args.checkpoint),
            "protocol": args.protocol,
            "data": data,
            "binarize": r["binarize"],
            "seed": _test_seed(args, data),
            "precision": precision,
            "parameters": sum(p.numel() for p in model.parameters()),
            "results": rows,
        }
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    return 0
