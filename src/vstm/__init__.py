"""vstm: a spatio-temporal video autoencoder with differentiable memory.

Learns motion from raw video without labels (Patraucean, Handa, Cipolla, ICLR 2016 workshop).

>>> import torch
>>> from vstm import build_model, warp
>>> model = build_model("ae-convlstm-flow")
>>> pred, flow, state = model.step(torch.rand(1, 1, 64, 64))
>>> tuple(pred.shape), tuple(flow.shape)
((1, 1, 64, 64), (1, 2, 32, 32))
"""

from vstm.errors import ShapeError, VstmError
from vstm.models import Prediction, build_model
from vstm.nn import warp

__version__ = "0.1.0"

__all__ = ["Prediction", "ShapeError", "VstmError", "__version__", "build_model", "warp"]


def __getattr__(name: str):
    # Imported lazily: checkpoint I/O pulls in safetensors and the training package.
    if name == "load_checkpoint":
        from vstm.models.checkpoint import load_checkpoint

        return load_checkpoint
    raise AttributeError(f"module 'vstm' has no attribute {name!r}")
