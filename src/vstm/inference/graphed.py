"""A model's streaming step replayed from one captured CUDA graph.

At batch 1 a step of the paper model is a few dozen small kernels, and on a GPU the time goes
to launching them, not to computing: a CUDA graph records the launches once and replays them
with one call. The graph reads and writes fixed tensors, so :class:`GraphedStep` copies each
new frame and state into its inputs, replays, and returns copies of its outputs. It serves
one frame size, batch, dtype and precision; the first call of a stream (no state yet) runs
the model as usual, and the graph is captured on the state it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils._pytree import tree_flatten, tree_unflatten

from vstm.errors import VstmError
from vstm.system import autocast

__all__ = ["GraphedStep", "cuda_graph_capture"]

Capture = Callable[[Callable[[], None], torch.device, int], Callable[[], None]]
"""(body, device, warmup) -> replay: records ``body`` once, returns what replays it."""


def cuda_graph_capture(body: Callable[[], None], device: torch.device, warmup: int):
    """Run ``body`` ``warmup`` times on a side stream (cuDNN picks its algorithms, lazy buffers
    are allocated), capture it in a CUDA graph, and return the graph's ``replay``."""
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(warmup):
            body()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        body()
    return graph.replay


class GraphedStep:
    """``model.step(frame, state)`` replayed from a CUDA graph.

    Args:
        model: a model with ``step(frame, state) -> (pred, flow, state)``, in eval mode, on a
            CUDA device (unless ``capture`` says otherwise).
        precision: ``"fp32"`` or ``"bf16"``: the autocast the step runs under.
        warmup: eager runs before the capture.
        capture: how to record the step (default :func:`cuda_graph_capture`; tests pass one
            that replays by running the step again, to check the bookkeeping on a CPU).

    Call it like ``model.step``: frame (B, C, H, W) on the model's device, ``state`` None or
    the state the previous call returned. Returns (pred (B, C, H, W), flow (B, 2, H/2, W/2)
    or None, state), every tensor a copy that later calls do not overwrite.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        precision: str = "fp32",
        warmup: int = 3,
        capture: Capture | None = None,
    ) -> None:
        self.device = next(model.parameters()).device
        if capture is None:
            if self.device.type != "cuda":
                raise VstmError(
                    f"CUDA graphs need the model on a CUDA device, not {self.device}; "
                    "leave --cuda-graphs out on this machine"
                )
            capture = cuda_graph_capture
        self.model, self.precision, self.warmup = model, precision, warmup
        self._capture_fn = capture
        self._replay: Callable[[], None] | None = None
        self._frame = torch.empty(0)
        self._state: list[torch.Tensor] = []
        self._spec: Any = None
        self._out: list[torch.Tensor | None] = []
        self._out_spec: Any = None

    def _eager(self, frame: torch.Tensor, state: Any):
        with torch.no_grad(), autocast(self.device, self.precision):
            return self.model.step(frame, state)

    def _capture(self, frame: torch.Tensor, state: Any) -> None:
        flat, self._spec = tree_flatten(state)
        self._frame = frame.clone()
        self._state = [t.clone() for t in flat]
        # the outputs' own buffers: the recorded step ends by copying its results into them
        first = self._eager(self._frame, tree_unflatten(self._state, self._spec))
        out_flat, self._out_spec = tree_flatten(first)
        new_flat, new_spec = tree_flatten(first[2])
        if new_spec != self._spec or any(
            a.shape != b.shape or a.dtype != b.dtype
            for a, b in zip(new_flat, self._state, strict=True)
        ):
            raise VstmError("CUDA graphs: the step's state changes form between steps")
        self._out = [None if t is None else t.clone() for t in out_flat]  # flow may be None

        def body() -> None:
            out = self._eager(self._frame, tree_unflatten(self._state, self._spec))
            for dst, src in zip(self._out, tree_flatten(out)[0], strict=True):
                if dst is not None:
                    dst.copy_(src)

        self._replay = self._capture_fn(body, self.device, self.warmup)

    def __call__(self, frame: torch.Tensor, state: Any = None):
        if state is None:  # the stream's first frame: the model's own start
            return self._eager(frame, None)
        if self._replay is None:
            self._capture(frame, state)
        elif frame.shape != self._frame.shape or frame.dtype != self._frame.dtype:
            raise VstmError(
                f"CUDA graphs: captured for frames {tuple(self._frame.shape)}, given "
                f"{tuple(frame.shape)}; a graph serves one frame size"
            )
        with torch.no_grad():
            self._frame.copy_(frame)
            for dst, src in zip(self._state, tree_flatten(state)[0], strict=True):
                dst.copy_(src)
            self._replay()
            outs = [None if t is None else t.clone() for t in self._out]
            return tree_unflatten(outs, self._out_spec)
