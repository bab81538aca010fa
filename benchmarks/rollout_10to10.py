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
from vstm.system import machine_info

OPENSTL_SOURCE = (
    "OpenSTL, docs/en/model_zoos/video_benchmarks.md (github.com/chengtan9907/OpenSTL, "
    "commit 033a2ddc), 'Benchmark of Video Prediction Methods', trained to convergence"
)
OPENSTL_ROWS = [  # (method, params, MSE, MAE, SSIM, PSNR or None), as published
    ("ConvLSTM-S", "15.0M", 46.26, 142.18, 0.878, None),
    ("ConvLSTM-L", "33.8M", 29.88, 95.05, 0.925, None),
    ("PhyDNet", "3.1M", 35.68, 96.70, 0.917, None),
    ("PredRNN", "23.8M", 25.04, 76.26, 0.944, None),
    ("SimVP+gSTA-S", "46.8M", 15.05, 49.80, 0.967, None),
]
ISSUE_ROW = ("ConvLSTM, 200 epochs (as quoted in issue 16)", "15.0M", 29.80, None, 0.9288, None)


def _f(x, nd: int) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def table(results: dict, data: str, sequences: int) -> str:
    lines = [
        "| model | params | MSE | MAE | SSIM | PSNR | source |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, params, m, a, s, p in [*OPENSTL_ROWS, ISSUE_ROW]:
        lines.append(
            f"| {name} | {params} | {_f(m, 2)} | {_f(a, 2)} | {_f(s, 4)} | {_f(p, 2)} | OpenSTL |"
        )
    for name, r in results.items():
        params = "-" if r.get("parameters") is None else f"{r['parameters'] / 1e6:.2f}M"
        lines.append(
            f"| {name} | {params} | {r['mse']:.2f} | {r['mae']:.2f} | {r['ssim']:.4f} | "
            f"{r['psnr']:.2f} | this run: {sequences} sequences of {data} |"
        )
    return "\n".join(lines) + "\n"


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
        results[name] = {**model_row, "parameters": res["parameters"]}
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
