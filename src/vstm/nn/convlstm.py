"""Convolutional LSTM memory (paper 3.2.1, eq. 1): the cell and its sequence runner.

How the gate convolution is computed (``F.conv2d`` or the FFT of :mod:`vstm.ops.spectral`) is
chosen by :mod:`vstm.ops.select`; :meth:`ConvLSTMCell.run` takes that path over a sequence.
"""

from __future__ import annotations

import torch
from torch import nn

from vstm.errors import ShapeError, check_shape
from vstm.ops.fused import lstm_update
from vstm.ops.select import CONV_IMPLS, ConvImpl, sequence_spectrum, use_fft
from vstm.ops.spectral import KernelSpectrum, spectral_conv2d

__all__ = ["ConvLSTM", "ConvLSTMCell", "LSTMState"]

LSTMState = tuple[torch.Tensor, torch.Tensor]
"""(h, c), each (B, hidden, H, W)."""


def _state_dtype(dtype: torch.dtype) -> torch.dtype:
    """The LSTM state's dtype for gates of ``dtype``: float32 for 16-bit types."""
    return dtype if dtype in (torch.float32, torch.float64) else torch.float32


class ConvLSTMCell(nn.Module):
    """One step of a convolutional LSTM (eq. 1), all four gates from one fused convolution.

    ``conv`` maps concat(x_t, h_{t-1}) (B, in+hidden, H, W) to the gate pre-activations
    (B, 4*hidden, H, W) in the order i, f, g (the candidate c~), o. This equals the paper's
    eight separate convolutions x*w_x? + h*w_h? with one bias per gate; there are no
    peephole terms.

    Initialisation (paper section 4): weights U(-0.08, 0.08), forget-gate bias 1, the other
    biases 0.

    Args:
        in_channels: channels of x.
        hidden_channels: channels of h and c.
        kernel_size: odd kernel size used on both the input and the hidden path.
        impl: how the gate convolution runs when the caller passes :meth:`spectrum`'s result
            (:data:`vstm.ops.select.ConvImpl`, decided by :func:`vstm.ops.select.use_fft`):
            ``"auto"`` (default) the FFT on CPU for batches of 4 or more whose kernel
            spectrum is small, outside bf16 autocast, ``"fft"`` always, ``"direct"`` never.
            Same parameters and state dict either way.

    Shapes:
        x (B, in, H, W); state (h, c) each (B, hidden, H, W), or None for zeros.
        Returns the new (h, c). Any H, W works; nothing is baked in.

    :meth:`run` steps the cell over a sequence (B, T, in, H, W), through the FFT where
    ``impl`` picks it: it computes the kernel's spectrum once and passes it to every step::

        spec = cell.spectrum(xs[:, 0])          # None when the direct path is chosen
        for t in range(T):
            state = cell(xs[:, t], state, spec)

    >>> import torch
    >>> cell = ConvLSTMCell(3, 8, 3)
    >>> h, c = cell(torch.rand(2, 3, 5, 7))
    >>> tuple(h.shape), tuple(c.shape)
    ((2, 8, 5, 7), (2, 8, 5, 7))
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        kernel_size: int = 7,
        impl: ConvImpl = "auto",
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"ConvLSTMCell: kernel_size must be odd, got {kernel_size}")
        if impl not in CONV_IMPLS:
            raise ValueError(f"ConvLSTMCell: impl must be 'direct', 'fft' or 'auto', got {impl!r}")
        self.impl = impl
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.kernel_size = kernel_size
        self.conv = nn.Conv2d(
            in_channels + hidden_channels,
            4 * hidden_channels,
            kernel_size,
            padding=kernel_size // 2,
        )
        self.reset_parameters()

    def reset_parameters(self, init_range: float = 0.08) -> None:
        nn.init.uniform_(self.conv.weight, -init_range, init_range)
        with torch.no_grad():
            self.conv.bias.zero_()
            hc = self.hidden_channels
            self.conv.bias[hc : 2 * hc].fill_(1.0)  # forget gate

    def init_state(self, x: torch.Tensor) -> LSTMState:
        """Zero (h, c) shaped for input ``x`` (B, in, H, W), on its device, in its dtype or,
        for a 16-bit ``x`` (under autocast), in float32 (see :meth:`forward`)."""
        b, _, h, w = x.shape
        z = x.new_zeros(b, self.hidden_channels, h, w, dtype=_state_dtype(x.dtype))
        return z, z

    def uses_fft(self, batch: int, height: int, width: int) -> bool:
        """Whether a sequence of ``batch`` inputs of H x W takes the FFT path (``impl``).

        Asked at call time: ``"auto"`` answers False under 16-bit autocast (the direct
        convolution in bf16 beats the FFT, which runs in float32)."""
        return use_fft(self.impl, self.conv.weight, batch, height, width)

    def spectrum(self, x: torch.Tensor) -> KernelSpectrum | None:
        """The gate kernel's spectrum for steps over inputs shaped like ``x`` (B, in, H, W).

        None when ``impl`` picks the direct convolution for this shape and device. Build it
        once per sequence (per forward pass: it follows the current weights).
        """
        return sequence_spectrum(self.impl, self.conv.weight, x.shape[0], x.shape[-2], x.shape[-1])

    def forward(
        self,
        x: torch.Tensor,
        state: LSTMState | None = None,
        spectrum: KernelSpectrum | None = None,
    ) -> LSTMState:
        if state is None:
            state = self.init_state(x)
        h, c = state
        z = torch.cat((x, h), dim=1)  # (B, in+hidden, H, W)
        # gate pre-activations (B, 4*hidden, H, W)
        fft = spectrum is not None
        gates = spectral_conv2d(z, spectrum, self.conv.bias) if fft else self.conv(z)
        # Under bf16 autocast the convolution returns bf16; the state update stays in float32
        # so that c, summed over every step of a long stream, keeps a 24-bit mantissa.
        gates = gates.to(_state_dtype(gates.dtype))
        if torch.is_grad_enabled():  # one autograd node that keeps less for backward
            return lstm_update(gates, c)
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c

    def run(
        self, xs: torch.Tensor, state: LSTMState | None = None
    ) -> tuple[torch.Tensor, LSTMState]:
        """The cell over a sequence: every step's h, and the final state.

        The gate kernel's spectrum, where ``impl`` picks the FFT for this batch and map size
        (:meth:`spectrum`), is built once here and shared by all steps.

        Args:
            xs: (B, T, in, H, W).
            state: (h, c) each (B, hidden, H, W) to continue a stream, or None for zeros.

        Returns:
            (h_seq (B, T, hidden, H, W), final state (h, c)).
        """
        check_shape("ConvLSTM: x", xs, "B,T,C,H,W")
        if xs.shape[2] != self.in_channels:
            raise ShapeError(
                f"ConvLSTM: expected {self.in_channels} input channels, got {xs.shape[2]}"
            )
        spec = self.spectrum(xs[:, 0])
        hs = []
        for t in range(xs.shape[1]):
            state = self(xs[:, t], state, spec)
            hs.append(state[0])
        return torch.stack(hs, dim=1), state

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}->{self.hidden_channels}, kernel={self.kernel_size}, "
            f"impl={self.impl}"
        )


class ConvLSTM(nn.Module):
    """A :class:`ConvLSTMCell` run over a sequence (:meth:`ConvLSTMCell.run`) as a module.

    Models that keep the cell itself as a submodule (its parameters at ``<name>.conv``, as
    their checkpoints have them) call :meth:`ConvLSTMCell.run` directly.

    Shapes:
        x (B, T, in, H, W) -> (h_seq (B, T, hidden, H, W), final state (h, c)).

    >>> import torch
    >>> lstm = ConvLSTM(3, 8, 3)
    >>> hs, (h, c) = lstm(torch.rand(2, 4, 3, 5, 5))
    >>> tuple(hs.shape), bool((hs[:, -1] == h).all())
    ((2, 4, 8, 5, 5), True)
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        kernel_size: int = 7,
        impl: ConvImpl = "auto",
    ) -> None:
        super().__init__()
        self.cell = ConvLSTMCell(in_channels, hidden_channels, kernel_size, impl)

    def forward(
        self, x: torch.Tensor, state: LSTMState | None = None
    ) -> tuple[torch.Tensor, LSTMState]:
        return self.cell.run(x, state)
