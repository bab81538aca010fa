"""The paper's Table 1 (section 5.1) under one stated protocol: :func:`run_table1`.

The four architectures of Figure 4 (AE-Conv, AE-fcLSTM, AE-ConvLSTM, AE-ConvLSTM-flow) are
trained one after the other, each into ``OUT/runs/<model>/`` with :func:`vstm.train.loop.train`,
under the same protocol: binarised Moving MNIST (64x64, two digits, generated from the same
seed, so every model sees the same sequences in the same order), 10 frames in and the loss
on every next-frame prediction, binary cross-entropy with logits, the same optimiser recipe,
batch, seed and budget. Then all of them, and predictors the paper never had (an oracle that
warps by the true motion; copy the last frame; OpenCV DIS and Farnebäck optical flow
extrapolated at constant velocity), are scored on one fixed held-out test set (the test
digit pool, ``split="test"``, seed :data:`vstm.eval.next_frame.TEST_SEED`, 3,000 sequences by
default): frame 11 given frames 1..10, with :func:`vstm.eval.next_frame.evaluate_predictor`.

Writes into ``OUT``:

- ``table1.json`` / ``table1.md``: per row parameters, per-pixel BCE (the paper's "test
  error"), MSE, SSIM, PSNR, training time, steps, frames seen, evaluation time, beside the
  paper's printed numbers; and a flow table: end-point and angular error of each method's
  motion t -> t+1 against the generator's ground truth on digit pixels;
- ``figure5.png``: the paper's Figure 5 layout (last 4 inputs, truth, each model's
  prediction, the true motion and AE-ConvLSTM-flow's flow);
- ``curves.png``: every model's training and validation loss against training time.

The pictures are drawn by :mod:`vstm.viz` (:func:`~vstm.viz.figures.draw_figure5`,
:func:`~vstm.viz.plots.draw_curves`) from what :func:`figure5_panels` and
:func:`learning_curves` gather; the Markdown is :func:`vstm.experiments.markdown.table1_markdown`.

Running it again skips models whose budget is spent (``runs/<model>/reproduce.json``) and
resumes unfinished ones from ``last.safetensors`` (:mod:`vstm.experiments.runs`); test
scores are cached per checkpoint in ``runs/<model>/test_eval.json``. The command line is
``vstm reproduce table1`` (:mod:`vstm.cli.reproduce`).
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import platform
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from vstm.errors import VstmError
from vstm.eval.next_frame import TEST_SEED
from vstm.experiments.markdown import table1_markdown
from vstm.experiments.runs import checkpoint_of, read_json, scored_as_is, train_model
from vstm.experiments.shipped import runs_from_shipped
from vstm.experiments.table1_scores import (
    evaluate_baselines,
    evaluate_model,
    heldout_test_set,
    last_frame_predictor,
    oracle_scores,
)
from vstm.io import atomic_write_text, check_output_dir
from vstm.metrics import flow_to_motion
from vstm.models import model_facts, to_probabilities
from vstm.models.checkpoint import load_checkpoint, model_outputs
from vstm.system import choose_precision, cpu_model
from vstm.train import distributed as dist_utils
from vstm.train.config import TINY_MODEL_OPTIONS, make_config
from vstm.train.metrics_log import read_metrics
from vstm.viz.figures import draw_figure5
from vstm.viz.plots import draw_curves

if TYPE_CHECKING:
    from vstm.train.config import TrainConfig

__all__ = [
    "BASELINES",
    "MODELS",
    "PAPER_TABLE1",
    "PROTOCOL",
    "RECIPES",
    "Table1Settings",
    "evaluate_baselines",
    "evaluate_model",
    "figure5_panels",
    "heldout_test_set",
    "last_frame_predictor",
    "learning_curves",
    "oracle_scores",
    "protocol_config",
    "run_table1",
]

log = logging.getLogger("vstm.reproduce")

_ORDER = ("ae-conv", "ae-fclstm", "ae-convlstm", "ae-convlstm-flow")
"""The paper's Table 1 row order."""

