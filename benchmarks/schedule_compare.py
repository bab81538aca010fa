"""Which learning-rate schedule trains further in the same number of steps? Runs compared.

Every run must be the same model under the same protocol (data, seed, batch), trained from
scratch, differing in the schedule (e.g. ``vstm reproduce table1 --recipe fast`` and
``--recipe fast-cosine``). Their validation losses are compared at the steps all of them
validated, up to the shortest run's last step, and each run's held-out test score
(``test_eval.json`` or ``test_eval_*.json`` of ``vstm reproduce table1``) is listed with
the step it was taken at::

    python benchmarks/schedule_compare.py --run fast=RUN_A --run fast-cosine=RUN_B \\
        --out docs/results/x

Writes ``schedule_compare.{md,json,png}`` into ``--out`` with the command and date; the
machine each run trained on is read from its checkpoint header.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
from pathlib import Path

from vstm.io import atomic_write_text
from vstm.train.metrics_log import read_metrics


def read_run(run: Path) -> dict:
    """A run's validation curve, learning rates, schedule, machine and test score."""
    from vstm.experiments.runs import trained_on

    rows = read_metrics(run)
    header = json.loads((run / "last.json").read_text())
    cfg = header.get("train_config") or {}
    test = None
    for f in sorted(run.glob("test_eval*.json")):
        d = json.loads(f.read_text())
        test = {"file": f.name, "step": d["key"]["step"], **d["scores"]}
        break
    return {
        "val": {r["step"]: r["val_loss"] for r in rows if r["kind"] == "val"},
        "lr": {r["step"]: r["lr"] for r in rows if r["kind"] == "train" and "lr" in r},
        "schedule": describe_schedule(cfg),
        "batch_size": cfg.get("batch_size"),
        "steps": header["trainer"]["step"],
        "trained_on": trained_on(header),
        "test": test,
    }


def describe_schedule(cfg: dict) -> str:
    """E.g. "lr 0.001, step: x0.9 every 5 epochs" (runs older than the key used ``step``)."""
    warm = cfg.get("warmup_steps") or 0
    head = f"lr {cfg.get('lr')}" + (f", {warm}-step warm-up" if warm else "")
    if (cfg.get("schedule") or "step") == "cosine":
        return f"{head}, cosine to lr/100 over the run"
    return f"{head}, step: x{cfg.get('lr_decay')} every {cfg.get('decay_every')} epochs"


def compare(runs: dict[str, dict]) -> dict:
    """Validation losses at the steps every run validated (up to the shortest run)."""
    last = min(r["steps"] for r in runs.values())
    common = sorted(set.intersection(*(set(r["val"]) for r in runs.values())))
    common = [s for s in common if s <= last]
    table = [{"step": s, "val": {k: r["val"][s] for k, r in runs.items()}} for s in common]
    best = {k: min(v for s, v in r["val"].items() if s <= last) for k, r in runs.items()}
    return {"up_to_step": last, "rows": table, "best_val_up_to": best}


def markdown(report: dict, command: str) -> str:
    names = list(report["runs"])
    c = report["compare"]
    lines = [
        "# Learning-rate schedules compared at equal steps",
        "",
        f"Command: `{command}`",
        "",
        f"- Date: {report['date']}.",
    ]
    for k, r in report["runs"].items():
        lines.append(
            f"- `{k}`: {r['schedule']}; batch {r['batch_size']}, {r['steps']:,} steps, "
            f"trained on {r['trained_on']}."
        )
    lines += [
        "",
        "Validation loss (BCE per pixel, the run's 256 validation sequences) at the steps both "
        f"runs validated, up to step {c['up_to_step']:,}:",
        "",
        "| step | " + " | ".join(names) + " |",
        "|--:|" + "--:|" * len(names),
    ]
    for row in c["rows"]:
        lines.append(
            f"| {row['step']:,} | " + " | ".join(f"{row['val'][k]:.4f}" for k in names) + " |"
        )
    lines += [
        "",
        "| run | best validation loss up to that step | test BCE (step) |",
        "|---|--:|--:|",
    ]
    for k, r in report["runs"].items():
        t = r["test"]
        test = f"{t['bce']:.4f} ({t['step']:,})" if t else "—"
        lines.append(f"| {k} | {c['best_val_up_to'][k]:.4f} | {test} |")
    lines += ["", "Figure: `schedule_compare.png`.", ""]
    return "\n".join(lines)


def plot(path: Path, runs: dict[str, dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    for k, r in runs.items():
        s = sorted(r["val"])
        a.plot(s, [r["val"][i] for i in s], marker=".", label=k)
        s = sorted(r["lr"])
        b.plot(s, [r["lr"][i] for i in s], label=k)
    a.set(xlabel="step", ylabel="validation loss", title="validation loss")
    b.set(xlabel="step", ylabel="learning rate", title="learning rate", yscale="log")
    a.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", action="append", required=True, help="LABEL=RUN_FOLDER (repeat)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument(
        "--machine",
        action="append",
        default=[],
        help="LABEL=TEXT: the machine of a run whose header predates the record",
    )
    a = p.parse_args(argv)
    runs = {}
    for item in a.run:
        label, _, folder = item.partition("=")
        if not folder or not (Path(folder) / "last.json").is_file():
            p.error(f"--run {item}: give LABEL=RUN_FOLDER, a folder holding last.json")
        runs[label] = read_run(Path(folder))
    for item in a.machine:
        label, _, text = item.partition("=")
        if label not in runs:
            p.error(f"--machine {item}: no --run labelled {label!r}")
        runs[label]["trained_on"] = text
    command = "python benchmarks/schedule_compare.py " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    report = {
        "command": command,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "runs": {
            k: {kk: vv for kk, vv in r.items() if kk not in ("val", "lr")} for k, r in runs.items()
        },
        "compare": compare(runs),
    }
    a.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(a.out / "schedule_compare.json", json.dumps(report, indent=2) + "\n")
    atomic_write_text(a.out / "schedule_compare.md", markdown(report, command))
    plot(a.out / "schedule_compare.png", runs)
    print(markdown(report, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
