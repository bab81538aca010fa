"""Which kernel computes each of the paper's convolutions: the one place that decides.

Two settings name an implementation; both are fields of the model configs (``vstm train
--model-option``) and change how a convolution is computed, never its parameters:

- ``lstm_impl`` (:data:`ConvImpl`), the ConvLSTM's fused gate convolution over a sequence:
  ``"direct"`` (``F.conv2d``), ``"fft"`` (:func:`vstm.ops.spectral.spectral_conv2d`, the
  kernel's spectrum built once per sequence), ``"auto"`` (:func:`use_fft`).
- ``flow_impl`` (:data:`FlowImpl`), Θ's two k x k layers: ``"direct"`` (``F.conv2d``),
  ``"gemm"`` (:func:`vstm.ops.gemm.conv2d_same_gemm`), ``"fft"``
  (:func:`vstm.ops.spectral.spectral_conv2d`), ``"auto"`` (:func:`flow_kernel`).

The boxes in :mod:`vstm.nn` ask the functions here and decide nothing themselves. Every
choice computes the same function; they differ by float rounding only (tests compare each
fast kernel with ``F.conv2d``).
"""

from __future__ import annotations

import typing
from typing import Literal

import torch
import torch.nn.functional as F

from vstm.ops.gemm import conv2d_same_gemm
from vstm.ops.spectral import (
    KernelSpectrum,
    SpectrumCache,
    kernel_spectrum,
    spectral_conv2d,
    spectrum_bytes,
)

__all__ = [
    "AUTO_MAX_SPECTRUM_BYTES",
    "AUTO_MIN_BATCH",
    "CONV_IMPLS",
    "FLOW_IMPLS",
    "ConvImpl",
    "FlowImpl",
    "chosen_kernels",
    "flow_kernel",
    "forget_kernels",
    "reduced_precision_autocast",
    "same_conv2d",
    "sequence_spectrum",
    "use_fft",
]

ConvImpl = Literal["direct", "fft", "auto"]
"""How the ConvLSTM's gate convolution runs over a sequence: ``"direct"``
(``torch.nn.functional.conv2d``), ``"fft"`` (:func:`vstm.ops.spectral.spectral_conv2d`),
``"auto"`` (see :func:`use_fft`)."""

CONV_IMPLS: tuple[str, ...] = typing.get_args(ConvImpl)

FlowImpl = Literal["direct", "gemm", "fft", "auto"]
"""How Θ's large convolutions run: ``"direct"`` (``torch.nn.functional.conv2d``), ``"gemm"``
(:func:`vstm.ops.gemm.conv2d_same_gemm`), ``"fft"`` (:func:`vstm.ops.spectral.spectral_conv2d`),
``"auto"`` (see :func:`flow_kernel`)."""

FLOW_IMPLS: tuple[str, ...] = typing.get_args(FlowImpl)

AUTO_MAX_SPECTRUM_BYTES = 160 * 2**20
"""``auto`` uses the FFT only while the kernel's spectrum stays this small (137 MiB for the paper
model at 64x64 frames; at 128x128 it would be 437 MiB and the direct path is used)."""

AUTO_MIN_BATCH = 4
"""``auto`` uses the FFT only for at least this many sequences: at batch 1 the per-bin products
are matrix-vector products that stream the whole spectrum from memory at every step."""


_CHOSEN: dict[str, str] = {}
"""The kernel each decision below took on its last call in this process."""


def chosen_kernels() -> dict[str, str]:
    """What :func:`use_fft` (``"lstm"``: ``"fft"`` or ``"direct"``) and :func:`flow_kernel`
    (``"flow"``) chose on their last call in this process: the record of what ran, which a
    training run writes to ``config.json`` after its first step (a model without a ConvLSTM
    or Θ leaves its key out)."""
    return dict(_CHOSEN)


def forget_kernels() -> None:
    """Clear :func:`chosen_kernels` (before the step whose choices are to be recorded)."""
    _CHOSEN.clear()


def reduced_precision_autocast(device_type: str) -> bool:
    """Whether autocast to a 16-bit type is on for ``device_type`` right now (at call time)."""
    if not torch.is_autocast_enabled(device_type):
        return False
    return torch.get_autocast_dtype(device_type) in (torch.bfloat16, torch.float16)