PAPER_TABLE1: dict[str, tuple[str, int, float]] = {
    # model: (name in the paper, parameters printed, per-pixel test error printed)
    name: (row.label, row.parameters, row.test_error)
    for name in _ORDER
    if (row := model_facts(name).paper) is not None
}
"""The paper's Table 1, in its row order (the registry's ``paper`` rows)."""

MODELS: tuple[str, ...] = tuple(PAPER_TABLE1)

BASELINES: dict[str, str] = {
    "oracle": "oracle: frame t warped by the true motion",
    "copy-last": "copy last frame",
    "dis": "OpenCV DIS, constant velocity",
    "farneback": "OpenCV Farnebäck, constant velocity",
}
"""Rows the paper never had, scored on the same test set."""

_FAST: dict[str, Any] = {
    "optimizer": "adam",
    "lr": 1e-3,
    "lr_decay": 0.9,
    "decay_every": 5,
    "clip": 1.0,
    "flow_lr_scale": 0.1,
}

RECIPES: dict[str, dict[str, Any]] = {
    "paper": {
        "optimizer": "rmsprop",
        "lr": 1e-4,
        "lr_decay": 0.9,
        "decay_every": 5,
        "clip": 1.0,
        "flow_lr_scale": 1.0,
    },
    "fast": dict(_FAST),
    "fast-cosine": {**_FAST, "schedule": "cosine", "warmup_steps": 300},
}
"""Optimiser recipes; one of them for every model of a run. ``paper``: section 4 (RMSprop
from 1e-4, x0.9 every 5 epochs, element-wise gradient clipping, one rate for every layer).
``fast``: Adam at 1e-3, which gets much further in a few CPU minutes, with Θ at a tenth of
that rate (``flow_lr_scale``; only AE-ConvLSTM-flow has a Θ): at the full rate Θ's
14,400-input first layer throws the flow tens of pixels off within the first hundred steps
(measured: 40.6 px end-point error against 3.4 px for a zero flow, BCE 0.139 against 0.111
with the tenth, 7 minutes each; docs/reproduction.md). ``fast-cosine``: the same with a
300-step warm-up and a cosine decay to lr/100 over the run, sized by ``--epochs`` (a
``--budget-minutes`` that ends the run first leaves the rate high)."""

PROTOCOL: dict[str, Any] = {
    "data": "moving-mnist",
    "binarize": True,
    "loss": "bce",
    "context": 10,
    "epoch_sequences": 10_000,
    "val_sequences": 64,
    "save_minutes": 2.5,
    "log_every": 2,
}
"""Training settings shared by every model (TrainConfig keys). The paper generated 10k
training sequences; here an epoch is 10k fresh sequences of the endless generator."""


DEFAULT_TEST_SEQUENCES = 3_000
"""Held-out test sequences when the settings name none."""
DEFAULT_EPOCHS = 50
"""Epochs per model when the settings give neither epochs nor a wall-clock budget."""

# the --tiny preset (TrainConfig keys): seconds per model, for the tests
_TINY: dict[str, Any] = {
    "size": 32,
    "context": 4,
    "batch_size": 4,
    "steps": 3,
    "epoch_sequences": 16,
    "val_sequences": 4,
    "log_every": 1,
}
_TINY_TEST_SEQUENCES = 8


