"""Which kernel computes each of the paper's convolutions: the one place that decides.

Two settings name an implementation; both are fields of the model configs (``vstm train
--model-option``) and change how a convolution is computed, never its parameters:

- ``lstm_impl`` (:data:`ConvImpl`), the ConvLSTM's fused gate convolution over a sequence:
  ``"direct"`` (``F.conv2d``), ``"fft"`` (:func:`vstm.ops.spectral.spectral_conv2d`, the
  kernel's spectrum built once per sequence), ``"auto"`` (:func:`use_fft`).
- ``flow_impl`` (:data:`FlowImpl`), Θ's two k x k layers: ``"direct"`` (``F.conv2d``),
  ``"gemm"`` (:func:`vstm.ops.gemm.conv2d_same_gemm`), ``"auto"`` (:func:`use_gemm`).

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
from vstm.ops.spectral import KernelSpectrum, kernel_spectrum, spectrum_bytes

__all__ = [
    "AUTO_MAX_SPECTRUM_BYTES",
    "AUTO_MIN_BATCH",
    "CONV_IMPLS",
    "FLOW_IMPLS",
    "ConvImpl",
    "FlowImpl",
    "reduced_precision_autocast",
    "same_conv2d",
    "sequence_spectrum",
    "use_fft",
    "use_gemm",
]

ConvImpl = Literal["direct", "fft", "auto"]
"""How the ConvLSTM's gate convolution runs over a sequence: ``"direct"``
(``torch.nn.functional.conv2d``), ``"fft"`` (:func:`vstm.ops.spectral.spectral_conv2d`),
``"auto"`` (see :func:`use_fft`)."""

CONV_IMPLS: tuple[str, ...] = typing.get_args(ConvImpl)

FlowImpl = Literal["direct", "gemm", "auto"]
"""How Θ's large convolutions run: ``"direct"`` (``torch.nn.functional.conv2d``), ``"gemm"``
(:func:`vstm.ops.gemm.conv2d_same_gemm`), ``"auto"`` (see :func:`use_gemm`)."""

FLOW_IMPLS: tuple[str, ...] = typing.get_args(FlowImpl)

AUTO_MAX_SPECTRUM_BYTES = 160 * 2**20
"""``auto`` uses the FFT only while the kernel's spectrum stays this small (137 MiB for the paper
model at 64x64 frames; at 128x128 it would be 437 MiB and the direct path is used)."""

AUTO_MIN_BATCH = 4
"""``auto`` uses the FFT only for at least this many sequences: at batch 1 the per-bin products
are matrix-vector products that stream the whole spectrum from memory at every step."""


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
    if impl == "direct":
        return False
    if impl == "fft":
        return True
    co, ci, k, _ = weight.shape
    device_type = weight.device.type
    return (
        device_type == "cpu"
        and not reduced_precision_autocast(device_type)
        and batch >= AUTO_MIN_BATCH
        and k >= 5
        and spectrum_bytes(ci, co, height, width, k) <= AUTO_MAX_SPECTRUM_BYTES
    )


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


def use_gemm(impl: FlowImpl, device_type: str) -> bool:
    """Whether ``impl`` computes a same-padded convolution on ``device_type`` with
    :func:`vstm.ops.gemm.conv2d_same_gemm` (``"auto"``: on CPU only; GPUs keep cuDNN)."""
    return impl == "gemm" or (impl == "auto" and device_type == "cpu")


def same_conv2d(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, impl: FlowImpl
) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=k // 2)``, by the kernel ``impl`` picks on x's device.

    Args:
        x: (N, Ci, H, W).
        weight: (Co, Ci, k, k), k odd.
        bias: (Co,) or None.
        impl: :data:`FlowImpl` (:func:`use_gemm`).

    Returns:
        (N, Co, H, W); float32 under autocast when the GEMM form runs (see
        :func:`vstm.ops.gemm.conv2d_same_gemm`).
    """
    if use_gemm(impl, x.device.type):
        return conv2d_same_gemm(x, weight, bias)
    return F.conv2d(x, weight, bias, padding=weight.shape[-1] // 2)
