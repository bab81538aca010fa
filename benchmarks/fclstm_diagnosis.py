"""Why AE-fcLSTM outputs noise after short runs: gate saturation, gradient norms, an lr sweep.

AE-fcLSTM's encoder LSTM reads 16 * 32 * 32 = 16,384 features per frame. With the paper's
U(-0.08, 0.08) weights a gate's pre-activation sums 16,384 terms; and an Adam step moves every
weight by about ``lr`` in a coherent direction, so one step can move a pre-activation by about
16,384 * lr * |x|. This script measures, for the Table 1 protocol (binarised Moving MNIST,
batch 16, 10 frames):

- at initialisation: each LSTM's gate pre-activation spread, the fraction of saturated gate
  units (|pre-activation| > 4, where sigmoid' < 0.02), and each layer's gradient norm;
- after ``--steps`` Adam steps at each learning rate of ``--lrs`` (the ``fast`` recipe
  otherwise): the same saturation numbers, the training BCE curve and the test BCE / SSIM on
  ``--test`` held-out sequences, beside AE-Conv's and copy-last's.

    python benchmarks/fclstm_diagnosis.py --out docs/results --steps 40

Writes ``fclstm_diagnosis.{md,json}`` into ``--out`` (with the command, machine and date).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from vstm.data import build_dataset
from vstm.eval.next_frame import moving_mnist_scores
from vstm.experiments.table1 import PROTOCOL, RECIPES
from vstm.io import atomic_write_text
from vstm.system import cpu_model
from vstm.train.checkpoint import load_checkpoint
from vstm.train.config import make_config
from vstm.train.loop import train
from vstm.train.metrics_log import read_metrics

SATURATED = 4.0


def gate_stats(model, frames: torch.Tensor) -> dict[str, dict[str, float]]:
    """Pre-activation spread and saturated fraction of each fc-LSTM's gates on ``frames``
    (B, T, C, H, W), and each layer's gradient norm of the next-frame BCE."""
    pre: dict[str, list[torch.Tensor]] = {}
    names = {"temporal_encoder": model.temporal_encoder, "temporal_decoder": model.temporal_decoder}
    hooks = [
        cell.linear.register_forward_hook(
            lambda m, i, o, n=name: pre.setdefault(n, []).append(o.detach())
        )
        for name, cell in names.items()
    ]
    model.zero_grad()
    out = model(frames[:, :-1])
    loss = torch.nn.functional.binary_cross_entropy_with_logits(out.pred, frames[:, 1:])
    loss.backward()
    for h in hooks:
        h.remove()
    stats = {}
    for name, outs in pre.items():
        z = torch.cat(outs)  # (B*T, 4*hidden): gate pre-activations i, f, g, o
        stats[name] = {
            "preact_std": float(z.std()),
            "preact_abs_mean": float(z.abs().mean()),
            "saturated": float((z.abs() > SATURATED).float().mean()),
            "grad_norm": float(names[name].linear.weight.grad.norm()),
        }
    for name in ("encoder", "decoder"):
        grads = [p.grad.norm() ** 2 for p in getattr(model, name).parameters()]
        stats[name] = {"grad_norm": float(torch.stack(grads).sum().sqrt())}
    model.zero_grad()
    return stats


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("docs/results"))
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--lrs", default="1e-3,1e-4,3e-5")
    p.add_argument("--test", type=int, default=128)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    p.add_argument("--hidden-units", type=int, default=None, help="smaller model (tests)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.monotonic()
    lrs = [float(x) for x in args.lrs.split(",")]
    options = {"frame_height": args.size, "frame_width": args.size}
    if args.hidden_units:
        options["hidden_units"] = args.hidden_units
    probe = build_dataset(
        "moving-mnist", split="train", num_sequences=8, seq_len=11, size=args.size, binarize=True
    )
    device = torch.device(args.device)
    frames = torch.stack([probe[i]["frames"] for i in range(8)]).to(device)  # (8, 11, 1, S, S)
    results: dict = {"runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for lr in lrs:
            cfg = make_config(
                PROTOCOL,
                RECIPES["fast"],
                {
                    "model": "ae-fclstm",
                    "model_options": options,
                    "size": args.size,
                    "lr": lr,
                    "steps": args.steps,
                    "batch_size": args.batch_size,
                    "val_sequences": 16,
                    "log_every": 1,
                    "device": args.device,
                    "precision": "fp32",
                    "out": str(Path(tmp) / f"lr{lr:g}"),
                },
            )
            if "init" not in results:
                torch.manual_seed(cfg.seed)
                from vstm.models import build_model

                results["init"] = gate_stats(build_model("ae-fclstm", **options).to(device), frames)
            run = train(cfg)
            model, _ = load_checkpoint(run / "last.safetensors")
            model = model.to(device)
            curve = [(r["step"], r["recon"]) for r in read_metrics(run, "train")]
            test = moving_mnist_scores(model, "logits", sequences=args.test, size=args.size)
            results["runs"][f"{lr:g}"] = {
                "curve": curve,
                "test": {k: test[k] for k in ("bce", "mse", "ssim", "psnr")},
                "after": gate_stats(model.train(), frames),
            }
    results.update(
        command="python benchmarks/fclstm_diagnosis.py " + " ".join(argv or sys.argv[1:]),
        machine=(
            torch.cuda.get_device_name(device)
            if device.type == "cuda"
            else f"{cpu_model()}, {torch.get_num_threads()} torch threads"
        ),
        date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        wall_seconds=time.monotonic() - t0,
        steps=args.steps,
        batch_size=args.batch_size,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "fclstm_diagnosis.json", json.dumps(results, indent=2) + "\n")
    atomic_write_text(args.out / "fclstm_diagnosis.md", markdown(results))
    print(markdown(results))
    return 0


def markdown(r: dict) -> str:
    lines = [
        "# AE-fcLSTM: gate saturation, gradient norms and a learning-rate sweep",
        "",
        f"Command: `{r['command']}`  ",
        f"Machine: {r['machine']}; {r['date']}; {r['wall_seconds'] / 60:.1f} min.",
        "",
        f"Gate pre-activations of each fc-LSTM on 8 training clips (10 frames); saturated = "
        f"|pre-activation| > {SATURATED:g} (sigmoid slope < 0.02). Gradient norms of the "
        "next-frame BCE, per layer.",
        "",
        "| state | layer | pre-act std | saturated | grad norm |",
        "|---|---|--:|--:|--:|",
    ]

    def rows(label: str, stats: dict) -> None:
        for layer, s in stats.items():
            std = f"{s['preact_std']:.2f}" if "preact_std" in s else "—"
            sat = f"{100 * s['saturated']:.1f}%" if "saturated" in s else "—"
            lines.append(f"| {label} | {layer} | {std} | {sat} | {s['grad_norm']:.3g} |")

    rows("init", r["init"])
    for lr, run in r["runs"].items():
        rows(f"Adam {lr}, {r['steps']} steps", run["after"])
    lines += [
        "",
        f"Held-out test after {r['steps']} steps of batch {r['batch_size']} (fast recipe "
        "otherwise):",
        "",
        "| Adam lr | first train BCE | last train BCE | test BCE | test SSIM | test PSNR |",
        "|--:|--:|--:|--:|--:|--:|",
    ]
    for lr, run in r["runs"].items():
        c, t = run["curve"], run["test"]
        lines.append(
            f"| {lr} | {c[0][1]:.4f} | {c[-1][1]:.4f} | {t['bce']:.4f} | {t['ssim']:.3f} | "
            f"{t['psnr']:.2f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
