"""Does AE-ConvLSTM-flow learn motion in CPU minutes? Θ's learning rate against the paper's.

Trains the paper's model under four recipes with the ``vstm`` command line, one after the
other, scores each with ``vstm eval`` (BCE, MSE, SSIM, and the motion's end-point / angular
error against Moving MNIST's ground truth), and writes the table with the exact commands, the
machine and the date to ``OUT/flow_lr.json`` and ``OUT/flow_lr_table.md``. It runs for four
``--minutes`` budgets plus one ``--more-minutes``, and the evaluations; run it on an otherwise
idle machine, as the budgets are wall clock. docs/results/flow_lr.md discusses a run.

    python benchmarks/bench_flow_lr.py [--minutes 7] [--more-minutes 10] [--out docs/results]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from vstm.system import machine_info

COMMON = ["--binarize", "--batch-size", "16", "--context", "10"]
RECIPES = {
    "adam 1e-3": ["--optimizer", "adam", "--lr", "1e-3"],
    "adam 1e-3, flow x0.1": ["--optimizer", "adam", "--lr", "1e-3", "--flow-lr-scale", "0.1"],
    "rmsprop 1e-4 (paper)": ["--optimizer", "rmsprop", "--lr", "1e-4"],
}
CONTINUED = "adam 1e-3, flow x0.1"


def vstm(*args: str) -> str:
    cmd = [sys.executable, "-m", "vstm", *args]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return shlex.join(["vstm", *args])


def score(run: Path, num: int) -> tuple[dict, str]:
    out = run / "eval.json"
    command = vstm("eval", "--checkpoint", str(run / "last.safetensors"), "--num", str(num),
                   "--json", str(out))  # fmt: skip
    rows = json.loads(out.read_text())["results"]
    steps = json.loads((run / "last.json").read_text())["trainer"]["step"]
    return {"steps": steps, **rows}, command


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=7.0, help="budget per recipe")
    p.add_argument("--more-minutes", type=float, default=10.0, help="then, for the best one")
    p.add_argument("--num", type=int, default=256, help="test sequences")
    p.add_argument("--out", default="docs/results")
    args = p.parse_args(argv)
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, flags in RECIPES.items():
            run = Path(tmp) / name.replace(" ", "_").replace(",", "")
            cmd = vstm("train", *COMMON, *flags, "--max-minutes", str(args.minutes),
                       "--out", str(run))  # fmt: skip
            row, eval_cmd = score(run, args.num)
            results.append({"recipe": name, "train": cmd, "eval": eval_cmd, **row})
            if name == CONTINUED and args.more_minutes > 0:
                cmd2 = vstm("train", "--resume", str(run), "--max-minutes", str(args.more_minutes))
                row, eval_cmd = score(run, args.num)
                results.append(
                    {"recipe": name + ", continued", "train": f"{cmd} && {cmd2}",
                     "eval": eval_cmd, **row}
                )  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "command": shlex.join(["python", "benchmarks/bench_flow_lr.py", *(argv or sys.argv[1:])]),
        "date": started,
        "machine": machine_info(),
        "results": results,
    }
    (out / "flow_lr.json").write_text(json.dumps(payload, indent=2) + "\n")
    lines = [f"Command: `{payload['command']}`  ", f"Date: {started}", "",
             "| recipe | steps | model BCE | model EPE (px) | copy-last EPE (px) |",
             "|---|--:|--:|--:|--:|"]  # fmt: skip
    for r in results:
        model, last = r.get("ae-convlstm-flow", {}), r.get("copy-last-frame", {})
        lines.append(
            f"| {r['recipe']} | {r['steps']} | {model.get('bce', float('nan')):.4f} | "
            f"{model.get('epe', float('nan')):.2f} | {last.get('epe', float('nan')):.2f} |"
        )
    (out / "flow_lr_table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
