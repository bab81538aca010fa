"""GraphedStep's bookkeeping (copies in, replay, copies out), checked on a CPU by a capture
that replays by running the recorded step again; the CUDA capture itself runs in
benchmarks/gpu_bench.py on a GPU, against the eager step."""

import pytest
import torch

from vstm import build_model
from vstm.errors import VstmError
from vstm.inference.graphed import GraphedStep
from vstm.train.config import TINY_MODEL_OPTIONS


def rerun(body, device, warmup):
    for _ in range(warmup):
        body()
    return body  # "replay": run the recorded step again, reading the same input buffers


@pytest.mark.parametrize("name", ["ae-convlstm-flow", "ae-convlstm", "ae-conv"])
def test_replayed_steps_equal_the_eager_steps(name):
    torch.manual_seed(0)
    model = build_model(name, **TINY_MODEL_OPTIONS[name]).eval()
    step = GraphedStep(model, capture=rerun)
    clip = torch.rand(6, 1, model.in_channels, 16, 16)
    s_eager = s_graph = None
    outs = []
    with torch.no_grad():
        for t in range(6):
            a, fa, s_eager = model.step(clip[t], s_eager)
            b, fb, s_graph = step(clip[t], s_graph)
            assert torch.equal(a, b)
            assert (fa is None) == (fb is None) and (fa is None or torch.equal(fa, fb))
            outs.append(b)
    # every returned tensor is the caller's own: later steps did not overwrite the first
    assert not torch.equal(outs[1], outs[5])
    with torch.no_grad():
        a, _, _ = model.step(clip[1], model.step(clip[0], None)[2])
    assert torch.equal(outs[1], a)


def test_a_new_frame_size_or_a_cpu_model_is_a_clear_error():
    model = build_model("ae-convlstm-flow", **TINY_MODEL_OPTIONS["ae-convlstm-flow"]).eval()
    with pytest.raises(VstmError, match="need the model on a CUDA device"):
        GraphedStep(model)
    step = GraphedStep(model, capture=rerun)
    _, _, s = step(torch.rand(1, 1, 16, 16))
    _, _, s = step(torch.rand(1, 1, 16, 16), s)
    with pytest.raises(VstmError, match="a graph serves one frame size"):
        step(torch.rand(1, 1, 32, 32), s)
