"""GraphedTrainStep's preparation for a CUDA graph capture, checked on CPU.

The capture itself needs a GPU; what decides whether the replayed step is the eager step is
the state the warm-up leaves behind. The first H200 run (2026-12-04) replayed Adam's *first*
step forever: the optimiser's moments were created inside the capture, so every replay zeroed
them again. These tests pin the fix: after the warm-up, every parameter's optimiser state
exists (so a capture only updates it) and equals a fresh optimiser's.
"""

from __future__ import annotations

import contextlib

import pytest
import torch

from vstm import build_model
from vstm.train.graphed import GraphedTrainStep, make_optimizer
from vstm.train.loop import param_groups
from vstm.train.task import NextFrameTask

TINY = {"hidden_channels": 4, "flow_kernel": 3, "lstm_kernel": 3, "enc_kernel": 3}


def _setup(name: str, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model("ae-convlstm-flow", **TINY).train()
    opt = make_optimizer(name, param_groups(model, 0.1), 1e-2, torch.device("cpu"), False)
    loss = NextFrameTask("bce").batch_loss
    step = GraphedTrainStep(model, loss, opt, contextlib.nullcontext, clip=1.0, capture=False)
    return model, opt, step


def _batches(n: int) -> list[dict]:
    g = torch.Generator().manual_seed(1)
    return [{"frames": torch.rand(2, 4, 1, 16, 16, generator=g)} for _ in range(n)]


@pytest.mark.parametrize("name", ["adam", "rmsprop"])
def test_warm_up_leaves_a_fresh_state_in_place_and_trains_as_eager(name):
    batches = _batches(4)
    model_a, _, step_a = _setup(name)
    model_b, opt_b, step_b = _setup(name)
    step_b.static = {k: v.clone() for k, v in batches[0].items()}
    step_b.warm_up(steps=3)
    # the weights are back, and every parameter has its optimiser state already, all zero
    for a, b in zip(model_a.parameters(), model_b.parameters(), strict=True):
        assert torch.equal(a, b)
    params = list(model_b.parameters())
    assert all(len(opt_b.state[p]) > 0 for p in params)  # nothing left to create in capture
    held = {id(v) for p in params for v in opt_b.state[p].values() if torch.is_tensor(v)}
    assert all(
        float(v.abs().max()) == 0.0
        for p in params
        for v in opt_b.state[p].values()
        if torch.is_tensor(v)
    )
    # then the same steps give the same weights as an optimiser that never warmed up
    for batch in batches:
        step_a(batch)
        step_b(batch)
    for a, b in zip(model_a.parameters(), model_b.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # and the state tensors are the ones the warm-up made (a graph would hold these)
    assert held == {id(v) for p in params for v in opt_b.state[p].values() if torch.is_tensor(v)}


def test_warm_up_restores_a_resumed_optimiser_state():
    model, opt, step = _setup("adam")
    for batch in _batches(2):  # a run already under way
        step(batch)
    before = {p: {k: v.clone() for k, v in opt.state[p].items()} for p in model.parameters()}
    weights = [p.detach().clone() for p in model.parameters()]
    step.warm_up(steps=2)
    for p, w in zip(model.parameters(), weights, strict=True):
        assert torch.equal(p, w)
        for k, v in opt.state[p].items():
            assert torch.equal(v, before[p][k]), k


def test_replayed_outputs_are_copies_the_caller_can_keep():
    # a replay writes into the same output tensors; GraphedTrainStep hands back copies
    _model, _, step = _setup("adam")
    out = step._body  # the recorded function, run as a "replay" below

    class FakeGraph:
        def replay(self):
            total, named = out()
            step.out[0].copy_(total)
            for k, v in named.items():
                step.out[1][k].copy_(v)

    batches = _batches(3)
    step.static = {k: v.clone() for k, v in batches[0].items()}
    step.out = step._body()
    step.graph = FakeGraph()
    losses = [step(b)[0] for b in batches]
    assert len({float(x) for x in losses}) == 3  # each step's own loss, not the last one thrice


def test_cached_constants_made_under_inference_serve_a_later_training_step():
    # the stencils and phase taps are cached once per device (no host copy in a capture); one
    # first made by a prediction under inference_mode must still serve a training step
    from vstm.nn import smoothness
    from vstm.ops import upsample

    upsample._phase_taps.cache_clear()
    smoothness._stencils.cache_clear()
    model = build_model("ae-convlstm-flow", **TINY)
    frames = torch.rand(1, 3, 1, 16, 16)
    with torch.inference_mode():
        model(frames)
        smoothness.huber_smoothness(torch.rand(1, 2, 8, 8), 1e-3, 1e-2)
    parts = NextFrameTask("bce")(model, frames)
    parts.total.backward()  # raised "Inference tensors cannot be saved for backward" before
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
