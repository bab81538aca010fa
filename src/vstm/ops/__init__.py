"""Fast kernels behind the paper's boxes (DESIGN section 3), chosen in one place.

- :mod:`vstm.ops.spectral`: same-padded convolution through the FFT, for the ConvLSTM's 7x7
  gate convolution over a sequence (:func:`kernel_spectrum` once, :func:`spectral_conv2d` at
  every step) and for Θ's layers when no gradient is wanted (:class:`SpectrumCache`).
- :mod:`vstm.ops.gemm`: same-padded convolution as a few large matrix products, for Θ's
  few-channel 15x15 layers (:func:`conv2d_same_gemm`).
- :mod:`vstm.ops.upsample`: the decoder's nearest x2 upsampling and k x k convolution as one
  convolution at low resolution (:func:`up2_conv2d`).
- :mod:`vstm.ops.fused`: E's conv-tanh-pool and eq. 1's state update as single autograd nodes
  that keep less memory for backward (:func:`conv_tanh_pool`, :func:`lstm_update`).
- :mod:`vstm.ops.select`: which of them, or ``F.conv2d``, computes a given convolution
  (``lstm_impl``, ``flow_impl``); :mod:`vstm.nn` asks here and decides nothing itself.

Every kernel computes ``F.conv2d(x, weight, bias, padding=k // 2)`` (stride 1, odd k) up to
float rounding. This package imports nothing from the rest of vstm but its errors.
"""

from vstm.ops.fused import conv_tanh_pool, lstm_update
from vstm.ops.gemm import conv2d_same_gemm
from vstm.ops.select import (
    ConvImpl,
    FlowImpl,
    flow_kernel,
    reduced_precision_autocast,
    same_conv2d,
    sequence_spectrum,
    use_fft,
)
from vstm.ops.spectral import KernelSpectrum, SpectrumCache, kernel_spectrum, spectral_conv2d
from vstm.ops.upsample import up2_conv2d

__all__ = [
    "ConvImpl",
    "FlowImpl",
    "KernelSpectrum",
    "SpectrumCache",
    "conv2d_same_gemm",
    "conv_tanh_pool",
    "flow_kernel",
    "kernel_spectrum",
    "lstm_update",
    "reduced_precision_autocast",
    "same_conv2d",
    "sequence_spectrum",
    "spectral_conv2d",
    "up2_conv2d",
    "use_fft",
]
