"""Flags that several commands share, each defined once: ``--model-option`` (``vstm train``,
``vstm segment train``) and the inference ``--precision`` (``vstm eval``, ``vstm predict``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from vstm.cli.argtypes import parse_option

__all__ = ["add_inference_precision", "add_model_option", "inference_precision", "model_options"]


def add_model_option(add: Callable[..., Any], help_text: str) -> None:
    """``--model-option KEY=VALUE`` (repeatable), read by :func:`model_options`."""
    add("--model-option", action="append", default=[], metavar="KEY=VALUE", help=help_text)


def model_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--model-option`` flags as the ``model_options`` settings ({} if none)."""
    return dict(parse_option(o) for o in args.model_option)


def add_inference_precision(add: Callable[..., Any]) -> None:
    """``--precision`` of a command that runs a trained model."""
    add(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        default="auto",
        help="the model's arithmetic (default auto: bf16 autocast where the machine computes "
        "it natively, fp32 elsewhere; the first log line says which)",
    )


def inference_precision(args: argparse.Namespace, device):
    """Resolve ``--precision`` for ``device`` (a :class:`vstm.system.PrecisionChoice`).

    Printed with the results, not logged first: a user error later in the command stays the
    only line on stderr."""
    from vstm.system import choose_precision

    return choose_precision(args.precision, device)


def train_or_resume(
    resume: str | None,
    flags: dict[str, Any],
    layers: list[dict[str, Any]],
    resumable: set[str],
    task: str | None = None,
    command: str = "vstm train",
):
    """Start a run from config ``layers`` + ``flags``, or continue ``resume``; the run folder.

    A resumed run keeps its settings: flags outside ``resumable`` (and ``out``) are refused.
    With ``task``, both refuse a run of another task (``command`` names the one that trains
    it); a new run refuses an ``--out`` that already holds one. Checked before anything is
    written.
    """
    from pathlib import Path

    from vstm.errors import VstmError
    from vstm.io import check_output_dir
    from vstm.train.config import make_config
    from vstm.train.loop import resume_config, train

    if resume:
        changed = sorted(set(flags) - resumable - {"out"})
        if changed:
            raise VstmError(
                f"--resume keeps the run's settings; cannot change {', '.join(changed)} "
                "(start a new run with --out instead)"
            )
        check_output_dir(resume, "--resume")
        cfg = resume_config(resume, flags | {"out": resume})
        if task is not None and cfg.task != task:
            other = "vstm segment train" if cfg.task == "segmentation" else "vstm train"
            raise VstmError(
                f"{resume} is a {cfg.task} run, not {command}'s; resume it with {other}"
            )
        return train(cfg, resume=True)
    cfg = make_config(*layers, flags)
    if task is not None and cfg.task != task:
        raise VstmError(f"--config says task {cfg.task!r}; {command} trains {task} runs")
    check_output_dir(cfg.out, "--out")
    if (Path(cfg.out) / "last.safetensors").exists():
        raise VstmError(
            f"{cfg.out} already holds a run; continue it with --resume {cfg.out} "
            "or choose another --out"
        )
    return train(cfg)
