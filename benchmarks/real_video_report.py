"""Real video, side by side: trained runs scored on the held-out OpenCV clips and on
photo-motion's test set, beside copy-last and classical flow.

For each ``--run NAME=DIR`` (a ``vstm train`` run folder, trained with ``--holdout``) it
scores the run's best checkpoint with the Figure 6 protocol (:func:`vstm.experiments.figure6`:
frame 13 from frames 1..12, every held-out frame of every video, 96x96 colour) and, with
``--photo-sequences N``, on the first N sequences of ``photo-motion``'s test split (next-frame
MSE and the end-point error of the model's motion, beside zero motion, DIS and Farnebäck at
constant velocity). It draws the runs' validation curves and writes
``OUT/real_video.{md,json}`` and ``OUT/real_video_curves.png``, each with the exact command,
the machine and the date.

    python benchmarks/real_video_report.py --data data/opencv-samples \\
        --run pixelflow=~/runs/pix_real --run paper=~/runs/paper_real \\
        --curve "pixelflow + photo-motion 50%=~/runs/pix_mix" --out docs/results/real_video
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from vstm.eval.next_frame import (
    classical_predictors,
    copy_last_predictor,
    evaluate_predictor,
    model_predictor,
)
from vstm.experiments.figure6 import ROWS, Figure6Settings, run_figure6
from vstm.io import atomic_write_text
from vstm.models.checkpoint import load_checkpoint, model_outputs
from vstm.system import machine_info
from vstm.train.metrics_log import read_metrics
from vstm.viz import plot_curves


def _pairs(values: list[str], flag: str) -> dict[str, Path]:
    out = {}
    for v in values:
        name, sep, path = v.partition("=")
        if not sep:
            raise SystemExit(f"{flag} takes NAME=DIR, got {v!r}")
        out[name] = Path(path).expanduser()
    return out


def photo_scores(ckpt: Path, sequences: int, context: int, seed: int = 2016) -> dict:
    """Model, copy-last, DIS and Farnebäck on photo-motion's test split (MSE, EPE)."""
    from vstm.data import build_dataset

    model, header = load_checkpoint(ckpt)
    tc = header.get("train_config") or {}
    ds = build_dataset(
        "photo-motion",
        split="test",
        seq_len=context + 1,
        channels=model.in_channels,
        size=tc.get("size") or 96,
        num_sequences=sequences,
        seed=seed,
    )
    loader = DataLoader(ds, batch_size=8)
    rows = {
        "model": evaluate_predictor(model_predictor(model, model_outputs(header)), loader, context)
    }
    rows["copy-last"] = evaluate_predictor(copy_last_predictor, loader, context)
    for name, predictor in classical_predictors().items():
        rows[name] = evaluate_predictor(predictor, loader, context)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="the video folder the runs held out")
    p.add_argument("--run", action="append", default=[], help="NAME=RUN_DIR, scored")
    p.add_argument("--curve", action="append", default=[], help="NAME=RUN_DIR, curve only")
    p.add_argument("--out", required=True)
    p.add_argument("--photo-sequences", type=int, default=96)
    p.add_argument("--checkpoint", default="best.safetensors")
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    runs, curves = _pairs(args.run, "--run"), _pairs(args.curve, "--curve")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/real_video_report.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    report: dict = {
        "command": command,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
        "runs": {},
    }
    series = {}
    for name, run in {**runs, **curves}.items():
        val = read_metrics(run, "val")
        series[f"{name} (validation)"] = ([r["step"] for r in val], [r["val_loss"] for r in val])
    for name, run in runs.items():
        ckpt = run / args.checkpoint
        _, header = load_checkpoint(ckpt)
        tc = header.get("train_config") or {}
        settings = Figure6Settings(
            args.data,
            str(out / name),
            checkpoint=str(ckpt),
            holdout=float(tc.get("holdout") or 0.2),
            size=int(tc.get("size") or 96),
            channels=int((header.get("model_config") or {}).get("in_channels", 3)),
            frame_step=int(tc.get("frame_step") or 2),
            frame_cache="auto",
        )
        fig6 = run_figure6(settings, f"(from {command})")
        entry = {
            "checkpoint": str(ckpt),
            "model": header["model"],
            "model_config": header.get("model_config"),
            "step": (header.get("trainer") or {}).get("step"),
            "train_seconds": (header.get("trainer") or {}).get("train_seconds"),
            "figure6": fig6["table"],
            "test_clips": fig6["test_clips"],
        }
        if args.photo_sequences:
            entry["photo_motion"] = photo_scores(ckpt, args.photo_sequences, settings.context)
        report["runs"][name] = entry
    plot_curves(
        out / "real_video_curves.png",
        series,
        xlabel="step",
        ylabel="validation MSE (held-in real clips)",
        title="real video: validation loss",
        logy=True,
    )
    atomic_write_text(out / "real_video.json", json.dumps(report, indent=2) + "\n")
    atomic_write_text(out / "real_video.md", _markdown(report))
    print((out / "real_video.md").read_text())
    return 0


