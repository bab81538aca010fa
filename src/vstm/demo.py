"""``vstm demo``: train the paper's model on Moving MNIST for a few minutes, then draw it.

Leaves in the run folder: ``best.safetensors`` / ``last.safetensors``, ``figure5.png`` (the
paper's Figure 5 layout on held-out test sequences), ``predictions.mp4`` (input | predicted
next frame | flow colour over whole sequences), ``flow_legend.png`` and ``curves.png``.
Running it again continues the same run (or only redraws when training is complete).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch

from vstm.argtypes import positive_float, positive_int

log = logging.getLogger("vstm.demo")

DEMO_SETTINGS = {
    "model": "ae-convlstm-flow",
    "data": "moving-mnist",
    "context": 5,
    "batch_size": 8,
    "optimizer": "adam",
    "lr": 1e-3,
    "flow_lr_scale": 0.1,
    "steps": 100_000,
    "val_sequences": 32,
    "log_every": 10,
}
"""The demo departs from the paper's recipe (RMSprop at 1e-4, 10-frame clips, many epochs) in
the optimiser, learning rate (Θ at a tenth of the rest, see ``TrainConfig.flow_lr_scale``),
batch and clip length only: a few CPU minutes must show the flow forming. The model is the
paper's configuration."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs/demo", help="run folder (default runs/demo)")
    p.add_argument(
        "--minutes", type=positive_float, default=4.0, help="training budget (default 4)"
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--sequences", type=positive_int, default=4, help="test sequences drawn")


def draw(run: Path, sequences: int = 4, device: str | torch.device = "cpu") -> dict[str, Path]:
    """Figure 5, the prediction video, the flow legend and learning curves of a run."""
    from vstm.data import build_dataset
    from vstm.inference import model_outputs
    from vstm.metrics import flow_to_motion
    from vstm.train.checkpoint import load_checkpoint
    from vstm.viz import color_wheel_legend, plot_curves, save_png, write_video
    from vstm.viz.figures import figure5, sequence_panels

    ckpt = run / "best.safetensors"
    if not ckpt.exists():
        ckpt = run / "last.safetensors"
    model, header = load_checkpoint(ckpt, map_location=device)
    tc = header["train_config"]
    ds = build_dataset(
        "moving-mnist",
        split="test",
        seq_len=20,
        channels=model.in_channels,
        size=tc.get("size"),
        binarize=tc.get("binarize", False),
        num_sequences=sequences,
    )
    batch = [ds[i] for i in range(sequences)]
    frames = torch.stack([b["frames"] for b in batch]).to(device)  # (N, 20, C, H, W)
    truth_motion = torch.stack([b["motion"] for b in batch]).to(device)  # (N, 19, 2, H, W)
    outputs = model_outputs(header)
    with torch.no_grad():
        out = model(frames[:, :-1])
    preds = torch.sigmoid(out.pred) if outputs == "logits" else out.pred.clamp(0, 1)
    n, t = out.flow.shape[:2]
    scale = frames.shape[-1] // out.flow.shape[-1]
    motion = flow_to_motion(out.flow.flatten(0, 1), scale=scale).unflatten(0, (n, t))
    k = 10  # as the paper's Figure 5: predict frame 11 from 10 inputs
    paths = {}
    paths["figure"] = run / "figure5.png"
    save_png(
        paths["figure"],
        figure5(
            frames[:, :k].cpu(),
            frames[:, k].cpu(),
            {"prediction": preds[:, k - 1].cpu()},
            motion[:, k - 1].cpu(),
            truth_motion[:, k - 1].cpu(),
        ),
    )
    norm = float(truth_motion.norm(dim=2).max()) or 1.0
    paths["video"] = run / "predictions.mp4"
    write_video(
        paths["video"],
        sequence_panels(frames[:, :-1].cpu(), preds.cpu(), motion.cpu(), norm),
        fps=4,
    )
    paths["legend"] = run / "flow_legend.png"
    save_png(paths["legend"], color_wheel_legend(151))
    rows = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines() if ln]
    tr = [r for r in rows if r["kind"] == "train"]
    va = [r for r in rows if r["kind"] == "val"]
    paths["curves"] = run / "curves.png"
    plot_curves(
        paths["curves"],
        {
            "train loss": ([r["step"] for r in tr], [r["loss"] for r in tr]),
            "validation loss": ([r["step"] for r in va], [r["val_loss"] for r in va]),
        },
        xlabel="step",
        ylabel="loss (BCE + w_H H)",
        title="vstm demo",
        logy=True,
    )
    return paths


def run(args: argparse.Namespace) -> int:
    from vstm.io import check_output_dir
    from vstm.train.config import make_config
    from vstm.train.loop import resume_config, train

    out = check_output_dir(args.out, "--out")
    if (out / "last.safetensors").exists():
        cfg = resume_config(out, {"max_minutes": args.minutes, "device": args.device})
        log.info("continuing the demo run in %s", out)
        train(cfg, resume=True)
    else:
        cfg = make_config(
            DEMO_SETTINGS,
            {
                "out": str(out),
                "max_minutes": args.minutes,
                "device": args.device,
                "precision": args.precision,
            },
        )
        train(cfg)
    paths = draw(out, args.sequences)
    print(f"checkpoint: {out / 'best.safetensors'}")
    for what, p in paths.items():
        print(f"{what}: {p}")
    print(f"next: vstm predict --checkpoint {out / 'best.safetensors'} YOUR_VIDEO.mp4 --out out/")
    return 0
