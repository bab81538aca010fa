"""What a warm-started run began from: its ``--init`` checkpoint's own training, recorded in
every checkpoint of the run (``trainer["init"]``), so that the compute behind a set of weights
is known after any number of continuations, even once a shipped name points at newer weights.

A lineage record is ``{"source", "sha256", "model", "step", "train_seconds", "machines",
"init"}``: the checkpoint (``pretrained:NAME/DATASET`` or a path) and the SHA-256 of its file,
the step its weights were saved at, the training seconds and machines behind it, and the
record of *its* start when it was warm-started too (None for a run from scratch).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vstm.models import pretrained

__all__ = ["lineage_of", "prior_seconds", "prior_steps", "total_seconds", "total_steps"]


def lineage_of(spec: str | Path, header: dict[str, Any]) -> dict[str, Any]:
    """The lineage record of the checkpoint ``spec`` whose header is ``header``.

    A shipped checkpoint keeps little training state in its header; its manifest entry
    holds the compute (steps, seconds, machine), which is read from there.
    """
    trainer = header.get("trainer") or {}
    record: dict[str, Any] = {
        "source": str(spec),
        "model": header.get("model"),
        "step": trainer.get("step"),
        "train_seconds": trainer.get("train_seconds"),
        "machines": trainer.get("machines"),
        "init": trainer.get("init"),
    }
    if pretrained.is_pretrained(spec):
        entry = pretrained.entry_of(str(spec))
        compute = entry.compute
        record["sha256"] = entry.sha256
        record["train_seconds"] = compute.get("train_seconds", record["train_seconds"])
        machine = str(compute.get("machine", "?")).split(",")[0]  # "NVIDIA H200, bf16, ..."
        record["machines"] = record["machines"] or [
            {"from_step": 0, "machine": machine, "precision": compute.get("precision", "?")}
        ]
    else:
        record["sha256"] = pretrained.sha256_of(Path(spec))
    return record


def _starts(trainer: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The lineage records behind a run, its own start first (none for a run from scratch)."""
    init = trainer.get("init")
    while init:
        yield init
        init = init.get("init")


def prior_steps(trainer: dict[str, Any]) -> int:
    """The optimiser steps behind a run's starting weights, over its whole lineage (0 for a
    run from scratch)."""
    return sum(int(r.get("step") or 0) for r in _starts(trainer))


def prior_seconds(trainer: dict[str, Any]) -> float:
    """The training seconds behind a run's starting weights, over its whole lineage."""
    return sum(float(r.get("train_seconds") or 0.0) for r in _starts(trainer))


def total_steps(trainer: dict[str, Any]) -> int:
    """A checkpoint's optimiser steps, its lineage's included: ``trainer["step"]`` plus
    :func:`prior_steps`."""
    return int(trainer.get("step") or 0) + prior_steps(trainer)


def total_seconds(trainer: dict[str, Any]) -> float | None:
    """A checkpoint's training seconds, its lineage's included (None where a run from
    scratch recorded none)."""
    seconds, prior = trainer.get("train_seconds"), prior_seconds(trainer)
    return seconds if not prior else (seconds or 0.0) + prior
