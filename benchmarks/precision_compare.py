"""Does bf16 cost quality? Two runs of one model, same seed and data, fp32 and bf16, compared.

The two runs draw the same batches in the same order (same seed), so their training losses
are paired step by step: the mean of the per-step difference (bf16 - fp32) and its standard
error over windows of steps say whether bf16 trains worse beyond the batch-to-batch noise.
Validation losses at the steps both runs validated, and each run's held-out test scores
(``test_eval.json`` of ``vstm reproduce table1``), complete the picture::

    python benchmarks/precision_compare.py --fp32 RUN_A --bf16 RUN_B --out docs/results/x

Writes ``precision_compare.{md,json,png}`` into ``--out`` with the command and date; the
machine is read from each run's checkpoint header (where it recorded one) or given with
``--machine``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import shlex
import statistics
import sys
from pathlib import Path

import numpy as np

from vstm.io import atomic_write_text
from vstm.train.metrics_log import read_metrics


def read_run(run: Path) -> dict:
    """A run's train curve {step: recon}, validation {step: loss}, test scores and speed."""
    rows = read_metrics(run)
    train = {r["step"]: r["recon"] for r in rows if r["kind"] == "train"}
    val = {r["step"]: r["val_loss"] for r in rows if r["kind"] == "val"}
    fps = sorted(r["frames_per_s"] for r in rows if r["kind"] == "train" and "frames_per_s" in r)
    test = None
    for name in ("test_eval.json", "test_eval_h200.json"):
        if (run / name).is_file():
            test = json.loads((run / name).read_text())
            break
    last = json.loads((run / "last.json").read_text())
    return {
        "train": train,
        "val": val,
        "median_frames_per_s": fps[len(fps) // 2] if fps else None,
        "test": test,
        "steps": last["trainer"]["step"],
        "precision": last["train_config"]["precision"],
        "machines": last["trainer"].get("machines"),
    }


def paired(a: dict[int, float], b: dict[int, float], windows: int) -> list[dict]:
    """Mean and standard error of b - a over equal windows of the steps both logged."""
    steps = sorted(set(a) & set(b))
    out = []
    for w in range(windows):
        part = steps[len(steps) * w // windows : len(steps) * (w + 1) // windows]
        if len(part) < 3:
            continue
        d = [b[s] - a[s] for s in part]
        mean, sd = statistics.fmean(d), statistics.stdev(d)
        level = statistics.fmean(a[s] for s in part)
        out.append(
            {
                "steps": [part[0], part[-1]],
                "points": len(part),
                "fp32_mean": level,
                "diff_mean": mean,
                "diff_se": sd / math.sqrt(len(d)),
                "relative": mean / level,
            }
        )
    return out


def draw(path: Path, fp32: dict, bf16: dict, smooth: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 1, figsize=(7, 4))
    for name, run, colour in (("fp32", fp32, "tab:blue"), ("bf16", bf16, "tab:orange")):
        steps = sorted(run["train"])
        k = max(1, smooth)
        cum = np.cumsum([0.0] + [run["train"][s] for s in steps])
        lo = np.maximum(np.arange(1, len(cum)) - k, 0)  # trailing mean of up to k points
        sm = (cum[1:] - cum[lo]) / (np.arange(1, len(cum)) - lo)
        ax.plot(steps, sm, color=colour, lw=1, label=f"{name} train (mean of {k} logs)")
        vs = sorted(run["val"])
        ax.plot(
            vs, [run["val"][s] for s in vs], "o", color=colour, ms=3, label=f"{name} validation"
        )
    ax.set_xlabel("step (batch 16)")
    ax.set_ylabel("BCE per pixel")
    ax.set_ylim(0.04, 0.12)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fp32", type=Path, required=True, help="run folder trained in fp32")
    p.add_argument("--bf16", type=Path, required=True, help="run folder trained in bf16")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--windows", type=int, default=4)
    p.add_argument("--smooth", type=int, default=50, help="logged points per curve average")
    p.add_argument("--machine", default=None, help="label where the runs recorded none")
    args = p.parse_args(argv)
    fp32, bf16 = read_run(args.fp32), read_run(args.bf16)
    common_val = sorted(set(fp32["val"]) & set(bf16["val"]))
    report = {
        "command": shlex.join(
            ["python", "benchmarks/precision_compare.py", *(argv or sys.argv[1:])]
        ),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": args.machine,
        "runs": {
            "fp32": {k: v for k, v in fp32.items() if k not in ("train", "val")},
            "bf16": {k: v for k, v in bf16.items() if k not in ("train", "val")},
        },
        "paired_train": paired(fp32["train"], bf16["train"], args.windows),
        "validation": [
            {"step": s, "fp32": fp32["val"][s], "bf16": bf16["val"][s]} for s in common_val
        ],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "precision_compare.json", json.dumps(report, indent=2) + "\n")
    atomic_write_text(args.out / "precision_compare.md", markdown(report))
    draw(args.out / "precision_compare.png", fp32, bf16, args.smooth)
    print(markdown(report))
    return 0


def markdown(r: dict) -> str:
    f, b = r["runs"]["fp32"], r["runs"]["bf16"]
    lines = [
        "# bf16 against fp32: the same model, seed and batches",
        "",
        f"Command: `{r['command']}`  ",
        f"Date: {r['date']}" + (f"; machine: {r['machine']}" if r["machine"] else "") + ".",
        "",
        f"fp32 run: {f['steps']:,} steps; bf16 run: {b['steps']:,} steps. Training BCE of the "
        "same batch at the same step, bf16 minus fp32 (paired over every logged step of the "
        "window; SE = standard error of that mean):",
        "",
        "| steps | logged | fp32 BCE | bf16 - fp32 | SE | relative |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for w in r["paired_train"]:
        lines.append(
            f"| {w['steps'][0]:,}-{w['steps'][1]:,} | {w['points']} | {w['fp32_mean']:.4f} | "
            f"{w['diff_mean']:+.5f} | {w['diff_se']:.5f} | {100 * w['relative']:+.2f}% |"
        )
    lines += ["", "Validation loss (64 sequences) where both runs validated:", ""]
    lines += ["| step | fp32 | bf16 |", "|--:|--:|--:|"]
    lines += [f"| {v['step']:,} | {v['fp32']:.4f} | {v['bf16']:.4f} |" for v in r["validation"]]
    lines += ["", "Held-out test (each run's best checkpoint, its own step count):", ""]
    lines += [
        "| run | steps | test BCE | EPE px | SSIM | median frames/s |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for name, run in (("fp32", f), ("bf16", b)):
        t = (run["test"] or {}).get("scores") or {}
        step = (run["test"] or {}).get("checkpoint_step")
        fps = run["median_frames_per_s"]

        def g(k: str, spec: str, t: dict = t) -> str:
            return format(t[k], spec) if isinstance(t.get(k), float) else "—"

        lines.append(
            f"| {name} | {step if step is not None else '—'} | {g('bce', '.4f')} | "
            f"{g('epe', '.3f')} | {g('ssim', '.3f')} | {fps:,.0f} |"
            if fps
            else f"| {name} | — | {g('bce', '.4f')} | {g('epe', '.3f')} | {g('ssim', '.3f')} | — |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
