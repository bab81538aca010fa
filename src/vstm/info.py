"""Parameter breakdown and forward FLOPs of a model (``vstm info``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vstm.models import MODELS, VideoPredictor, build_model, model_facts

__all__ = ["LayerInfo", "flops_per_frame", "format_info", "parameter_breakdown"]

PAPER_PARAMETERS = {n: e.paper.parameters for n, e in MODELS.items() if e.paper}
"""Parameter counts printed in the paper's Table 1 (the registry's ``paper`` rows)."""


@dataclass
class LayerInfo:
    name: str  # dotted module path, e.g. "flow.conv1"
    kind: str  # e.g. "Conv2d 64->2 15x15"
    parameters: int


def _describe(m: nn.Module) -> str:
    if isinstance(m, nn.Conv2d):
        k = "x".join(map(str, m.kernel_size))
        return f"Conv2d {m.in_channels}->{m.out_channels} {k}"
    if isinstance(m, nn.Linear):
        return f"Linear {m.in_features}->{m.out_features}"
    return type(m).__name__


def parameter_breakdown(model: nn.Module) -> list[LayerInfo]:
    """Every module that owns parameters directly, in registration order."""
    rows = []
    for name, m in model.named_modules():
        n = sum(p.numel() for p in m.parameters(recurse=False) if p.requires_grad)
        if n:
            rows.append(LayerInfo(name, _describe(m), n))
    return rows


def flops_per_frame(model: VideoPredictor, height: int = 64, width: int = 64) -> dict[str, int]:
    """Forward FLOPs of one streaming step on a (1, C, height, width) frame, per layer.

    Counts 2 FLOPs per multiply-add of every convolution and linear layer (plus the bias
    adds); element-wise gates, pooling and the bilinear warp are a few FLOPs per element and
    are left out (well under 1% for the paper's model).
    """
    counts: dict[str, int] = {}
    names = {m: n for n, m in model.named_modules()}

    def hook(m, inputs, out):
        # a module that does more than convolve (ConvTanhPool2d) says its conv's output size
        numel = m.conv_numel(inputs[0]) if hasattr(m, "conv_numel") else out.numel()
        if isinstance(m, nn.Conv2d):
            macs = numel * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        else:
            macs = numel * m.in_features
        bias = numel if m.bias is not None else 0
        counts[names[m]] = counts.get(names[m], 0) + 2 * macs + bias

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, nn.Conv2d | nn.Linear)
    ]
    try:
        with torch.no_grad():
            p = next(model.parameters())
            frame = torch.zeros(1, model.in_channels, height, width, dtype=p.dtype, device=p.device)
            model.step(frame)
    finally:
        for h in handles:
            h.remove()
    return counts


def format_info(name: str, height: int = 64, width: int = 64, **overrides) -> str:
    """The text ``vstm info`` prints."""
    model = build_model(name, **overrides)
    rows = parameter_breakdown(model)
    flops = flops_per_frame(model, height, width)
    total = sum(r.parameters for r in rows)
    lines = [f"model {name}  ({type(model).__name__})", ""]
    groups: dict[str, int] = {}
    for r in rows:
        top = r.name.split(".")[0]
        groups[top] = groups.get(top, 0) + r.parameters
    w = max(len(r.name) for r in rows) + 2
    lines.append(f"{'layer':<{w}}{'kind':<26}{'parameters':>12}{'GFLOP/frame':>14}")
    for r in rows:
        gf = flops.get(r.name, 0) / 1e9
        lines.append(f"{r.name:<{w}}{r.kind:<26}{r.parameters:>12,}{gf:>14.4f}")
    lines.append("")
    lines.append("by part:  " + ", ".join(f"{k} {v:,}" for k, v in groups.items()))
    lines.append(f"total trainable parameters: {total:,}")
    paper = PAPER_PARAMETERS.get(name)
    if paper is not None and overrides == {}:
        diff = total - paper
        line = f"paper (Table 1): {paper:,}"
        note = model_facts(name).paper.count_note
        if diff and note:  # the registry says why (e.g. a layer the paper leaves out)
            line += f"  ({note})"
        elif diff:
            line += f"  (difference {diff:+,}, {100 * diff / paper:+.2f}%)"
        else:
            line += "  (identical)"
        lines.append(line)
    total_flops = sum(flops.values())
    lines.append(
        f"forward FLOPs per frame at {height}x{width}: {total_flops / 1e9:.3f} GFLOP "
        "(2 per multiply-add of convolutions and linear layers)"
    )
    return "\n".join(lines)