def _f(x, spec: str) -> str:
    return "—" if x is None or x != x else format(x, spec)


def _markdown(r: dict) -> str:
    m = r["machine"]
    lines = [
        "# Real video: held-out OpenCV clips and photo-motion, side by side",
        "",
        f"Command: `{r['command']}`",
        "",
        f"- Date: {r['date']}. Machine: {m['cpu']}, {m['logical_cores']} logical cores, ISA "
        f"{m['isa']}; torch {m['torch']}.",
        "- Held-out real video: the Figure 6 protocol (frame 13 from frames 1..12 at 96x96 RGB, "
        "every 2nd frame, every held-out frame of the last 20% of each video; the runs never "
        "trained on those frames). MSE averaged over clips.",
        "",
    ]
    for name, e in r["runs"].items():
        t = e["figure6"]
        lines += [
            f"## {name}: `{e['model']}`, step {e['step']}",
            "",
            f"Checkpoint `{e['checkpoint']}`; memory channels "
            f"{(e.get('model_config') or {}).get('hidden_channels')}; "
            f"{_f((e.get('train_seconds') or 0) / 60, '.0f')} min of training.",
            "",
            "| method | MSE | PSNR dB | SSIM | movers AUC |",
            "|---|--:|--:|--:|--:|",
        ]
        for key, row in t.items():
            label = e["model"] if key == "model" else ROWS.get(key, key)
            lines.append(
                f"| {label} | {_f(row.get('mse'), '.5f')} | {_f(row.get('psnr'), '.2f')} | "
                f"{_f(row.get('ssim'), '.4f')} | {_f(row.get('movers_auc'), '.3f')} |"
            )
        videos = sorted(t["model"].get("by_source", {}))
        if videos:
            lines += ["", "| MSE per video | " + " | ".join(videos) + " |"]
            lines.append("|---|" + "--:|" * len(videos))
            for key, row in t.items():
                by = row.get("by_source") or {}
                if not any("mse" in by.get(v, {}) for v in videos):
                    continue
                label = e["model"] if key == "model" else ROWS.get(key, key)
                cells = [_f(by.get(v, {}).get("mse"), ".5f") for v in videos]
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
        if "photo_motion" in e:
            n = e["photo_motion"]["model"]["sequences"]
            lines += [
                "",
                f"photo-motion test split ({n} sequences, frame 13 from 1..12; EPE: end-point "
                "error of the predicted motion t -> t+1 on pixels where it is defined):",
                "",
                "| method | MSE | EPE px |",
                "|---|--:|--:|",
            ]
            for key, row in e["photo_motion"].items():
                label = e["model"] if key == "model" else ROWS.get(key, key)
                lines.append(
                    f"| {label} | {_f(row.get('mse'), '.5f')} | {_f(row.get('epe'), '.3f')} |"
                )
        lines.append("")
    lines += ["Curves: `real_video_curves.png` (validation loss of every run against steps).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
