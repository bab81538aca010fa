"""The optimiser's parameter groups and the learning-rate schedules."""

from __future__ import annotations

import math

import torch

from vstm.nn import FlowRegressor
from vstm.train.config import TrainConfig

__all__ = ["COSINE_FLOOR", "lr_at", "param_groups"]


def param_groups(
    model: torch.nn.Module, flow_lr_scale: float = 1.0, lr: float | None = None
) -> list[dict]:
    """Optimiser parameter groups: everything at the base rate, Θ at ``flow_lr_scale`` times it.

    One group when the scale is 1 (or the model has no flow regressor), so that checkpoints of
    single-rate runs keep their optimiser layout. Each group carries ``lr_scale`` and, when
    ``lr`` is given, its rate ``lr * lr_scale`` (the trainer sets rates at every step).
    """
    flow = {id(p) for m in model.modules() if isinstance(m, FlowRegressor) for p in m.parameters()}
    if flow_lr_scale == 1.0 or not flow:
        groups = [{"params": list(model.parameters()), "lr_scale": 1.0}]
    else:
        groups = [
            {"params": [p for p in model.parameters() if id(p) not in flow], "lr_scale": 1.0},
            {"params": [p for p in model.parameters() if id(p) in flow], "lr_scale": flow_lr_scale},
        ]
    if lr is not None:
        for g in groups:
            g["lr"] = lr * g["lr_scale"]
    return groups


COSINE_FLOOR = 0.01
"""The cosine schedule ends at this fraction of the peak rate."""


def lr_at(cfg: TrainConfig, step: int, steps_per_epoch: int, total_steps: int) -> float:
    """Learning rate of optimiser step ``step`` (0-based) under ``cfg``'s schedule.

    ``step``: the paper's ``lr * lr_decay ** (epoch // decay_every)``; ``cosine``: half a
    cosine from ``lr`` to ``lr * COSINE_FLOOR`` over ``total_steps``. A warm-up of
    ``cfg.warmup_steps`` scales either linearly from ``1 / warmup_steps`` to 1.

    >>> from vstm.train.config import make_config
    >>> cfg = make_config({"lr": 1.0, "schedule": "cosine", "warmup_steps": 4})
    >>> [round(lr_at(cfg, s, 10, 104), 3) for s in (0, 3, 4, 54, 103)]
    [0.25, 1.0, 1.0, 0.497, 0.01]
    """
    if cfg.schedule == "cosine":
        start = cfg.warmup_steps
        span = max(1, total_steps - 1 - start)
        progress = min(1.0, max(0.0, (step - start) / span))
        scale = COSINE_FLOOR + (1 - COSINE_FLOOR) * 0.5 * (1 + math.cos(math.pi * progress))
    else:
        scale = cfg.lr_decay ** ((step // steps_per_epoch) // cfg.decay_every)
    if cfg.warmup_steps and step < cfg.warmup_steps:
        scale *= (step + 1) / cfg.warmup_steps
    return cfg.lr * scale
