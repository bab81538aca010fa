"""Moving MNIST 10 -> 10 in OpenSTL's convention: the shipped checkpoints beside OpenSTL's rows.

Runs ``vstm eval --protocol 10to10`` on each checkpoint (closed-loop rollout of 10 frames
after 10 context frames; MSE and MAE summed over each frame's 64x64 pixels; OpenSTL's SSIM
options, :data:`vstm.eval.next_frame.OPENSTL_SSIM`), and writes ``OUT/rollout_10to10.json``, a
markdown table ``OUT/rollout_10to10_table.md`` that places the rows under OpenSTL's
published ones, and the per-step curves ``OUT/rollout_10to10_curve.png`` (+ ``_ssim``).

    python benchmarks/rollout_10to10.py --checkpoint ae-convlstm-flow=runs/flow/best.safetensors \\
        [--checkpoint ...] [--data mnist_test_seq.npy] [--num 10000] [--out docs/results]

Without ``--data`` it scores the generated Moving MNIST test set (``--num`` sequences).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path

from vstm.cli import main as vstm_main
from vstm.models.checkpoint import read_checkpoint
from vstm.system import machine_info

OPENSTL_SOURCE = (
    "OpenSTL, docs/en/model_zoos/video_benchmarks.md (github.com/chengtan9907/OpenSTL, "
    "commit c74deb5d, 2024-03-04), 'STL Benchmarks on MMNIST': best of three trials, Adam "
    "with OneCycle, one GPU"
)
OPENSTL_ROWS = [  # (method, setting, params, MSE, MAE, SSIM, PSNR or None), as published
    ("ConvLSTM-S", "200 epochs", "15.0M", 29.80, 90.64, 0.9288, 22.10),
    ("ConvLSTM-L", "200 epochs", "33.8M", 27.78, 86.14, 0.9343, 22.44),
    ("PhyDNet", "200 epochs", "3.1M", 28.19, 78.64, 0.9374, 22.62),
    ("PredRNN", "200 epochs", "23.8M", 23.97, 72.82, 0.9462, 23.28),
    ("PredRNN++", "200 epochs", "38.6M", 22.06, 69.58, 0.9509, 23.65),
    ("MAU", "200 epochs", "4.5M", 26.86, 78.22, 0.9398, 22.76),
    ("SimVP+gSTA-S", "200 epochs", "46.8M", 26.69, 77.19, 0.9402, None),  # its PSNR: see doc
    ("TAU", "200 epochs", "44.7M", 24.60, 71.93, 0.9454, 23.19),
    ("DMVFN (flow warping)", "200 epochs", "3.5M", 123.67, 179.96, 0.8140, 16.15),
    ("PredNet", "200 epochs", "12.5M", 161.38, 201.16, 0.7783, 14.33),
    ("ConvLSTM-S", "2000 epochs", "15.0M", 22.41, 73.07, 0.9480, 23.54),
    ("PhyDNet", "2000 epochs", "3.1M", 20.35, 61.47, 0.9559, 24.21),
    ("PredRNN++", "2000 epochs", "38.6M", 14.07, 48.91, 0.9698, 26.37),
]
"""OpenSTL's current Moving MNIST rows (a selection: the ConvLSTMs, the small models, the
best, and the flow-warping DMVFN). SimVP's PSNR (38.35) is printed on another scale than the
other rows' (~22-26) and is left out."""


def _f(x, nd: int) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def table(results: dict, data: str, sequences: int) -> str:
    lines = [
        "| model | params | training | MSE | MAE | SSIM | PSNR | source |",
        "|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for name, setting, params, m, a, s, p in OPENSTL_ROWS:
        lines.append(
            f"| {name} | {params} | {setting} | {_f(m, 2)} | {_f(a, 2)} | {_f(s, 4)} | "
            f"{_f(p, 2)} | OpenSTL |"
        )
    for name, r in results.items():
        params = "-" if r.get("parameters") is None else f"{r['parameters'] / 1e6:.2f}M"
        lines.append(
            f"| {name} | {params} | {r.get('training', 'none')} | {r['mse']:.2f} | "
            f"{r['mae']:.2f} | {r['ssim']:.4f} | {r['psnr']:.2f} | this run: {sequences} "
            f"sequences of {data} |"
        )
    return "\n".join(lines) + "\n"


def training(path: str) -> str:
    """How a checkpoint was trained, from its own header: steps, batch, objective, data.

    e.g. "18,750 steps x 16, next-frame, binarised"; "2,000 steps x 8, 10 -> 10 closed loop,
    grey"."""
    header, _ = read_checkpoint(path)  # a pretrained:NAME/DATASET spec too
    tc, trainer = header.get("train_config"), header.get("trainer") or {}
    if not tc:
        return "not recorded"
    step = trainer.get("step")
    horizon = tc.get("horizon") or 1
    goal = "next-frame" if horizon == 1 else f"{tc.get('context')} -> {horizon} closed loop"
    steps = "?" if step is None else f"{step:,}"
    grey = "binarised" if tc.get("binarize") else "grey"
    return f"{steps} steps x {tc.get('batch_size')}, {goal}, {grey}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", action="append", required=True, metavar="NAME=PATH")
    p.add_argument("--data", default="moving-mnist", help="moving-mnist or mnist_test_seq.npy")
    p.add_argument("--num", type=int, default=10000, help="test sequences (default 10000)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--out", default="docs/results")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    commands = []
    for spec in args.checkpoint:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = Path(spec).parent.name or spec, spec
        with tempfile.TemporaryDirectory() as d:
            js = Path(d) / "r.json"
            cmd = ["eval", "--checkpoint", path, "--protocol", "10to10", "--data", args.data]
            cmd += ["--num", str(args.num), "--batch-size", str(args.batch_size)]
            cmd += ["--curve", str(out / f"rollout_10to10_curve_{name}.png")]
            commands.append("vstm " + " ".join(cmd))
            if vstm_main([*cmd, "--json", str(js)]) != 0:
                return 2
            res = json.loads(js.read_text())
        rows = res["results"]
        model_row = next(v for k, v in rows.items() if k != "copy-last-frame")
        results[name] = {**model_row, "parameters": res["parameters"], "training": training(path)}
        results.setdefault("copy-last-frame", {**rows["copy-last-frame"], "parameters": None})
    sequences = next(iter(results.values()))["sequences"]
    text = table(results, args.data, sequences)
    (out / "rollout_10to10_table.md").write_text(text)
    payload = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "commands": commands,
        "openstl_source": OPENSTL_SOURCE,
        "results": results,
    }
    (out / "rollout_10to10.json").write_text(json.dumps(payload, indent=2) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
