"""Ship a trained run's weights inside the package (``src/vstm/pretrained/``).

Reads a run's checkpoint, writes its weights (no optimiser state) and a manifest entry with
the file's SHA-256, the exact training command, the compute the run received (from its
``last.json`` and ``metrics.jsonl``), its test scores (e.g. the run's ``test_eval.json`` from
``vstm reproduce table1``) and the scores on a small fixed test set that the test suite
recomputes (``tests/models/test_pretrained.py``).

    python tools/release/pack_pretrained.py --run ~/runs/t1-flow/runs/ae-convlstm-flow \\
        --dataset moving-mnist --command "vstm reproduce table1 ..."
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
from pathlib import Path

import torch

from vstm.eval.next_frame import TEST_SEED, moving_mnist_scores
from vstm.models import pretrained
from vstm.models.checkpoint import load_checkpoint, model_outputs, read_checkpoint
from vstm.system import cpu_model
from vstm.train.lineage import prior_steps
from vstm.train.metrics_log import read_metrics

CHECK_SEQUENCES = 32
TOLERANCE = {"bce": 0.005, "mse": 0.005, "epe": 0.01}
"""Relative tolerance of the recomputed check scores (the same file gives the same numbers up
to float summation order on another CPU: measured differences are below 1e-5 relative)."""


def _finite(scores: dict) -> dict:
    return {k: v for k, v in scores.items() if not (isinstance(v, float) and math.isnan(v))}


def _machine_of(last: dict, tc: dict) -> str:
    """The machines a run's steps ran on, from its checkpoint header's record; runs written
    before that record existed were trained where they are packed (or say so with
    --machine)."""
    from vstm.experiments.runs import trained_on

    if (last.get("trainer") or {}).get("machines"):
        return trained_on(last)
    return f"{cpu_model()}, device {tc.get('device', 'cpu')}"


def write_curve(
    metrics: Path, weights: Path, points: int = 300, before: list[dict] | None = None
) -> None:
    """A small copy of the run's learning curve beside the weights (the demo draws it):
    at most ``points`` training rows, evenly spaced, and every validation row. ``before``:
    a continuation's start, the shipped curve of its init up to the step it began from,
    which the run's rows follow (their steps and training seconds counted on from there)."""
    from vstm.io import atomic_write_text

    before = before or []
    offset = max((r["step"] for r in before), default=0)
    seconds = max((r.get("elapsed_s", 0.0) for r in before), default=0.0)
    rows = [{**r, "step": r["step"] + offset} for r in read_metrics(metrics)]
    for r in rows:
        if "elapsed_s" in r:
            r["elapsed_s"] += seconds
    train = [r for r in rows if r.get("kind") == "train"]
    keep = set(range(0, len(train), max(1, len(train) // points))) | {len(train) - 1}
    fields = ("kind", "step", "loss", "recon", "smooth", "val_loss", "elapsed_s")
    small = [r for i, r in enumerate(train) if i in keep]
    small += [r for r in rows if r.get("kind") == "val"]
    small = before + small
    small.sort(key=lambda r: (r["step"], r["kind"] != "train"))
    text = "".join(json.dumps({k: r[k] for k in fields if k in r}) + "\n" for r in small)
    atomic_write_text(weights.with_suffix(".metrics.jsonl"), text)


def _mnist_check(model, outputs: str) -> dict:
    """The check set of a Moving MNIST model: Table 1's first 32 test sequences."""
    from vstm.eval.next_frame import copy_last_predictor, evaluate_predictor, moving_mnist_test_set

    check_scores = moving_mnist_scores(model, outputs, sequences=CHECK_SEQUENCES)
    zero = evaluate_predictor(
        copy_last_predictor,
        torch.utils.data.DataLoader(moving_mnist_test_set(CHECK_SEQUENCES), batch_size=32),
        10,
    )
    return {
        "sequences": CHECK_SEQUENCES,
        "context": 10,
        "size": 64,
        "seed": TEST_SEED,
        "binarize": True,
        "outputs": outputs,
        "scores": _finite(check_scores),
        "zero_motion_epe": zero["epe"],
        "relative_tolerance": TOLERANCE,
    }


ROLLOUT_METRICS = ("mse", "mae", "ssim", "psnr")
"""What a forecasting model's entry records of ``vstm eval --protocol``, scores and check."""


def _rollout_check(model, header: dict, ckpt: Path, protocol: str, seed: int = 0) -> dict:
    """The check set of a forecasting model: ``vstm eval --protocol PROTOCOL`` (closed loop,
    OpenSTL's metrics) on the first ``CHECK_SEQUENCES`` generated grey test sequences, with
    copy-last-frame's scores beside (the test suite recomputes both)."""
    from vstm.eval.next_frame import evaluate_checkpoint_rollout

    res = evaluate_checkpoint_rollout(
        model, header, str(ckpt), protocol, num=CHECK_SEQUENCES, seed=seed, binarize=False
    )
    model_row, copy_row = res["results"][header["model"]], res["results"]["copy-last-frame"]
    return {
        "kind": "rollout",
        "protocol": protocol,
        "sequences": CHECK_SEQUENCES,
        "seed": seed,
        "binarize": False,
        "scores": {k: model_row[k] for k in ROLLOUT_METRICS},
        "copy_last": {k: copy_row[k] for k in ROLLOUT_METRICS},
        "relative_tolerance": {"mse": 0.005, "ssim": 0.005},
    }


def _clip_check(model, outputs: str, tc: dict, args, folder: Path) -> dict:
    """The check set of a video model: ``--check-clips`` held-out clips of ``--check-data``
    (evenly spread over every video's held-out part, as ``vstm reproduce figure6`` cuts them),
    shipped beside the weights as uint8 ``DATASET.check.npz``."""
    import numpy as np

    from vstm.eval.next_frame import clip_scores
    from vstm.experiments.figure6 import heldout_clips
    from vstm.io import atomic_path

    context = int(tc.get("context") or 12) if args.check_context is None else args.check_context
    clips = heldout_clips(
        args.check_data,
        holdout=float(tc.get("holdout") or 0.2),
        seq_len=context + 1,
        size=tc.get("size"),
        channels=model.in_channels,
        frame_step=int(tc.get("frame_step") or 1),
        frame_cache="auto",  # decoded once; clips past a truncated file's end are dropped
    )
    pick = np.unique(np.linspace(0, len(clips) - 1, args.check_clips).round().astype(int))
    frames = torch.stack([clips[int(i)]["frames"] for i in pick])  # (N, T, C, H, W)
    frames = (frames * 255).round().to(torch.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    rel = f"{model.name}/{args.dataset}.check.npz"
    with atomic_path(folder / f"{args.dataset}.check.npz") as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, frames=frames.numpy(), context=np.int64(context))
    return {
        "kind": "clips",
        "file": rel,
        "sequences": len(pick),
        "context": context,
        "source": f"{args.check_data}: held-out clips (last {tc.get('holdout')} of each video)",
        "outputs": outputs,
        "scores": _finite(clip_scores(model, outputs, frames, context)),
        "copy_last": _finite(clip_scores(None, outputs, frames, context)),
        "relative_tolerance": {"mse": 0.005, "ssim": 0.005},
    }


def _init_curve(init: dict | None) -> list[dict]:
    """The shipped learning curve of a continuation's pretrained init, up to the step the
    continuation began from (empty for a run from scratch or from a run folder)."""
    if not init or not pretrained.is_pretrained(init["source"]):
        return []
    curve = (pretrained.ROOT / pretrained.entry_of(init["source"]).file).with_suffix(
        ".metrics.jsonl"
    )
    if not curve.is_file():
        return []
    return [r for r in read_metrics(curve) if r["step"] <= int(init["step"] or 0)]


def _eval_scores(path: Path, model: str, ckpt: Path) -> dict:
    """``--eval-json``: the model's row of a ``vstm eval --json`` file, which must have scored
    this checkpoint on Table 1's test set (seed 2016) in fp32."""
    ev = json.loads(path.read_text())
    problems = [
        f"{k} is {ev.get(k)!r}, not {want!r}"
        for k, want in (("seed", TEST_SEED), ("precision", "fp32"), ("context", 10))
        if ev.get(k) != want
    ]
    if Path(ev.get("checkpoint", "")).resolve() != ckpt.resolve():
        problems.append(f"it scored {ev.get('checkpoint')}, not {ckpt}")
    if problems:
        sys.exit(f"--eval-json {path}: {'; '.join(problems)}")
    return {**_finite(ev["results"][model]), "checkpoint": ckpt.name}


def _add_lineage(header: dict, last: dict, tc: dict, record: dict) -> None:
    """``--init-lineage``: ``record``, the lineage of the run's ``--init``, into the shipped
    header and the compute (a run that kept one itself is left as it is)."""
    if (header.get("trainer") or {}).get("init"):
        return
    if record.get("source") != tc.get("init"):
        sys.exit(f"--init-lineage: the record is of {record.get('source')!r}, but the run "
                 f"started from {tc.get('init')!r}")  # fmt: skip
    header["trainer"]["init"] = last["trainer"]["init"] = record


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="run folder (best.safetensors is shipped)")
    p.add_argument("--dataset", default="moving-mnist")
    p.add_argument("--command", required=True, help="the exact command that trained it")
    p.add_argument("--notes", default="")
    p.add_argument("--checkpoint", default="best.safetensors")
    p.add_argument("--root", type=Path, default=None, help="pretrained folder (tests)")
    p.add_argument(
        "--check-data",
        help="video folder the run held out of training (--holdout): the check set is cut "
        "from its held-out part (default: Moving MNIST's test sequences)",
    )
    p.add_argument("--check-clips", type=int, default=8, help="clips in a video check set")
    p.add_argument("--figure6", help="a video model's figure6.json (its held-out test scores)")
    p.add_argument(
        "--eval-json",
        help="a Moving MNIST model's test scores: `vstm eval --seed 2016 --num 3000 --json` "
        "of the shipped checkpoint (Table 1's test set; default: the run's test_eval.json)",
    )
    p.add_argument("--check-context", type=int, help="context of the video check (default: run's)")
    p.add_argument(
        "--check-protocol",
        choices=["10to10"],
        help="a forecasting model: its check set is this closed-loop protocol on generated "
        "grey Moving MNIST test sequences (and its scores: the run's eval_10to10.json)",
    )
    p.add_argument(
        "--machine",
        help="what trained it, where the run recorded none (default: the run's own record, "
        "else this machine's CPU)",
    )
    p.add_argument(
        "--init-lineage",
        metavar="JSON",
        help="a warm-started run from before checkpoints kept their lineage: the lineage "
        "record of its --init, saved while those weights were the ones it started from "
        "(vstm.train.lineage.lineage_of)",
    )
    args = p.parse_args(argv)
    run = Path(args.run).expanduser()
    ckpt = run / args.checkpoint
    header, tensors = read_checkpoint(ckpt)
    last = json.loads((run / "last.json").read_text())
    tc = header["train_config"] or {}
    if args.init_lineage:
        _add_lineage(header, last, tc, json.loads(Path(args.init_lineage).read_text()))
    steps = int(last["trainer"]["step"])
    compute = {
        "steps": steps,
        "checkpoint_step": int(header["trainer"]["step"]),
        "batch_size": tc.get("batch_size"),
        "sequences": steps * int(tc.get("batch_size", 0)),
        "frames": steps * int(tc.get("batch_size", 0)) * int(tc.get("context", 0)),
        "train_seconds": float(last["trainer"].get("train_seconds", 0.0)),
        "machine": args.machine or _machine_of(last, tc),
        "precision": tc.get("precision"),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
    }
    if last["trainer"].get("init"):  # a continuation: the steps before it (header: lineage)
        compute["prior_steps"] = prior_steps(last["trainer"])
    test_eval = run / "test_eval.json"
    scores = {}
    if args.figure6:  # a video model: its held-out Figure 6 table, the classical rows beside
        fig = json.loads(Path(args.figure6).read_text())
        t = fig["table"]
        scores = {k: t["model"][k] for k in ("mse", "psnr", "ssim", "movers_auc")}
        for row in ("copy-last", "dis", "farneback"):
            scores[f"{row.replace('-', '_')}_mse"] = t[row]["mse"]
        scores["sequences"] = fig["test_clips"]
        scores["protocol"] = fig["command"]
    elif args.check_protocol and (run / f"eval_{args.check_protocol}.json").is_file():
        ev = json.loads((run / f"eval_{args.check_protocol}.json").read_text())
        rows = ev["results"]
        scores = {k: rows[header["model"]][k] for k in ROLLOUT_METRICS}
        scores["copy_last_mse"] = rows["copy-last-frame"]["mse"]
        scores["sequences"] = rows[header["model"]]["sequences"]
        scores["protocol"] = f"vstm eval --protocol {args.check_protocol} (closed loop, grey)"
    elif args.eval_json:
        scores = _eval_scores(Path(args.eval_json), header["model"], ckpt)
    elif test_eval.is_file():
        ev = json.loads(test_eval.read_text())
        scores = {**_finite(ev["scores"]), "checkpoint": ev["key"]["checkpoint"]}
    model, _ = load_checkpoint(ckpt)
    outputs = model_outputs(header)
    root = args.root or pretrained.ROOT
    if args.check_data:
        check = _clip_check(model, outputs, tc, args, root / header["model"])
    elif args.check_protocol:
        check = _rollout_check(model, header, ckpt, args.check_protocol)
    else:
        check = _mnist_check(model, outputs)
    before = _init_curve(last["trainer"].get("init"))  # read before add_entry replaces it
    entry = pretrained.add_entry(
        header,
        tensors,
        dataset=args.dataset,
        command=args.command,
        compute=compute,
        scores=scores,
        check=check,
        notes=args.notes,
        root=args.root,
    )
    write_curve(run / "metrics.jsonl", (args.root or pretrained.ROOT) / entry.file, before=before)
    print(json.dumps({"key": entry.key, "sha256": entry.sha256, "check": check}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
