"""The whole training step captured once in a CUDA graph and replayed (``--cuda-graph``).

One optimiser step of these models is hundreds of small kernels (ten ConvLSTM steps of a few
convolutions each); on a GPU the host's launches, not the GPU, set the pace. A CUDA graph
records forward, backward, gradient clipping and the optimiser's update once and replays them
with one launch (DESIGN section 9). What that needs, and what this module provides:

- **static buffers**: every batch is copied into the same device tensors before a replay;
- **the learning rate as a device tensor**: the optimiser is built with ``capturable=True``
  and a tensor ``lr`` per group (:func:`make_optimizer`); :meth:`GraphedTrainStep.set_lr`
  writes the schedule's value into it without a host sync;
- **no host sync inside**: the loss and its parts stay on the device
  (:class:`vstm.train.loop.Trainer` copies them every ``sync_every`` steps);
- **warm-up on a side stream** before capture, as CUDA requires.

On a CPU (the tests), ``capture=False`` runs the very same function eagerly on the same static
buffers, so everything but the capture itself is checked against the plain training step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

__all__ = ["GraphedTrainStep", "make_optimizer"]

WARMUP_STEPS = 3
"""Eager steps on a side stream before capture (allocator and cuDNN settle; CUDA's recipe)."""


def make_optimizer(
    name: str, groups: list[dict], lr: float, device: torch.device, capturable: bool
) -> torch.optim.Optimizer:
    """RMSprop or Adam over ``groups``; with ``capturable`` (a graphed step), each group's
    rate is a device tensor and the optimiser keeps its step counts on the device."""
    cls = torch.optim.RMSprop if name == "rmsprop" else torch.optim.Adam
    if not capturable:
        return cls(groups, lr=lr)
    for g in groups:
        g["lr"] = torch.tensor(lr * g.get("lr_scale", 1.0), device=device)
    return cls(groups, lr=torch.tensor(lr, device=device), capturable=True)


class GraphedTrainStep:
    """``step(batch)`` = zero grads, loss, backward, clip, optimiser step: replayed.

    Args:
        model: the module the loss runs (the task's own model, not a DDP wrapper).
        loss_fn: ``loss_fn(model, batch) -> LossParts`` (the task's ``batch_loss``), run under
            ``autocast`` (a context factory; autocast's weight cache must be off in capture).
        optimizer: from :func:`make_optimizer` with ``capturable=True`` on CUDA.
        clip, clip_norm: element-wise and norm clipping, as in the eager step (0: off).
        capture: record a CUDA graph (on CUDA); False runs the same function eagerly.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        loss_fn: Callable[[torch.nn.Module, dict], Any],
        optimizer: torch.optim.Optimizer,
        autocast: Callable[[], Any],
        clip: float = 0.0,
        clip_norm: float = 0.0,
        capture: bool = True,
    ) -> None:
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.autocast, self.clip, self.clip_norm = autocast, clip, clip_norm
        self.capture = capture
        self.static: dict[str, torch.Tensor] | None = None
        self.out: tuple[torch.Tensor, dict[str, torch.Tensor]] | None = None
        self.graph: Any = None

    def set_lr(self, lr: float) -> None:
        """The schedule's rate for the next step (each group at its ``lr_scale``)."""
        for g in self.optimizer.param_groups:
            value = lr * g.get("lr_scale", 1.0)
            if torch.is_tensor(g["lr"]):
                g["lr"].fill_(value)  # in place: the graph reads this tensor
            else:
                g["lr"] = value

    def _body(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        self.optimizer.zero_grad(set_to_none=False)  # graphs need the .grad tensors to stay
        with self.autocast():
            parts = self.loss_fn(self.model, self.static)
        parts.total.backward()
        params = [p for p in self.model.parameters() if p.grad is not None]
        if self.clip > 0:
            torch.nn.utils.clip_grad_value_(params, self.clip)
        if self.clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, self.clip_norm)
        self.optimizer.step()
        named = {k: v.detach() for k, v in parts.named().items()}
        return parts.total.detach(), named

    def _capture(self) -> None:
        """Warm up on a side stream (:meth:`warm_up`), then record one step."""
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            self.warm_up()
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.out = self._body()

    def warm_up(self, steps: int = WARMUP_STEPS) -> None:
        """Run ``steps`` eager steps, then put weights, optimiser state and RNG back as they
        were: the warm-up steps are not training steps.

        The optimiser's state must exist, in place, before the capture: a state the graph
        creates itself (Adam's moments and step count, made lazily at the first step) is
        zeroed again by every replay, so each replay would be the first Adam step. So the
        state is not reloaded (``load_state_dict`` makes new tensors) but written back into
        the tensors the warm-up made: its values before, or zeros (a fresh optimiser's state:
        Adam's and RMSprop's moments and step counts start at zero).
        """
        params = list(self.model.parameters())
        saved = [p.detach().clone() for p in params]
        before = {
            p: {k: v.clone() for k, v in st.items() if torch.is_tensor(v)}
            for p, st in self.optimizer.state.items()
        }
        cuda = params[0].device.type == "cuda"
        rng = torch.cuda.get_rng_state() if cuda else torch.get_rng_state()
        for _ in range(steps):
            self._body()
        with torch.no_grad():
            for p, v in zip(params, saved, strict=True):
                p.copy_(v)
            for p, st in self.optimizer.state.items():
                for k, v in st.items():
                    if not torch.is_tensor(v):
                        continue
                    if p in before:
                        v.copy_(before[p][k])
                    else:
                        v.zero_()
            for p in params:
                if p.grad is not None:
                    p.grad.zero_()
        (torch.cuda.set_rng_state if cuda else torch.set_rng_state)(rng)

    def __call__(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        """One training step on ``batch`` (the same shapes every call): (loss, named parts),
        device scalars. The first call also records the graph (with ``capture``)."""
        if self.static is None:
            self.static = {k: v.clone() for k, v in batch.items()}
            if self.capture:
                self._capture()
        else:
            for k, v in batch.items():
                self.static[k].copy_(v, non_blocking=True)
        if self.graph is None:
            return self._body()
        self.graph.replay()
        total, named = self.out  # type: ignore[misc]
        # copies: the next replay overwrites the graph's outputs (a caller that keeps a step's
        # loss, as a deferred sync does, would otherwise see the last step's in every slot)
        return total.clone(), {k: v.clone() for k, v in named.items()}
