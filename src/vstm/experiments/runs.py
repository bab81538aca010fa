"""The run-folder protocol shared by the experiments that train models (Table 1, Figure 6).

An experiment trains each model into its own folder with :func:`vstm.train.loop.train`
(``last.safetensors`` / ``last.json``, ``best.*``, ``config.json``, ``metrics.jsonl``) and
records there, in ``reproduce.json``, the budget it asked for and whether that budget was
spent. Running the experiment again then:

- skips a run whose recorded budget equals the one asked for (:func:`train_model`);
- resumes an unfinished run from ``last.safetensors`` with what is left of a wall-clock budget;
- refuses a run that was trained under another protocol (recipe, data, seed, ...): it would
  be a different row, not a continuation;
- or, with ``--score-only``, takes the run as it is (:func:`scored_as_is`): a run warm-started
  from a checkpoint of the same task (``vstm train --init``, its lineage in its checkpoint)
  may have continued under another recipe, which its row then states.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vstm.errors import VstmError
from vstm.experiments.markdown import schedule_text
from vstm.io import atomic_write_text
from vstm.system import choose_precision, resolve_device
from vstm.train.config import TrainConfig
from vstm.train.lineage import prior_steps
from vstm.train.loop import resume_config, train

if TYPE_CHECKING:
    from vstm.train.config import TrainConfig

__all__ = [
    "checkpoint_of", "continuation_text", "read_json", "scored_as_is", "train_model", "trained_on",
]  # fmt: skip

log = logging.getLogger("vstm.reproduce")

# TrainConfig keys that must match when an existing run folder is resumed
_PROTOCOL_KEYS = (
    "model",
    "model_options",
    "data",
    "binarize",
    "size",
    "context",
    "batch_size",
    "epoch_sequences",
    "loss",
    "w_h",
    "delta",
    "optimizer",
    "lr",
    "lr_decay",
    "decay_every",
    "schedule",
    "warmup_steps",
    "clip",
    "precision",
    "seed",
)


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``; None when the file is missing or not valid JSON (a run
    stopped while writing it counts as not written)."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None


def _check_protocol(
    run_dir: Path, header: dict[str, Any], cfg: TrainConfig, skip: tuple[str, ...] = ()
) -> None:
    """A run trained under another protocol (recipe, data, ...) is an error, not a row;
    ``skip``: keys that do not matter here (scoring a run does not depend on the precision it
    was trained in)."""
    stored = header.get("train_config") or {}
    want = cfg.to_dict()
    if want.get("precision") == "auto":  # compare what auto means on this machine
        want["precision"] = choose_precision("auto", resolve_device(cfg.device, 0)).precision
    import dataclasses

    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    for key in _PROTOCOL_KEYS:  # a key older runs did not record has its default value
        if key not in skip and stored.get(key, defaults.get(key)) != want[key]:
            hint = f" (pass --precision {stored.get(key)})" if key == "precision" else ""
            raise VstmError(
                f"{run_dir} was trained with {key}={stored.get(key)!r}, but this run asks "
                f"for {want[key]!r}; use another --out or the same flags{hint}"
            )


_RECIPE_KEYS = (
    "batch_size", "epoch_sequences", "optimizer", "lr", "lr_decay", "decay_every", "schedule",
    "warmup_steps", "clip", "precision",
)  # fmt: skip
"""Protocol keys a continuation (a warm start) may change: how it trained, not what task."""


def scored_as_is(cfg: TrainConfig) -> dict[str, Any]:
    """``--score-only``: the run's record without training it (its checkpoint must exist).
    A warm-started run is checked on the task's keys only; its record's ``continued`` says
    from what and under which recipe (:func:`continuation_text`)."""
    run_dir = Path(cfg.out)
    header = read_json(run_dir / "last.json")
    has_weights = any((run_dir / n).is_file() for n in ("best.safetensors", "last.safetensors"))
    if header is None or not has_weights:
        raise VstmError(
            f"--score-only: {run_dir} holds no trained run; train it first (leave out "
            "--score-only) or leave it out of --models"
        )
    init = (header.get("trainer") or {}).get("init")
    _check_protocol(run_dir, header, cfg, skip=_RECIPE_KEYS if init else ("precision",))
    record = read_json(run_dir / "reproduce.json") or {}
    if init:
        record["continued"] = continuation_text(header)
    record.setdefault("wall_seconds", float(header["trainer"].get("train_seconds", 0.0)))
    return record


def train_model(
    cfg: TrainConfig, budget: dict[str, Any], skip: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Train ``cfg``'s model into ``cfg.out``, resuming or skipping what earlier runs did.

    Args:
        cfg: the model's TrainConfig (e.g. :func:`vstm.experiments.table1.protocol_config`).
        budget: ``{"epochs", "steps", "budget_minutes"}`` as asked; a run folder whose
            ``reproduce.json`` records the same budget is finished and skipped.
        skip: protocol keys a resumed run may change (see :func:`_check_protocol`).

    Returns:
        the run's ``reproduce.json`` record: budget, ``finished``, ``wall_seconds``.
    """

    run_dir = Path(cfg.out)
    marker = run_dir / "reproduce.json"
    header = read_json(run_dir / "last.json")
    resumable = (run_dir / "last.safetensors").is_file() and header is not None
    if resumable:
        _check_protocol(run_dir, header, cfg, skip)
    record = read_json(marker) or {}
    if resumable and record.get("finished") and record.get("budget") == budget:
        log.info("%s: finished earlier (%s); skipping its training", cfg.model, marker)
        return record
    wall = float(record.get("wall_seconds", 0.0))
    t0 = time.monotonic()
    if resumable:
        used = float(header["trainer"].get("train_seconds", 0.0))
        remaining = None
        if cfg.max_minutes is not None:
            remaining = cfg.max_minutes - used / 60.0
        overrides = {
            "epochs": cfg.epochs,
            "steps": cfg.steps,
            "max_minutes": remaining,
            "device": cfg.device,
        }
        if remaining is not None and remaining <= 0.05:
            log.info(
                "%s: its %.1f-minute budget is spent; not resuming", cfg.model, cfg.max_minutes
            )
        else:
            log.info("%s: resuming %s at step %d", cfg.model, run_dir, header["trainer"]["step"])
            train(resume_config(run_dir, overrides), resume=True)
    else:
        log.info("%s: training into %s", cfg.model, run_dir)
        train(cfg)
    record = {
        "budget": budget,
        "finished": True,
        "wall_seconds": wall + time.monotonic() - t0,
    }
    atomic_write_text(marker, json.dumps(record, indent=2) + "\n")
    return record