@dataclass(frozen=True)
class Table1Settings:
    """Settings of :func:`run_table1` (the flags of ``vstm reproduce table1``).

    Attributes:
        out: results folder; each model trains into ``out/runs/<model>/``.
        models: a subset of :data:`MODELS`; the table keeps the paper's row order.
        epochs: epochs of 10,000 sequences per model (None: :data:`DEFAULT_EPOCHS` unless
            ``budget_minutes`` is given).
        budget_minutes: wall-clock training minutes per model (validation included).
        recipe: the optimiser recipe of every model, a key of :data:`RECIPES`.
        batch_size: training batch.
        seed: seed of the training data and weights, the same for every model.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N``.
        precision: ``auto``, ``fp32`` or ``bf16``, resolved once for every model (auto: bf16
            where the machine computes it natively).
        test_sequences: held-out test sequences (None: :data:`DEFAULT_TEST_SEQUENCES`, 8 with
            ``tiny``).
        eval_batch_size: test batch.
        figure_sequences: rows of ``figure5.png``.
        threads: torch CPU threads for the run (None: torch's choice); set for the process.
        score_only: train nothing; score the runs already in ``out/runs/`` as they are (each
            with the budget it received; the protocol must match).
        shipped: score the package's shipped weights (with ``score_only``; written into
            ``out/runs/`` by :func:`vstm.experiments.shipped.runs_from_shipped`).
        tiny: debug preset for tests: tiny models on 32x32 frames, 3 steps, 8 test sequences.
    """

    out: str
    models: tuple[str, ...] = MODELS
    epochs: int | None = None
    budget_minutes: float | None = None
    recipe: str = "paper"
    batch_size: int = 16
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    test_sequences: int | None = None
    eval_batch_size: int = 250
    figure_sequences: int = 4
    threads: int | None = None
    score_only: bool = False
    shipped: bool = False
    tiny: bool = False

    def command_line(self) -> str:
        """The canonical command that reproduces this run (every setting that differs from
        its default spelled out as its flag)."""
        parts = ["vstm reproduce table1", f"--out {self.out}"]
        models = [m for m in MODELS if m in self.models]  # the paper's row order
        if models != list(MODELS):
            parts.append(f"--models {','.join(models)}")
        if self.epochs is not None:
            parts.append(f"--epochs {self.epochs}")
        if self.budget_minutes is not None:
            parts.append(f"--budget-minutes {self.budget_minutes:g}")
        parts.append(f"--recipe {self.recipe}")
        defaults = {f.name: f.default for f in fields(self)}
        for name in (
            "batch_size",
            "seed",
            "device",
            "precision",
            "test_sequences",
            "eval_batch_size",
            "figure_sequences",
            "threads",
        ):
            value = getattr(self, name)
            if value != defaults[name]:
                parts.append(f"--{name.replace('_', '-')} {value}")
        if self.score_only or self.shipped:
            parts.append("--shipped" if self.shipped else "--score-only")
        if self.tiny:
            parts.append("--tiny")
        return " ".join(parts)


# ------------------------------------------------------------------------------ training
def protocol_config(
    model: str,
    out: Path,
    *,
    recipe: str,
    batch_size: int,
    seed: int,
    device: str,
    precision: str,
    epochs: int | None,
    budget_minutes: float | None,
    tiny: bool,
) -> TrainConfig:
    """The :class:`~vstm.train.config.TrainConfig` of ``model`` under this run's protocol."""

    layers: list[dict[str, Any]] = [PROTOCOL, RECIPES[recipe]]
    options: dict[str, Any] = {}
    if tiny:
        layers.append(_TINY)
        options.update(TINY_MODEL_OPTIONS[model])
    size = (_TINY if tiny else {}).get("size", 64)
    context = (_TINY if tiny else PROTOCOL)["context"]
    facts = model_facts(model)
    if facts.context_field:  # the K input frames stacked as channels
        options[facts.context_field] = context
    if facts.frame_size:  # one frame size, fixed in the parameters
        options.update(dict.fromkeys(facts.frame_size, size))
    settings: dict[str, Any] = {
        "model": model,
        "model_options": options,
        "out": str(out / "runs" / model),
        "seed": seed,
        "device": device,
        "precision": precision,
        "max_minutes": budget_minutes,
    }
    if not tiny:
        settings["batch_size"] = batch_size
    if epochs is not None:
        settings["epochs"] = epochs
        settings["steps"] = None
    elif budget_minutes is None and not tiny:
        settings["epochs"] = DEFAULT_EPOCHS
    return make_config(*layers, settings)


