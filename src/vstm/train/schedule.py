"""The optimiser's parameter groups and the learning-rate schedules."""

from __future__ import annotations

import math

import torch

from vstm.nn import FlowRegressor
from vstm.train.config import TrainConfig

__all__ = ["COSINE_FLOOR", "DECAY_MARGIN", "lr_at", "param_groups", "planned_decay", "timed_decay"]


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


def planned_decay(cfg: TrainConfig, total_steps: int) -> tuple[int, int]:
    """The ``wsd`` schedule's decay as planned from the step count: (first decayed step,
    number of decayed steps), the last ``decay_fraction`` of ``total_steps`` (never inside
    the warm-up).

    >>> from vstm.train.config import make_config
    >>> planned_decay(make_config({"schedule": "wsd", "decay_fraction": 0.25}), 100)
    (75, 25)
    """
    length = max(1, round(cfg.decay_fraction * total_steps))
    start = max(cfg.warmup_steps, total_steps - length)
    return start, max(1, total_steps - start)


DECAY_MARGIN = 0.95
"""A decay timed to a minute budget is sized to this fraction of the time left, so that the
rate reaches its floor before ``--max-minutes`` stops the run."""


def timed_decay(cfg: TrainConfig, elapsed_s: float, steps_done: int) -> int:
    """The ``wsd`` decay's length in steps when it is due by the clock, else 0.

    With ``max_minutes``, the decay begins once ``1 - decay_fraction`` of the minutes are
    spent, and lasts as many steps as the rest of the budget holds at the rate measured so far
    (``steps_done`` steps in ``elapsed_s`` seconds, this process), times :data:`DECAY_MARGIN`.

    >>> from vstm.train.config import make_config
    >>> cfg = make_config({"schedule": "wsd", "max_minutes": 10, "decay_fraction": 0.2})
    >>> timed_decay(cfg, 479.0, 479), timed_decay(cfg, 480.0, 480)
    (0, 114)
    """
    if cfg.schedule != "wsd" or cfg.max_minutes is None or steps_done < 1:
        return 0
    budget = cfg.max_minutes * 60
    if elapsed_s < (1 - cfg.decay_fraction) * budget:
        return 0
    per_step = elapsed_s / steps_done
    return max(1, int(DECAY_MARGIN * (budget - elapsed_s) / per_step))


def lr_at(
    cfg: TrainConfig,
    step: int,
    steps_per_epoch: int,
    total_steps: int,
    decay: tuple[int, int] | None = None,
) -> float:
    """Learning rate of optimiser step ``step`` (0-based) under ``cfg``'s schedule.

    ``step``: the paper's ``lr * lr_decay ** (epoch // decay_every)``; ``cosine``: half a
    cosine from ``lr`` to ``lr * COSINE_FLOOR`` over ``total_steps``; ``wsd`` (warm-up,
    stable, decay): ``lr`` until the decay, then such a half cosine over the decay's steps,
    ``decay`` = (first decayed step, length), or :func:`planned_decay` when None. A warm-up
    of ``cfg.warmup_steps`` scales any of them linearly from ``1 / warmup_steps`` to 1.

    >>> from vstm.train.config import make_config
    >>> cfg = make_config({"lr": 1.0, "schedule": "cosine", "warmup_steps": 4})
    >>> [round(lr_at(cfg, s, 10, 104), 3) for s in (0, 3, 4, 54, 103)]
    [0.25, 1.0, 1.0, 0.497, 0.01]
    >>> wsd = make_config({"lr": 1.0, "schedule": "wsd", "decay_fraction": 0.5})
    >>> [round(lr_at(wsd, s, 10, 8), 3) for s in (0, 3, 4, 5, 7)]
    [1.0, 1.0, 0.855, 0.505, 0.01]
    """
    if cfg.schedule == "cosine":
        start = cfg.warmup_steps
        span = max(1, total_steps - 1 - start)
        scale = _half_cosine((step - start) / span)
    elif cfg.schedule == "wsd":
        start, length = decay if decay is not None else planned_decay(cfg, total_steps)
        scale = _half_cosine((step - start + 1) / length)
    else:
        scale = cfg.lr_decay ** ((step // steps_per_epoch) // cfg.decay_every)
    if cfg.warmup_steps and step < cfg.warmup_steps:
        scale *= (step + 1) / cfg.warmup_steps
    return cfg.lr * scale


def _half_cosine(progress: float) -> float:
    """1 at ``progress`` <= 0 down to :data:`COSINE_FLOOR` at >= 1 along half a cosine."""
    progress = min(1.0, max(0.0, progress))
    return COSINE_FLOOR + (1 - COSINE_FLOOR) * 0.5 * (1 + math.cos(math.pi * progress))
