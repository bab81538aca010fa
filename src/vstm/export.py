"""The streaming step as an ONNX graph (``vstm export``), checked with onnxruntime.

The graph is one call of ``model.step``: inputs (frame, *state), outputs (prediction, flow,
*new state), all float32. For AE-ConvLSTM-flow that is::

    inputs   frame (B, C, H, W), h (B, d_m, H/2, W/2), c (B, d_m, H/2, W/2)
    outputs  prediction (B, C, H, W)  the model's raw output (logits when BCE-trained:
                                      apply a sigmoid for a frame in [0, 1])
             flow (B, 2, H/2, W/2)    pixels of the feature map, channel 0 = x (DESIGN 2)
             h_out, c_out             the state to feed to the next call

Zeros for h and c start a stream. B, H and W are dynamic except for AE-fcLSTM (its
fully-connected layers fix H and W). The warp exports as ``GridSample`` (opset >= 16). Every
gate convolution exports as a plain ``Conv``: the model is rebuilt with ``lstm_impl`` and
``flow_impl`` set to ``"direct"`` (the FFT and GEMM paths are CPU training speed-ups with
the same parameters), the encoder's tanh and pooling are plain nodes, and the decoder
upsamples before it convolves (``Resize`` then ``Conv``).

Models without flow have no ``flow`` output. State names per model: ``h, c``
(ae-convlstm-flow), ``h1, c1, h2, c2`` (ae-convlstm, ae-fclstm: temporal encoder, then
decoder), ``window`` (ae-conv: the last K frames, (B, K, C, H, W)).
"""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vstm.errors import VstmError
from vstm.io import atomic_path
from vstm.models import MODELS, VideoPredictor, build_model, model_facts
from vstm.nn.autoencoder import ImplConv2d

__all__ = [
    "STATE_NAMES",
    "OnnxStep",
    "StreamingStep",
    "check_export",
    "export_onnx",
    "onnxruntime_session",
    "verify_onnx",
]

log = logging.getLogger("vstm.export")

STATE_NAMES: dict[str, list[str]] = {
    name: list(entry.state_names) for name, entry in MODELS.items() if entry.state_names
}
"""The flat state inputs of each exportable model, in order (the registry's ``state_names``)."""

MIN_OPSET = 16  # GridSample

TOLERANCE = 1e-4
"""The largest difference between onnxruntime and PyTorch that :func:`check_export` accepts."""


def _flatten(state: Any) -> list[torch.Tensor]:
    if isinstance(state, torch.Tensor):
        return [state]
    return [t for s in state for t in _flatten(s)]


def _unflatten(name: str, flat: list[torch.Tensor]) -> Any:
    """The model's state from its flat tensors: one tensor, an (h, c) pair, or a pair of
    pairs (two stacked LSTMs), by how many names the registry gives the state."""
    if len(flat) == 1:
        return flat[0]
    if len(flat) == 2:
        return (flat[0], flat[1])
    return tuple((flat[i], flat[i + 1]) for i in range(0, len(flat), 2))


def _check_exportable(model: VideoPredictor) -> None:
    if not callable(getattr(model, "step", None)):
        raise VstmError(
            f"{model.name or type(model).__name__} has no streaming step to export; "
            f"export one of: {', '.join(STATE_NAMES)}"
        )
    if model.name not in STATE_NAMES:
        raise VstmError(
            f"{model.name}: its streaming state is not plain tensors, so it has no ONNX step "
            f"export; export one of: {', '.join(STATE_NAMES)}"
        )


def direct_copy(model: VideoPredictor) -> VideoPredictor:
    """The same weights in a model whose convolutions all run ``F.conv2d`` (no FFT, no GEMM
    form, the decoder upsampling before it convolves): what an exporter can trace into plain
    ``Conv`` nodes."""
    fields = {f.name for f in dataclasses.fields(model.config)}
    settings = {k: "direct" for k in ("lstm_impl", "flow_impl") if k in fields}
    config = dataclasses.replace(model.config, **settings)
    twin = build_model(model.name, **dataclasses.asdict(config))
    twin.load_state_dict(model.state_dict())
    for m in twin.modules():  # Θ's layers, the encoder's conv-tanh-pool, the decoder
        if isinstance(m, ImplConv2d):
            m.impl = "direct"
    return twin.to(next(model.parameters()).device).eval()