def use_fft(impl: ConvImpl, weight: torch.Tensor, batch: int, height: int, width: int) -> bool:
    """Whether ``impl`` takes the FFT path for ``weight`` over ``batch`` maps of H x W.

    Args:
        impl: :data:`ConvImpl`.
        weight: the kernel, (Co, Ci, k, k); its shape and device are read, not its values.
        batch, height, width: N, H, W of the (N, Ci, H, W) maps it will convolve.

    ``"auto"``: for a CPU-resident kernel of 5x5 or more, at least :data:`AUTO_MIN_BATCH`
    maps and a spectrum of at most :data:`AUTO_MAX_SPECTRUM_BYTES`, outside 16-bit autocast.
    GPUs keep cuDNN. Under bf16 (or fp16) autocast, checked at call time, the direct
    convolution runs in the reduced type while the transforms would stay in fp32, so ``auto``
    takes the direct path there (on an AMX CPU the direct bf16 path trains about twice as
    fast as the fp32 FFT).
    """
    if impl in ("direct", "fft"):
        fft = impl == "fft"
    else:
        co, ci, k, _ = weight.shape
        device_type = weight.device.type
        fft = (
            device_type == "cpu"
            and not reduced_precision_autocast(device_type)
            and batch >= AUTO_MIN_BATCH
            and k >= 5
            and spectrum_bytes(ci, co, height, width, k) <= AUTO_MAX_SPECTRUM_BYTES
        )
    _CHOSEN["lstm"] = "fft" if fft else "direct"
    return fft


def sequence_spectrum(
    impl: ConvImpl, weight: torch.Tensor, batch: int, height: int, width: int
) -> KernelSpectrum | None:
    """The spectrum of ``weight`` for a sequence of same-padded convolutions, if ``impl`` picks
    the FFT for them (:func:`use_fft`), else None (the caller convolves directly).

    Args:
        impl: :data:`ConvImpl`.
        weight: (Co, Ci, k, k), k odd.
        batch, height, width: N, H, W of the (N, Ci, H, W) map convolved at every step.

    Returns:
        A :class:`vstm.ops.spectral.KernelSpectrum` for
        :func:`vstm.ops.spectral.spectral_conv2d`, or None. Build it once per sequence (per
        forward pass: it follows the current weights).
    """
    if not use_fft(impl, weight, batch, height, width):
        return None
    return kernel_spectrum(weight, height, width)


def flow_kernel(impl: FlowImpl, x: torch.Tensor, weight: torch.Tensor) -> str:
    """The kernel ``impl`` picks for Θ's same-padded convolution of ``x`` by ``weight``.

    Args:
        impl: :data:`FlowImpl`.
        x: (N, Ci, H, W); its device and whether it wants a gradient are read.
        weight: (Co, Ci, k, k); whether it wants a gradient is read.

    Returns:
        ``"direct"``, ``"gemm"`` or ``"fft"``. ``"auto"``: cuDNN (``"direct"``) off the CPU;
        on the CPU ``"gemm"`` when a gradient is wanted (training: the FFT's backward is
        slower there) and ``"fft"`` when none is (streaming and evaluation, with the kernel's
        spectrum built once per stream: at batch 1 and 64x64 frames Θ takes 1.2 ms instead of
        4.3, measured on an AMD EPYC with AVX2, see ``docs/results/bench.md``).
    """
    if impl != "auto":
        kernel = impl
    elif x.device.type != "cpu":
        kernel = "direct"
    else:
        kernel = "gemm" if _wants_grad(x, weight) else "fft"
    _CHOSEN["flow"] = kernel
    return kernel


def _wants_grad(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether a convolution of x by weight is recorded for a backward pass."""
    return torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)


def same_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    impl: FlowImpl,
    cache: SpectrumCache | None = None,
) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=k // 2)``, by the kernel ``impl`` picks for x.

    Args:
        x: (N, Ci, H, W).
        weight: (Co, Ci, k, k), k odd.
        bias: (Co,) or None.
        impl: :data:`FlowImpl` (:func:`flow_kernel`).
        cache: where the FFT path keeps the kernel's spectrum between calls that need no
            gradient (one per layer); None builds it every call.

    Returns:
        (N, Co, H, W); float32 under autocast when the GEMM or FFT form runs (see
        :func:`vstm.ops.gemm.conv2d_same_gemm`).
    """
    kernel = flow_kernel(impl, x, weight)
    if kernel == "gemm":
        return conv2d_same_gemm(x, weight, bias)
    if kernel == "fft":
        h, w = x.shape[-2:]
        if cache is not None and not _wants_grad(x, weight):
            spectrum = cache.get(weight, h, w)
        else:
            spectrum = kernel_spectrum(weight, h, w)
        return spectral_conv2d(x, spectrum, bias)
    return F.conv2d(x, weight, bias, padding=weight.shape[-1] // 2)