def checkpoint_of(run_dir: Path) -> Path:
    """The checkpoint a run is scored with: ``best.safetensors`` (the lowest validation loss),
    else ``last.safetensors``."""
    for name in ("best.safetensors", "last.safetensors"):
        if (run_dir / name).is_file():
            return run_dir / name
    raise VstmError(f"{run_dir} holds no checkpoint; run the command again to train it")


def continuation_text(header: dict[str, Any]) -> str:
    """A warm-started run in words: its start (with the first digits of its file's SHA-256: a
    shipped name may since point at other weights) and its own recipe, e.g. "from
    pretrained:ae-convlstm-flow/moving-mnist (sha256 478f0f31, step 18,750), 900 more steps:
    adam lr 0.0003, cosine decay to lr/100 over the run, batch 16, bf16"."""
    trainer, tc = header.get("trainer") or {}, header.get("train_config") or {}
    init = trainer["init"]
    return (
        f"from {init['source']} (sha256 {str(init.get('sha256'))[:8]}, "
        f"step {int(init.get('step') or 0):,}), "
        f"{int(trainer.get('step') or 0):,} more steps: {tc.get('optimizer')} lr "
        f"{tc.get('lr', 0):g}, {schedule_text(tc)}, batch {tc.get('batch_size')}, "
        f"{tc.get('precision')}"
    )


def trained_on(header: dict[str, Any]) -> str:
    """Where a run's steps ran, from its checkpoint header, e.g. "NVIDIA H200 (bf16)" or
    "AMD EPYC (fp32) to step 642, then NVIDIA H200 (bf16)"; a warm-started run names its
    lineage first ("NVIDIA H200 (bf16) to step 18,750 (pretrained:...), then AMD EPYC
    (bf16)", steps counted over the lineage); runs written before the header kept a record
    give their precision alone."""
    trainer = header.get("trainer") or {}
    prior = prior_steps(trainer)
    own = _segments(header, prior)
    init = trainer.get("init")
    if not init:
        return own
    return f"{trained_on({'trainer': init})} to step {prior:,} ({init['source']}), then {own}"


def _segments(header: dict[str, Any], offset: int) -> str:
    """:func:`trained_on` of the run's own steps, numbered from ``offset``."""
    machines = (header.get("trainer") or {}).get("machines") or []
    if not machines:
        tc = header.get("train_config") or {}
        return f"{tc.get('precision', '?')}, device {tc.get('device', '?')}"
    runs: list[dict[str, Any]] = []  # consecutive segments on the same path merged
    for m in machines:
        same = runs and all(
            runs[-1].get(k) == m.get(k) for k in ("machine", "precision", "processes")
        )
        if not same:
            runs.append(m)
    parts = []
    for i, m in enumerate(runs):
        procs = f" x{m['processes']}" if (m.get("processes") or 1) > 1 else ""
        part = f"{m['machine']}{procs} ({m['precision']})"
        if i + 1 < len(runs):
            part += f" to step {offset + runs[i + 1]['from_step']:,}"
        parts.append(part)
    return ", then ".join(parts)
