"""A run's computation path: the precision it trains in (``auto`` resolved, kept across a
resume) and what it records about the machine and the kernels."""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path

import torch

from vstm.system import PrecisionChoice, choose_precision, cpu_model
from vstm.train.config import TrainConfig

__all__ = ["machine_name", "resolve_path"]

log = logging.getLogger("vstm.train")


def resolve_path(cfg: TrainConfig, device: torch.device, run_dir: Path | None) -> PrecisionChoice:
    """The run's precision (``auto`` resolved for ``device``; a resumed run's recorded choice).

    A resumed run keeps its recorded path, on any machine, except where ``auto`` chose bf16
    and this machine does not compute bf16 natively (a run begun on a GPU, resumed on an
    AVX2 CPU): there ``auto`` is resolved again, since emulated bf16 is ~50x slower than
    fp32. Forcing bf16 there (``--precision bf16``) warns.
    """
    if run_dir is not None:
        try:
            recorded = json.loads((run_dir / "config.json").read_text()).get("path")
        except (OSError, json.JSONDecodeError, AttributeError):
            recorded = None
        if isinstance(recorded, dict) and recorded.get("precision") == cfg.precision:
            if recorded.get("requested") == "auto" and recorded["precision"] == "bf16":
                here = choose_precision("auto", device)
                if here.precision != "bf16":
                    log.warning("resumed on a machine without native bf16: %s", here.reason)
                    return here
            with contextlib.suppress(TypeError, KeyError):
                return PrecisionChoice.from_dict(recorded)
    return choose_precision(cfg.precision, device)


def machine_name(device: torch.device) -> str:
    """What ran the steps, e.g. "NVIDIA H200" or "AMD EPYC" (a record, not a decision)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_model()