class StreamingStep(nn.Module):
    """``model.step`` with flat tensor inputs and outputs, as exported.

    ``forward(frame (B, C, H, W), *state) -> (prediction, [flow,] *new_state)``; state and
    output order as :data:`STATE_NAMES`.
    """

    def __init__(self, model: VideoPredictor) -> None:
        super().__init__()
        _check_exportable(model)
        self.model = model
        self.name = model.name

    def forward(self, frame: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        pred, flow, new = self.model.step(frame, _unflatten(self.name, list(state)))
        head = (pred,) if flow is None else (pred, flow)
        return (*head, *_flatten(new))

    def initial_state(self, frame: torch.Tensor) -> list[torch.Tensor]:
        """Zero state tensors for frames shaped like ``frame`` (B, C, H, W)."""
        with torch.no_grad():
            _, _, state = self.model.step(frame, None)
        return [torch.zeros_like(t) for t in _flatten(state)]


def export_onnx(
    model: VideoPredictor,
    path: str | Path,
    height: int = 64,
    width: int = 64,
    opset: int = 17,
) -> dict[str, Any]:
    """Write ``model``'s streaming step to ``path`` as ONNX (atomically).

    Args:
        model: a registry model with a tensor state (:data:`STATE_NAMES`).
        height, width: the example frame size traced (any size works after export, except
            for AE-fcLSTM, fixed to its config's size).
        opset: ONNX opset, at least 16 (``GridSample``).

    Returns:
        {"inputs": names, "outputs": names, "dynamic": bool (H, W free), "opset": opset}.
    """

    _check_exportable(model)
    if opset < MIN_OPSET:
        raise VstmError(f"--opset {opset}: the warp needs GridSample, opset {MIN_OPSET} or later")
    try:
        import onnx  # noqa: F401  (the exporter's own checks use it)
    except ImportError as e:
        raise VstmError("exporting to ONNX needs the onnx package: pip install 'vstm[onnx]'") from e
    step = StreamingStep(direct_copy(model).cpu().eval())
    fixed = model_facts(model.name).frame_size  # a model of one frame size exports at it
    if fixed is not None:
        height, width = (getattr(model.config, f) for f in fixed)
    frame = torch.rand(1, model.in_channels, height, width)
    state = step.initial_state(frame)
    with torch.no_grad():
        outs = step(frame, *state)
    names = STATE_NAMES[model.name]
    inputs = ["frame", *names]
    outputs = ["prediction", *(["flow"] if len(outs) > len(names) + 1 else [])]
    outputs += [f"{n}_out" for n in names]
    dynamic = model_facts(model.name).frame_size is None  # H, W free unless the model fixes them
    axes: dict[str, dict[int, str]] = {}
    for n, t in zip(inputs + outputs, [frame, *state, *outs], strict=True):
        d = {0: "batch"}
        if dynamic:
            full = t.shape[-1] == width
            d |= {t.dim() - 2: "height" if full else "h", t.dim() - 1: "width" if full else "w"}
        axes[n] = d
    path = Path(path)
    with atomic_path(path, suffix=".onnx") as tmp, torch.no_grad(), warnings.catch_warnings():
        # shape checks at the model's entry points become constants in the trace: expected
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            step,
            (frame, *state),
            str(tmp),
            dynamo=False,
            opset_version=opset,
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=axes,
        )
    return {"inputs": inputs, "outputs": outputs, "dynamic": dynamic, "opset": opset}


def onnxruntime_session(path: str | Path, threads: int | None = None):
    """An onnxruntime CPU session for ``path``, or a :class:`VstmError` if it is missing."""
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise VstmError("running the ONNX step needs onnxruntime: pip install 'vstm[onnx]'") from e
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


class OnnxStep:
    """Run an exported step with onnxruntime: ``step(frame, state) -> (pred, flow, state)``
    on numpy float32 arrays, ``state`` a list (None for zeros)."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        self.session = onnxruntime_session(path, threads)
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]
        self._shapes = [i.shape for i in self.session.get_inputs()[1:]]
        self.has_flow = "flow" in self.outputs

    def step(self, frame: np.ndarray, state: list[np.ndarray]):
        feed = dict(zip(self.inputs, [frame, *state], strict=True))
        out = self.session.run(None, feed)
        k = 2 if self.has_flow else 1
        return out[0], (out[1] if self.has_flow else None), out[k:]


def verify_onnx(path: str | Path, model: VideoPredictor, frames: torch.Tensor) -> dict[str, float]:
    """Stream ``frames`` (B, T, C, H, W) through PyTorch's ``model.step`` and the ONNX file.

    Returns:
        {"max_abs_diff": over every step's prediction, flow and state, "steps": T}.
    """
    model = model.cpu().eval()
    sess = OnnxStep(path)
    step = StreamingStep(model)
    state_t = None
    state_o = [t.numpy() for t in step.initial_state(frames[:, 0])]
    worst = 0.0
    with torch.no_grad():
        for t in range(frames.shape[1]):
            pred, flow, state_t = model.step(frames[:, t], state_t)
            opred, oflow, state_o = sess.step(frames[:, t].numpy(), state_o)
            ref = [pred, *([flow] if flow is not None else []), *_flatten(state_t)]
            got = [opred, *([oflow] if oflow is not None else []), *state_o]
            for a, b in zip(ref, got, strict=True):
                worst = max(worst, float(np.abs(a.numpy() - b).max()))
    return {"max_abs_diff": worst, "steps": int(frames.shape[1])}


def check_export(
    path: str | Path, model: VideoPredictor, height: int = 64, width: int = 64
) -> dict[str, Any]:
    """:func:`verify_onnx` of an exported step on 5 steps of 2 random frames (seed 0) of
    ``height`` x ``width`` (AE-fcLSTM: its fixed frame size).

    Returns:
        verify_onnx's result and ``"ok"``: the difference is at most :data:`TOLERANCE`.
    """
    fixed = model_facts(model.name).frame_size
    h, w = (getattr(model.config, f) for f in fixed) if fixed is not None else (height, width)
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(2, 5, model.in_channels, h, w, generator=g)
    r: dict[str, Any] = dict(verify_onnx(path, model, frames))
    r["ok"] = r["max_abs_diff"] <= TOLERANCE
    return r


def onnx_stream_times(
    path: str | Path,
    model: VideoPredictor,
    frames: torch.Tensor,
    repeats: int = 3,
    threads: int | None = None,
) -> list[float]:
    """Seconds per block of the ONNX step streaming ``frames`` (T, B, C, H, W) with the state
    carried (restarting each block), one warm-up block first; as ``vstm bench`` times
    PyTorch's ``model.step``."""
    sess = OnnxStep(path, threads)
    zeros = [t.numpy() for t in StreamingStep(model).initial_state(frames[0])]
    clip = [f.numpy() for f in frames]
    times = []
    for r in range(repeats + 1):
        state = zeros
        t0 = time.perf_counter()
        for f in clip:
            _, _, state = sess.step(f, state)
        if r:
            times.append(time.perf_counter() - t0)
    return times
