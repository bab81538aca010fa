"""Same-padded convolution through the FFT, for the ConvLSTM's 7x7 gate convolution.

The memory's convolution (80 -> 256 channels, 7x7, on a 32x32 map for 64x64 frames) holds 77% of
the paper model's FLOPs. In the frequency domain a same-padded convolution is one small complex
matrix product per frequency bin: ``Y[f] = X[f] @ W[f]`` with X (N, Ci) and W (Ci, Co). For a
k x k kernel on an H x W map that is ``nh * (nw/2 + 1) * N * Ci * Co`` complex multiply-adds
(nh >= H + k - 1, nw >= W + k - 1) against ``H * W * k * k * N * Ci * Co`` real ones directly:
at 32x32 with k = 7, 840 bins against 50 176 taps, about 15x fewer FLOPs counting a complex
multiply-add as four real ones. On a CPU this trains the memory about twice as fast as oneDNN's
direct algorithm (the transforms and memory traffic eat the rest of the gain); see
``docs/results/bench.md``.

The kernel's spectrum is computed once per sequence (:func:`kernel_spectrum`) and reused at
every time step (:func:`spectral_conv2d`). Its gradient is summed over the time steps in
place into one buffer and turned back into a gradient of the spatial kernel once, at the end
of the backward pass, a few channels at a time.

Exactness: the same numbers as ``F.conv2d`` up to float32 rounding of the transforms (relative
error ~1e-6, tested against the direct convolution forward and backward, and by float64
gradcheck). Under autocast the transforms run in float32.

The same product serves Θ's 15x15 layers (64 -> 2, 2 -> 2) when no gradient is wanted: there
the spectrum is small (1.2 MiB at 32x32) and, with the weights fixed, :class:`SpectrumCache`
builds it once for a whole stream instead of once per frame.

Whether a convolution takes this path is decided in :mod:`vstm.ops.select`, not here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.autograd.function import once_differentiable

from vstm.errors import ShapeError

__all__ = [
    "KernelSpectrum",
    "SpectrumCache",
    "fft_length",
    "kernel_spectrum",
    "spectral_conv2d",
    "spectrum_bytes",
]


BATCH_CHUNK = 32
""":func:`spectral_conv2d` transforms at most this many maps at once (at 64x64 frames a chunk's
spectral product is 55 MiB); an evaluation batch of 250 goes through in chunks."""


def fft_length(n: int) -> int:
    """Smallest even integer >= n whose only prime factors are 2, 3 and 5 (fast FFT sizes).

    >>> fft_length(38), fft_length(17), fft_length(94)
    (40, 18, 96)
    """
    m = max(2, n + (n % 2))
    while True:
        r = m
        for p in (2, 3, 5):
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += 2


@dataclass(eq=False)
class _GradSum:
    """The spectrum's gradient summed over its uses, kept conjugated: sum_t x_t^T conj(g_t).

    One spectrum-sized buffer (large enough that the allocator maps it separately and returns
    it whole), filled by accumulating products in place.
    """

    value: torch.Tensor | None = None

    def add(self, x: torch.Tensor, g_conj: torch.Tensor) -> None:
        # x (F, N, Ci), g_conj (F, N, Co): += x^T @ g_conj, (F, Ci, Co)
        if self.value is None:
            self.value = torch.bmm(x.transpose(1, 2), g_conj)
        else:
            self.value.baddbmm_(x.transpose(1, 2), g_conj)

    def take(self) -> torch.Tensor | None:
        value, self.value = self.value, None
        return value


@dataclass(eq=False)
class KernelSpectrum:
    """A convolution kernel's spectrum for one map size, shared by the steps of a sequence.

    Attributes:
        w: (F, Ci, Co) complex64 (complex128 for a float64 kernel), F = nh * (nw // 2 + 1)
            frequency bins; not itself part of the autograd graph: gradients reach the kernel
            through ``token``.
        height, width: the map size H, W it convolves.
        size: the FFT size (nh, nw).
        kernel_size: k.
        token: a 0-dim tensor in the autograd graph (requires grad when the kernel does);
            each use of the spectrum returns a zero gradient for it, and its backward turns
            the summed spectrum gradient into the kernel's gradient.
    """

    w: torch.Tensor
    height: int
    width: int
    size: tuple[int, int]
    kernel_size: int
    token: torch.Tensor
    grad: _GradSum = field(default_factory=_GradSum)


def spectrum_bytes(in_channels: int, out_channels: int, height: int, width: int, k: int) -> int:
    """Bytes of the complex64 spectrum :func:`kernel_spectrum` would build."""
    nh, nw = fft_length(height + k - 1), fft_length(width + k - 1)
    return nh * (nw // 2 + 1) * in_channels * out_channels * 8


_CHUNK_BYTES = 16 * 2**20
"""Working-set budget of one group of output channels in :func:`_spectrum` and its adjoint."""


def _chunks(weight: torch.Tensor, size: tuple[int, int]) -> list[tuple[int, int]]:
    """Ranges of output channels whose spectra take about :data:`_CHUNK_BYTES` each."""
    co, ci = weight.shape[:2]
    per_channel = ci * size[0] * (size[1] // 2 + 1) * 2 * weight.element_size()
    step = max(1, _CHUNK_BYTES // per_channel)
    return [(c, min(co, c + step)) for c in range(0, co, step)]


def _spectrum_part(weight: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(co, Ci, k, k) real -> (co, Ci, F) complex: the flipped kernel's rfft2."""
    with torch.autocast(weight.device.type, enabled=False):
        spec = torch.fft.rfft2(weight.flip(-1, -2), s=size)  # (co, Ci, nh, nw/2+1)
    return spec.flatten(2)


def _spectrum(weight: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(Co, Ci, k, k) real -> (F, Ci, Co) complex: the flipped kernel's rfft2, bins first.

    Built a few output channels at a time into the final layout, so that the transform's
    (Co, Ci, F) intermediate never exists whole beside the result.
    """
    co, ci = weight.shape[:2]
    nbins = size[0] * (size[1] // 2 + 1)
    cdtype = torch.promote_types(weight.dtype, torch.complex64)
    out = torch.empty(nbins, ci, co, dtype=cdtype, device=weight.device)
    for c0, c1 in _chunks(weight, size):
        out[:, :, c0:c1] = _spectrum_part(weight[c0:c1], size).permute(2, 1, 0)
    return out


def _spectrum_adjoint(
    weight: torch.Tensor, size: tuple[int, int], g_conj: torch.Tensor
) -> torch.Tensor:
    """The gradient of ``weight`` (Co, Ci, k, k) given conj of its spectrum's, (F, Ci, Co).

    Autograd through the same transform, a few output channels at a time, so that no further
    spectrum-sized tensor is allocated.
    """
    gw = torch.empty_like(weight)
    for c0, c1 in _chunks(weight, size):
        gspec = g_conj[:, :, c0:c1].conj().permute(2, 1, 0)  # (co, Ci, F)
        with torch.enable_grad():
            leaf = weight[c0:c1].detach().requires_grad_()
            part = _spectrum_part(leaf, size)  # (co, Ci, F)
            (gw[c0:c1],) = torch.autograd.grad(part, leaf, gspec)
    return gw


class _KernelToSpectrum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight: torch.Tensor, size: tuple[int, int], grad: _GradSum):
        ctx.save_for_backward(weight)
        ctx.size, ctx.grad = size, grad
        w = _spectrum(weight, size)
        ctx.mark_non_differentiable(w)
        return w, weight.new_zeros(())

    @staticmethod
    @once_differentiable
    def backward(ctx, _gw, _gtoken):
        (weight,) = ctx.saved_tensors
        g_conj = ctx.grad.take()
        if g_conj is None:
            return None, None, None
        return _spectrum_adjoint(weight, ctx.size, g_conj), None, None


def _bins(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, Ci, H, W) real -> (F, N, Ci) complex: the zero-padded map's rfft2, bins first."""
    return torch.fft.rfft2(x, s=size).flatten(2).permute(2, 0, 1).contiguous()


class _SpectralProduct(torch.autograd.Function):
    """Y[f] = X[f] @ W[f] per bin with X = _bins(x): x (N, Ci, H, W), W (F, Ci, Co) -> (F, N, Co).

    Saves the map x, not its 1.7x larger spectrum, and transforms it again on backward.
    """

    @staticmethod
    def forward(ctx, x, w, token, grad: _GradSum, size: tuple[int, int]):
        ctx.save_for_backward(x, w)
        ctx.grad, ctx.size = grad, size
        return torch.bmm(_bins(x, size), w)

    @staticmethod
    @once_differentiable
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        # PyTorch's complex convention: gX = gy @ w^H, gw = X^H @ gy. BLAS takes a transposed
        # operand for free but not a conjugated one, so both are formed from conj(gy):
        # gX = conj(conj(gy) @ w^T), and the sum over uses keeps X^T @ conj(gy) = conj(gw).
        # autograd hands gy over permuted: one copy makes it contiguous and conjugates it
        g_conj = torch.empty(gy.shape, dtype=gy.dtype, device=gy.device).copy_(gy.conj())
        want_x, want_w = ctx.needs_input_grad[0], ctx.needs_input_grad[2]
        with torch.enable_grad():
            leaf = x.detach().requires_grad_(want_x)
            xf = _bins(leaf, ctx.size)  # (F, N, Ci)
        gx = gtoken = None
        if want_w:  # the kernel wants its gradient
            ctx.grad.add(xf.detach(), g_conj)
            gtoken = x.new_zeros(())
        if want_x:
            gxf = torch.bmm(g_conj, w.transpose(1, 2)).conj().resolve_conj()  # (F, N, Ci)
            (gx,) = torch.autograd.grad(xf, leaf, gxf)
        return gx, None, gtoken, None, None


def kernel_spectrum(weight: torch.Tensor, height: int, width: int) -> KernelSpectrum:
    """The spectrum of ``weight`` for same-padded convolutions of H x W maps.

    Args:
        weight: (Co, Ci, k, k), k odd, real.
        height, width: H, W of the maps :func:`spectral_conv2d` will convolve.

    Returns:
        A :class:`KernelSpectrum`; pass it to :func:`spectral_conv2d` for every map of that
        size (e.g. every time step of a sequence). Gradients reach ``weight`` once the
        backward pass has gone through all of its uses.
    """
    if weight.dim() != 4 or weight.shape[-1] != weight.shape[-2] or weight.shape[-1] % 2 != 1:
        raise ShapeError(
            f"kernel_spectrum: expected weight (Co, Ci, k, k) with k odd, got {tuple(weight.shape)}"
        )
    k = weight.shape[-1]
    size = (fft_length(height + k - 1), fft_length(width + k - 1))
    grad = _GradSum()
    weight = weight if weight.dtype == torch.float64 else weight.float()
    if torch.is_grad_enabled() and weight.requires_grad:
        w, token = _KernelToSpectrum.apply(weight, size, grad)
    else:
        w, token = _spectrum(weight, size), weight.new_zeros(())
    return KernelSpectrum(w, height, width, size, k, token, grad)


def spectral_conv2d(
    x: torch.Tensor, spectrum: KernelSpectrum, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=k // 2)`` through the FFT, ``spectrum`` of weight.

    Args:
        x: (N, Ci, H, W), H x W the size the spectrum was built for.
        spectrum: from :func:`kernel_spectrum`.
        bias: (Co,) or None.

    Returns:
        (N, Co, H, W): float64 if the spectrum was built from a float64 kernel, else float32.

    >>> import torch, torch.nn.functional as F
    >>> x, w = torch.randn(2, 8, 9, 7), torch.randn(4, 8, 5, 5)
    >>> y = spectral_conv2d(x, kernel_spectrum(w, 9, 7))
    >>> bool(torch.allclose(y, F.conv2d(x, w, padding=2), atol=1e-4))
    True
    """
    n, ci, h, w = x.shape
    if (h, w) != (spectrum.height, spectrum.width) or ci != spectrum.w.shape[1]:
        raise ShapeError(
            f"spectral_conv2d: spectrum built for (N, {spectrum.w.shape[1]}, {spectrum.height}, "
            f"{spectrum.width}), got x {tuple(x.shape)}"
        )
    if n > BATCH_CHUNK:  # bound the (F, N, Co) products and their transforms
        return torch.cat(
            [
                spectral_conv2d(x[i : i + BATCH_CHUNK], spectrum, bias)
                for i in range(0, n, BATCH_CHUNK)
            ]
        )
    dev = x.device.type
    with torch.autocast(dev, enabled=False):
        nh, nw = spectrum.size
        p = spectrum.kernel_size // 2
        real = torch.float64 if spectrum.w.dtype == torch.complex128 else torch.float32
        args = (spectrum.w, spectrum.token, spectrum.grad, spectrum.size)
        yf = _SpectralProduct.apply(x.to(real), *args)  # (F, N, Co)
        yf = yf.permute(1, 2, 0).reshape(n, -1, nh, nw // 2 + 1)  # (N, Co, nh, nw/2+1)
        y = torch.fft.irfft2(yf, s=spectrum.size)[..., p : p + h, p : p + w]  # (N, Co, H, W)
        if bias is not None:
            y = y + bias.to(real).view(1, -1, 1, 1)
        return y


class SpectrumCache:
    """The spectrum of a fixed kernel, kept while the kernel's values stay the same.

    For convolutions that need no gradient (streaming, evaluation): building Θ's spectrum
    costs about as much as the convolution itself, so a stream of frames should build it once.
    Validity is checked by value: the cache keeps a copy of the kernel it was built from and
    rebuilds when ``weight`` differs from it in any element, dtype, device or map size (an
    optimiser step, ``load_state_dict``, ``p.data.copy_`` all invalidate it). The check reads
    the kernel once (microseconds for Θ's 28,800 weights).

    >>> import torch
    >>> cache, w = SpectrumCache(), torch.randn(2, 3, 5, 5)
    >>> cache.get(w, 8, 8) is cache.get(w, 8, 8)
    True
    >>> first = cache.get(w, 8, 8)
    >>> _ = w.mul_(2)
    >>> cache.get(w, 8, 8) is first
    False
    """

    def __init__(self) -> None:
        self._kernel: torch.Tensor | None = None
        self._spectrum: KernelSpectrum | None = None

    def get(self, weight: torch.Tensor, height: int, width: int) -> KernelSpectrum:
        """The spectrum of ``weight`` (Co, Ci, k, k) for H x W maps, built without gradients.

        Rebuilt, and the previous one dropped, whenever ``weight`` or the size changed.
        """
        spec, kept = self._spectrum, self._kernel
        fresh = (
            spec is not None
            and kept is not None
            and (spec.height, spec.width) == (height, width)
            and kept.dtype == weight.dtype
            and kept.device == weight.device
            and kept.shape == weight.shape
            and torch.equal(kept, weight)
        )
        if not fresh:
            with torch.no_grad():
                kept = weight.detach().clone()
                spec = kernel_spectrum(kept, height, width)
            self._kernel, self._spectrum = kept, spec
        assert spec is not None
        return spec