# ---------------------------------------------------------------------------- evaluation
def figure5_panels(
    run_dirs: dict[str, Path], dataset, context: int, sequences: int, device: torch.device
) -> dict[str, Any]:
    """What Figure 5 shows for the first ``sequences`` test sequences: the keyword arguments
    of :func:`vstm.viz.figures.draw_figure5`.

    Returns:
        ``context`` (N, K, C, H, W) input frames, ``truth`` (N, C, H, W) frame K+1,
        ``predictions``: each model's paper name -> its (N, C, H, W) frame K+1 as
        probabilities, ``motion``: the last flow model's (N, 2, H, W) motion K -> K+1 at image
        resolution (None without one), ``truth_motion``: the true (N, 2, H, W) motion.
    """

    n = min(sequences, len(dataset))
    items = [dataset[i] for i in range(n)]
    frames = torch.stack([b["frames"] for b in items])  # (N, K+1, C, H, W)
    truth_motion = torch.stack([b["motion"][context - 1] for b in items])  # (N, 2, H, W)
    preds: dict[str, torch.Tensor] = {}
    motion = None
    for model_name, run_dir in run_dirs.items():
        model, header = load_checkpoint(checkpoint_of(run_dir), map_location=device)
        with torch.no_grad():
            out = model(frames[:, :context].to(device))
        last = out.pred[:, -1].float().cpu()  # (N, C, H, W)
        preds[PAPER_TABLE1[model_name][0]] = to_probabilities(last, model_outputs(header))
        if out.flow is not None:
            scale = frames.shape[-1] // out.flow.shape[-1]
            motion = flow_to_motion(out.flow[:, -1].float().cpu(), scale=scale)
    return {
        "context": frames[:, :context],
        "truth": frames[:, context],
        "predictions": preds,
        "motion": motion,
        "truth_motion": truth_motion,
    }


def learning_curves(
    run_dirs: dict[str, Path],
) -> dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]], int]]:
    """Each model's paper name -> (train rows, validation rows, batch size) from its run
    folder: the ``runs`` of :func:`vstm.viz.plots.draw_curves`."""

    return {
        PAPER_TABLE1[m][0]: (
            read_metrics(d, "train"),
            read_metrics(d, "val"),
            (read_json(d / "config.json") or {}).get("batch_size", 1),
        )
        for m, d in run_dirs.items()
    }


# ------------------------------------------------------------------------------- machine
def _machine(device: torch.device) -> dict[str, Any]:

    info = {
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": str(device),
        "python": platform.python_version(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


# ----------------------------------------------------------------------------------- main
def _check(s: Table1Settings) -> tuple[list[str], int]:
    """The models in the paper's row order and the number of test sequences, or the
    :class:`~vstm.errors.VstmError` that names the flag at fault."""
    unknown = [m for m in s.models if m not in PAPER_TABLE1]
    if unknown or not s.models:
        raise VstmError(
            f"--models {','.join(s.models)!r}: choose from {', '.join(MODELS)} (comma-separated)"
        )
    if s.recipe not in RECIPES:
        raise VstmError(f"--recipe {s.recipe!r}: choose from {', '.join(sorted(RECIPES))}")
    if s.epochs is not None and s.epochs < 1:
        raise VstmError(f"--epochs must be at least 1, got {s.epochs}")
    if s.budget_minutes is not None and s.budget_minutes <= 0:
        raise VstmError(f"--budget-minutes must be positive, got {s.budget_minutes}")
    if s.batch_size < 1 or s.eval_batch_size < 1:
        raise VstmError("--batch-size and --eval-batch-size must be at least 1")
    n_test = s.test_sequences
    if n_test is None:
        n_test = _TINY_TEST_SEQUENCES if s.tiny else DEFAULT_TEST_SEQUENCES
    if n_test < 1:
        raise VstmError(f"--test-sequences must be at least 1, got {n_test}")
    if s.threads is not None and s.threads < 1:
        raise VstmError(f"--threads must be at least 1, got {s.threads}")
    return [m for m in MODELS if m in s.models], n_test


def run_table1(s: Table1Settings) -> dict[str, Any]:
    """Train (or resume, or with ``score_only`` take as they are) the models of ``s``, score
    them and the baselines on the held-out test set, and write ``table1.json``,
    ``table1.md``, ``figure5.png`` and ``curves.png`` into ``s.out``.

    Returns:
        the report written to ``table1.json``: ``command``, ``date``, ``wall_seconds``,
        ``machine``, ``path`` (the precision path), ``protocol``, ``rows`` (one per model
        and baseline: parameters, ``scores``, training and evaluation time, ...) and
        ``flow`` (end-point and angular error of each method's motion).
    """
    t_start = time.monotonic()
    models, n_test = _check(s)
    if s.threads is not None:
        torch.set_num_threads(s.threads)
    out = check_output_dir(s.out, "--out")
    out.mkdir(parents=True, exist_ok=True)
    command = s.command_line()

    # one precision for every model of the table, resolved once (auto: this machine's path)
    run_path = choose_precision(s.precision, dist_utils.resolve_device(s.device, 0))
    log.info(run_path.describe())

    if s.shipped:
        runs_from_shipped(out, models)
    cfgs = {m: _protocol_config_of(s, m, out, run_path.precision) for m in models}
    first = cfgs[models[0]]
    budget = {
        "epochs": first.epochs if first.steps is None else None,
        "steps": first.steps,
        "budget_minutes": s.budget_minutes,
    }
    device = dist_utils.resolve_device(s.device, 0)
    records = {}
    for i, m in enumerate(models, 1):
        log.info("model %d/%d: %s", i, len(models), m)
        records[m] = scored_as_is(cfgs[m]) if s.score_only else train_model(cfgs[m], budget)
    run_dirs = {m: Path(cfgs[m].out) for m in models}

    context, size = first.context, first.size or 64
    dataset = heldout_test_set(n_test, context, size)
    rows, flow_rows = _model_rows(run_dirs, records, dataset, context, s.eval_batch_size, device)
    log.info("scoring copy-last, DIS and Farnebäck on %d test sequences", n_test)
    base = evaluate_baselines(dataset, context, s.eval_batch_size)
    _add_baseline_rows(base, rows, flow_rows)

    log.info("drawing figure5.png and curves.png")

    draw_figure5(
        out / "figure5.png",
        **figure5_panels(run_dirs, dataset, context, s.figure_sequences, device),
    )
    draw_curves(out / "curves.png", learning_curves(run_dirs), command)

    report = {
        "command": command,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "wall_seconds": time.monotonic() - t_start,
        "machine": _machine(device),
        "path": run_path.to_dict(),
        "protocol": _protocol_record(s, first, budget, n_test),
        "rows": rows,
        "flow": flow_rows,
    }
    atomic_write_text(out / "table1.json", json.dumps(report, indent=2) + "\n")
    paper_best = PAPER_TABLE1["ae-convlstm-flow"][2]
    atomic_write_text(out / "table1.md", table1_markdown(report, paper_best))
    return report


def _protocol_config_of(s: Table1Settings, model: str, out: Path, precision: str) -> TrainConfig:
    """:func:`protocol_config` of ``model`` with the settings of ``s`` and the run's
    resolved ``precision``."""
    return protocol_config(
        model,
        out,
        recipe=s.recipe,
        batch_size=s.batch_size,
        seed=s.seed,
        device=s.device,
        precision=precision,
        epochs=s.epochs,
        budget_minutes=s.budget_minutes,
        tiny=s.tiny,
    )


def _model_rows(
    run_dirs: dict[str, Path],
    records: dict[str, dict[str, Any]],
    dataset,
    context: int,
    batch_size: int,
    device: torch.device,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Score each trained model on the test set: its Table 1 row beside the paper's, and a
    flow row for a model that predicts flow. Returns (rows, flow rows)."""
    rows: list[dict[str, Any]] = []
    flow_rows: list[dict[str, Any]] = []
    for m, run_dir in run_dirs.items():
        ev = evaluate_model(run_dir, dataset, context, batch_size, device)
        name, paper_params, paper_err = PAPER_TABLE1[m]
        steps = ev["steps"]
        rows.append(
            {
                "name": name,
                "key": m,
                "kind": "model",
                "parameters": ev["parameters"],
                "paper_parameters": paper_params,
                "paper_test_error": paper_err,
                "scores": ev["scores"],
                "train_seconds": ev["train_seconds"],
                "wall_seconds": records[m].get("wall_seconds"),
                "steps": steps,
                "sequences_seen": steps * ev["batch_size"],
                "frames_seen": steps * ev["batch_size"] * context,
                "checkpoint_step": ev["checkpoint_step"],
                "trained_on": ev.get("trained_on"),
                "continued": records[m].get("continued"),
                "eval_seconds": ev["eval_seconds"],
            }
        )
        if "epe" in ev["scores"]:
            flow_rows.append(
                {
                    "name": f"{name} (learned, unsupervised)",
                    "key": m,
                    "epe": ev["scores"]["epe"],
                    "angular_error": ev["scores"]["angular_error"],
                }
            )
    return rows, flow_rows


def _add_baseline_rows(
    base: dict[str, dict[str, Any]], rows: list[dict[str, Any]], flow_rows: list[dict[str, Any]]
) -> None:
    """Append each baseline's scores (:func:`evaluate_baselines`) to ``rows`` and its motion's
    accuracy to ``flow_rows`` (all but the oracle, whose motion is the ground truth)."""
    for key, name in BASELINES.items():
        b = base[key]
        rows.append(
            {
                "name": name,
                "key": key,
                "kind": "baseline",
                "parameters": 0,
                "scores": b["scores"],
                "eval_seconds": b.get("eval_seconds"),
                **({"note": b["note"]} if "note" in b else {}),
            }
        )
        if key == "oracle":
            rows[-1].update(eps=b["eps"], wrong_pixels=b["wrong_pixels"])
            continue  # its motion is the ground truth: EPE 0 by construction
        flow_name = "zero motion (copy last frame)" if key == "copy-last" else name
        b_scores = b["scores"]
        flow_rows.append(
            {
                "name": flow_name,
                "key": key,
                "epe": None if b_scores is None else b_scores.get("epe"),
                "angular_error": None if b_scores is None else b_scores.get("angular_error"),
                **({"note": b["note"]} if "note" in b else {}),
            }
        )


def _protocol_record(
    s: Table1Settings, first: TrainConfig, budget: dict[str, Any], n_test: int
) -> dict[str, Any]:
    """The report's ``protocol``: the recipe and the training settings every model shared
    (read from the first model's config), the budget, and the test set."""
    return {
        "recipe": s.recipe,
        **{k: getattr(first, k) for k in RECIPES[s.recipe]},
        "batch_size": first.batch_size,
        "precision": first.precision,
        "seed": first.seed,
        "data": first.data,
        "binarize": first.binarize,
        "size": first.size or 64,
        "context": first.context,
        "loss": first.loss,
        "w_h": first.w_h,
        "epoch_sequences": first.epoch_sequences,
        "val_sequences": first.val_sequences,
        "epochs": budget["epochs"],
        "steps": budget["steps"],
        "budget_minutes": s.budget_minutes,
        "test_split": "test",
        "test_seed": TEST_SEED,
        "test_sequences": n_test,
        "scored_frame": first.context + 1,
        "checkpoint": "best by validation loss",
        "tiny": s.tiny,
        "score_only": s.score_only,
        "shipped": s.shipped,
    }
